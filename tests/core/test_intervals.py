"""Proportion intervals (R ``svyciprop``) and the t/normal interval helpers.

Reference numbers were computed with R 4.x, survey 4.1.1, on tests/reference/data (the R
calls are beside each table); the fixtures in tests/reference/core.json are checked by
tests/test_reference_core.py.
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
from barometer.core.intervals import t_quantile, wald_interval
from barometer.errors import BarometerError, EstimationError

# R prints the limits with 15 significant digits: every closed-form method must agree to
# that precision.
REL_TOL = 1e-12
# svyglm's IRLS fits (the full sample's, and each replicate's for a replicate design)
# stop ~1e-10 short of the exact logit(p); that enters the logit limits (up to 3e-9 here).
LOGIT_REL_TOL = 1e-8
# The likelihood limits: barometer replays R's profile grid, spline and IRLS model variance
# but uses the exact logit(p) where R has its IRLS fit: ~1e-10 relative (the contract for
# them is 1e-4, the spline's own error).
LIKELIHOOD_REL_TOL = 1e-8

DATA = Path(__file__).parents[1] / "reference" / "data"
POP = {"E": 4421, "H": 755, "M": 1018}


@pytest.fixture(scope="module")
def clus1() -> bm.Design:
    # R: dclus1 <- svydesign(id=~dnum, weights=~pw, fpc=~fpc, data=apiclus1)
    data = pl.read_csv(DATA / "apiclus1.csv", null_values="", infer_schema_length=10000)
    return bm.Design(data, weights="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def poststrat(clus1: bm.Design) -> bm.Design:
    # R: ps <- postStratify(dclus1, ~stype, data.frame(stype=c("E","H","M"),
    #                                                   Freq=c(4421,755,1018)))
    return clus1.poststratify("stype", POP)


@pytest.fixture(scope="module")
def jk1(clus1: bm.Design) -> bm.ReplicateDesign:
    # R: rj <- as.svrepdesign(dclus1, type="JK1", compress=FALSE)
    return clus1.to_replicates("jk1")


def _limits(design: object, by: str, method: str, level: float = 0.95) -> np.ndarray:
    e = design.proportion("awards", by=by, level="Yes", ci=method, confidence=level)  # type: ignore[attr-defined]
    t = e.to_polars()
    return np.column_stack([t["ci_low"].to_numpy(), t["ci_high"].to_numpy()])


# R: svyby(~I(awards=="Yes"), ~stype, dclus1, svyciprop, vartype="ci", method=m)
CLUS1_BY_STYPE = {
    "logit": [
        (0.702736355584324, 0.827167303582886),
        (0.155248879968450, 0.753737922497903),
        (0.279195606263855, 0.751856930964254),
    ],
    "likelihood": [
        (0.704633251884946, 0.829102806533925),
        (0.133940789108828, 0.765791899919360),
        (0.271611323641590, 0.761618944499389),
    ],
    "asin": [
        (0.705794370810180, 0.829933041913102),
        (0.127911921628658, 0.762453363343736),
        (0.271852637416675, 0.762981953295310),
    ],
    "beta": [
        (0.701995717855079, 0.830415168094165),
        (0.135045247831410, 0.765764190656581),
        (0.263891453562506, 0.768572366323818),
    ],
    "mean": [
        (0.7085361393034565, 0.833130527363210),
        (0.0841639658935147, 0.772978891249342),
        (0.2632869302254275, 0.776713069774573),
    ],
    "xlogit": [
        (0.702736355584589, 0.827167303583253),
        (0.155248879968450, 0.753737922497903),
        (0.279195606264052, 0.751856930964416),
    ],
}

# R: svyby(~I(awards=="Yes"), ~yr.rnd, ps, svyciprop, vartype="ci", method=m)
POSTSTRAT_BY_YRRND = {
    "logit": [(0.593827589194293, 0.752873898194392), (0.674666479237803, 0.968614341801291)],
    "likelihood": [
        (0.595261977028258, 0.754776622574001),
        (0.700843812823273, 0.979452647993615),
    ],
    "beta": [(0.591838878610153, 0.756981090514908), (0.679913180109117, 0.982024669668114)],
    "mean": [(0.598427466820777, 0.758580480667827), (0.755548251692329, 1.022229526085448)],
}

# R: svyby(~I(awards=="Yes"), ~stype, ps, svyciprop, vartype="ci", method=m)
# (beta uses nrow() of the domain's design: a calibrated design keeps all 183 rows)
POSTSTRAT_BY_STYPE = {
    "likelihood": [
        (0.704633290997549, 0.829103016966771),
        (0.134175063768320, 0.765460960530101),
        (0.271652671167331, 0.761596517383980),
    ],
    "beta": [
        (0.701857336927789, 0.830519039433178),
        (0.114479064846987, 0.793978106325519),
        (0.252772286554782, 0.779012038226339),
    ],
}

# R: svyby(~I(awards=="Yes"), ~stype, rj, svyciprop, vartype="ci", method=m)
JK1_BY_STYPE = {
    "logit": [
        (0.699407365070659, 0.829426456299000),
        (0.137613318216888, 0.779007498706463),
        (0.268690667471196, 0.761579957855228),
    ],
    "beta": [
        (0.699001325388994, 0.832650610701114),
        (0.112161500506876, 0.797222628202389),
        (0.252545773613817, 0.779224364435148),
    ],
    "mean": [
        (0.7060789276541107, 0.835587739012556),
        (0.0475818477798318, 0.809561009363025),
        (0.2512286700928494, 0.788771329907151),
    ],
}


def _tol(method: str) -> float:
    return {"logit": LOGIT_REL_TOL, "likelihood": LIKELIHOOD_REL_TOL}.get(method, REL_TOL)


@pytest.mark.parametrize("method", sorted(CLUS1_BY_STYPE))
def test_svyby_svyciprop_cluster(clus1: bm.Design, method: str) -> None:
    got = _limits(clus1, "stype", method)
    np.testing.assert_allclose(got, CLUS1_BY_STYPE[method], rtol=_tol(method))


@pytest.mark.parametrize(
    ("by", "method"),
    [("yr.rnd", m) for m in sorted(POSTSTRAT_BY_YRRND)]
    + [("stype", m) for m in sorted(POSTSTRAT_BY_STYPE)],
)
def test_svyby_svyciprop_calibrated(poststrat: bm.Design, by: str, method: str) -> None:
    want = (POSTSTRAT_BY_YRRND if by == "yr.rnd" else POSTSTRAT_BY_STYPE)[method]
    np.testing.assert_allclose(_limits(poststrat, by, method), want, rtol=_tol(method))


@pytest.mark.parametrize("method", sorted(JK1_BY_STYPE))
def test_svyby_svyciprop_replicates(jk1: bm.ReplicateDesign, method: str) -> None:
    got = _limits(jk1, "stype", method)
    np.testing.assert_allclose(got, JK1_BY_STYPE[method], rtol=_tol(method))


def test_level_is_passed_through(clus1: bm.Design) -> None:
    # R: svyby(~I(awards=="Yes"), ~stype, dclus1, svyciprop, vartype="ci", method="mean",
    #          level=0.9)
    want = [
        (0.719674549155276, 0.821992117511391),
        (0.152626102465858, 0.704516754676999),
        (0.310536023081650, 0.729463976918350),
    ]
    np.testing.assert_allclose(_limits(clus1, "stype", "mean", 0.9), want, rtol=REL_TOL)


def test_likelihood_on_replicates_is_an_error(jk1: bm.ReplicateDesign) -> None:
    with pytest.raises(EstimationError, match=r"likelihood.*ReplicateDesign.*logit"):
        jk1.proportion("awards", level="Yes", ci="likelihood")


def test_unknown_method_is_rejected(clus1: bm.Design) -> None:
    with pytest.raises(BarometerError, match="ci='exact' is not one of"):
        clus1.proportion("awards", ci="exact")  # type: ignore[arg-type]


def test_wilson_is_the_score_interval_with_effective_n(clus1: bm.Design) -> None:
    t = clus1.proportion("awards", by="stype", level="Yes", ci="wilson").to_polars()
    p, se = t["estimate"].to_numpy(), t["se"].to_numpy()
    n = p * (1 - p) / se**2
    # degf of each stype domain: its distinct PSUs minus one stratum
    data = clus1.data
    degf = [data.filter(pl.col("stype") == s)["dnum"].n_unique() - 1 for s in ("E", "H", "M")]
    z = stats.t.ppf(0.975, degf)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    np.testing.assert_allclose(t["ci_low"].to_numpy(), centre - half, rtol=1e-14)
    np.testing.assert_allclose(t["ci_high"].to_numpy(), centre + half, rtol=1e-14)


def test_wald_is_normal(clus1: bm.Design) -> None:
    t = clus1.proportion("awards", by="stype").to_polars()
    p, se = t["estimate"].to_numpy(), t["se"].to_numpy()
    np.testing.assert_allclose(t["ci_low"].to_numpy(), p - 1.959963984540054 * se, rtol=1e-14)


# ---------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------

METHODS = ["wald", "mean", "logit", "xlogit", "asin", "beta", "wilson", "likelihood"]
BOUNDED = ["logit", "xlogit", "beta", "wilson", "likelihood"]


@pytest.mark.parametrize("method", METHODS)
def test_interval_contains_estimate(poststrat: bm.Design, method: str) -> None:
    t = poststrat.proportion("stype", by="sch.wide", ci=method).to_polars()
    est = t["estimate"].to_numpy()
    assert np.all(t["ci_low"].to_numpy() <= est)
    assert np.all(est <= t["ci_high"].to_numpy())


@pytest.mark.parametrize("method", BOUNDED)
def test_bounded_methods_stay_in_unit_interval(clus1: bm.Design, method: str) -> None:
    # small domains with shares near 0 and 1
    t = clus1.proportion("stype", by=["sch.wide", "awards"], ci=method).to_polars()
    t = t.filter(pl.col("ci_low").is_not_nan())
    assert t.height > 0
    assert (t["ci_low"] >= 0).all() and (t["ci_high"] <= 1).all()


@pytest.mark.parametrize("method", METHODS)
def test_level_monotone(clus1: bm.Design, method: str) -> None:
    limits = [_limits(clus1, "stype", method, level) for level in (0.8, 0.9, 0.95, 0.99)]
    for narrow, wide in itertools.pairwise(limits):
        assert np.all(wide[:, 0] <= narrow[:, 0]) and np.all(wide[:, 1] >= narrow[:, 1])


@pytest.mark.parametrize("method", METHODS)
def test_share_of_zero_or_one(method: str) -> None:
    # every school in a stratum answers alike: the shares are 0 and 1 with no variance
    df = pl.DataFrame(
        {
            "g": ["a"] * 6 + ["b"] * 6,
            "psu": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
            "y": ["yes"] * 6 + ["no"] * 6,
            "w": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0] * 2,
        }
    )
    d = bm.Design(df, weights="w", psu="psu")
    t = d.proportion("y", by="g", ci=method).to_polars().sort("g", "level")
    p = t["estimate"].to_numpy()
    np.testing.assert_array_equal(p, [0.0, 1.0, 1.0, 0.0])
    low, high = t["ci_low"].to_numpy(), t["ci_high"].to_numpy()
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    if method in ("beta", "wilson"):
        # the unweighted count (6) stands in for the effective sample size
        assert np.all(low[p == 0] == 0) and np.all(high[p == 0] > 0.2)
        assert np.all(high[p == 1] == 1) and np.all(low[p == 1] < 0.8)
    else:
        np.testing.assert_array_equal(low, p)
        np.testing.assert_array_equal(high, p)


@pytest.mark.parametrize("method", METHODS)
def test_empty_domain_and_lonely_psu(method: str) -> None:
    # domain "b" has no answers (NaN throughout); domain "c" is a single PSU (degf 0)
    df = pl.DataFrame(
        {
            "g": ["a", "a", "a", "b", "b", "c"],
            "psu": [1, 2, 3, 4, 5, 6],
            "z": ["x", "y", "x", None, None, "x"],
        }
    )
    t = bm.Design(df, psu="psu").proportion("z", by="g", ci=method).to_polars()
    b = t.filter(pl.col("g") == "b")
    assert b["estimate"].is_nan().all() and b["ci_low"].is_nan().all()
    assert b["ci_high"].is_nan().all()
    a = t.filter(pl.col("g") == "a")
    assert a["ci_low"].is_not_nan().all() or method == "likelihood"


def test_asin_limits_do_not_wrap() -> None:
    # two PSUs, p = 1/2 with a huge t quantile (df 1): R's limits wrap past pi/2 and 0
    df = pl.DataFrame({"psu": [1, 2], "z": ["x", "y"]})
    t = bm.Design(df, psu="psu").proportion("z", level="x", ci="asin").to_polars()
    assert t["ci_low"][0] == 0.0 and t["ci_high"][0] == 1.0


def test_domain_degf_counts_rows_with_missing_values() -> None:
    # R's svyciprop takes df = degf(design[domain, ]) before dropping missing answers:
    # PSU 3 holds only missing answers yet counts: df = 3 PSUs - 1 stratum.
    df = pl.DataFrame(
        {
            "psu": [1, 1, 2, 2, 3, 3],
            "y": ["yes", "yes", "no", "yes", None, None],
        }
    )
    t = bm.Design(df, psu="psu").proportion("y", level="yes", ci="mean").to_polars()
    q = (t["ci_high"][0] - t["estimate"][0]) / t["se"][0]
    assert q == pytest.approx(stats.t.ppf(0.975, 2), rel=1e-12)


def test_t_quantile() -> None:
    assert t_quantile(0.95) == pytest.approx(stats.norm.ppf(0.975))
    assert t_quantile(0.95, 10) == pytest.approx(stats.t.ppf(0.975, 10))
    assert np.isnan(t_quantile(0.95, 0))
    lo, hi = wald_interval(np.array([0.5]), np.array([0.1]), 0.9, 5)
    assert hi[0] - 0.5 == pytest.approx(0.1 * stats.t.ppf(0.95, 5))
    assert lo[0] == pytest.approx(1 - hi[0])


@st.composite
def polls(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(8, 60))
    return pl.DataFrame(
        {
            "g": draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n)),
            "psu": draw(st.lists(st.integers(0, 7), min_size=n, max_size=n)),
            "w": draw(st.lists(st.floats(0.2, 5.0), min_size=n, max_size=n)),
            "z": draw(st.lists(st.sampled_from(["x", "y", None]), min_size=n, max_size=n)),
        }
    )


@settings(max_examples=40, deadline=None)
@given(polls(), st.sampled_from(METHODS), st.sampled_from([0.8, 0.95]))
def test_intervals_are_ordered_and_bounded(df: pl.DataFrame, method: str, level: float) -> None:
    if df["z"].drop_nulls().n_unique() < 2:
        return
    t = bm.Design(df, weights="w", psu="psu").proportion("z", by="g", ci=method, confidence=level)
    t = t.to_polars().filter(pl.col("ci_low").is_not_nan() & pl.col("ci_high").is_not_nan())
    eps = 1e-12
    assert (t["ci_low"] <= t["estimate"] + eps).all()
    assert (t["estimate"] <= t["ci_high"] + eps).all()
    if method in [*BOUNDED, "asin"]:
        assert (t["ci_low"] >= 0).all() and (t["ci_high"] <= 1).all()
