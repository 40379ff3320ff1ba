"""Estimates (core/estimates.py): an immutable value whose covariance survives filter,
combine and contrast.

The covariance of a derived table is checked against the algebra it stands for: a filtered
table's is the full table's sub-matrix; a combination's is ``C V C'`` with ``C`` the
combining weights; a contrast's variance is ``c' V c``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

import barometer as bm

#: Derived covariances are the same products in another order: float rounding only.
RTOL = 1e-12


@pytest.fixture(scope="module")
def shares() -> bm.Estimates:
    rng = np.random.default_rng(11)
    n = 900
    country = rng.choice(["DE", "FR", "PL"], n)
    frame = pl.DataFrame(
        {
            "country": country,
            "psu": np.char.add(country, rng.integers(0, 12, n).astype(str)),
            "w": rng.uniform(0.5, 2.0, n),
            "answer": rng.choice(["ally", "partner", "rival"], n, p=[0.3, 0.5, 0.2]),
        }
    )
    design = bm.Design(frame, weights="w", strata="country", psu="psu")
    return design.proportion("answer", by="country")


def test_estimates_are_immutable(shares: bm.Estimates) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        shares.table = shares.table.head(1)  # type: ignore[misc]
    assert len(shares) == shares.to_polars().height == len(shares.to_dicts()) == 9


def test_filter_keeps_the_covariance_of_the_rows_kept(shares: bm.Estimates) -> None:
    full = shares.vcov()
    kept = shares.filter(pl.col("level") == "ally")
    rows = np.flatnonzero(shares.to_polars().get_column("level").to_numpy() == "ally")
    np.testing.assert_allclose(kept.vcov(), full[np.ix_(rows, rows)], rtol=RTOL)
    assert shares.filter(pl.col("estimate") >= 0) is shares
    # filtering twice is the same as filtering once by both conditions
    twice = kept.filter(pl.col("country") != "PL")
    once = shares.filter((pl.col("level") == "ally") & (pl.col("country") != "PL"))
    np.testing.assert_allclose(twice.vcov(), once.vcov(), rtol=RTOL)


def test_combine_mean_is_the_average_with_covariance_c_v_c(shares: bm.Estimates) -> None:
    region = shares.combine("country", ["DE", "FR"], "West")
    t = shares.to_polars()
    ally = region.to_polars().filter(pl.col("level") == "ally").row(0, named=True)
    de_fr = t.filter((pl.col("level") == "ally") & pl.col("country").is_in(["DE", "FR"]))
    assert ally["estimate"] == pytest.approx(de_fr.get_column("estimate").mean(), rel=RTOL)
    assert ally["n"] == de_fr.get_column("n").sum()
    assert ally["members"] == ["DE", "FR"]
    c = region.coefficients
    assert c is not None
    np.testing.assert_allclose(region.vcov(), c @ shares.vcov() @ c.T, rtol=RTOL)
    se = region.to_polars().get_column("se").to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(region.vcov())), rtol=RTOL)


def test_combine_by_population_and_median(shares: bm.Estimates) -> None:
    t = shares.to_polars().filter(pl.col("level") == "partner")
    by_country = dict(zip(t.get_column("country"), t.get_column("estimate"), strict=True))
    pop = shares.combine(
        "country", ["DE", "FR", "PL"], "All", "population", {"DE": 3, "FR": 2, "PL": 1}
    )
    got = pop.to_polars().filter(pl.col("level") == "partner").get_column("estimate")[0]
    expected = (3 * by_country["DE"] + 2 * by_country["FR"] + by_country["PL"]) / 6
    assert got == pytest.approx(expected, rel=RTOL)
    med = shares.combine("country", ["DE", "FR", "PL"], "All", "median")
    got = med.to_polars().filter(pl.col("level") == "partner").get_column("estimate")[0]
    assert got == pytest.approx(float(np.median(list(by_country.values()))), rel=RTOL)


def test_combine_names_what_is_wrong(shares: bm.Estimates) -> None:
    with pytest.raises(bm.EstimationError, match="member 'DK' does not occur"):
        shares.combine("country", ["DE", "DK"], "X")
    with pytest.raises(bm.EstimationError, match="did you mean 'country'"):
        shares.combine("contry", ["DE"], "X")
    with pytest.raises(bm.EstimationError, match="needs weights"):
        shares.combine("country", ["DE"], "X", "population")


def test_contrast_is_c_theta_with_variance_c_v_c(shares: bm.Estimates) -> None:
    theta = shares.to_polars().get_column("estimate").to_numpy()
    c = np.zeros(theta.size)
    c[0], c[3] = 1.0, -1.0
    result = shares.contrast(c)
    assert result.estimate == pytest.approx(theta[0] - theta[3], rel=RTOL)
    assert result.se == pytest.approx(float(np.sqrt(c @ shares.vcov() @ c)), rel=RTOL)
    assert result.ci_low < result.estimate < result.ci_high
    with pytest.raises(bm.EstimationError, match="needs 9 coefficients"):
        shares.contrast([1.0, -1.0])
