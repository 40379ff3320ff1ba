"""Estimators: invariants that hold for any data (Hypothesis), and published R values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import barometer as bm
from barometer.core import estimators

# Tolerances: the properties are exact in real arithmetic; 1e-9 relative covers rounding.
REL = 1e-9


@st.composite
def polls(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(12, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    strata = rng.integers(0, 3, n)
    psu = strata * 10 + rng.integers(0, 4, n)
    # every stratum needs two PSUs: force them
    for h in range(3):
        psu[3 * h] = h * 10
        psu[3 * h + 1] = h * 10 + 1
        strata[3 * h] = strata[3 * h + 1] = h
    answer = rng.choice(["ally", "partner", "rival"], n).astype(object)
    answer[rng.random(n) < 0.1] = None
    return pl.DataFrame(
        {
            "w": rng.uniform(0.2, 5.0, n),
            "stratum": strata,
            "psu": psu,
            "country": rng.choice(["DE", "FR", "KR"], n),
            "q": pl.Series(answer.tolist(), dtype=pl.String),
            "score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        }
    )


def design(df: pl.DataFrame, clustered: bool = True) -> bm.Design:
    if clustered:
        return bm.Design(df, weights="w", strata="stratum", psu="psu")
    return bm.Design(df, weights="w")


@settings(max_examples=30, deadline=None)
@given(polls())
def test_shares_of_all_levels_sum_to_one(df: pl.DataFrame) -> None:
    t = design(df).proportion("q", by="country").to_polars()
    # a domain where every answer is missing has no shares (NaN), as in R
    sums = t.group_by("country").agg(pl.col("estimate").sum()).drop_nans()
    assert np.allclose(sums["estimate"].to_numpy(), 1.0, rtol=REL)


@settings(max_examples=30, deadline=None)
@given(polls(), st.floats(0.01, 1000))
def test_scaling_weights_changes_no_share_and_no_se(df: pl.DataFrame, c: float) -> None:
    a = design(df).proportion("q", by="country").to_polars()
    b = design(df.with_columns(pl.col("w") * c)).proportion("q", by="country").to_polars()
    assert np.allclose(a["estimate"], b["estimate"], rtol=REL, atol=1e-12, equal_nan=True)
    assert np.allclose(a["se"], b["se"], rtol=1e-7, atol=1e-12, equal_nan=True)


@settings(max_examples=30, deadline=None)
@given(polls(), st.integers(0, 2**32 - 1))
def test_row_order_changes_nothing(df: pl.DataFrame, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(df.height)
    shuffled = df[perm]
    for method, arg in (("proportion", "q"), ("mean", "score"), ("total", "score")):
        a = getattr(design(df), method)(arg, by="country").to_polars()
        b = getattr(design(shuffled), method)(arg, by="country").to_polars()
        assert np.allclose(a["estimate"], b["estimate"], rtol=REL, equal_nan=True)
        assert np.allclose(a["se"], b["se"], rtol=1e-8, equal_nan=True)


@settings(max_examples=30, deadline=None)
@given(polls())
def test_domain_estimate_equals_subset_estimate_without_strata_or_clusters(
    df: pl.DataFrame,
) -> None:
    by_domain = design(df, clustered=False).mean("score", by="country").to_polars()
    for row in by_domain.iter_rows(named=True):
        sub = df.filter(pl.col("country") == row["country"])
        if sub["score"].is_not_nan().sum() < 2:
            continue
        alone = design(sub, clustered=False).mean("score").to_polars().row(0, named=True)
        assert row["estimate"] == pytest.approx(alone["estimate"], rel=REL)
        # the domain SE treats the domain size as random; with no strata or clusters the
        # estimate and the SE (n/(n-1) scaling aside) match the subset's
        n_all, n_sub = df.height, sub.height
        factor = np.sqrt((n_all / (n_all - 1)) / (n_sub / (n_sub - 1)))
        assert row["se"] == pytest.approx(alone["se"] * factor, rel=1e-8)


def test_missing_values_are_left_out_of_the_base() -> None:
    df = pl.DataFrame({"w": [1.0, 1.0, 2.0, 2.0], "y": [1.0, None, 3.0, float("nan")]})
    e = bm.Design(df, weights="w").mean("y").to_polars().row(0, named=True)
    assert e["estimate"] == pytest.approx((1 * 1 + 2 * 3) / 3)
    assert e["n"] == 2


def test_published_values_of_r_survey(apistrat: pl.DataFrame, apiclus1: pl.DataFrame) -> None:
    # R survey's tests/api.Rout.save
    m = bm.Design(apistrat, weights="pw", strata="stype", fpc="fpc").mean("api00").to_polars()
    assert m["estimate"][0] == pytest.approx(662.29, abs=0.005)
    assert m["se"][0] == pytest.approx(9.4089, abs=5e-5)
    t = bm.Design(apiclus1, weights="pw", psu="dnum", fpc="fpc").total("enroll").to_polars()
    assert t["estimate"][0] == pytest.approx(3404940, abs=0.5)
    assert t["se"][0] == pytest.approx(932235, abs=0.5)


def test_categorical_total_gives_each_level(apiclus1: pl.DataFrame) -> None:
    t = bm.Design(apiclus1, weights="pw", psu="dnum", fpc="fpc").total("stype").to_polars()
    assert t["level"].to_list() == ["E", "H", "M"]
    assert t["estimate"].sum() == pytest.approx(apiclus1["pw"].sum())


def test_vcov_diagonal_matches_se_and_combine_mean(apiclus1: pl.DataFrame) -> None:
    e = bm.Design(apiclus1, weights="pw", psu="dnum", fpc="fpc").mean("api00", by="stype")
    v = e.vcov()
    assert np.allclose(np.sqrt(np.diag(v)), e.to_polars()["se"].to_numpy(), rtol=1e-10)
    r = e.combine(over="stype", members=["E", "H", "M"], name="all", rule="mean")
    row = r.to_polars().row(0, named=True)
    c = np.full(3, 1 / 3)
    assert row["estimate"] == pytest.approx(e.to_polars()["estimate"].mean())
    assert row["se"] == pytest.approx(float(np.sqrt(c @ v @ c)))
    assert row["members"] == ["E", "H", "M"]


def test_replicate_design_matches_linearisation_for_a_total(apistrat: pl.DataFrame) -> None:
    # a jackknife of a total on a stratified element sample reproduces the linearisation
    # variance without fpc exactly
    df = apistrat.with_row_index("id")
    n = df.height
    strata = df["stype"].to_list()
    counts = {s: strata.count(s) for s in set(strata)}
    reps = {}
    w = df["pw"].to_numpy()
    rscales = []
    for i in range(n):
        s = strata[i]
        rw = np.where(np.array(strata) == s, w * counts[s] / (counts[s] - 1), w)
        rw[i] = 0.0
        reps[f"r{i:03d}"] = rw
        rscales.append((counts[s] - 1) / counts[s])
    data = df.with_columns(**{k: pl.Series(v) for k, v in reps.items()})
    rep = bm.ReplicateDesign(
        data, weights="pw", replicates="r", type="jkn", rscales=rscales, mse=True
    )
    lin = bm.Design(apistrat, weights="pw", strata="stype").total("enroll").to_polars()
    got = rep.total("enroll").to_polars()
    assert got["estimate"][0] == pytest.approx(lin["estimate"][0], rel=1e-12)
    assert got["se"][0] == pytest.approx(lin["se"][0], rel=1e-9)


def test_integer_answer_codes_read_as_their_levels_in_a_clustered_design() -> None:
    # integer codes (with a gap, a zero code, nulls, a null domain, and a value seen only
    # in the null domain) binned straight from their values give what the same answers as
    # strings give, SEs and covariances included
    rng = np.random.default_rng(7)
    n = 600
    q = rng.choice([0, 1, 2, 5], size=n).astype(float)
    q[rng.random(n) < 0.1] = np.nan
    country = rng.choice(["a", "b", "c"], size=n).astype(object)
    country[rng.random(n) < 0.05] = None
    q[np.flatnonzero(country == None)[:1]] = 9  # noqa: E711
    df = pl.DataFrame(
        {
            "country": pl.Series(country, dtype=pl.String),
            "stratum": rng.integers(0, 4, n),
            "psu": rng.integers(0, 30, n),
            "w": rng.uniform(0.5, 3.0, n),
            "q": pl.Series(q, nan_to_null=True).cast(pl.Int8),
        }
    ).with_columns(qs=pl.col("q").cast(pl.String))
    d = bm.Design(df, weights="w", strata="stratum", psu="psu", nest=True)
    a = d.proportion("q", by="country")
    b = d.proportion("qs", by="country")
    ta, tb = a.to_polars(), b.to_polars()
    assert ta.get_column("level").to_list() == tb.get_column("level").to_list()
    assert "9" in ta.get_column("level").to_list()
    for col in ("estimate", "se", "n", "deff"):
        np.testing.assert_allclose(ta[col].to_numpy(), tb[col].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.vcov(), b.vcov(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.sqrt(np.diag(a.vcov())), ta["se"].to_numpy(), rtol=1e-10)
    assert d.proportion("q", by="country", ci="logit").to_polars().height == ta.height


@pytest.mark.parametrize("kind", ["element", "clustered", "raked", "replicates"])
def test_mean_of_a_scale_from_its_shares_equals_the_row_sums(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a 0-10 scale's mean is read off the shares of its values (estimators.scale_mean),
    # the ones its quantiles kept or made anew: the same digits whatever was asked first,
    # and the estimates, SEs, deff and covariance of the mean from its rows
    rng = np.random.default_rng(5)
    n = 2000
    frame = pl.DataFrame(
        {
            "h": rng.integers(0, 3, n),
            "psu": rng.integers(0, 60, n),
            "g": rng.choice(["a", "b", "c", "d"], n),
            "s": np.where(rng.random(n) < 0.05, np.nan, rng.binomial(10, 0.6, n).astype(float)),
            "w": rng.random(n) + 0.5,
        }
    )
    d = {
        "element": lambda: bm.Design(frame, weights="w", strata="h"),
        "clustered": lambda: bm.Design(frame, weights="w", psu="psu"),
        "raked": lambda: bm.Design(frame, weights="w").rake({"h": {0: 0.2, 1: 0.3, 2: 0.5}}),
        "replicates": lambda: bm.Design(frame, weights="w", psu="psu").to_replicates("jk1"),
    }[kind]
    scale = d()
    scale.quantile("s", [0.5], by=["g"])
    got = scale.mean("s", by=["g"])
    assert "sq" in got.families[0].cache  # the shares' path was taken
    assert scale.cache.level_family is not None  # and left for the distribution
    alone = d().mean("s", by=["g"])
    assert "sq" in alone.families[0].cache  # alone too: the same path, the same digits
    assert alone.to_polars().equals(got.to_polars())
    np.testing.assert_array_equal(alone.vcov(), got.vcov())
    other = scale.mean("s", by=["h"])  # other domains: their own shares
    assert "sq" in other.families[0].cache
    monkeypatch.setattr(estimators, "is_scale", lambda *args: False)
    want = d().mean("s", by=["g"])
    assert "sq" not in want.families[0].cache  # the rows' path
    for column in ("estimate", "se", "ci_low", "ci_high", "deff", "n"):
        np.testing.assert_allclose(
            got.to_polars()[column].to_numpy(),
            want.to_polars()[column].to_numpy(),
            rtol=1e-12,
            err_msg=column,
        )
    np.testing.assert_allclose(got.vcov(), want.vcov(), rtol=1e-11, atol=1e-18)


def test_a_scale_over_many_small_psus_takes_its_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # the shares' PSU totals (domains x values x PSUs) would outgrow the dense budget: the
    # mean and the quartiles both take the rows, and the mean is the same whichever is first
    rng = np.random.default_rng(11)
    n = 600
    frame = pl.DataFrame(
        {
            "psu": np.arange(n) // 2,
            "g": rng.choice(["a", "b"], n),
            "s": rng.integers(0, 5, n).astype(float),
            "w": rng.random(n) + 0.5,
        }
    )
    # 2 domains x 5 values x 300 PSUs = 3,000 cells
    monkeypatch.setattr(estimators, "_DENSE_CELLS", 2_999)
    d = bm.Design(frame, weights="w", psu="psu")
    alone = d.mean("s", by=["g"])
    assert "sq" not in alone.families[0].cache
    d.quantile("s", [0.5], by=["g"])
    assert d.cache.level_family is None  # no shares kept
    after = d.mean("s", by=["g"])
    assert after.to_polars().equals(alone.to_polars())
    monkeypatch.setattr(estimators, "_DENSE_CELLS", 3_000)
    assert "sq" in bm.Design(frame, weights="w", psu="psu").mean("s", by=["g"]).families[0].cache
