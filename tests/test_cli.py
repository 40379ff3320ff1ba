"""The ``barometer`` command (barometer.cli): exit codes, formats, the demo."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.spec import load_spec
from tests.support.pollkit import make_poll, sample

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    make_poll(root, n=150)
    result = runner.invoke(app, ["ingest", str(root / "spec.yaml")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["weight", "--store", str(root / "poll.duckdb")])
    assert result.exit_code == 0, result.output
    return root / "poll.duckdb"


def test_init_writes_a_valid_starter_spec(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0 and "barometer ingest" in result.output
    spec = load_spec(path)
    assert [r.id for r in spec.regions] == ["EU"] and len(spec.sources) == 2
    again = runner.invoke(app, ["init", str(path)])
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0


def test_ingest_reports_and_is_idempotent(store: Path) -> None:
    result = runner.invoke(app, ["ingest", str(store.parent / "spec.yaml"), "--store", str(store)])
    assert result.exit_code == 0
    assert "nothing changed" in result.output and "7 unchanged" in result.output


def test_bad_input_is_one_message_and_exit_1(tmp_path: Path) -> None:
    make_poll(tmp_path, n=30, waves=["2024-11"])
    df = sample("IT", "2024-11", 30, seed=1)
    df.loc[df.index[:3], "q7"] = 6.0
    import pyreadstat

    pyreadstat.write_dta(df, str(tmp_path / "data/it_202411.dta"))
    result = runner.invoke(app, ["ingest", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 1
    assert "error: nothing was ingested" in result.output
    assert "6 (3 respondents)" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "poll.duckdb").exists()
    bad_spec = runner.invoke(app, ["ingest", str(tmp_path / "nope.yaml")])
    assert bad_spec.exit_code == 1 and "cannot read spec" in bad_spec.output
    no_store = runner.invoke(app, ["info", "--store", str(tmp_path / "none.duckdb")])
    assert no_store.exit_code == 1 and "is not a barometer store" in no_store.output


def test_usage_errors_exit_2(store: Path) -> None:
    assert runner.invoke(app, ["estimate", "us_relationship"]).exit_code == 2  # no --store
    fmt = ["estimate", "us_relationship", "--store", str(store), "--format", "xml"]
    assert runner.invoke(app, fmt).exit_code == 2
    assert runner.invoke(app, ["frobnicate"]).exit_code == 2


def test_estimate_formats(store: Path) -> None:
    base = ["estimate", "us_relationship", "--store", str(store)]
    table = runner.invoke(app, base)
    assert table.exit_code == 0 and "dont_know" in table.output and "estimate %" in table.output
    csv = runner.invoke(app, [*base, "--format", "csv", "--by", "country", "--waves", "2025-11"])
    frame = pl.read_csv(io.StringIO(csv.stdout))
    assert frame.columns[:2] == ["country", "variable"] and frame.height == 9
    assert frame["n"].max() == 150  # DE: 5 "refused" (user-missing) are out of the base
    out = runner.invoke(app, [*base, "--format", "json", "--region", "EU"])
    records = json.loads(out.stdout)
    assert {r["country"] for r in records} == {"EU"}
    assert all(r["countries"] == ["DE", "FR", "IT"] for r in records)
    assert all(r["deff"] is None for r in records)  # no NaN in JSON
    each = runner.invoke(app, [*base, "--region", "EU", "--each-wave", "--format", "csv"])
    assert "DE;FR;IT;PL" in each.stdout
    logit = runner.invoke(app, [*base, "--ci", "logit", "--confidence", "0.9", "--format", "json"])
    assert json.loads(logit.stdout)[0]["ci_low"] > 0
    bad_ci = runner.invoke(app, [*base, "--ci", "walt"])
    assert bad_ci.exit_code == 1 and "ci='walt' is not one of" in bad_ci.output
    unknown = runner.invoke(app, ["estimate", "us_relatonship", "--store", str(store)])
    assert unknown.exit_code == 1 and "did you mean 'us_relationship'" in unknown.output


def test_info(store: Path) -> None:
    result = runner.invoke(app, ["info", "--store", str(store)])
    assert result.exit_code == 0
    fragments = ("Sources", "Respondents by country × wave", "Questionnaire", "deff_kish")
    for fragment in (*fragments, "Region EU (mean): DE, FR, IT, PL"):
        assert fragment in result.output


def test_help_is_light(tmp_path: Path) -> None:
    """A real process: --help works and loads neither DuckDB nor the poll layer."""
    code = (
        "import sys\n"
        "from barometer.cli import app\n"
        "heavy = [m for m in ('duckdb', 'barometer.poll.poll', 'pyreadstat') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "app()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "init", "ingest", "weight", "estimate", "info", "serve", "explorer"):
        assert command in proc.stdout


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """`barometer demo` in a real process: files, store, published figures inside the CIs."""
    out = tmp_path / "demo"
    code = "from barometer.cli import app; app()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "poll.duckdb").is_file() and (out / "spec.yaml").is_file()
    assert list((out / "data").glob("*.sav"))
    text = proc.stdout
    assert "Europeans" in text and "South Koreans" in text
    assert text.count(" yes ") >= 10 and " NO " not in text  # published value in every CI


def test_a_command_with_a_progress_bar_writes_nothing_to_a_stderr_that_is_no_terminal(
    tmp_path: Path,
) -> None:
    """Real processes with stderr on a pipe: `ingest` and `weight` draw their bars on a
    terminal only, so stderr stays empty (before, a transient bar left a blank line)."""
    make_poll(tmp_path, n=40, waves=["2024-11"])
    code = "from barometer.cli import app; app()"
    for args in (
        ["ingest", str(tmp_path / "spec.yaml")],
        ["weight", "--store", str(tmp_path / "poll.duckdb")],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "" and proc.stdout.strip()


def test_deprecated_level_flag_warns_and_gives_the_same_numbers(store: Path) -> None:
    base = ["estimate", "us_relationship", "--store", str(store), "--format", "json"]
    new = runner.invoke(app, [*base, "--confidence", "0.9"])
    old = runner.invoke(app, [*base, "--level", "0.9"])
    assert old.exit_code == 0 and json.loads(old.stdout) == json.loads(new.stdout)
    assert "--level is deprecated" in old.stderr and "deprecated" not in new.stderr


def test_estimate_rows_carry_scope_and_marks(store: Path) -> None:
    base = ["estimate", "us_relationship", "--store", str(store), "--format", "csv"]
    frame = pl.read_csv(io.StringIO(runner.invoke(app, base).stdout))
    for column in ("country", "scope", "scope_kind", "members", "suppressed", "flagged"):
        assert column in frame.columns
    assert (frame["scope"] == frame["country"]).all() and set(frame["scope_kind"]) == {"country"}
    assert not frame["flagged"].any() and not frame["suppressed"].any()  # bases of 145-150
    low = runner.invoke(app, [*base, "--flag-below", "149", "--suppress-below", "148"])
    marked = pl.read_csv(io.StringIO(low.stdout)).filter(pl.col("n") < 148)
    assert marked.height and marked["suppressed"].all() and marked["flagged"].all()
    assert marked["estimate"].null_count() == marked.height


def test_every_error_is_one_line_on_stderr(tmp_path: Path, store: Path) -> None:
    spec = make_poll(tmp_path, n=30, waves=["2024-11"])
    text = spec.read_text(encoding="utf-8").replace("code: DE", "code: de", 1)
    spec.write_text(text.replace("rule: mean", "rule: average", 1), encoding="utf-8")
    bad_spec = runner.invoke(app, ["ingest", str(spec)])
    assert bad_spec.exit_code == 1 and bad_spec.stdout == ""
    (line,) = bad_spec.stderr.splitlines()
    assert line.startswith("error: ") and "problem(s):" in line and "regions[0].rule" in line
    bad_rule = runner.invoke(app, ["findings", "--store", str(store), "--adjust", "fdr"])
    assert bad_rule.exit_code == 1 and len(bad_rule.stderr.strip().splitlines()) == 1
    assert "adjust" in bad_rule.stderr and "Traceback" not in bad_rule.output
