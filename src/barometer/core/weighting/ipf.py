"""Iterative proportional fitting on a table of cells: arrays in, arrays out.

The kernel never sees respondents. It works on the C distinct cells of the raking
variables (times the group, for raking by group): ``weights`` holds each cell's sum of
base weights (one column per weight set, so replicate weights rake in the same sweeps),
``codes[m]`` each cell's level of margin ``m`` (group x level), and ``targets[m]`` the
target of every margin level (NaN: leave the level alone). One sweep post-stratifies on
each margin in turn, as R's ``survey::rake`` does with ``postStratify``:
``f <- f * target / sum(weights * f)`` within each level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class IpfResult:
    """Cell factors after the last sweep and after each margin in that sweep.

    ``errors[m]`` holds, per margin level (and weight column), the absolute difference
    between the weighted total and the target divided by ``scale`` (the group's total);
    ``converged`` says whether the largest is <= ``tol``.
    """

    factors: np.ndarray
    sweep: tuple[np.ndarray, ...]
    iterations: int
    errors: tuple[np.ndarray, ...]
    converged: bool
    trace: tuple[float, ...] = ()  # the largest margin error after each sweep

    @property
    def max_error(self) -> float:
        return max((float(e.max(initial=0.0)) for e in self.errors), default=0.0)

    def worst(self) -> tuple[int, int, int]:
        """(margin, level, weight column) of the largest remaining error."""
        best = (0, 0, 0)
        top = -1.0
        for m, e in enumerate(self.errors):
            e2 = np.nan_to_num(e.reshape(e.shape[0], -1), nan=-1.0)
            idx = np.unravel_index(int(np.argmax(e2)), e2.shape)
            if e2[idx] > top:
                top = float(e2[idx])
                best = (m, int(idx[0]), int(idx[1]))
        return best


_FLAT_LIMIT = 1 << 22


def totals(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sum ``values`` (C,) or (C, R) within ``codes`` -> (size,) or (size, R)."""
    if values.ndim == 1:
        return np.bincount(codes, values, minlength=size)
    r = values.shape[1]
    if codes.size * r > _FLAT_LIMIT:  # many rows: one bincount per column, no big index
        return np.column_stack([np.bincount(codes, values[:, j], minlength=size) for j in range(r)])
    flat = (codes[:, None] * r + np.arange(r)).ravel()
    return np.bincount(flat, values.ravel(), minlength=size * r).reshape(size, r)


def ipf(
    weights: np.ndarray,
    codes: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    scale: Sequence[np.ndarray],
    *,
    tol: float,
    max_iter: int,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> IpfResult:
    """Rake cell weights to margin targets; return factors (see module doc).

    Parameters
    ----------
    weights : (C,) or (C, R) array of cell base weights (the adjustable part).
    codes : per margin, (C,) int array of margin-level codes in ``0..K_m-1``.
    targets : per margin, (K_m,) array of targets; NaN leaves the level unadjusted.
    scale : per margin, (K_m,) array the errors are divided by (the group total).
    tol, max_iter : stop after the first sweep whose largest relative margin error is
        <= ``tol``; give up (``converged=False``) after ``max_iter`` sweeps.
    offset : (C,) or (C, R) fixed weight in each cell that raking does not scale (weights
        held at a cap or floor); the targets include it.
    start : factors to start from (a warm start), default all 1.

    Notes
    -----
    Converged after a sweep in which no margin moved by more than ``tol`` x its group
    total (R's ``rake`` criterion: the table changed by less than ``epsilon``) and after
    which every margin is within ``tol``. So at least one sweep is made, and the weights
    after each margin in the last sweep equal the final weights to ``tol``, as the raking
    variance (R ``svyrecvar``) assumes. Source: Deming & Stephan (1940); R ``survey::rake``.
    """
    f = np.ones_like(weights, dtype=np.float64) if start is None else start.copy()
    sizes = [t.size for t in targets]
    two_d = weights.ndim == 2

    def col(a: np.ndarray) -> np.ndarray:
        return a[:, None] if two_d else a

    fixed: list[np.ndarray | float] = [
        0.0 if offset is None else totals(c, offset, k) for c, k in zip(codes, sizes, strict=True)
    ]
    goal = [np.nan_to_num(col(t) - o, nan=0.0) for t, o in zip(targets, fixed, strict=True)]
    free = [np.isnan(t) for t in targets]
    sweep: list[np.ndarray] = []
    iterations = 0
    errors: tuple[np.ndarray, ...] = ()
    converged = False
    trace: list[float] = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while iterations < max_iter:
            iterations += 1
            sweep = []
            moved = 0.0
            for m, c in enumerate(codes):
                tot = totals(c, weights * f, sizes[m])
                keep = col(free[m]) | (tot == 0)
                ratio = np.where(keep, 1.0, goal[m] / tot)
                change = np.where(keep, 0.0, np.abs(goal[m] - tot) / col(scale[m]))
                moved = max(moved, float(change.max(initial=0.0)))
                f = f * ratio[c]
                sweep.append(f)
            errors = tuple(
                np.where(col(fr), 0.0, np.abs(totals(c, weights * f, k) + o - col(t)) / col(s))
                for c, k, o, t, s, fr in zip(codes, sizes, fixed, targets, scale, free, strict=True)
            )
            worst = max(float(e.max(initial=0.0)) for e in errors)
            trace.append(worst)
            if not np.isfinite(worst):
                break
            if worst <= tol and moved <= tol:
                converged = True
                break
    return IpfResult(f, tuple(sweep), iterations, errors, converged, tuple(trace))
