"""A ragged poll published end to end: a question asked in one wave only (``trust``), a
module asked in some countries (``nato``, DE and FR), a question no source maps
(``ghost``) and regions with a member absent from a wave (PL, first wave only).

Regression tests of issue 11: every command succeeds and says what is missing."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.poll import Poll
from barometer.publish import write_report
from barometer.publish.banner.build import banner_tables, unasked
from barometer.publish.banner.tables import write_xlsx
from barometer.publish.findings import find
from tests.support.pollkit import WAVES, edit_spec, make_poll, make_ragged_poll

runner = CliRunner()
EARLY, LATE = WAVES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Poll, Path]:
    root = tmp_path_factory.mktemp("ragged")
    make_ragged_poll(root)
    poll, _ = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
    poll.weight()
    return poll, root


@pytest.fixture(scope="module")
def pub(built):
    return built[0].publication()


def _cli(*args: str) -> tuple[str, str]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result.stdout, result.stderr


def test_publication_says_what_is_absent(pub) -> None:
    assert "ghost" not in pub.questions
    assert any(n.startswith("ghost: no respondent answers it") for n in pub.notes)
    assert pub.absent("nato") == [f"not asked in {EARLY} in IT, PL", f"not asked in {LATE} in IT"]
    assert pub.absent("trust") == [f"not asked in {EARLY}"]
    assert pub.absent("us_relationship") == []
    assert pub.waves_of("trust") == [LATE]


def test_banners_of_a_ragged_poll(pub) -> None:
    tables = banner_tables(pub, banners=["country"])
    assert [t.question for t in tables] == list(pub.questions)
    nato = next(t for t in tables if t.question == "nato")
    assert [c.value for c in nato.columns[1:]] == ["DE", "FR"]
    assert "unsure" not in nato.cells["level"].to_list()  # nobody chose it: left out
    # region columns: the publication's regions, each cell's members with data
    with_regions = banner_tables(pub, ["nato"], banners=["country", "region"])[0]
    regions = [c for c in with_regions.columns if c.banner == "region"]
    assert [(c.value, c.label, c.n) for c in regions] == [
        ("EU", "EU", 600),
        ("EUP", "EU pooled", 600),
    ]
    assert f"not asked in {EARLY} in IT, PL" in nato.base
    # DE is 57% of the population-weighted EUP when only DE and FR answer: flagged
    notes = {c.value: c.note for c in regions}
    assert notes["EU"] == ""  # a mean of two: 50%, not above max_member_share
    assert notes["EUP"].startswith("de makes 57% of EU pooled (a population-weighted")
    long = with_regions.to_polars()
    assert set(long.filter(pl.col("value") == "EUP")["column_note"]) == {notes["EUP"]}
    # a wave in which trust was not asked: no table, and a sentence saying so
    early = banner_tables(pub, banners=["country"], wave=EARLY)
    assert "trust" not in [t.question for t in early]
    assert unasked(pub, pub.questions, EARLY) == [
        ("trust", f"trust: not asked in {EARLY} (asked in {LATE}); no table")
    ]
    # by wave: within each country, no Total adding countries' populations
    by_wave = banner_tables(pub, ["us_relationship"], banners=["wave"])
    assert [t.settings["where"] for t in by_wave] == [{"country": c} for c in pub.countries]
    assert all(c.banner != "total" for t in by_wave for c in t.columns)
    pl_table = by_wave[-1]
    assert [c.value for c in pl_table.columns] == [EARLY]


def test_banner_sheet_marks_a_dominated_region(pub, tmp_path: Path) -> None:
    table = banner_tables(pub, ["nato"], banners=["country", "region"])[0]
    sheet = openpyxl.load_workbook(write_xlsx([table], tmp_path / "b.xlsx"))["nato"]
    heads = [sheet.cell(5, 2 + j).value for j in range(len(table.columns))]
    assert heads[-2:] == ["EU", "EU pooled †"]
    texts = [str(c.value) for row in sheet.iter_rows() for c in row if c.value]
    (note,) = [t for t in texts if t.startswith("† ")]
    assert "de makes 57% of EU pooled" in note


def test_findings_no_mirror_and_no_dominant_member(pub) -> None:
    found = find(pub)
    pairs = [
        (f.kind, f.question, frozenset({(f.first.id, f.first.wave), (f.second.id, f.second.wave)}))
        for f in found
        if f.question == "nato"
    ]
    assert pairs and len(pairs) == len(set(pairs))  # yes/no: no mirror pairs
    # DE is 57% of the population-weighted EUP when only DE and FR answer nato
    for f in found:
        ids = {f.first.id, f.second.id}
        assert not (f.kind == "gap" and f.question == "nato" and ids == {"DE", "EUP"})
    assert any("de is not compared with EU pooled" in n for n in found.notes)
    # region notes name regions by their spec name, never by id
    assert not any("EUP" in n for n in found.notes)
    assert any(n.startswith("EU pooled in ") for n in found.notes)
    # no finding that another implies: a two-member region against one of its members
    # (a share of the gap between the two), two regions of the same members (only their
    # rules differ), a region of one member (that country)
    for f in found:
        sides = (f.first, f.second)
        regions = [s for s in sides if s.type == "region"]
        assert all(len(s.countries) > 1 for s in regions)
        if f.kind == "gap" and len(regions) == 2:
            assert set(f.first.countries) != set(f.second.countries)
        for r, o in ((f.first, f.second), (f.second, f.first)):
            if f.kind == "gap" and r.type == "region" and o.id in r.countries:
                assert len(r.countries) > 2
    assert any("nato: fr is not compared with EU, which combines only fr and de" in n
               for n in found.notes)  # fmt: skip
    assert any("combine the same members" in n for n in found.notes)
    regional = [f for f in found if "EUP" in {f.first.id, f.second.id}]
    assert regional and all("EU pooled" in f.sentence for f in regional)
    assert not any("the EUP" in f.sentence for f in found)


def test_report_of_a_ragged_poll(pub, tmp_path: Path) -> None:
    path = write_report(pub, tmp_path / "report.html", findings=find(pub).headlines(8))
    html = path.read_text(encoding="utf-8")
    assert f"Not asked in {EARLY} in IT, PL." in html
    assert f"Not asked in {EARLY}." in html
    assert "Unsure" not in html  # a level nobody chose is left out
    assert "98.8–100.0" in html  # a one-sided interval at 100%, not "±0"
    # EU pooled is 57% DE where only DE and FR answer nato: said, as banners flag it
    assert f"{LATE}: de makes 57% of EU pooled (a population-weighted average" in html


def test_report_of_a_scope_describes_that_scope(built, tmp_path: Path) -> None:
    """report --countries PL: the masthead and methodology are PL's (one country, the one
    wave it was polled in), not the whole poll's."""
    pub = built[0].publication(countries=["PL"])
    assert set(pub.facts.bases["country"]) == {"PL"}
    assert set(pub.facts.sources["country"]) == {"PL"}
    html = write_report(pub, tmp_path / "pl.html").read_text(encoding="utf-8")
    assert f"Fieldwork {EARLY}" in html and f"Fieldwork {EARLY}, {LATE}" not in html
    assert f"300 respondents in 1 country ({EARLY})" in html
    assert "0 countries" not in html and "1 countries" not in html
    assert "(1 country; adult populations below)" in html
    assert "Datapraxis" not in html  # DE's and IT's fieldwork firm
    assert "EU (EU)" not in html and "<strong>EU</strong>" in html


def test_every_command_succeeds(built, tmp_path: Path) -> None:
    _, root = built
    store = str(root / "poll.duckdb")
    out, err = _cli("info", "--store", store)
    assert out.index(EARLY) < out.index(LATE)
    # where each question was asked, and "not asked" rather than a blank count
    assert f"{EARLY}: DE, FR; {LATE}: DE, FR" in out  # nato, a module of two countries
    assert f"{EARLY}: not asked; {LATE}: DE, FR, IT" in out  # trust
    assert "no source maps it" in out  # ghost
    assert "every country and wave" in out and "not asked" in out
    assert "Region EUP (population): DE, FR, IT, PL — EU pooled" in out
    _, err = _cli("findings", "--store", store, "--out", str(tmp_path))
    assert "ghost: no respondent answers it" in err
    _cli("findings", "--store", store, "--out", str(tmp_path), "--questions", "nato",
         "--countries", "DE,FR", "--waves", LATE)  # fmt: skip
    _, err = _cli("banners", "--store", store, "--out", str(tmp_path / "b.xlsx"),
                  "--wave", EARLY)  # fmt: skip
    assert f"trust: not asked in {EARLY}" in err
    _cli("banners", "--store", store, "--out", str(tmp_path / "b.csv"), "--csv",
         "--by", "wave", "--questions", "trust,us_relationship")  # fmt: skip
    # a module not asked in the countries chosen: said once, and why (not "no source maps it")
    _, err = _cli("banners", "--store", store, "--out", str(tmp_path / "it.csv"), "--csv",
                  "--countries", "IT", "--questions", "nato,us_relationship")  # fmt: skip
    assert err.count("nato") == 1
    assert "nato: no respondent answers it in countries IT (not asked there); left out" in err
    _cli("report", "--store", store, "--out", str(tmp_path / "r.html"), "--countries", "DE,FR")
    assert (tmp_path / "r.html").exists()
    out, err = _cli("estimate", "trust", "--store", store, "--waves", EARLY)
    assert f"no respondent answers 'trust' in waves {EARLY}" in err
    assert out == ""  # the note alone, no empty table frame above it
    out, _ = _cli("estimate", "trust", "--store", store, "--waves", EARLY, "--format", "csv")
    assert pl.read_csv(out.encode()).height == 0  # machine formats: an empty document
    # DE answers "high" to a man: beta intervals at 1 and 0, whatever ci was asked
    out, _ = _cli("estimate", "trust", "--store", store, "--format", "csv", "--ci", "logit")
    table = pl.read_csv(out.encode())
    de = table.filter(pl.col("country") == "DE").sort("level")
    assert de["ci_method"].to_list() == ["beta", "beta"]
    assert de["ci_low"][0] < 1 and de["ci_high"][1] > 0
    assert set(table.filter(pl.col("country") != "DE")["ci_method"]) == {"logit"}
    # a region whose one member in scope is at the boundary: the same interval as DE's
    out, _ = _cli("estimate", "trust", "--store", store, "--region", "EU", "--countries", "DE",
                  "--format", "csv")  # fmt: skip
    eu = pl.read_csv(out.encode()).sort("level")
    assert eu["ci_method"].to_list() == ["beta", "beta"]
    assert eu["ci_low"].to_list() == de["ci_low"].to_list()
    assert eu["ci_high"].to_list() == de["ci_high"].to_list()


def test_region_with_a_member_absent_from_a_wave(built) -> None:
    _, root = built
    store = str(root / "poll.duckdb")
    for flag in ("--each-wave", "--like-for-like"):
        out, _ = _cli("estimate", "us_relationship", "--store", store, "--region", "EU",
                      flag, "--format", "csv")  # fmt: skip
        table = pl.read_csv(out.encode())
        early = table.filter(pl.col("wave") == EARLY)["countries"].unique().to_list()
        assert early == (["DE;FR;IT;PL"] if flag == "--each-wave" else ["DE;FR;IT"])
    out, _ = _cli("estimate", "us_relationship", "--store", store, "--region", "EU")
    assert "PL" in out and "left" in out  # the member left out is named
    # a region none of whose members in scope asked the question: a note, not an error
    out, err = _cli("estimate", "nato", "--store", store, "--region", "EU", "--countries", "IT")
    assert out == "" and "no respondent answers 'nato' in countries IT" in err


def test_a_wave_in_the_spec_not_yet_polled(tmp_path: Path) -> None:
    """A wave listed (and dated) before its fieldwork: the default commands cover the
    waves polled; asking for that wave is one clear error naming the waves polled."""
    make_ragged_poll(tmp_path)
    edit_spec(
        tmp_path / "spec.yaml",
        lambda s: s["waves"].append({"id": "2026-11", "start": "2026-11-01"}),
    )
    store = str(tmp_path / "poll.duckdb")
    _cli("ingest", str(tmp_path / "spec.yaml"), "--store", store)
    _cli("weight", "--store", store)
    _cli("banners", "--store", store, "--out", str(tmp_path / "b.xlsx"))
    _cli("findings", "--store", store, "--out", str(tmp_path))
    _cli("report", "--store", store, "--out", str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"Fieldwork {EARLY}, {LATE} " in html and "2026-11 " not in html
    for args in (
        ("banners", "--store", store, "--wave", "2026-11", "--out", str(tmp_path / "x.xlsx")),
        ("estimate", "nato", "--store", store, "--waves", "2026-11"),
        ("report", "--store", store, "--waves", "2026-11", "--out", str(tmp_path / "x.html")),
    ):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert "2026-11" in line and f"{EARLY}, {LATE}" in line, line
        assert "not asked" not in result.stderr and "None" not in line


def test_a_country_not_asked_in_a_middle_wave_has_its_change(tmp_path: Path) -> None:
    """DE skips us_relationship in the middle wave: its change compares the waves either
    side of the gap (the waves in which DE was asked), the others' their own consecutive
    waves; no change is reported twice."""
    three = ["2023-11", *WAVES]
    make_poll(tmp_path, waves=three)

    def gap(spec: dict) -> None:
        spec["waves"] = [{"id": w, "start": f"{w}-01"} for w in three]
        for source in spec["sources"]:
            if source["id"] == f"de-{three[1]}":
                del source["variables"]["us_relationship"]

    edit_spec(tmp_path / "spec.yaml", gap)
    poll, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    poll.weight()
    pub = poll.publication()
    assert pub.absent("us_relationship") == [f"not asked in {three[1]} in DE"]
    # every change kept (a vanishing confidence level, no adjustment): the scan's pairs
    every = find(pub, kinds=["change"], adjust="none", alpha=0.999999, confidence=1e-6)
    pairs = {(f.first.id, f.second.wave, f.first.wave, f.level) for f in every}
    de = {(a, b) for s, a, b, _ in pairs if s == "DE"}
    fr = {(a, b) for s, a, b, _ in pairs if s == "FR"}
    assert de == {(three[0], three[2])}
    assert fr == {(three[0], three[1]), (three[1], three[2])}
    assert len(pairs) == len(every)
    html = write_report(pub, tmp_path / "r.html", findings=find(pub).headlines(8))
    assert f"Not asked in {three[1]} in DE." in html.read_text(encoding="utf-8")
