"""The cell-table calibration residuals equal R's row-by-row projections (the dense path)."""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core import estimators
from barometer.core._frame import dense_codes
from barometer.core._protocols import DesignCache
from barometer.core.variance import calibrated, cells
from barometer.core.variance import linearisation as lin
from barometer.core.variance.steps import RakingStep

REL = 1e-9  # the two paths differ only in the order of floating-point sums


def poll(seed: int, clustered: bool) -> bm.Design:
    rng = np.random.default_rng(seed)
    n = 600
    country = rng.choice(["DE", "FR", "KR"], n)
    strata = np.array([f"{c}{k}" for c, k in zip(country, rng.integers(0, 2, n), strict=True)])
    q = rng.choice(["ally", "partner", "rival", "dont_know"], n).astype(object)
    q[rng.random(n) < 0.05] = None
    df = pl.DataFrame(
        {
            "w": rng.uniform(0.5, 3.0, n),
            "country": country,
            "stratum": strata,
            "psu": rng.integers(0, 8, n),
            "age": rng.choice(["18-34", "35-54", "55+"], n, p=[0.5, 0.3, 0.2]),
            "gender": rng.choice(["f", "m"], n),
            "q": pl.Series(q.tolist(), dtype=pl.String),
            "score": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
        }
    )
    return bm.Design(df, weights="w", strata="stratum", psu="psu" if clustered else None)


def margins() -> dict:
    return {
        c: {"age": {"18-34": 0.3, "35-54": 0.35, "55+": 0.35}, "gender": {"f": 0.52, "m": 0.48}}
        for c in ("DE", "FR", "KR")
    }


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("how", ["rake", "poststratify", "both"])
@pytest.mark.parametrize("full", [False, True])
def test_cell_path_equals_row_path(clustered: bool, how: str, full: bool) -> None:
    d = poll(7, clustered)
    if how in ("rake", "both"):
        d = d.rake(margins(), by="country")
    if how in ("poststratify", "both"):
        d = d.poststratify("gender", {"f": 5200.0, "m": 4800.0})
    for method, var in (("proportion", "q"), ("mean", "score"), ("total", "q")):
        est = getattr(d, method)(var, by="country")
        fam = est.families[0]
        fast = estimators.linearised_sums(fam, full)
        slow = estimators._calibrated_sums(fam, full)
        for a, b in zip(fast, slow, strict=True):
            scale = np.abs(b).max()
            assert np.allclose(a, b, rtol=REL, atol=REL * scale)


# --- the cell path's shortcuts give what the row-by-row checks give -----------------------

#: the sparse PSU sums add the same terms as the dense ones in another order (row by row,
#: where ``einsum`` and ``np.add.reduceat`` sum pairwise): equal to rounding
SPARSE_REL = 1e-14


def raked_designs(clustered: bool) -> dict[str, bm.Design]:
    d = poll(13, clustered)
    raked = d.rake(margins(), by="country")
    return {
        "rake": raked,
        # a later step that scales cells keeps w / base constant within joint cells
        "rake_then_poststratify": raked.poststratify("gender", {"f": 5200.0, "m": 4800.0}),
    }


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("how", ["rake", "rake_then_poststratify"])
def test_margin_kappa_is_the_row_fit(clustered: bool, how: str) -> None:
    d = raked_designs(clustered)[how]
    plan = calibrated.plan(d)
    assert plan is not None and plan.cells is not None
    margins_seen = 0
    for v, p in enumerate(plan.distinct):
        fast = plan.margin_kappa("q", v)
        if p.margin is None:
            assert fast is None
            continue
        margins_seen += 1
        assert fast is not None
        row_fit = plan.cells._fit(plan.request("q", v) * plan.weights)
        assert row_fit is not None and row_fit[0] == fast[0] == 0
        assert np.array_equal(row_fit[1], fast[1])  # the same bits
        checked = plan.cells.aggregator(p.g, p.size, fast[1])
        step, m, _ = p.margin
        of_cells = np.take(step.cell_margins[m], np.take(step.cell, plan.cells.first))
        trusted = plan.cells.aggregator(p.g, p.size, fast[1], of_cells)
        assert checked is not None and trusted is not None
        assert np.array_equal(checked.toarray(), trusted.toarray())
    assert margins_seen == 2
    # raked last, the final weights are the last margin's to the bit (the one comparison
    # of ``Plan.base_ratio_constant``); a later post-stratification takes the row check
    step = plan.distinct[0].margin
    assert step is not None
    assert np.array_equal(d.weights, step[0].weights[-1]) == (how == "rake")


def test_weights_off_the_cell_factors_take_the_row_fit() -> None:
    d = raked_designs(True)["rake"]
    off = copy.copy(d)
    jitter = 1.0 + 1e-6 * np.random.default_rng(1).random(d.n)
    off.weights = d.weights * jitter  # no longer a cell factor times the base weight
    off.cache = DesignCache()
    plan = calibrated.plan(off)
    assert plan is not None
    assert all(plan.margin_kappa("q", v) is None for v in range(len(plan.distinct)))
    fam = off.proportion("q", by="country").families[0]
    assert calibrated.table_sums(plan, fam, ("q",)) is None  # the row path, then
    for full in (False, True):
        for a, b in zip(
            estimators.linearised_sums(fam, full),
            estimators._calibrated_sums(fam, full),
            strict=True,
        ):
            assert np.allclose(a, b, rtol=REL, atol=REL * np.abs(b).max())


@pytest.mark.parametrize("how", ["rake", "rake_then_poststratify"])
@pytest.mark.parametrize("full", [False, True])
def test_sparse_psu_sums_equal_the_dense_corrections(how: str, full: bool) -> None:
    d = raked_designs(True)[how]
    plan = calibrated.plan(d)
    assert plan is not None
    s = d.structure
    assert s is not None
    for method, var, by in (("proportion", "q", "country"), ("mean", "score", "gender")):
        fam = getattr(d, method)(var, by=by).families[0]
        _, acc = fam.cache["calibrated"]
        found = calibrated.psu_sums(plan, acc, estimators.sparse_psu_totals(fam), s, full)
        assert found is not None
        corrections = calibrated.group_corrections(plan, acc.parts, s.psu, s.n_psus, "psu")
        zp = estimators.psu_totals(fam) - corrections.T
        s2, s1 = lin.psu_sums(zp, s, full)
        for a, b in zip(found, (s2, s1), strict=True):
            assert np.allclose(a, b, rtol=SPARSE_REL, atol=SPARSE_REL * np.abs(b).max())


@pytest.mark.parametrize("empty", [False, True])
def test_joint_cells_of_one_step(empty: bool) -> None:
    rng = np.random.default_rng(3)
    cell = rng.integers(0, 6, 200)
    if empty:
        cell[cell == 2] = 3  # cell 2 holds no row
    step = RakingStep(cell, (np.arange(6) % 2,), np.ones(200), (np.ones(6),))
    joint = cells.joint_cells((step,), np.ones(200), None)
    assert joint is not None
    code, present = dense_codes(cell.astype(np.int64), 6)
    assert np.array_equal(joint.code, code) and joint.size == present.size
