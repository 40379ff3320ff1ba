"""Every output understands numeric questions and nets (issue 14): findings' sentences
about means, no finding for a net's complement, banner mean rows with letters and nets
as rows (workbooks read back equal the Publication), the charts, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

import barometer as bm
from barometer.errors import EstimationError
from barometer.poll.publication import Publication
from barometer.poll.regions import dominance_note
from barometer.poll.spec import parse_spec
from barometer.publish.banner.build import banner
from barometer.publish.banner.tables import write_csv, write_xlsx
from barometer.publish.charts import to_svg
from barometer.publish.findings import find
from barometer.publish.findings.wording import Wording
from barometer.publish.numbers import format_mean, format_mean_moe
from barometer.publish.report.html import write_report
from barometer.publish.scale_charts import distribution_bars, mean_dots
from tests.publish.report.test_html import parse
from tests.support.numeric_poll import make_numeric_poll


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> bm.Poll:
    root: Path = tmp_path_factory.mktemp("numeric_outputs")
    poll, _ = bm.Poll.ingest(make_numeric_poll(root), root / "poll.duckdb")
    poll.weight()
    return poll


@pytest.fixture(scope="module")
def pub(poll: bm.Poll) -> Publication:
    return poll.publication(breakdowns=["age"])


def test_format_mean_has_one_decimal_more_than_percentages() -> None:
    assert format_mean(5.126) == "5.1" and format_mean(5.15) == "5.2"
    assert format_mean(5.126, decimals=1) == "5.13"
    assert format_mean(0.43, signed=True) == "+0.4" and format_mean(-0.43, signed=True) == "−0.4"
    assert format_mean(0.01, signed=True) == "0.0" and format_mean(None) == "–"


def test_findings_of_means_have_their_own_sentences(pub: Publication) -> None:
    found = find(pub, questions=["trust_eu"])
    assert len(found) > 0 and all(f.level is None for f in found)
    changes = [f for f in found if f.kind == "change"]
    fr = next(f for f in changes if f.first.id == "FR")
    d = pub.rules.decimals
    assert fr.sentence.startswith(
        f"fr: average trust in the EU rose from {format_mean(fr.second.estimate, d)} to "
        f"{format_mean(fr.first.estimate, d)} out of 10 between 2024-11 and 2025-11 ("
    )
    assert fr.level_label == "mean" and fr.first.estimate > fr.second.estimate
    gap = next(f for f in found if f.kind == "gap")
    assert " was " in gap.sentence and " out of 10 in " in gap.sentence
    assert gap.first.estimate > gap.second.estimate


def test_a_min_gap_is_a_share_of_the_scale(pub: Publication) -> None:
    every = find(pub, questions=["trust_eu"], kinds=["gap"], min_gap=0.0)
    wide = find(pub, questions=["trust_eu"], kinds=["gap"], min_gap=0.15)
    countries = {f.first.id for f in every} | {f.second.id for f in every}
    assert countries
    for f in wide:
        if f.first.type == f.second.type == "country":
            assert abs(f.difference) >= 1.5  # 15% of the 0-10 range
    assert len(wide) <= len(every)


def test_net_findings_and_no_finding_for_its_complement(pub: Publication) -> None:
    found = find(pub, questions=["us_relationship"])
    nets = [f for f in found if f.level == "ally_or_partner"]
    assert nets and all("Ally or partner" in f.sentence for f in nets)
    assert all(f.level_label == "Ally or partner" for f in nets)


def _net_spec() -> Any:
    return parse_spec(
        {
            "name": "n",
            "countries": [{"code": "DE", "name": "Germany"}],
            "waves": [{"id": "w1"}],
            "questions": [
                {
                    "id": "q",
                    "levels": [{"code": c, "label": c} for c in ("a", "b", "c", "dk")],
                    "non_substantive": ["dk"],
                    "nets": [
                        {"code": "ab", "label": "A or B", "levels": ["a", "b"]},
                        {"code": "bc", "label": "B or C", "levels": ["b", "c"]},
                    ],
                }
            ],
        }
    )


def test_complement_rule_keeps_the_net_not_the_level() -> None:
    import importlib

    spec = _net_spec()
    pair = (("DE", "w1"), ("FR", "w1"))

    def cand(level: str) -> tuple[float, float, dict[str, Any]]:
        return (0.1, 0.01, {"kind": "gap", "question": "q", "level": level,
                            "a": pair[0], "b": pair[1]})  # fmt: skip

    module = importlib.import_module("barometer.publish.findings.find")
    complements = getattr(module, "_complements_out")  # noqa: B009 (the scan's own filter)
    # among the substantive levels a, b, c: "c" complements the net "ab" and "a" the
    # net "bc"; "b" complements neither
    kept = complements([cand("c"), cand("ab"), cand("a"), cand("b"), cand("bc")], spec)
    assert [c[2]["level"] for c in kept] == ["ab", "b", "bc"]
    # without the net reported, its complement is a finding like any other
    assert [c[2]["level"] for c in complements([cand("c"), cand("a")], spec)] == ["c", "a"]
    # two nets that complement each other keep the better ranked one
    spec2 = parse_spec(
        _net_spec().model_dump(mode="json")
        | {
            "questions": [
                {
                    "id": "q",
                    "levels": [{"code": c, "label": c} for c in ("a", "b", "c", "d")],
                    "nets": [
                        {"code": "ab", "label": "AB", "levels": ["a", "b"]},
                        {"code": "cd", "label": "CD", "levels": ["c", "d"]},
                    ],
                }
            ]
        }
    )
    kept = complements([cand("cd"), cand("ab")], spec2)
    assert [c[2]["level"] for c in kept] == ["cd"]


def test_wording_of_a_scale_without_a_range_or_label() -> None:
    spec = parse_spec(
        {
            "name": "w",
            "countries": [{"code": "DE", "name": "Germany"}],
            "waves": [{"id": "w1"}],
            "questions": [{"id": "age_years", "kind": "numeric", "wording": "Age in years"}],
        }
    )
    w = Wording(spec, {})
    assert w.phrase("age_years", None) == "average Age in years"
    assert w.out_of("age_years") == "" and w.label("age_years", None) == "mean"


def _cell(pub: Publication, question: str, scope: str, wave: str, level: str | None) -> dict:
    table = pub.cells(question).estimates.to_polars()
    hit = table.filter((pl.col("scope") == scope) & (pl.col("wave") == wave))
    hit = hit.filter(pl.col("level").is_null() if level is None else pl.col("level") == level)
    assert hit.height == 1
    return hit.row(0, named=True)


def test_banner_mean_rows_read_back_equal_the_publication(pub: Publication, tmp_path: Path) -> None:
    t = banner(pub, "trust_eu", ["country", "region"])
    assert t.statistic == "mean" and t.levels == (("mean", "Mean"),)
    wb = openpyxl.load_workbook(write_xlsx([t], tmp_path / "b.xlsx"))
    ws = wb[wb.sheetnames[1]]
    assert "Weighted means" in ws.cell(2, 1).value
    for j, col in enumerate(t.columns):
        if col.banner != "country":
            continue
        cell = _cell(pub, "trust_eu", str(col.value), "2025-11", None)
        assert ws.cell(9, 2 + j).value == pytest.approx(cell["estimate"], rel=1e-12)
        assert ws.cell(9, 2 + j).number_format == "0.0"
    back = pl.read_csv(write_csv([t], tmp_path / "b.csv"))
    assert set(back["level"]) == {"mean"}
    # letters come from design-based tests of the means: IT's 6.0 beats DE's 5.3
    letters = dict(zip(t.cells["column"], t.cells["letters"], strict=True))
    de = next(i for i, c in enumerate(t.columns) if c.value == "DE")
    it = next(i for i, c in enumerate(t.columns) if c.value == "IT")
    assert t.columns[de].letter in letters[it]


def test_banner_nets_are_rows_with_letters(pub: Publication, tmp_path: Path) -> None:
    t = banner(pub, "us_relationship", ["age"], where={"country": "DE", "wave": "2025-11"})
    assert t.levels[-1] == ("ally_or_partner", "Ally or partner")
    wb = openpyxl.load_workbook(write_xlsx([t], tmp_path / "n.xlsx"))
    ws = wb[wb.sheetnames[1]]
    row = 9 + 2 * (len(t.levels) - 1)  # the first level's row is 9
    assert ws.cell(row, 1).value == "Ally or partner"
    net = t.cells.filter(pl.col("level") == "ally_or_partner").sort("column")
    ally = t.cells.filter(pl.col("level") == "ally").sort("column")
    partner = t.cells.filter(pl.col("level") == "partner").sort("column")
    assert net["estimate"].to_list() == pytest.approx(
        (ally["estimate"] + partner["estimate"]).to_list()
    )
    assert ws.cell(row, 2).value == pytest.approx(net["estimate"][0], rel=1e-12)


def test_charts_of_a_numeric_question(pub: Publication) -> None:
    cells = pub.cells("trust_eu")
    question = pub.spec.question("trust_eu")
    dots = mean_dots(cells.estimates, question, wave="2025-11", reference="EU", title="T")
    spec = dots.to_dict()  # validated against the Vega-Lite schema
    assert "Weighted mean, 2025-11" in str(spec)
    assert "<svg" in to_svg(dots)
    assert cells.distribution is not None
    bars = distribution_bars(cells.distribution, question, wave="2025-11")
    assert [str(v) for v in range(11)] == bars.to_dict()["spec"]["encoding"]["x"]["sort"]
    with pytest.raises(EstimationError, match="pass wave="):
        mean_dots(cells.estimates, question)
    with pytest.raises(EstimationError, match="no row for reference 'EX'"):
        mean_dots(cells.estimates, question, wave="2025-11", reference="EX")


def test_report_shows_the_scale_and_the_net(pub: Publication, tmp_path: Path) -> None:
    dom = parse(write_report(pub, tmp_path / "report.html").read_text(encoding="utf-8"))
    (section,) = dom.find_all("section", id="q-trust_eu")
    tables = section.find_all("table", data_table="wave")
    assert tables and "weighted mean (0–10)" in tables[0].find_all("caption")[0].text
    d = pub.rules.decimals
    seen = 0
    for table in tables:
        for tr in table.find_all("tr"):
            subject, wave = tr.attrs.get("data-subject"), tr.attrs.get("data-wave")
            if subject is None or tr.attrs.get("data-suppressed"):
                continue
            (pct,) = [s.text for s in tr.find_all("span", data_kind="pct")]
            assert pct == format_mean(_cell(pub, "trust_eu", subject, wave, None)["estimate"], d)
            seen += 1
    assert seen >= 7
    assert len(section.find_all("img")) == 3  # means against EU and EUP, the distribution
    (us,) = dom.find_all("section", id="q-us_relationship")
    first = us.find_all("table", data_table="wave")[0]
    headers = [th.text for th in first.find_all("th", scope="col")]
    assert "Ally or partner" in headers


def test_the_explorer_prints_a_mean_as_a_mean(pub: Publication) -> None:
    from barometer.publish.explorer.cube import build_cube

    rows = build_cube(pub).rows
    trust = rows.filter(
        (pl.col("question") == "trust_eu") & pl.col("breakdown").is_null() & ~pl.col("suppressed")
    )
    assert trust.height > 0
    for r in trust.iter_rows(named=True):
        assert r["percent"] == format_mean(r["estimate"], pub.rules.decimals)
        assert r["moe"] == format_mean_moe(r["ci_low"], r["ci_high"], pub.rules.decimals)
    net = rows.filter(
        (pl.col("question") == "us_relationship") & (pl.col("level") == "ally_or_partner")
    )
    assert net.height > 0


def test_report_prints_the_quartiles_of_a_numeric_question(
    pub: Publication, tmp_path: Path
) -> None:
    dom = parse(write_report(pub, tmp_path / "report.html").read_text(encoding="utf-8"))
    (section,) = dom.find_all("section", id="q-trust_eu")
    tables = section.find_all("table", data_table="quartiles")
    assert tables
    headers = [th.text for th in tables[0].find_all("th", scope="col")]
    assert headers == ["Country", "Lower quartile", "Median", "Upper quartile", "Base (n)"]
    held = pub.cells("trust_eu").quantiles
    assert held is not None
    rows = held.to_polars()
    d = pub.rules.decimals
    seen = 0
    rows_printed = [tr for t in tables for tr in t.find_all("tr") if "data-subject" in tr.attrs]
    for tr in rows_printed:
        subject, wave = tr.attrs["data-subject"], tr.attrs["data-wave"]
        want = rows.filter((pl.col("country") == subject) & (pl.col("wave") == wave))
        got = {s.attrs["data-level"]: s.text for s in tr.find_all("span", data_kind="quantile")}
        assert list(got) == ["0.25", "0.5", "0.75"]
        for r in want.iter_rows(named=True):
            printed = "–" if r["suppressed"] else format_mean(r["estimate"], d)
            assert got[r["level"]] == printed, (subject, wave, r["level"])
            seen += 1
    assert seen >= 9
    # a single-choice question has no quartiles table
    (us,) = dom.find_all("section", id="q-us_relationship")
    assert not us.find_all("table", data_table="quartiles")


def test_a_means_margin_has_one_decimal_more_than_the_mean() -> None:
    """A large sample's margin of a 0-10 mean (0.036) prints as ±0.04, not ±0.0."""
    assert format_mean(5.356) == "5.4"
    assert format_mean_moe(5.320, 5.392) == "±0.04"
    assert format_mean_moe(4.9, 5.5, decimals=1) == "±0.300"
    assert format_mean_moe(None, 5.5) == "–"


def _section_notes(report: Path, question: str) -> list[str]:
    (section,) = parse(report.read_text(encoding="utf-8")).find_all("section", id=f"q-{question}")
    return [p.text for p in section.find_all("p", **{"class": "note"})]


@pytest.mark.parametrize("question", ["trust_eu", "us_relationship"])
def test_report_notes_a_region_mostly_one_member(
    poll: bm.Poll, pub: Publication, question: str, tmp_path: Path
) -> None:
    """A mean's region rows, and a net's, carry the note a share's do when the region is
    mostly one member (DE is 34% of the population-weighted EUP: above a 30% rule)."""
    assert not [n for n in _section_notes(write_report(pub, tmp_path / "a.html"), question)
                if "max_member_share" in n]  # fmt: skip
    strict = poll.publication(rules=pub.rules.model_copy(update={"max_member_share": 0.3}))
    notes = _section_notes(write_report(strict, tmp_path / "b.html"), question)
    cells = strict.cells(question)
    want = set()
    for rid in ("EU", "EUP"):
        rows = cells.region(rid).to_polars().unique("wave", maintain_order=True)
        for wave, members in rows.select("wave", "members").iter_rows():
            note = dominance_note(strict.spec, rid, members, 0.3)
            if note:
                want.add(f"{wave}: {note}.")
    assert want and {n for n in notes if "max_member_share" in n} == want
    assert any(n.startswith("2024-11: de makes 34% of EU pooled (a population-") for n in want)
    assert any(n.startswith("2025-11: de makes 33% of EU (an average;") for n in want)
    if question == "us_relationship":  # the net is one of the region's rows noted
        assert "ally_or_partner" in set(cells.region("EUP").to_polars()["level"].to_list())
