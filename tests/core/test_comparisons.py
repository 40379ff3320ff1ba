"""Differences, nets, regions, pairwise tests and p-value adjustment
(barometer.core.comparisons).

The svycontrast contrasts are also checked against the committed R fixtures in
test_reference_compare.py; here the R numbers not in those fixtures are given inline with
the R call that produced them (R 4.x, survey 4.1.1, on the data in tests/reference/data).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

import barometer as bm
from barometer.core.comparisons import (
    adjust_pvalues,
    difference,
    level_difference,
    net,
    pairwise_differences,
    region,
    select,
)
from tests.support.designs import clus1, gen_poll
from tests.support.reference import cases, load_data

# R's survey reports these to ~1e-15; the contract is 1e-8 relative.
REL = 1e-8


@pytest.fixture(scope="module")
def dclus1() -> bm.Design:
    return clus1()


@pytest.fixture(scope="module")
def dstrat() -> bm.Design:
    return bm.Design(load_data("apistrat"), weights="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def gen() -> bm.Design:
    return gen_poll()


@pytest.fixture(scope="module")
def ally(gen: bm.Design) -> bm.Estimates:
    return gen.proportion("q_ally", by="country")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def _fixture_result(case_id: str) -> dict[str, float]:
    return next(c for c in cases("compare") if c["id"] == case_id)["results"][0]


# --- differences -------------------------------------------------------------------------


def test_difference_between_countries_matches_svycontrast(ally: bm.Estimates) -> None:
    d = difference(
        ally, {"country": "KR", "level": "ally"}, ally, {"country": "DE", "level": "ally"}
    )
    want = _fixture_result("gen_contrast_ally_KR_minus_DE")
    assert _close(d.estimate, want["estimate"]) and _close(d.se, want["se"])
    assert not d.independent
    assert _close(d.estimate, d.first - d.second)
    assert _close(d.p_value, 2 * stats.norm.sf(abs(d.estimate) / d.se))
    assert _close(d.ci_low, d.estimate - stats.norm.ppf(0.975) * d.se)


def test_difference_of_numeric_domains(dclus1: bm.Design) -> None:
    e = dclus1.mean("api00", by="stype")
    d = difference(e, {"stype": "E"}, e, {"stype": "H"})
    want = _fixture_result("clus1_contrast_mean_api00_E_minus_H")
    assert _close(d.estimate, want["estimate"]) and _close(d.se, want["se"])
    # a row can be given by position, and e2 may be omitted
    rows = e.table["stype"].to_list()
    d2 = difference(e, rows.index("E"), row2=rows.index("H"))
    assert d2 == d


def test_level_difference_matches_svycontrast(gen: bm.Design) -> None:
    e = gen.proportion("q_ally")
    d = level_difference(e, "ally", "partner")
    want = _fixture_result("gen_contrast_ally_minus_partner")
    assert _close(d.estimate, want["estimate"]) and _close(d.se, want["se"])


def test_region_difference_has_overlap_covariance(ally: bm.Estimates) -> None:
    eu = region(ally, "country", ["DE", "FR"], "EU")
    d = difference(eu, {"country": "DE", "level": "ally"}, eu, {"country": "EU", "level": "ally"})
    want = _fixture_result("gen_contrast_ally_DE_minus_average_DE_FR")
    assert _close(d.estimate, want["estimate"]) and _close(d.se, want["se"])
    d = difference(
        eu, {"country": "KR", "level": "partner"}, eu, {"country": "EU", "level": "partner"}
    )
    want = _fixture_result("gen_contrast_partner_KR_minus_average_DE_FR")
    assert _close(d.estimate, want["estimate"]) and _close(d.se, want["se"])


def test_region_agrees_with_combine(ally: bm.Estimates) -> None:
    eu = region(ally, "country", ["DE", "FR"], "EU")
    assert eu.source is not None and eu.coefficients is not None
    assert eu.table.height == ally.table.height + 5
    assert eu.table.head(ally.table.height).equals(ally.table)
    mine = eu.table.filter(pl.col("country") == "EU").sort("level")
    theirs = ally.combine("country", ["DE", "FR"], "EU").table.sort("level")
    for col in ("estimate", "se", "n"):
        assert np.allclose(mine[col].to_numpy(), theirs[col].to_numpy(), rtol=1e-12)
    assert eu.vcov().shape == (eu.table.height, eu.table.height)


def test_region_population_weights(ally: bm.Estimates) -> None:
    pop = {"DE": 70.0, "FR": 30.0}
    eu = region(ally, "country", ["DE", "FR"], "EU", rule="population", weights=pop)
    est = {
        c: ally.table.filter((pl.col("country") == c) & (pl.col("level") == "ally"))["estimate"][0]
        for c in pop
    }
    got = eu.table.filter((pl.col("country") == "EU") & (pl.col("level") == "ally"))["estimate"][0]
    assert math.isclose(got, 0.7 * est["DE"] + 0.3 * est["FR"], rel_tol=1e-12)


def test_region_bad_input(ally: bm.Estimates) -> None:
    with pytest.raises(bm.EstimationError, match="did you mean 'country'"):
        region(ally, "countri", ["DE"], "EU")
    with pytest.raises(bm.EstimationError, match="'XX' does not occur"):
        region(ally, "country", ["DE", "XX"], "EU")
    with pytest.raises(bm.EstimationError, match="needs weights"):
        region(ally, "country", ["DE", "FR"], "EU", rule="population")
    with pytest.raises(bm.EstimationError, match="no population weight for member 'FR'"):
        region(ally, "country", ["DE", "FR"], "EU", rule="population", weights={"DE": 1.0})
    with pytest.raises(bm.EstimationError, match="rule='median'"):
        region(ally, "country", ["DE", "FR"], "EU", rule="median")  # type: ignore[arg-type]


def test_difference_between_independent_samples(dstrat: bm.Design, dclus1: bm.Design) -> None:
    # two separately drawn samples, e.g. two waves: variances add
    e1 = dstrat.mean("api00")
    e2 = dclus1.mean("api00")
    d = difference(e1, 0, e2, 0)
    assert d.independent
    se1, se2 = e1.table["se"][0], e2.table["se"][0]
    assert _close(d.estimate, e1.table["estimate"][0] - e2.table["estimate"][0])
    assert _close(d.se, math.hypot(se1, se2))
    # a combination of rows as a coefficient vector uses the table's covariance
    by = dclus1.mean("api00", by="stype")
    c = np.full(3, 1 / 3)
    d2 = difference(by, c, e1, 0)
    want = _fixture_result("clus1_contrast_mean_api00_average")
    assert _close(d2.first, want["estimate"])
    assert _close(d2.se, math.hypot(want["se"], se1))


def test_difference_refuses_two_tables_of_one_design(dclus1: bm.Design) -> None:
    e1 = dclus1.mean("api00", by="stype")
    e2 = dclus1.mean("api00")
    with pytest.raises(bm.EstimationError, match="same design"):
        difference(e1, 0, e2, 0)
    with pytest.raises(bm.EstimationError, match="second row"):
        difference(e1, 0)


def test_select_messages(ally: bm.Estimates) -> None:
    assert select(ally, 3).tolist() == [0, 0, 0, 1] + [0] * (ally.table.height - 4)
    with pytest.raises(bm.EstimationError, match="matches 5 rows, not one"):
        select(ally, {"country": "DE"})
    with pytest.raises(bm.EstimationError, match="did you mean 'ally'"):
        select(ally, {"country": "DE", "level": "aly"})
    with pytest.raises(bm.EstimationError, match="did you mean 'level'"):
        select(ally, {"country": "DE", "levl": "ally"})
    with pytest.raises(bm.EstimationError, match="out of range"):
        select(ally, 99)
    with pytest.raises(bm.EstimationError, match="needs 15 entries"):
        select(ally, np.ones(3))
    with pytest.raises(bm.EstimationError, match="not str"):
        select(ally, "DE")  # type: ignore[arg-type]


# --- nets --------------------------------------------------------------------------------


def test_net_matches_svycontrast(ally: bm.Estimates) -> None:
    n = net(ally, {"ally_or_partner": ["ally", "partner"]})
    row = n.table.filter((pl.col("country") == "KR") & (pl.col("level") == "ally_or_partner"))
    want = _fixture_result("gen_contrast_net_ally_plus_partner_KR")
    assert _close(row["estimate"][0], want["estimate"]) and _close(row["se"][0], want["se"])
    assert row["n"][0] == ally.table.filter(pl.col("country") == "KR")["n"][0]
    assert row["deff"][0] is None
    # nets are first-class levels: they can be compared with anything in the table
    d = difference(
        n,
        {"country": "KR", "level": "ally_or_partner"},
        n,
        {"country": "KR", "level": "ally"},
    )
    partner = select(ally, {"country": "KR", "level": "partner"})
    assert _close(d.estimate, float(partner @ ally.table["estimate"].to_numpy()))
    assert _close(d.se, math.sqrt(float(partner @ ally.vcov() @ partner)))


def test_net_of_every_level_is_one(ally: bm.Estimates) -> None:
    levels = ally.table["level"].unique().to_list()
    n = net(ally, {"all": levels, "hostile": ["rival", "adversary"]})
    every = n.table.filter(pl.col("level") == "all")
    assert every.height == 3
    assert np.allclose(every["estimate"].to_numpy(), 1.0)
    assert np.allclose(every["se"].to_numpy(), 0.0, atol=1e-9)
    assert n.table.filter(pl.col("level") == "hostile").height == 3
    assert "hostile = rival + adversary" in n.notes[-1]


def test_net_bad_input(ally: bm.Estimates, dclus1: bm.Design) -> None:
    with pytest.raises(bm.EstimationError, match="did you mean 'partner'"):
        net(ally, {"x": ["ally", "partnr"]})
    with pytest.raises(bm.EstimationError, match="name of an existing level"):
        net(ally, {"ally": ["ally", "partner"]})
    with pytest.raises(bm.EstimationError, match="list of levels"):
        net(ally, {"x": "ally"})
    with pytest.raises(bm.EstimationError, match="categorical"):
        net(dclus1.mean("api00"), {"x": ["a"]})


# --- pairwise (banner column tests) ---------------------------------------------------


def test_pairwise_differences_agree_with_difference(ally: bm.Estimates) -> None:
    t = pairwise_differences(ally, "country", adjust="holm")
    assert t.height == 5 * 3  # 5 levels x 3 pairs of countries
    assert {"first", "second", "difference", "se", "p_value", "p_adjusted"} <= set(t.columns)
    for rec in t.filter(pl.col("level") == "ally").to_dicts():
        d = difference(
            ally,
            {"country": rec["first"], "level": "ally"},
            ally,
            {"country": rec["second"], "level": "ally"},
        )
        assert _close(rec["difference"], d.estimate) and _close(rec["se"], d.se)
        assert _close(rec["p_value"], d.p_value)
    for (_lev,), grp in t.group_by(["level"]):
        want = adjust_pvalues(grp["p_value"].to_numpy(), "holm")
        assert np.allclose(grp["p_adjusted"].to_numpy(), want, rtol=1e-12)


def test_pairwise_differences_bad_input(ally: bm.Estimates) -> None:
    with pytest.raises(bm.EstimationError, match="did you mean 'country'"):
        pairwise_differences(ally, "contry")
    with pytest.raises(bm.EstimationError, match="adjust='sidak'"):
        pairwise_differences(ally, "country", adjust="sidak")  # type: ignore[arg-type]


# --- multiplicity ------------------------------------------------------------------------

P = [0.01, 0.04, 0.03, 0.2, float("nan"), 0.001, 0.04]
# p.adjust(c(0.01, 0.04, 0.03, 0.2, NA, 0.001, 0.04), "holm") and "BH"
R_HOLM = [0.05, 0.12, 0.12, 0.2, float("nan"), 0.006, 0.12]
R_BH = [0.03, 0.048, 0.048, 0.2, float("nan"), 0.006, 0.048]


@pytest.mark.parametrize(("method", "want"), [("holm", R_HOLM), ("bh", R_BH)])
def test_adjust_pvalues_matches_p_adjust(method: str, want: list[float]) -> None:
    got = adjust_pvalues(P, method)  # type: ignore[arg-type]
    assert np.allclose(got, want, rtol=1e-12, equal_nan=True)


def test_adjust_pvalues_properties() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, 40)
    holm, bh, bonf = (adjust_pvalues(p, m) for m in ("holm", "bh", "bonferroni"))  # type: ignore[arg-type]
    assert np.all(p <= bh) and np.all(bh <= holm + 1e-15) and np.all(holm <= bonf + 1e-15)
    assert np.array_equal(adjust_pvalues(p, "none"), p)
    order = np.argsort(p)
    assert np.all(np.diff(holm[order]) >= 0) and np.all(np.diff(bh[order]) >= 0)
    assert adjust_pvalues([], "holm").size == 0


def test_adjust_pvalues_bad_input() -> None:
    with pytest.raises(bm.EstimationError, match="between 0 and 1"):
        adjust_pvalues([0.5, 1.5])
    with pytest.raises(bm.EstimationError, match="method='fdr'"):
        adjust_pvalues([0.5], "fdr")  # type: ignore[arg-type]


def test_net_with_an_empty_domain_is_nan_only_there() -> None:
    """Issue 14: a domain without respondents (its shares NaN) leaves the other domains'
    nets and their covariance finite."""
    df = pl.DataFrame(
        {
            "g": ["a"] * 6 + ["b"] * 4,
            "q": ["x", "y", "z", "x", "y", "x", None, None, None, None],
        }
    )
    est = bm.Design(df).proportion("q", by="g")
    netted = bm.net(est, {"xy": ["x", "y"]})
    rows = netted.to_polars().with_row_index("i").filter(pl.col("level") == "xy")
    by_group = dict(zip(rows["g"], rows["estimate"], strict=True))
    assert by_group["a"] == pytest.approx(5 / 6) and np.isnan(by_group["b"])
    i = dict(zip(rows["g"], rows["i"], strict=True))
    v = netted.vcov()
    assert np.isfinite(v[i["a"]]).all() and v[i["a"], i["a"]] > 0
