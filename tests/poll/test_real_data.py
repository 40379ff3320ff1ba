"""Real public survey files through the whole pipeline: ingest -> weight -> estimate -> report.

tests/data/real/ holds NHANES 2009-2010 (an SPSS file with strata, PSUs, a design weight
and user-missing codes) and the 2011 Canadian Election Study extract (a Stata file,
stratified by province), with the specs that describe them and the R `survey` figures
of ``make_real.R`` (``figures.json``; see tests/data/real/README.md).  Every estimate,
standard error and Wald interval must equal R's to 1e-8 relative, with raked and with
base weights.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.ingest import ingest
from barometer.poll.poll import Poll
from barometer.publish import write_report
from barometer.publish.findings import find

REAL = Path(__file__).parents[1] / "data" / "real"
FIGURES = json.loads((REAL / "figures.json").read_text(encoding="utf-8"))

runner = CliRunner()

#: The contract: R `survey` to 1e-8 relative (abs. floor for values that are 0 in exact
#: arithmetic).
REL_TOL = 1e-8
ABS_TOL = 1e-12
#: Raking tolerance asked of barometer: far below REL_TOL, as R's epsilon=1e-13 is.
RAKE_TOL = 1e-13


@pytest.fixture(scope="module")
def polls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Poll]:
    """Each real poll, ingested from its spec and raked to its targets."""
    out = {}
    for name, entry in FIGURES["polls"].items():
        poll, _ = Poll.ingest(REAL / entry["spec"], tmp_path_factory.mktemp(name) / "p.duckdb")
        poll.weight(tol=RAKE_TOL, max_iter=1000)
        out[name] = poll
    return out


def _close(have: float, want: float) -> bool:
    return math.isclose(have, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def test_the_files_are_small() -> None:
    for path in REAL.iterdir():
        assert path.stat().st_size < 400_000, path.name


@pytest.mark.parametrize("name", sorted(FIGURES["polls"]))
def test_raked_weights_equal_rs(name: str, polls: dict[str, Poll]) -> None:
    want = FIGURES["polls"][name]
    rows = polls[name].store.respondents(["respondent_id"], with_weights=True)
    weights = rows["weight"].to_list()
    assert _close(sum(weights), want["weights_sum"])
    head = want["weights_head"]
    assert all(_close(h, w) for h, w in zip(weights[: len(head)], head, strict=True))


def _barometer_rows(case: dict[str, Any], poll: Poll) -> pl.DataFrame:
    """barometer's rows for an R case: the median (``kind: median``), or the estimate —
    each level's share and each net's, or a numeric question's mean (``level`` null, R's
    ``""``) — less the rows that this case does not hold (a net has its own case, R
    ``svymean(~I(q %in% c(...)))``)."""
    by = ["country", "wave", *case["by"]]
    if case.get("kind") == "median":
        return poll.quantiles(case["question"], probs=[0.5], by=by).to_polars()
    table = poll.estimate(case["question"], by=by, weights=case["weights"]).to_polars()
    table = table.with_columns(pl.col("level").fill_null(""))
    question = poll.spec.question(case["question"])
    nets = {net.code for net in question.nets}
    held = {want["level"] for want in case["results"]}
    # a case of the levels leaves the nets out; a net's case, the levels and other nets
    others = nets if held.isdisjoint(nets) else nets | set(question.level_codes)
    assert set(table["level"]) - held == others - held, case["r_call"]
    return table.filter(pl.col("level").is_in(list(held)))


@pytest.mark.parametrize("case", FIGURES["cases"], ids=[c["id"] for c in FIGURES["cases"]])
def test_estimates_equal_rs(case: dict[str, Any], polls: dict[str, Poll]) -> None:
    table = _barometer_rows(case, polls[case["poll"]])
    assert table.height == len(case["results"]), case["r_call"]
    for want in case["results"]:
        row = table.filter(pl.col("level") == want["level"])
        for var, value in want["by"].items():
            row = row.filter(pl.col(var) == value)
        assert row.height == 1, (want, case["r_call"])
        for field in ("estimate", "se", "ci_low", "ci_high"):
            have = row[field].item()
            assert _close(have, want[field]), (case["id"], want["by"], want["level"], field)


def test_user_missing_codes_are_counted(tmp_path: Path) -> None:
    report = ingest(REAL / "nhanes.yaml", tmp_path / "nhanes.duckdb")
    assert report.respondents == 8591
    quality = Poll.open(tmp_path / "nhanes.duckdb").store.column_quality()
    # survey::nhanes has 745 missing HI_CHOL; make_real.py writes them as user-missing 9,
    # which the numeric chol_high (the same column, read as a number) leaves out too
    for question in ("hi_chol", "chol_high"):
        row = quality.filter(pl.col("question") == question).row(0, named=True)
        assert (row["n_missing"], row["n_user_missing"]) == (745, 745), question
    others = quality.filter(~pl.col("question").is_in(["hi_chol", "chol_high"]))
    assert others.height == 4 and others["n_missing"].sum() == 0


@pytest.mark.parametrize("name", sorted(FIGURES["polls"]))
def test_report_of_a_real_poll(name: str, polls: dict[str, Poll], tmp_path: Path) -> None:
    real_poll = polls[name]
    publication = real_poll.publication()
    found = find(publication)
    html = write_report(publication, tmp_path / "report.html", findings=found.headlines(8))
    text = html.read_text(encoding="utf-8")
    spec = real_poll.spec
    assert spec.name in text
    for question in spec.questions:
        if question.kind == "question":
            assert question.wording in text, question.id
    # each level's share of the first question, as the report prints it (whole percent),
    # is R's raked estimate
    first = next(q for q in spec.questions if q.kind == "question")
    case = next(
        c
        for c in FIGURES["cases"]
        if (c["poll"], c["question"], c["weights"], c["by"]) == (name, first.id, "raked", [])
    )
    for want in case["results"]:
        level = want["level"]
        assert f'data-level="{level}">{100 * want["estimate"]:.0f}</span>' in text, level
    # the numeric question's mean, one decimal more than the shares, is R's
    (numeric,) = [q for q in spec.questions if q.is_numeric]
    (mean,) = [c for c in FIGURES["cases"] if (c["id"], c["by"]) == (f"{name}_{numeric.id}", [])]
    section = text[text.index(f'data-question="{numeric.id}" data-table="wave"') :]
    assert f'data-level="mean">{mean["results"][0]["estimate"]:.1f}</span>' in section


def test_ingest_and_info_show_missing_answers(tmp_path: Path) -> None:
    store = tmp_path / "nhanes.duckdb"
    result = runner.invoke(app, ["ingest", str(REAL / "nhanes.yaml"), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "Missing answers by question × source" in result.output
    # hi_chol: 745 missing, all of them SPSS user-missing; the other questions complete
    assert re.search(r"hi_chol\s+│\s+745 \(745\)", result.output), result.output
    assert re.search(r"race\s+│\s+0\s", result.output)
    again = runner.invoke(app, ["ingest", str(REAL / "nhanes.yaml"), "--store", str(store)])
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert "Missing answers" not in again.output  # no file was read
    info = runner.invoke(app, ["info", "--store", str(store)])
    assert info.exit_code == 0, info.output
    assert re.search(r"hi_chol\s+│\s+745 \(745\)", info.output), info.output


def test_a_real_files_labels_name_the_codes_a_range_leaves_out(tmp_path: Path) -> None:
    """The CES file labels its codes: a range or a recode that leaves some out says
    which answers they are, with the respondents who gave them."""
    from barometer.errors import IngestError
    from barometer.poll.spec import parse_spec
    from barometer.poll.spec_yaml import read_yaml

    data = read_yaml(REAL / "ces11.yaml")
    (religiosity,) = [q for q in data["questions"] if q["id"] == "religiosity"]
    religiosity["range"] = [1, 3]
    variables = data["sources"][0]["variables"]
    variables["education3"]["recode"][-1] = {"range": [5, 5], "to": "university"}
    with pytest.raises(IngestError) as err:
        ingest(parse_spec(data, base_dir=REAL), tmp_path / "ces.duckdb")
    text = str(err.value)
    assert (
        "column 'importance' (religiosity): 607 value(s) outside the range [1, 3]: "
        "4 'Not important at all' (607 respondents) (respondent id(s) "
    ) in text
    assert "under questions[religiosity].missing (or, for this file only, " in text
    assert (
        "column 'education' (education3): 246 value(s) in no range of the recode: "
        "6 'Graduate degree' (246 respondents)"
    ) in text


def test_banners_by_a_question_of_a_real_poll(tmp_path: Path) -> None:
    """`barometer banners --by urban` on the CES file: every other question gets a table
    with the Urban and Rural columns; the banner question itself gets none (naming it is
    still the located error)."""
    spec = REAL / FIGURES["polls"]["ces11"]["spec"]
    store = str(tmp_path / "ces.duckdb")
    assert runner.invoke(app, ["ingest", str(spec), "--store", store]).exit_code == 0
    assert runner.invoke(app, ["weight", "--store", store]).exit_code == 0
    out = tmp_path / "b.csv"
    args = ["banners", "--store", store, "--by", "urban", "--csv", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tables = pl.read_csv(out)
    assert set(tables["banner"]) == {"total", "urban"}
    assert set(tables.filter(pl.col("banner") == "urban")["column_label"]) == {"Urban", "Rural"}
    published = set(Poll.open(store).publication().questions)
    assert "urban" in published and set(tables["question"]) == published - {"urban"}
    named = runner.invoke(app, [*args, "--questions", "urban"])
    assert named.exit_code == 1 and "cannot be a banner of itself" in named.output
    assert "Traceback" not in named.output
