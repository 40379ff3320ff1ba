"""Bounded raking on the dual: the exact fallback when trimming and re-raking stalls."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.weighting.bounded import solve_group


def stalling_case() -> tuple[pl.DataFrame, dict]:
    # One respondent per cell of a 2 x 2 x 2 table; trimming and re-raking with
    # cap=2, floor=0.6875 stalls here, although weights within the bounds exist.
    cells = list(itertools.product(["L0", "L1"], repeat=3))
    df = pl.DataFrame(
        {
            "v0": [c[0] for c in cells],
            "v1": [c[1] for c in cells],
            "v2": [c[2] for c in cells],
            "w": [2.0, 1, 1, 1, 1, 1, 1, 4],
        }
    )
    margins = {
        "v0": {"L0": 5.0, "L1": 5.0},
        "v1": {"L0": 5.0, "L1": 5.0},
        "v2": {"L0": 40 / 7, "L1": 30 / 7},
    }
    return df, margins


def test_bounds_are_met_where_trimming_stalls() -> None:
    df, margins = stalling_case()
    d = bm.Design(df, weights="w").rake(margins, cap=2, floor=0.6875, tol=1e-10)
    mean = 10 / 8
    assert d.weights.max() <= 2 * mean * (1 + 1e-12)
    assert d.weights.min() >= 0.6875 * mean * (1 - 1e-12)
    for var, targets in margins.items():
        for level, t in targets.items():
            got = d.weights[(df[var] == level).to_numpy()].sum()
            assert got == pytest.approx(t, rel=1e-9)
    assert d.weighting.n_capped + d.weighting.n_floored > 0


def test_the_solution_has_the_clipped_raking_form() -> None:
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(40), rng.integers(0, 2, 40)]).astype(float)
    b = rng.uniform(0.5, 2.0, 40)
    t = np.array([60.0, 35.0])
    g, iterations = solve_group(X, b, np.full(40, 0.8), np.full(40, 2.5), t, 60.0, 1e-12, 100)
    assert g is not None and 0 < iterations < 100
    np.testing.assert_allclose(X.T @ (b * g), t, rtol=1e-10)
    assert g.min() >= 0.8 - 1e-12 and g.max() <= 2.5 + 1e-12


def test_impossible_bounds_give_none() -> None:
    X = np.ones((4, 1))
    b = np.ones(4)
    # four weights of at most 2 cannot reach 10
    g, _ = solve_group(X, b, np.zeros(4), np.full(4, 2.0), np.array([10.0]), 10, 1e-10, 50)
    assert g is None


def test_bounds_no_weights_can_meet_are_reported_with_the_group() -> None:
    df, margins = stalling_case()
    df = pl.concat([df.with_columns(c=pl.lit("A")), df.with_columns(c=pl.lit("B"))])
    # each level alone can reach its target under the cap (4 rows x 2.5), but together
    # v0=L0 can reach at most 2.5 + 2 + 2 = 6.5 of its 8 (the L1 margins hold 2 each)
    skewed = {v: {"L0": 8.0, "L1": 2.0} for v in ("v0", "v1", "v2")}
    with pytest.raises(bm.WeightingError) as err:
        bm.Design(df, weights="w").rake({"A": margins, "B": skewed}, by="c", cap=2)
    assert str(err.value) == (
        "raking with cap=2 x the mean weight cannot be met: no weights within the bounds "
        "meet every margin in group c='B'; loosen the bounds or collapse levels"
    )
