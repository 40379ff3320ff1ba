"""One publication rule, every output: a cell whose unweighted base is under the spec's
``publication.suppress_below`` shows no estimate in report.html, banners.xlsx, the CSV
banners, findings.json or ``barometer estimate``, and the same cell under a lower
threshold (a command-line flag over the spec) shows its estimate everywhere.

The poll of tests.support.pollkit has 400 respondents per country × wave, except DE,
whose 5 "refused" answers leave 395 answering: with ``suppress_below: 398`` every DE
cell, and no other, is suppressed.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.poll import Poll
from barometer.publish.banner.build import banner
from barometer.publish.banner.tables import write_csv, write_xlsx
from barometer.publish.findings import find
from barometer.publish.report.html import write_report
from tests.publish.report.test_html import parse
from tests.support.pollkit import edit_spec, make_poll

Q = "us_relationship"
LEVELS = ("ally", "partner", "dont_know")


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("suppression")
    spec = make_poll(root, n=400, seed=5)
    edit_spec(spec, lambda s: s.update(publication={"suppress_below": 398, "flag_below": 401}))
    p, _ = Poll.ingest(spec, root / "poll.duckdb")
    p.weight()
    return p


def test_the_publication_marks_the_cells(poll: Poll) -> None:
    pub = poll.publication()
    assert pub.rules.suppress_below == 398
    table = pub.cells(Q).estimates.to_polars()
    countries = table.filter(pl.col("scope_kind") == "country")
    marked = countries.filter(pl.col("suppressed"))
    assert set(marked["country"]) == {"DE"} and set(marked["n"]) == {395}
    assert countries.filter(pl.col("country") != "DE")["suppressed"].sum() == 0
    assert countries["flagged"].all()  # every base is under 401
    rows = pub.cells(Q).rows()
    assert rows.filter(pl.col("suppressed"))["estimate"].null_count() == marked.height


def test_report_shows_no_suppressed_estimate(poll: Poll, tmp_path: Path) -> None:
    path = write_report(poll.publication(), tmp_path / "report.html")
    dom = parse(path.read_text(encoding="utf-8"))
    seen = 0
    for table in dom.find_all("table", data_question=Q, data_table="wave"):
        for tr in table.find_all("tr"):
            subject = tr.attrs.get("data-subject")
            if subject is None:
                continue
            pcts = [s.text for s in tr.find_all("span", data_kind="pct")]
            if subject == "DE":
                assert pcts == ["–"] * len(LEVELS) and tr.attrs["data-suppressed"] == "true"
                assert not tr.find_all("span", data_kind="moe")
                seen += 1
            else:
                assert "–" not in pcts
    assert seen == 2  # both waves


def test_banners_show_no_suppressed_estimate(poll: Poll, tmp_path: Path) -> None:
    pub = poll.publication()
    tables = [banner(pub, Q, ["country"], where={"wave": w}) for w in pub.waves]
    wb = openpyxl.load_workbook(write_xlsx(tables, tmp_path / "banners.xlsx"))
    for t, name in zip(tables, wb.sheetnames[1:], strict=True):
        (de,) = [j for j, c in enumerate(t.columns) if c.value == "DE"]
        assert t.columns[de].suppressed
        ws = wb[name]
        for i in range(len(t.levels)):
            for j in range(len(t.columns)):
                value = ws.cell(9 + 2 * i, 2 + j).value
                assert value == "–" if j == de else isinstance(value, float)
    back = pl.read_csv(write_csv(tables, tmp_path / "banners.csv"))
    de_rows = back.filter(pl.col("value") == "DE")
    assert de_rows.height == 2 * len(LEVELS)
    assert de_rows["estimate"].null_count() == de_rows.height
    assert set(de_rows["flag"]) == {"suppressed"}
    assert back.filter(pl.col("value") != "DE")["estimate"].null_count() == 0


def test_findings_claim_nothing_about_a_suppressed_cell(poll: Poll) -> None:
    def subjects(rules_flag: int | None) -> set[str]:
        found = find(poll.publication(rules=_rules(poll, rules_flag)), min_base=0)
        records = json.loads(found.to_json())["findings"]
        return {r[side]["id"] for r in records for side in ("first", "second")}

    assert "DE" in subjects(10)  # DE differs from PL and FR: found when it is published
    assert "DE" not in subjects(None)  # the spec's rule: DE suppressed


def _rules(poll: Poll, suppress_below: int | None):
    from barometer.poll.spec import publication_rules

    return publication_rules(poll.spec, suppress_below=suppress_below)


def test_estimate_command_suppresses_and_a_flag_overrides_the_spec(poll: Poll) -> None:
    runner = CliRunner()
    base = ["estimate", Q, "--store", str(poll.path), "--format", "json"]
    rows = json.loads(runner.invoke(app, base).stdout)
    de = [r for r in rows if r["country"] == "DE"]
    assert de and all(r["suppressed"] and r["estimate"] is None for r in de)
    assert all(r["scope"] == "DE" and r["scope_kind"] == "country" for r in de)
    assert all(r["estimate"] is not None for r in rows if r["country"] != "DE")
    loose = json.loads(runner.invoke(app, [*base, "--suppress-below", "10"]).stdout)
    assert all(not r["suppressed"] and r["estimate"] is not None for r in loose)
    assert all(r["flagged"] for r in loose)  # the spec's flag_below (401) still holds
    region = json.loads(runner.invoke(app, [*base, "--region", "EU"]).stdout)
    assert {r["scope_kind"] for r in region} == {"region"}
    assert all(r["members"] == ["DE", "FR", "IT"] and not r["suppressed"] for r in region)
