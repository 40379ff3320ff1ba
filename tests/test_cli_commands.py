"""Every ``barometer`` command, run on the demo store as a user runs it after ``demo``.

A smoke test of the whole command set: each exits 0 and writes or prints what it says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from barometer.cli import app

runner = CliRunner()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("report.html", "findings.md", "findings.json", "banners.xlsx", "poll.duckdb"):
        assert (out / name).is_file(), name
    # It ends by saying how to open the explorer on the demo poll.
    tail = result.output[result.output.rindex("Explore the demo poll") :]
    assert f"barometer serve --store {out / 'poll.duckdb'}" in tail
    assert f"barometer explorer --store {out / 'poll.duckdb'} --out {out / 'site'}" in tail
    return out


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_info(demo: Path) -> None:
    assert "Respondents by country × wave" in _run("info", "--store", str(demo / "poll.duckdb"))


def test_ingest_again_changes_nothing(demo: Path) -> None:
    out = _run("ingest", str(demo / "spec.yaml"), "--store", str(demo / "poll.duckdb"))
    assert "unchanged" in out


def test_weight(demo: Path) -> None:
    assert "KR" in _run("weight", "--store", str(demo / "poll.duckdb"))


def test_estimate(demo: Path) -> None:
    out = _run(
        "estimate", "us_relationship", "--store", str(demo / "poll.duckdb"), "--format", "json"
    )
    rows = json.loads(out)
    assert {r["level"] for r in rows} >= {"ally", "partner", "rival", "adversary"}


def test_findings(demo: Path, tmp_path: Path) -> None:
    _run("findings", "--store", str(demo / "poll.duckdb"), "--out", str(tmp_path))
    assert json.loads((tmp_path / "findings.json").read_text())


def test_banners_xlsx_and_csv(demo: Path, tmp_path: Path) -> None:
    store = str(demo / "poll.duckdb")
    _run("banners", "--store", store, "--out", str(tmp_path / "b.xlsx"))
    assert (tmp_path / "b.xlsx").stat().st_size > 0
    _run("banners", "--store", store, "--out", str(tmp_path / "b.csv"), "--csv")
    assert "us_relationship" in (tmp_path / "b.csv").read_text()


def test_report(demo: Path, tmp_path: Path) -> None:
    _run("report", "--store", str(demo / "poll.duckdb"), "--out", str(tmp_path / "r.html"))
    assert "<html" in (tmp_path / "r.html").read_text()


def test_init(tmp_path: Path) -> None:
    _run("init", str(tmp_path / "spec.yaml"))
    assert (tmp_path / "spec.yaml").read_text().startswith("#")


def test_model_prints_the_coefficient_table(demo: Path) -> None:
    store = str(demo / "poll.duckdb")
    formula = "I(us_relationship == 'ally') ~ C(country)"
    out = _run("model", formula, "--store", store, "--family", "quasibinomial", "--format", "json")
    rows = json.loads(out)
    assert rows[0]["term"] == "Intercept"
    assert {"estimate", "se", "p_value", "ci_low", "ci_high"} <= set(rows[0])
    assert all(r["se"] > 0 for r in rows)
    assert "Intercept" in _run("model", formula, "--store", store, "--family", "quasibinomial")
    bad = runner.invoke(app, ["model", "nosuch ~ C(country)", "--store", store])
    assert bad.exit_code != 0 and "nosuch" in bad.output and "Traceback" not in bad.output


def test_explorer_writes_the_static_site(demo: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    out = _run("explorer", "--store", str(demo / "poll.duckdb"), "--out", str(site))
    assert str(site / "index.html") in out
    for name in ("index.html", "cube.json", "static/explorer.js", "static/vega.js"):
        assert (site / name).stat().st_size > 0, name
    page = json.loads((site / "cube.json").read_text(encoding="utf-8"))
    assert {b["id"] for b in page["catalogue"]["breakdowns"]} == {"age", "gender"}
