"""One publication, every output: findings.json, banners.xlsx, the CSV banners and
report.html of one poll carry the numbers of the ``Publication`` they were made from
(issue 16: the outputs read the publication's estimates and compute none of their own).
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from barometer.poll.poll import Poll
from barometer.poll.publication import Publication
from barometer.publish.banner.build import banner
from barometer.publish.banner.tables import write_csv, write_xlsx
from barometer.publish.findings import find
from barometer.publish.numbers import format_percent
from barometer.publish.report.html import write_report
from tests.publish.report.test_html import parse
from tests.support.pollkit import make_poll

Q = "us_relationship"


@pytest.fixture(scope="module")
def pub(tmp_path_factory: pytest.TempPathFactory) -> Publication:
    root = tmp_path_factory.mktemp("one_publication")
    p, _ = Poll.ingest(make_poll(root, n=400, seed=5), root / "poll.duckdb")
    p.weight()
    return p.publication()


def _cells(pub: Publication) -> dict[tuple[str, str, str], dict[str, object]]:
    """The publication's rows of ``Q`` keyed by (scope, wave, level)."""
    table = pub.cells(Q).estimates.to_polars()
    return {(r["scope"], r["wave"], r["level"]): r for r in table.iter_rows(named=True)}


def test_findings_carry_the_publications_estimates(pub: Publication) -> None:
    cells = _cells(pub)
    records = json.loads(find(pub, min_base=0).to_json())["findings"]
    checked = 0
    for record in records:
        if record["question"] != Q:
            continue
        for side in ("first", "second"):
            s = record[side]
            cell = cells[(s["id"], s["wave"], record["level"])]
            assert s["estimate"] == cell["estimate"] and s["se"] == cell["se"]
            assert s["n"] == cell["n"]
            checked += 1
    assert checked > 0


def test_banners_carry_the_publications_estimates(pub: Publication, tmp_path: Path) -> None:
    cells = _cells(pub)
    tables = [banner(pub, Q, ["country"], where={"wave": w}) for w in pub.waves]
    back = pl.read_csv(write_csv(tables, tmp_path / "banners.csv"))
    countries = back.filter(pl.col("banner") == "country")
    assert countries.height > 0
    wb = openpyxl.load_workbook(write_xlsx(tables, tmp_path / "banners.xlsx"))
    for wave, t, name in zip(pub.waves, tables, wb.sheetnames[1:], strict=True):
        ws = wb[name]
        for j, col in enumerate(t.columns):
            if col.banner != "country":
                continue
            for i, (level, _label) in enumerate(t.levels):
                cell = cells[(str(col.value), wave, level)]
                assert ws.cell(9 + 2 * i, 2 + j).value == pytest.approx(cell["estimate"], rel=1e-12)
                assert col.n == cell["n"] and col.weighted_base == cell["base_weighted"]
    for r in countries.iter_rows(named=True):  # every wave's table: matched by value
        matches = [
            c
            for (scope, _w, level), c in cells.items()
            if scope == r["value"] and level == r["level"] and c["estimate"] == r["estimate"]
        ]
        assert matches and matches[0]["se"] == pytest.approx(r["se"], rel=1e-12)
        assert r["base_unweighted"] == matches[0]["n"]


def test_report_prints_the_publications_estimates(pub: Publication, tmp_path: Path) -> None:
    cells = _cells(pub)
    levels = [lv.code for lv in pub.spec.question(Q).levels]
    dom = parse(write_report(pub, tmp_path / "report.html").read_text(encoding="utf-8"))
    seen = 0
    for table in dom.find_all("table", data_question=Q, data_table="wave"):
        for tr in table.find_all("tr"):
            subject, wave = tr.attrs.get("data-subject"), tr.attrs.get("data-wave")
            if subject is None:
                continue
            pcts = [s.text for s in tr.find_all("span", data_kind="pct")]
            want = [format_percent(cells[(subject, wave, lv)]["estimate"]) for lv in levels]
            assert pcts == [w.rstrip("%") for w in want]
            seen += 1
    assert seen > 0
