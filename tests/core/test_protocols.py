"""The design protocol and the design's cache (core/_protocols.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core._protocols import DesignCache, SurveyDesign
from barometer.core.variance.replicate import replicate_variance
from tests.support.designs import clus1


def _members(design: SurveyDesign) -> dict[str, object]:
    """What a kernel reads of a design, through the protocol."""
    return {
        "n": design.n,
        "degf": design.degf,
        "structure": design.structure,
        "replicates": design.replicate_weights,
        "cache": design.cache,
    }


def test_both_kinds_are_survey_designs_told_apart_by_structure() -> None:
    d = clus1()
    r = d.to_replicates("jk1")
    lin, rep = _members(d), _members(r)
    assert lin["structure"] is d.structure and lin["replicates"] is None
    assert rep["structure"] is None
    assert isinstance(rep["replicates"], np.ndarray) and rep["replicates"].shape[0] == d.n
    assert isinstance(lin["cache"], DesignCache) and isinstance(rep["cache"], DesignCache)


def test_each_kind_carries_its_own_variance() -> None:
    r = clus1().to_replicates("jk1")
    e = r.mean("api00", by="stype")
    fam = e.families[0]
    expected = replicate_variance(r, fam, full=True)
    np.testing.assert_allclose(r.variance(fam, full=True), expected, rtol=1e-12)
    np.testing.assert_allclose(e.vcov(), expected, rtol=1e-12)


def test_caches_live_in_the_declared_cache_not_in_the_instance_dict() -> None:
    d = bm.Design(clus1().data, weights="pw", psu="dnum", fpc="fpc")
    d.mean("api00", by="stype").vcov()
    raked = d.rake({"stype": {"E": 4000.0, "H": 800.0, "M": 1000.0}})
    raked.proportion("awards", by="stype").vcov()
    for design in (d, raked):
        assert not {"_codings", "_psu_pairs", "_calibration_plan"} & set(vars(design))
    assert ("stype",) in d.cache.codings and ("stype",) in d.cache.psu_pairs
    # a reweighted copy shares what depends on the rows only, and plans its own variance
    assert raked.cache.codings is d.cache.codings
    assert raked.cache.psu_pairs is d.cache.psu_pairs
    assert d.cache.calibration_plan is None
    assert raked.cache.calibration_plan is not None
    assert raked.cache.calibration_plan[0] is raked.calibration


def test_squared_weights_are_kept_per_design_and_not_shared_by_a_reweighted_copy() -> None:
    # an element design (each row its own PSU) sums the squared weights for each question's
    # variance: they are computed once, and a copy with new weights makes its own
    d = bm.Design(clus1().data, weights="pw")
    assert d.cache.squared_weights is None
    d.proportion("awards", by="stype")
    kept = d.cache.squared_weights
    assert kept is not None and np.array_equal(kept, d.weights * d.weights)
    second = d.proportion("sch.wide", by="stype")
    assert d.cache.squared_weights is kept
    # the question read with the kept squares gives what a new design gives, bit for bit
    alone = bm.Design(clus1().data, weights="pw").proportion("sch.wide", by="stype")
    assert second.to_polars().equals(alone.to_polars())
    raked = d.rake({"stype": {"E": 4000.0, "H": 800.0, "M": 1000.0}})
    assert raked.cache.squared_weights is None


def test_with_weights_returns_the_same_kind() -> None:
    d = clus1()
    raked = d.rake({"stype": {"E": 4000.0, "H": 800.0, "M": 1000.0}})
    assert type(raked) is bm.Design and len(raked.calibration) == 1
    r = d.to_replicates("jk1").rake({"stype": {"E": 4000.0, "H": 800.0, "M": 1000.0}})
    assert type(r) is bm.ReplicateDesign and r.weighting is not None
    with pytest.raises(bm.DesignError, match="re-calibrated replicates"):
        r.with_weights(r.weights, r.calibration[0])


def test_supplied_replicate_columns_are_checked_by_the_first_pass() -> None:
    df = pl.DataFrame(
        {"w": [1.0] * 3, "y": [1.0, 2.0, 3.0], "r1": [1.0, -1.0, 1.0], "r2": [1.0] * 3}
    )
    with pytest.raises(bm.DesignError, match="at least two replicate weight columns"):
        bm.ReplicateDesign(df, "w", ["r1"], "bootstrap")
    r = bm.ReplicateDesign(df, "w", ["r1", "r2"], "bootstrap")
    assert r.unchecked_frame() is not None and r.replicate_array is None
    with pytest.raises(bm.DesignError, match="'r1' has negative weights"):
        r.mean("y")
