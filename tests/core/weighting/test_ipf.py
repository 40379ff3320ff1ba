"""The IPF kernel on cell tables: arrays in, arrays out."""

from __future__ import annotations

import numpy as np

from barometer.core.weighting.ipf import ipf


def problem() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    # 2 x 3 table of cells; margins: rows (2 levels), columns (3 levels)
    rows = np.array([0, 0, 0, 1, 1, 1])
    cols = np.array([0, 1, 2, 0, 1, 2])
    targets = [np.array([40.0, 60.0]), np.array([20.0, 30.0, 50.0])]
    scale = [np.full(2, 100.0), np.full(3, 100.0)]
    return np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), [rows, cols], targets, scale


def test_margins_are_met_and_the_last_sweep_has_settled() -> None:
    w, codes, targets, scale = problem()
    res = ipf(w, codes, targets, scale, tol=1e-12, max_iter=500)
    assert res.converged and res.max_error <= 1e-12
    new = w * res.factors
    for c, t in zip(codes, targets, strict=True):
        np.testing.assert_allclose(np.bincount(c, new), t, rtol=1e-10)
    for f in res.sweep:
        np.testing.assert_allclose(f, res.factors, rtol=1e-10)


def test_weight_columns_rake_independently_in_the_same_sweeps() -> None:
    w, codes, targets, scale = problem()
    W = np.column_stack([w, w[::-1], np.ones(6)])
    both = ipf(W, codes, targets, scale, tol=1e-12, max_iter=500)
    for j in range(3):
        alone = ipf(W[:, j], codes, targets, scale, tol=1e-12, max_iter=500)
        np.testing.assert_allclose(both.factors[:, j], alone.factors, rtol=1e-9)


def test_nan_targets_leave_levels_alone_and_offsets_count_towards_targets() -> None:
    w, codes, _, scale = problem()
    res = ipf(w, codes[:1], [np.array([np.nan, 60.0])], scale[:1], tol=1e-12, max_iter=10)
    np.testing.assert_allclose(res.factors, [1, 1, 1, 4, 4, 4])
    offset = np.array([0.0, 0, 0, 15.0, 0, 0])
    res = ipf(
        w, codes[:1], [np.array([12.0, 60.0])], scale[:1], tol=1e-12, max_iter=10, offset=offset
    )
    new = w * res.factors + offset
    np.testing.assert_allclose(np.bincount(codes[0], new), [12, 60])


def test_non_convergence_is_reported_not_raised() -> None:
    w = np.array([1.0, 1.0, 1.0])  # cells (f,y), (m,y), (m,o): f=50 > y=40 is infeasible
    codes = [np.array([0, 1, 1]), np.array([0, 0, 1])]
    targets = [np.array([50.0, 50.0]), np.array([40.0, 60.0])]
    scale = [np.full(2, 100.0), np.full(2, 100.0)]
    res = ipf(w, codes, targets, scale, tol=1e-10, max_iter=30)
    assert not res.converged and res.iterations == 30
    assert res.max_error > 0.05
