"""Ratio estimator (R ``svyratio``): properties and errors; the R values are in
tests/core/models/test_reference.py. Tolerance 1e-12 relative: identities up to rounding."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.support.reference import load_data


def test_ratio_with_a_denominator_of_ones_is_the_mean() -> None:
    data = load_data("apiclus1").with_columns(one=pl.lit(1.0))
    design = bm.Design(data, weights="pw", psu="dnum", fpc="fpc")
    ratio = design.ratio("api00", "one", by="stype").to_polars()
    mean = design.mean("api00", by="stype").to_polars()
    np.testing.assert_allclose(ratio["estimate"], mean["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ratio["se"], mean["se"], rtol=1e-12)


def test_ratio_covariance_matches_its_standard_errors() -> None:
    design = bm.Design(load_data("apistrat"), weights="pw", strata="stype", fpc="fpc")
    est = design.ratio(["api00", "api99"], "enroll", by="awards")
    assert est.to_polars().height == 4
    np.testing.assert_allclose(np.sqrt(np.diag(est.vcov())), est["se"].to_numpy(), rtol=1e-12)
    assert est.filter(pl.col("awards") == "Yes").vcov().shape == (2, 2)


def test_ratio_names_an_unknown_column() -> None:
    design = bm.Design(load_data("apistrat"), weights="pw")
    with pytest.raises(bm.EstimationError, match="api0"):
        design.ratio("api0", "api99")
