"""The demo poll's multiple-response question (allies) and grid (views) through every
output: the banner table of options, the charts, the report, findings, ``estimate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.publication import Publication
from barometer.publish.banner.build import banner, banner_tables
from barometer.publish.banner.tables import write_xlsx
from barometer.publish.charts import to_svg
from barometer.publish.charts_sets import grid_bars, ranked_bars
from barometer.publish.findings import find
from barometer.publish.numbers import format_percent
from barometer.publish.report.html import write_report
from tests.publish.report.test_html import parse
from tests.support.report_demo import demo_poll

pytestmark = pytest.mark.slow
OPTIONS = ["us", "eu", "cn", "ru", "none"]


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return demo_poll(tmp_path_factory)


@pytest.fixture(scope="module")
def pub(poll: Any) -> Publication:
    return poll.publication()


def _selected(pub: Publication, option: str, wave: str) -> dict[str, dict[str, Any]]:
    rows = pub.cells(f"allies__{option}").estimates.to_polars()
    rows = rows.filter((pl.col("level") == "selected") & (pl.col("wave") == wave))
    return {r["scope"]: r for r in rows.iter_rows(named=True)}


def test_every_firms_layout_reaches_the_publication(pub: Publication) -> None:
    firms = {s.firm: s.variables["allies"] for s in pub.spec.sources}
    assert firms["Datapraxis"].selected == [1]
    assert firms["YouGov"].selected == "label"
    assert firms["Gallup International"].delimited == "Q17"
    assert firms["Norstat"].shown == "s7_shown"
    countries = set(_selected(pub, "us", "2025-11"))
    # one country of each firm's (and each file format's) delivery
    assert {"DE", "GB", "DK", "KR", "EE", "PT"} <= countries
    for scope, row in _selected(pub, "us", "2025-11").items():
        assert 0.0 < row["estimate"] < 1.0, scope
    assert list(pub.sets) == ["allies", "views"]


def test_option_shares_have_one_base_and_do_not_sum_to_one(pub: Publication) -> None:
    wave = "2025-11"
    rows = {o: _selected(pub, o, wave)["DE"] for o in OPTIONS}
    assert len({r["n"] for r in rows.values()}) == 1  # one base: those asked
    assert sum(r["estimate"] for r in rows.values()) > 1.0


def test_banner_of_options(pub: Publication, tmp_path: Path) -> None:
    t = banner(pub, "allies", ["country"], where={"wave": "2025-11"})
    codes = [c for c, _ in t.levels]
    assert sorted(codes) == sorted(OPTIONS) and codes[-1] == "none"  # exclusive last
    total = t.cells.filter(pl.col("column") == 0)
    share = dict(zip(total["level"], total["estimate"], strict=True))
    ranked = [share[c] for c in codes[:-1]]
    assert ranked == sorted(ranked, reverse=True)
    assert "do not sum to 100%" in t.base
    assert "no chi-square" in t.settings["tests"]
    wb = openpyxl.load_workbook(write_xlsx([t], tmp_path / "allies.xlsx"))
    ws = wb[wb.sheetnames[1]]
    checked = 0
    for j, col in enumerate(t.columns):
        if col.banner != "country":
            continue
        for i, (code, label) in enumerate(t.levels):
            cell = _selected(pub, code, "2025-11")[str(col.value)]
            assert ws.cell(9 + 2 * i, 1).value == label
            assert ws.cell(9 + 2 * i, 2 + j).value == pytest.approx(cell["estimate"], rel=1e-12)
            assert col.n == cell["n"]
            checked += 1
    assert checked >= 5 * 10
    # letters are each option's own column test: the same as its own banner's
    own = banner(pub, "allies__us", ["country"], where={"wave": "2025-11"})
    want = own.cells.filter(pl.col("level") == "selected").sort("column")["letters"].to_list()
    got = t.cells.filter(pl.col("level") == "us").sort("column")["letters"].to_list()
    assert got == want and any(want)


def test_banner_tables_hold_one_table_per_multiple_question(pub: Publication) -> None:
    names = [t.question for t in banner_tables(pub)]
    assert "allies" in names and not any(n.startswith("allies__") for n in names)
    assert {"views__us", "views__cn", "views__ru"} <= set(names)


def test_charts(pub: Publication) -> None:
    rows = pl.DataFrame(
        [
            {"option": o, **{k: _selected(pub, o, "2025-11")["EU"][k]
                             for k in ("estimate", "ci_low", "ci_high", "n")}}
            for o in OPTIONS
        ]
    )  # fmt: skip
    labels = dict((o.code, o.label) for o in pub.spec.question("allies").options)
    svg = to_svg(ranked_bars(rows, labels, ["none"], title="Allies"))
    assert "The United States" in svg and "None of these" in svg
    from barometer.publish.charts import LevelStyle

    views = pub.spec.question("views")
    table = pl.concat(
        pub.cells(f"views__{i.code}").region("EU").to_polars()
        .filter(pl.col("wave") == "2025-11")
        .select(pl.col("level").cast(pl.String), "estimate", "ci_low", "ci_high", "n")
        .with_columns(item=pl.lit(i.code))
        for i in views.items
    )  # fmt: skip
    svg = to_svg(grid_bars(table, LevelStyle.from_question(views),
                           [(i.code, i.label) for i in views.items], title="Views"))  # fmt: skip
    assert "Russia" in svg and "China" in svg


def test_report_sections(pub: Publication, tmp_path: Path) -> None:
    html = write_report(pub, tmp_path / "report.html").read_text(encoding="utf-8")
    dom = parse(html)
    assert "do not sum to 100%" in html
    # "None of these" excludes the other options; "Don't know" of a single choice is
    # non-substantive
    assert "None of these <em>(exclusive)</em>" in html
    assert html.count("(exclusive)") == 1
    assert "(non-substantive)" in html
    tables = dom.find_all("table", data_question="allies", data_table="wave")
    assert tables
    seen = 0
    for table in tables:
        for tr in table.find_all("tr"):
            subject, wave = tr.attrs.get("data-subject"), tr.attrs.get("data-wave")
            if subject is None:
                continue
            pcts = [s.text for s in tr.find_all("span", data_kind="pct")]
            want = [format_percent(_selected(pub, o, wave)[subject]["estimate"])
                    for o in OPTIONS if subject in _selected(pub, o, wave)]  # fmt: skip
            assert pcts == want, (subject, wave)
            seen += 1
    assert seen > 10
    assert 'id="grid-views"' in html and "Ranked bars of the options of allies" in html
    assert "Stacked bars of the answers to views for each item" in html


def test_findings_on_options_and_items(pub: Publication) -> None:
    found = find(pub)
    questions = {f.question for f in found}
    assert "allies__us" in questions and "views__ru" in questions
    assert found.items and all(g.p_adjusted < pub.rules.alpha for g in found.items)
    assert all(g.n <= min(g.n_first, g.n_second) for g in found.items)
    assert "## Gaps between the items of a grid" in found.to_markdown()
    assert json.loads(found.to_json())["item_gaps"][0]["sentence"] == found.items[0].sentence
    # the sets are families of their own: the other questions' findings are unchanged
    plain = [q for q in pub.questions if "__" not in q]
    alone = {(f.question, f.level, f.first.id, f.second.id, f.first.wave): f.p_adjusted
             for f in find(pub, questions=plain)}  # fmt: skip
    within = {(f.question, f.level, f.first.id, f.second.id, f.first.wave): f.p_adjusted
              for f in found if f.question in plain}  # fmt: skip
    assert alone == within


def test_estimate_command_ranks_the_options(poll: Any) -> None:
    result = CliRunner().invoke(
        app, ["estimate", "allies", "--store", str(poll.path), "--waves", "2025-11",
              "--countries", "DE", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    top = min(rows, key=lambda r: r["rank"])
    assert top["part"] in {"eu", "us"} and top["rank"] == 1
    assert {r["level"] for r in rows} == {"selected"} and len(rows) == 5
    table = CliRunner().invoke(
        app, ["estimate", "allies", "--store", str(poll.path), "--waves", "2025-11"]
    )
    assert table.exit_code == 0 and "do not sum to 100%" in table.output


def test_a_region_of_a_multiple_question_and_a_grid(poll: Any) -> None:
    """``estimate("allies", region="EU")``: each option combined by the region's rule
    (``mean``: each member counts equally; independent samples, so the variance is the
    sum of the members' over k^2), ranked, with the not-100% note; a grid's every item
    × level likewise — against the hand combination of the members' own estimates."""
    import numpy as np

    from barometer.poll.sets import NOT_ADDITIVE

    wave = ["2025-11"]
    eu = poll.estimate("allies", region="EU", waves=wave, like_for_like=False)
    rows = eu.to_polars()
    assert NOT_ADDITIVE in eu.notes
    assert set(rows["country"]) == {"EU"} and set(rows["level"]) == {"selected"}
    assert sorted(rows["part"]) == sorted(OPTIONS)
    by_rank = rows.sort("rank")["estimate"].to_list()
    assert by_rank == sorted(by_rank, reverse=True) and rows["rank"].min() == 1
    members = poll.estimate("allies", waves=wave).to_polars()
    members = members.filter(pl.col("country").is_in(poll.spec.region("EU").members))
    for row in rows.iter_rows(named=True):
        mine = members.filter(pl.col("part") == row["part"])
        k = mine.height
        assert k > 1 and sorted(row["countries"]) == sorted(mine["country"])
        assert row["estimate"] == pytest.approx(mine["estimate"].mean(), rel=1e-12)
        se = np.sqrt(np.sum(mine["se"].to_numpy() ** 2)) / k
        assert row["se"] == pytest.approx(se, rel=1e-10)
    grid = poll.estimate("views", region="EU", waves=wave, like_for_like=False).to_polars()
    items = poll.estimate("views", waves=wave).to_polars()
    items = items.filter(pl.col("country").is_in(poll.spec.region("EU").members))
    assert grid.height == items.select("part", "level").unique().height > 2
    assert "rank" not in grid.columns
    for row in grid.iter_rows(named=True):
        mine = items.filter((pl.col("part") == row["part"]) & (pl.col("level") == row["level"]))
        assert row["estimate"] == pytest.approx(mine["estimate"].mean(), rel=1e-12)


def test_report_grid_overview_has_one_items_by_levels_table(
    pub: Publication, tmp_path: Path
) -> None:
    """Issue 15: a grid is shown as one table of items x levels (each item on its own base)
    beside its chart; every figure equals the publication's estimate of that item."""
    html = write_report(pub, tmp_path / "report.html").read_text(encoding="utf-8")
    tables = parse(html).find_all("table", data_grid="views")
    assert tables
    levels = [lv.code for lv in next(q for q in pub.spec.questions if q.id == "views").levels]
    checked = 0
    for table in tables:
        scope, wave = table.attrs["data-scope"], table.attrs["data-wave"]
        items = [tr.attrs["data-item"] for tr in table.find_all("tr") if "data-item" in tr.attrs]
        assert items == ["us", "cn", "ru"]
        for tr in table.find_all("tr"):
            item = tr.attrs.get("data-item")
            if item is None:
                continue
            rows = pub.cells(f"views__{item}").estimates.to_polars()
            rows = rows.filter((pl.col("scope") == scope) & (pl.col("wave") == wave))
            by_level = {r["level"]: r for r in rows.iter_rows(named=True)}
            pcts = [s.text for s in tr.find_all("span", data_kind="pct")]
            assert pcts == [format_percent(by_level[lv]["estimate"]) for lv in levels]
            assert tr.find_all("td", data_kind="n")[0].text == f"{int(by_level[levels[0]]['n']):,}"
            checked += len(pcts)
    assert checked >= 3 * len(levels)


def test_a_region_mostly_one_member_is_noted_on_sets(poll: Any, pub: Publication, tmp_path: Path):
    """A multiple-response section, a grid's overview and a set's banner note a region
    whose figure is mostly one member, as a single-choice question's do (the one rule
    of barometer.poll.regions.dominance_note). The demo's EU is a mean of its members,
    so a 5% rule notes it in every wave; the default 50% in none."""
    from barometer.poll.regions import dominance_note

    def notes_of(html: str, section: str) -> list[str]:
        (found,) = parse(html).find_all("section", id=section)
        return [p.text for p in found.find_all("p", **{"class": "note"})]

    def noted(notes: list[str]) -> set[str]:
        return {n for n in notes if "max_member_share" in n}

    html = write_report(pub, tmp_path / "a.html").read_text(encoding="utf-8")
    assert not noted(notes_of(html, "q-allies")) and "max_member_share" not in html
    strict = poll.publication(rules=pub.rules.model_copy(update={"max_member_share": 0.05}))
    html = write_report(strict, tmp_path / "b.html").read_text(encoding="utf-8")
    rows = strict.cells("allies__us").region("EU").to_polars()
    want = {
        f"{wave}: {dominance_note(strict.spec, 'EU', members, 0.05)}."
        for wave, members in rows.unique("wave").select("wave", "members").iter_rows()
    }
    assert len(want) == len(strict.waves) and noted(notes_of(html, "q-allies")) == want
    # the grid overview shows the latest wave: its note is that wave's
    (grid_note,) = noted(notes_of(html, "grid-views"))
    latest = strict.waves_of("views__us")[-1]
    item = strict.cells("views__us").region("EU").to_polars().filter(pl.col("wave") == latest)
    members = item["members"][0].to_list()
    assert f"{latest}: {dominance_note(strict.spec, 'EU', members, 0.05)}." in grid_note
    assert grid_note.count("max_member_share") == 1  # once, not once per item
    # a set's banner: its region column carries the note its options' banners carry
    where = {"wave": latest}
    table = banner(strict, "allies", ["country", "region"], where=where)
    option = banner(strict, "allies__us", ["country", "region"], where=where)
    (eu,) = [c for c in table.columns if c.banner == "region" and c.value == "EU"]
    (own,) = [c for c in option.columns if c.banner == "region" and c.value == "EU"]
    assert eu.note == own.note and "max_member_share" in eu.note
