"""Design-based t-test (R ``svyttest``): properties and errors; the R values are in
tests/core/models/test_reference.py. Tolerance 1e-12 relative: identities up to rounding."""

from __future__ import annotations

import numpy as np
import pytest

import barometer as bm
from tests.support.reference import load_data


@pytest.fixture(scope="module")
def design() -> bm.Design:
    return bm.Design(load_data("apiclus1"), weights="pw", psu="dnum", fpc="fpc")


def test_difference_is_that_of_the_domain_means(design: bm.Design) -> None:
    test = design.ttest("api00", "awards")
    means = design.mean("api00", by="awards").to_polars().sort("awards")["estimate"]
    np.testing.assert_allclose(test.estimate, means[1] - means[0], rtol=1e-12)
    assert test.levels == ("No", "Yes")
    assert test.to_polars()["contrast"][0] == "Yes - No"


def test_one_sample_test_is_the_mean_over_its_se(design: bm.Design) -> None:
    test = design.ttest("api00")
    mean = design.mean("api00").to_polars()
    np.testing.assert_allclose(test.statistic, mean["estimate"][0] / mean["se"][0], rtol=1e-12)
    assert test.df == design.degf - 1


def test_group_must_have_two_levels(design: bm.Design) -> None:
    with pytest.raises(bm.EstimationError, match=r"two levels.*3"):
        design.ttest("api00", "stype")
