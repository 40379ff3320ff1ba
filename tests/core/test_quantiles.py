"""Quantiles with Woodruff intervals (R ``svyquantile``, survey 4.1.1, qrule="math").

Reference numbers were computed with R 4.x and survey 4.1.1 on tests/reference/data (the R
call is beside each table); the fixtures in tests/reference/*.json are checked by
tests/test_reference_core.py and tests/test_reference_replicates.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import barometer as bm
from barometer.core import estimators, quantiles, reduce
from barometer.core.intervals import domain_design, t_quantile
from barometer.errors import EstimationError

# Estimates and interval ends are data values read off the weighted CDF: exact. The SE is
# (upper - lower) / (2 t): R prints 15 significant digits.
REL_TOL = 1e-13

DATA = Path(__file__).parents[1] / "reference" / "data"
POP = {"E": 4421, "H": 755, "M": 1018}
NAN = float("nan")


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(DATA / f"{name}.csv", null_values="", infer_schema_length=10000)


@pytest.fixture(scope="module")
def clus1() -> bm.Design:
    # R: dclus1 <- svydesign(id=~dnum, weights=~pw, fpc=~fpc, data=apiclus1)
    return bm.Design(_read("apiclus1"), weights="pw", psu="dnum", fpc="fpc")


def _rows(e: bm.Estimates) -> np.ndarray:
    t = e.to_polars()
    return np.column_stack([t[c].to_numpy() for c in ("estimate", "se", "ci_low", "ci_high")])


def _check(got: np.ndarray, want: list[tuple[float, float, float, float]]) -> None:
    np.testing.assert_allclose(got, np.array(want), rtol=REL_TOL, equal_nan=True)


def test_calibrated_by_domain(clus1: bm.Design) -> None:
    # R: ps <- postStratify(dclus1, ~stype, data.frame(stype=c("E","H","M"),
    #                                                   Freq=c(4421,755,1018)))
    #    svyby(~api00, ~stype, ps, svyquantile, quantiles=c(0.25,0.5), ci=TRUE,
    #          vartype=c("se","ci"))
    # H, p=0.5: F - t se = 0.026 < 1/14, so R's qrule_math gives the second smallest value
    # (478, not 443) as the lower limit; barometer does the same.
    ps = clus1.poststratify("stype", POP)
    want = [
        (553, 28.674180209364, 502, 625),
        (652, 36.3672529484616, 561, 717),
        (529, NAN, NAN, 687),
        (608, 52.0167210148287, 478, 724),
        (547, NAN, NAN, 669),
        (642, 43.6168320171695, 528, 720),
    ]
    e = ps.quantile("api00", [0.25, 0.5], by="stype")
    _check(_rows(e), want)
    assert e.to_polars()["level"].to_list() == ["0.25", "0.5"] * 3
    assert e.to_polars()["stype"].to_list() == ["E", "E", "H", "H", "M", "M"]


def test_missing_values_by_domain(clus1: bm.Design) -> None:
    # R: svyby(~avg.ed, ~stype, dclus1, svyquantile, quantiles=0.5, ci=TRUE, na.rm=TRUE,
    #          vartype=c("se","ci"))
    want = [
        (2.61999988555908, 0.102574316527398, 2.36999988555908, 2.80999994277954),
        (2.93000006675720, 0.234709572641010, 2.23000001907349, 3.33999991416931),
        (2.76999998092651, 0.124944039216825, 2.50000000000000, 3.04999995231628),
    ]
    e = clus1.quantile("avg.ed", 0.5, by="stype")
    # R prints 15 digits of values stored as float32-derived doubles
    np.testing.assert_allclose(_rows(e), np.array(want), rtol=1e-14)
    n = e.to_polars()["n"].to_list()
    counts = clus1.data.filter(pl.col("avg.ed").is_not_null())["stype"].value_counts()
    assert n == counts.sort("stype")["count"].to_list()


def test_replicates_by_domain(clus1: bm.Design) -> None:
    # R: rj <- as.svrepdesign(dclus1, type="JK1", compress=FALSE)
    #    svyby(~api00, ~stype, rj, svyquantile, quantiles=c(0.5, 0.9), ci=TRUE,
    #          vartype=c("se","ci"))
    want = [
        (652, 41.9622149405326, 553, 733),
        (789, 19.8154903885849, 757, 842),
        (608, NAN, NAN, NAN),
        (723, NAN, 703, NAN),
        (642, 43.6168320171695, 528, 720),
        (759, NAN, 720, NAN),
    ]
    _check(_rows(clus1.to_replicates("jk1").quantile("api00", [0.5, 0.9], by="stype")), want)


def test_confidence() -> None:
    # R: dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat)
    #    svyquantile(~api00, dstrat, 0.5, ci=TRUE, alpha=0.1)  # 668 [647, 681], se 10.28666
    d = bm.Design(_read("apistrat"), weights="pw", strata="stype", fpc="fpc")
    got = _rows(d.quantile("api00", 0.5, confidence=0.9))[0]
    se = (681 - 647) / (2 * stats.t.ppf(0.95, 200 - 3))
    np.testing.assert_allclose(got, [668, se, 647, 681], rtol=REL_TOL)
    assert se == pytest.approx(10.28666, abs=1e-5)


def test_rule_math_with_ties_and_r_quirk() -> None:
    # R: d <- svydesign(id=~1, weights=~w, data=data.frame(y=c(3,1,2,2,5,4),
    #                                                      w=c(1,2,1,3,1,2)))
    #    coef(svyquantile(~y, d, c(0.01,0.1,0.2,0.3,0.5,0.7,0.9,1), ci=FALSE))
    # p below the smallest value's share (2/10) gives the second smallest value in R.
    df = pl.DataFrame({"y": [3.0, 1, 2, 2, 5, 4], "w": [1.0, 2, 1, 3, 1, 2]})
    probs = [0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
    e = bm.Design(df, weights="w").quantile("y", probs)
    assert e.to_polars()["estimate"].to_list() == [2, 2, 1, 2, 2, 3, 4, 5]
    labels = "0.01 0.1 0.2 0.3 0.5 0.7 0.9 1".split()
    assert e.to_polars()["level"].to_list() == labels


# ---------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------


def test_interval_contains_estimate_and_is_monotone_in_level(clus1: bm.Design) -> None:
    probs = [0.1, 0.25, 0.5, 0.75, 0.9]
    tables = [
        clus1.quantile("api00", probs, by="stype", confidence=lv).to_polars()
        for lv in (0.8, 0.9, 0.95)
    ]
    for t in tables:
        ok = t.filter(pl.col("ci_low").is_not_nan() & pl.col("ci_high").is_not_nan())
        assert (ok["ci_low"] <= ok["estimate"]).all() and (ok["estimate"] <= ok["ci_high"]).all()
    for narrow, wide in itertools.pairwise(tables):
        n_lo, n_hi = narrow["ci_low"].to_numpy(), narrow["ci_high"].to_numpy()
        w_lo, w_hi = wide["ci_low"].to_numpy(), wide["ci_high"].to_numpy()
        assert np.all((w_lo <= n_lo) | np.isnan(w_lo))
        assert np.all((w_hi >= n_hi) | np.isnan(w_hi))


def test_weights_scale_and_row_order_change_nothing(clus1: bm.Design) -> None:
    data = clus1.data.with_columns(pw=pl.col("pw") * 3.7)
    base = clus1.quantile("api00", [0.3, 0.5], by="stype").to_polars()
    scaled = bm.Design(data, weights="pw", psu="dnum", fpc="fpc")
    shuffled = bm.Design(
        clus1.data.sample(fraction=1.0, shuffle=True, seed=7), weights="pw", psu="dnum", fpc="fpc"
    )
    for other in (scaled, shuffled):
        t = other.quantile("api00", [0.3, 0.5], by="stype").to_polars()
        np.testing.assert_allclose(
            t.select("estimate", "se", "ci_low", "ci_high").to_numpy(),
            base.select("estimate", "se", "ci_low", "ci_high").to_numpy(),
            rtol=1e-12,
            equal_nan=True,
        )


def test_quantiles_are_nondecreasing_in_p(clus1: bm.Design) -> None:
    probs = list(np.linspace(0, 1, 21))
    t = clus1.quantile("enroll", probs, by="stype").to_polars()
    for _, grp in t.group_by("stype"):
        assert np.all(np.diff(grp["estimate"].to_numpy()) >= 0)


def test_domain_without_observations() -> None:
    df = pl.DataFrame({"g": ["a", "a", "a", "b"], "psu": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, None]})
    t = bm.Design(df, psu="psu").quantile("y", 0.5, by="g").to_polars()
    assert t["estimate"].to_list()[0] == 2.0
    b = t.filter(pl.col("g") == "b")
    assert b["estimate"].is_nan().all() and b["se"].is_nan().all() and b["n"][0] == 0


def test_columns_and_deff(clus1: bm.Design) -> None:
    e = clus1.quantile("api00", 0.5)
    t = e.to_polars()
    assert t.columns == ["variable", "level", "estimate", "se", "ci_low", "ci_high", "n", "deff"]
    assert t["deff"].null_count() == 1 and t["n"][0] == 183
    assert e.statistic == "quantile"


def test_bad_input(clus1: bm.Design) -> None:
    with pytest.raises(EstimationError, match="'stype' is String, not numeric"):
        clus1.quantile("stype", 0.5)
    with pytest.raises(EstimationError, match=r"must lie in \[0, 1\]"):
        clus1.quantile("api00", [0.5, 1.5])
    with pytest.raises(EstimationError, match="at least one probability"):
        clus1.quantile("api00", [])
    with pytest.raises(EstimationError, match="'api0' is not in the data"):
        clus1.quantile("api0", 0.5)


def _r_qs(x: list[float], w: list[float], p: float) -> float:
    """R 4.1.1 ``qrule_math`` written out row by row (the reference for the property)."""
    order = sorted(range(len(x)), key=lambda i: x[i])  # stable, as R's order()
    xs = [x[i] for i in order]
    total = sum(w)
    cum, run = [], 0.0
    for i in order:
        run += w[i]
        cum.append(run)
    below = [i for i, c in enumerate(cum) if c <= p * total]
    pos = below[-1] if below else 0
    nxt = min(pos + 1, len(xs) - 1)
    return xs[pos] if p - cum[pos] / total == 0 else xs[nxt]


@st.composite
def samples(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(2, 40))
    # whole numbers (an answer scale: sorted by one small integer key) or thirds (sorted
    # by value, then domain)
    unit = draw(st.sampled_from([1.0, 1 / 3]))
    frame = pl.DataFrame(
        {
            "g": draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n)),
            # integer weights and values: exact sums, and ties
            "w": draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)),
            "y": draw(st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=n, max_size=n)),
        },
        schema={"g": pl.String, "w": pl.Float64, "y": pl.Float64},
    )
    return frame.with_columns(pl.col("y") * unit)


@settings(max_examples=60, deadline=None)
@given(samples(), st.lists(st.integers(0, 20), min_size=1, max_size=4))
def test_estimate_is_r_rule_math(df: pl.DataFrame, grid: list[int]) -> None:
    probs = [k / 20 for k in grid]
    t = bm.Design(df, weights="w").quantile("y", probs, by="g").to_polars()
    for g in t["g"].unique().to_list():
        sub = df.filter((pl.col("g") == g) & pl.col("y").is_not_null())
        got = t.filter(pl.col("g") == g)["estimate"].to_list()
        if sub.height == 0:
            assert all(np.isnan(got))
            continue
        want = [_r_qs(sub["y"].to_list(), sub["w"].to_list(), p) for p in probs]
        assert got == want


# ---------------------------------------------------------------------------------------
# every probability from one family of bins = one indicator family per probability (R)
# ---------------------------------------------------------------------------------------


def _woodruff_per_probability(
    design: bm.Design, variable: str, probs: list[float], by: list[str]
) -> np.ndarray:
    """R's way: the indicator ``y <= q_d`` of each probability, its own family."""
    x = reduce.variable(design, variable, categorical=False).values
    assert x is not None
    coding = reduce.domains(design, by)
    valid = ~np.isnan(x) & (design.weights != 0)
    dom = np.where(valid, coding.codes, -1)
    cdf = quantiles.WeightedCDF.of_rows(x, design.weights, dom, coding.size)
    crit = t_quantile(0.95, domain_design(design, dom, coding.size).degf)

    def below(qhat: np.ndarray) -> estimators.RatioFamily:
        ind = np.where(dom >= 0, (x <= qhat[np.maximum(dom, 0)]).astype(float), np.nan)
        var = reduce.Variable(variable, ind, None, None)
        return estimators.family(design, var, coding.codes, coding.size, True)

    rows = quantiles.woodruff(cdf.quantile, quantiles.per_probability(below), crit, probs)
    return np.stack([np.stack(r, axis=1) for r in rows], axis=1).reshape(-1, 4)


def _designs(clus1: bm.Design) -> dict[str, bm.Design]:
    rng = np.random.default_rng(11)
    n = 3000
    frame = pl.DataFrame(
        {
            "h": rng.integers(0, 3, n),
            "g": rng.choice(["a", "b", "c"], n),
            "k": rng.choice(["x", "y"], n),
            "s": np.where(rng.random(n) < 0.05, np.nan, rng.binomial(10, 0.6, n).astype(float)),
            "w": rng.random(n) + 0.5,
        }
    )
    element = bm.Design(frame, weights="w", strata="h")
    lonely = clus1.data.with_columns(h=pl.when(pl.col("dnum") == 15).then(1).otherwise(2))
    return {
        "calibrated clusters": clus1.poststratify("stype", POP),
        "replicates": clus1.to_replicates("jk1"),
        "lonely PSU": bm.Design(lonely, weights="pw", psu="dnum", strata="h", lonely_psu="average"),
        "raked elements": element.rake(
            {"g": {"a": 0.2, "b": 0.3, "c": 0.5}, "k": {"x": 0.4, "y": 0.6}}
        ),
    }


@pytest.mark.parametrize(
    ("chunk", "shares"),
    [(quantiles.FAMILY_ESTIMATES, True), (quantiles.FAMILY_ESTIMATES, False), (4, False)],
)
def test_one_family_equals_a_family_per_probability(
    clus1: bm.Design, chunk: int, shares: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the values here are whole numbers in short ranges: by default their variances come
    # from the shares of each value (``level_below``); with no room for those, from the
    # family of bins (``cdf_below``), where a chunk of 4 estimates holds one domain's bins:
    # the domains taken one by one
    monkeypatch.setattr(quantiles, "FAMILY_ESTIMATES", chunk)
    if not shares:
        monkeypatch.setattr(estimators, "LEVEL_ESTIMATES", 0)
    probs = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    for name, d in _designs(clus1).items():
        variable, by = ("s", ["g", "k"]) if name == "raked elements" else ("api00", ["stype"])
        got = _rows(d.quantile(variable, probs, by=by))
        assert (d.cache.level_family is not None) == shares, name  # the path taken
        want = _woodruff_per_probability(d, variable, probs, by)
        assert np.isfinite(got[:, 1]).sum() > len(probs), name  # intervals were formed
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True, err_msg=name)


# ---------------------------------------------------------------------------------------
# a scale: the CDF from sums by (domain, value), the variances from the shares' family
# ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.booleans())
def test_cdf_of_a_scale_equals_the_sorted_rows(seed: int, span: int, zero: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    x = rng.integers(-3, span - 3, n).astype(float)
    x[rng.random(n) < 0.1] = np.nan
    w = rng.choice([0.5, 1.0, 1.5, 2.0], n) * (rng.random(n) < 0.9 if zero else 1.0)
    n_dom = int(rng.integers(1, 5))
    dom = rng.integers(-1, n_dom, n)
    dom[np.isnan(x) | (w == 0)] = -1
    got = quantiles.WeightedCDF.of_scale(x, w, dom, n_dom)
    want = quantiles.WeightedCDF.of_rows(x, w, dom, n_dom)
    if not (dom >= 0).any():
        assert got is None
        return
    assert got is not None
    # halves and whole weights: every sum is exact in either order
    for field in ("x", "rows", "cumw", "total", "start", "values", "count"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    p = np.tile(np.linspace(0, 1, 11), (n_dom, 1))
    np.testing.assert_array_equal(got.quantile(p), want.quantile(p))


def test_cdf_of_a_scale_declines_other_values() -> None:
    dom = np.zeros(4, dtype=np.int64)
    w = np.ones(4)
    assert quantiles.WeightedCDF.of_scale(np.array([0.5, 1, 2, 3]), w, dom, 1) is None
    assert quantiles.WeightedCDF.of_scale(np.array([0.0, 1, 2, 1e9]), w, dom, 1) is None
    # a row left out may hold anything
    kept = np.array([0, 0, 0, -1])
    assert quantiles.WeightedCDF.of_scale(np.array([0.0, 1, 2, 1e300]), w, kept, 1) is not None


def test_scale_shares_are_handed_to_the_distribution_once(clus1: bm.Design) -> None:
    d = _designs(clus1)["raked elements"]
    d.quantile("s", [0.5], by=["g"])
    kept = d.cache.level_family
    assert kept is not None and kept[0] == ("s", ("g",))
    got = d.proportion("s", by=["g"])
    assert got.families[0] is kept[1]
    assert d.cache.level_family is None  # taken: not held for nothing
    fresh = _designs(clus1)["raked elements"].proportion("s", by=["g"])
    for column in ("estimate", "se", "ci_low", "ci_high", "deff"):
        np.testing.assert_allclose(
            got.to_polars()[column].to_numpy(), fresh.to_polars()[column].to_numpy(), rtol=1e-13
        )
    d.quantile("s", [0.5], by=["g"])  # kept again; a reweighted copy starts without it
    assert d.cache.level_family is not None
    assert d.cache.for_new_weights().level_family is None
