"""Banner tables: numbers equal the Estimates they come from, in the table and in the
workbook read back; letters follow the core's design-based column tests.

Tolerances: shares and bases are written and read back unchanged (== on floats); a
weighted base is a sum of the design's level totals, equal up to summation order (SUM);
xlsx stores a number with 16 significant digits (xlsxwriter writes ``%.16G``; Excel keeps
15), so a share read back from the workbook equals the estimate to XLSX.
"""

from __future__ import annotations

import numpy as np
import openpyxl
import polars as pl
import pytest

import barometer as bm
from barometer.core.comparisons import pairwise_differences
from barometer.errors import BarometerError, EstimationError, SpecError
from barometer.poll.spec import publication_rules
from barometer.publish.banner.build import banner, banner_tables
from barometer.publish.banner.tables import BannerTable, write_csv, write_xlsx
from tests.support.report_demo import demo_poll

SUM = 1e-14
XLSX = 1e-15
WAVE = "2025-11"
Q = "us_relationship"


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory):
    return demo_poll(tmp_path_factory)


@pytest.fixture(scope="module")
def pub(poll):
    return poll.publication(breakdowns=["age", "gender", "education"])


@pytest.fixture(scope="module")
def by_country(pub) -> BannerTable:
    return banner(pub, Q, ["country"])


@pytest.fixture(scope="module")
def in_korea(pub) -> BannerTable:
    return banner(pub, Q, ["age", "gender", "education"], where={"country": "KR"})


@pytest.fixture(scope="module")
def workbook(pub, tmp_path_factory: pytest.TempPathFactory, by_country, in_korea):
    tables = [*banner_tables(pub, banners=["country"]), in_korea]
    path = write_xlsx(tables, tmp_path_factory.mktemp("banner") / "banners.xlsx")
    return tables, openpyxl.load_workbook(path)


def test_population_total_is_the_pooled_estimate(poll) -> None:
    pub = poll.publication(
        questions=[Q], rules=publication_rules(poll.spec, total_rule="population")
    )
    table = banner(pub, Q, ["country"])
    assert table.settings["total_rule"] == "population"
    total = _estimates(poll, ["wave"], {"wave": WAVE})
    for r in table.cells.filter(pl.col("column") == 0).iter_rows(named=True):
        assert (r["estimate"], r["n"]) == total[(r["level"],)]


def _estimates(poll, by: list[str], where: dict[str, str]) -> dict[tuple, tuple]:
    """(by values..., level) -> (estimate, n) from the design's own Estimates (the
    question's nets added by the core, as the publication adds them)."""
    est = _with_nets(poll, Q, poll.design().proportion(Q, by=by)).to_polars()
    for k, v in where.items():
        est = est.filter(pl.col(k).cast(pl.String) == v)
    keys = [c for c in by if c not in where]
    return {
        (*(str(r[k]) for k in keys), r["level"]): (r["estimate"], r["n"])
        for r in est.iter_rows(named=True)
    }


def test_country_banner_equals_estimates(poll, by_country: BannerTable) -> None:
    assert by_country.settings["where"] == {"wave": WAVE}  # the latest wave by default
    cols = by_country.columns
    assert cols[0].label == "Total" and cols[0].letter == ""
    spec_order = [c.code for c in poll.spec.countries]
    values = [c.value for c in cols[1:]]
    assert values == sorted(values, key=spec_order.index)
    assert [c.letter for c in cols[1:]] == [chr(65 + i) for i in range(len(values))]
    country = _estimates(poll, ["wave", "country"], {"wave": WAVE})
    # the Total by the default total_rule "mean": the simple average of the countries
    assert by_country.settings["total_rule"] == "mean"
    shown = [c.value for c in cols[1:]]
    for r in by_country.cells.iter_rows(named=True):
        c = cols[r["column"]]
        if c.value is None:
            mean = sum(country[(v, r["level"])][0] for v in shown) / len(shown)
            assert r["estimate"] == pytest.approx(mean, rel=SUM)
            assert r["n"] == sum(country[(v, r["level"])][1] for v in shown)
            continue
        want = country[(c.value, r["level"])]
        assert (r["estimate"], r["n"]) == want
        assert c.n == want[1]
    # weighted bases: the design's totals of the question, summed over its levels
    totals = poll.design().total(Q, by=["wave", "country"]).to_polars()
    de = totals.filter((pl.col("wave") == WAVE) & (pl.col("country") == "DE"))
    (de_col,) = [c for c in cols if c.value == "DE"]
    assert de_col.weighted_base == pytest.approx(de.get_column("estimate").sum(), rel=SUM)


def test_letters_follow_the_design_based_tests(poll, in_korea: BannerTable) -> None:
    design = poll.design()
    index = {(c.banner, c.value): j for j, c in enumerate(in_korea.columns)}
    letters = {
        (r["column"], r["level"]): r["letters"] for r in in_korea.cells.iter_rows(named=True)
    }
    seen_lower = False
    for b in ("age", "gender", "education"):
        est = design.proportion(Q, by=["wave", "country", b]).filter(
            (pl.col("country") == "KR") & (pl.col("wave") == WAVE)
        )
        pw = pairwise_differences(est, b, adjust="bonferroni")
        for r in pw.iter_rows(named=True):
            hi, lo = (r["first"], r["second"]) if r["difference"] > 0 else (r["second"], r["first"])
            mark = in_korea.columns[index[(b, str(lo))]].letter
            got = letters[(index[(b, str(hi))], r["level"])]
            p = r["p_adjusted"]
            if p < 0.05:
                assert mark in got
            elif p < 0.10:
                assert mark.lower() in got and mark not in got
                seen_lower = True
            else:
                assert mark.lower() not in got.lower()
            assert mark.lower() not in letters[(index[(b, str(lo))], r["level"])].lower()
    assert seen_lower  # the KR table has 90%-level letters to check


def test_korea_ally_above_every_eu_country(by_country: BannerTable) -> None:
    (kr,) = [j for j, c in enumerate(by_country.columns) if c.value == "KR"]
    ally = by_country.cells.filter((pl.col("column") == kr) & (pl.col("level") == "ally"))
    eu = {"BG", "DK", "EE", "FR", "DE", "HU", "IT", "PL", "PT", "ES"}
    for c in by_country.columns:
        if c.value in eu:
            assert c.letter in ally.get_column("letters")[0]


def test_workbook_numbers_equal_estimates(poll, workbook) -> None:
    tables, wb = workbook
    assert wb.sheetnames[0] == "Contents" and len(wb.sheetnames) == len(tables) + 1
    contents = wb["Contents"]
    links = [contents.cell(4 + i, 1).hyperlink for i in range(len(tables))]
    assert all(link is not None for link in links)
    checked = 0
    for t, name in zip(tables, wb.sheetnames[1:], strict=True):
        ws = wb[name]
        assert ws.freeze_panes == "B7"
        where = t.settings["where"]
        truth = {}
        for b in {c.banner for c in t.columns if c.value is not None}:
            truth |= _estimates_of(poll, t.question, [*where, b], where)
        for j, c in enumerate(t.columns, start=2):
            assert ws.cell(7, j).value == c.n
            assert ws.cell(8, j).value == pytest.approx(c.weighted_base, rel=XLSX, abs=0)
            if c.value is None:
                continue
            assert ws.cell(5, j).value.startswith(c.label)
            for i, (code, _label) in enumerate(t.levels):
                value = ws.cell(9 + 2 * i, j).value
                if c.suppressed:
                    assert value == "–"
                    continue
                assert value == pytest.approx(truth[(c.value, code)], rel=XLSX, abs=0)
                assert ws.cell(9 + 2 * i, j).number_format == (
                    "0.0" if t.statistic == "mean" else "0%"
                )
                checked += 1
        for i, (_code, label) in enumerate(t.levels):
            assert ws.cell(9 + 2 * i, 1).value == label
    assert checked > 200


def _with_nets(poll, question: str, est):
    nets = {n.code: n.levels for n in poll.spec.question(question).nets}
    return bm.net(est, nets) if nets else est


def _estimates_of(poll, question: str, by: list[str], where: dict[str, str]) -> dict:
    q = poll.spec.question(question)
    if q.kind == "multiple":  # one row per option: its share of "selected"
        out = {}
        for opt in q.options:
            one = _estimates_of(poll, f"{question}__{opt.code}", by, where)
            out |= {(v, opt.code): e for (v, lv), e in one.items() if lv == "selected"}
        return out
    if q.is_numeric:  # a banner's one row: the mean
        est = poll.design().mean(question, by=by).to_polars().with_columns(level=pl.lit("mean"))
    else:
        est = _with_nets(poll, question, poll.design().proportion(question, by=by)).to_polars()
    for k, v in where.items():
        est = est.filter(pl.col(k).cast(pl.String) == v)
    last = by[-1]
    return {(str(r[last]), r["level"]): r["estimate"] for r in est.iter_rows(named=True)}


def test_csv_round_trip(by_country: BannerTable, in_korea: BannerTable, tmp_path) -> None:
    path = write_csv([by_country, in_korea], tmp_path / "banners.csv")
    back = pl.read_csv(path, schema_overrides={"value": pl.String})
    want = pl.concat([by_country.to_polars(), in_korea.to_polars()], how="vertical_relaxed")
    assert back.height == want.height
    assert np.array_equal(
        back.get_column("estimate").to_numpy(), want.get_column("estimate").to_numpy()
    )
    assert back.get_column("base_unweighted").to_list() == want["base_unweighted"].to_list()


def _toy() -> bm.Design:
    rng = np.random.default_rng(7)
    g = ["a"] * 200 + ["b"] * 60 + ["c"] * 20
    q = np.where(rng.random(len(g)) < np.repeat([0.3, 0.6, 0.5], [200, 60, 20]), "yes", "no")
    return bm.Design(
        pl.DataFrame({"q": q, "g": g, "w": rng.uniform(0.5, 2.0, len(g))}), weights="w"
    )


def test_low_bases_flagged_and_suppressed() -> None:
    t = banner(_toy(), "q", "g")
    flags = {c.value: (c.flagged, c.suppressed) for c in t.columns}
    assert flags == {
        None: (False, False),
        "a": (False, False),
        "b": (True, False),
        "c": (True, True),
    }
    c_col = next(j for j, c in enumerate(t.columns) if c.value == "c")
    letters = "".join(t.cells.get_column("letters").to_list())
    assert "C" not in letters.upper()  # the suppressed column is not tested
    long = t.to_polars()
    assert long.filter(pl.col("value") == "c").get_column("estimate").null_count() == 2
    assert t.cells.filter(pl.col("column") == c_col).get_column("estimate").null_count() == 0
    # thresholds are configurable
    loose = banner(_toy(), "q", "g", flag_base=10, min_base=5)
    assert not any(c.flagged or c.suppressed for c in loose.columns)


def test_adjustment_choice_changes_only_the_letters() -> None:
    bonf = banner(_toy(), "q", "g", adjust="bonferroni")
    bh = banner(_toy(), "q", "g", adjust="bh")
    assert bonf.cells.drop("letters").equals(bh.cells.drop("letters"))
    assert bh.settings["adjust"] == "bh"


@pytest.mark.parametrize(
    ("question", "banners", "kwargs", "error", "message"),
    [
        ("us_relationshp", ["country"], {}, SpecError, "did you mean 'us_relationship'"),
        (Q, ["contry"], {}, EstimationError, "no variable 'contry'.*did you mean 'country'"),
        (Q, [Q], {}, EstimationError, "cannot be a banner of itself"),
        (Q, [], {}, EstimationError, "at least one banner"),
        (Q, ["country"], {"adjust": "fdr"}, EstimationError, "adjust='fdr'"),
        (Q, ["age"], {"where": {"country": "XX"}}, EstimationError, "selects no respondent"),
        (Q, ["country"], {"where": {"country": "KR"}}, EstimationError, "both a banner"),
        (Q, ["country"], {"min_base": 200}, EstimationError, "min_base <= flag_base"),
    ],
)
def test_bad_input_one_clear_error(pub, question, banners, kwargs, error, message) -> None:
    with pytest.raises(error, match=message) as err:
        banner(pub, question, banners, **kwargs)
    assert isinstance(err.value, BarometerError)


def test_design_input_and_unknown_question() -> None:
    with pytest.raises(EstimationError, match=r"no question 'qq'.*did you mean 'q'"):
        banner(_toy(), "qq", "g")
    t = banner(_toy(), "q", ["g"], total=False)
    assert [c.label for c in t.columns] == ["a", "b", "c"]
    with pytest.raises(EstimationError, match="name the questions"):
        banner_tables(_toy())


def test_breakdown_columns_across_countries_follow_the_total_rule(poll, pub) -> None:
    """By default (total_rule "mean") an age column across countries is, like the Total,
    the simple average of the countries' own shares in that age group; under
    "population" every respondent of the group is pooled."""
    table = banner(pub, Q, ["age"])
    assert table.settings["total_rule"] == "mean"
    country = _estimates(poll, ["wave", "age", "country"], {"wave": WAVE})
    codes = {k[1] for k in country}
    for r in table.cells.iter_rows(named=True):
        c = table.columns[r["column"]]
        if c.value is None:
            continue
        got = [country.get((c.value, k, r["level"]), (0.0, 0)) for k in codes]
        shares = [e for e, n in got if n > 0]  # the countries with respondents there
        assert r["estimate"] == pytest.approx(sum(shares) / len(shares), rel=1e-12)
    # the letters test the means with their covariance (a region's variance)
    cells = pub.cells(Q, "age").total.filter(pl.col("wave") == WAVE)
    assert cells.vcov().shape == (len(cells),) * 2
    pooled = poll.publication(
        questions=[Q], breakdowns=["age"],
        rules=publication_rules(poll.spec, total_rule="population"),
    )  # fmt: skip
    table = banner(pooled, Q, ["age"])
    by_age = _estimates(poll, ["wave", "age"], {"wave": WAVE})
    for r in table.cells.iter_rows(named=True):
        c = table.columns[r["column"]]
        if c.value is not None:
            assert (r["estimate"], r["n"]) == by_age[(c.value, r["level"])]
