"""Raking within bounds on the weights, solved exactly on the dual (the fallback for caps).

Raking with a cap and a floor is the minimum of the raking distance
``sum w log(w / b) - w + b`` subject to the margins and ``lower <= w <= upper``; its
solution has the form ``w_i = clip(b_i exp(x_i' lambda), lower_i, upper_i)`` (the KKT
conditions; Deville & Särndal 1992, truncated raking), and it exists exactly when some
weights within the bounds meet the margins. The dual

    D(lambda) = sum_i F_i(x_i' lambda) - t' lambda,   F_i' (u) = b_i clip(exp(u), l_i, u_i)

is convex, so Newton's method with a backtracking line search on ``D`` converges to it.
Groups are independent (their margins share no rows), so each is solved on its own rows.
"""

from __future__ import annotations

import numpy as np

from barometer.core.weighting.margins import MarginSet

_ARMIJO = 1e-4


def _dual(
    X: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, t: np.ndarray, lam: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Dual value, weights ``w`` and Hessian weights at ``lam``."""
    u = X @ lam
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        a = np.log(lo)
        z = np.log(hi)
        e = np.exp(np.clip(u, a, z))
        below = u < a
        above = u > z
        F = np.where(below, lo * (u - a) + lo, np.where(above, hi * (u - z) + hi, e))
        value = float(b @ F - t @ lam)
    w = b * e
    h = np.where(below | above, 0.0, w)
    return value, w, h


def solve_group(
    X: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    t: np.ndarray,
    scale: float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray | None, int]:
    """g-weights ``clip(exp(X lambda), lo, hi)`` meeting ``X' (b g) = t`` to ``tol * scale``
    (None when Newton finds none: the bounds and margins are then taken as incompatible),
    and the Newton iterations used.
    """
    lam = np.zeros(X.shape[1])
    value, w, h = _dual(X, b, lo, hi, t, lam)
    for it in range(max_iter):
        grad = X.T @ w - t
        if np.max(np.abs(grad)) <= tol * scale:
            return w / b, it
        H = (X * h[:, None]).T @ X
        top = max(float(np.max(np.diag(H))), scale)  # all rows clipped: H = 0
        for damping in _DAMPING:  # Levenberg-Marquardt: Newton first, then towards gradient
            step = -np.linalg.solve(H + damping * top * np.eye(H.shape[0]), grad)
            found = _line_search(X, b, lo, hi, t, lam, value, grad, step)
            if found is not None:
                break
        else:
            return None, it
        lam, value, w, h = found
    return None, max_iter


_DAMPING = (1e-12, 1e-8, 1e-5, 1e-3, 1e-1, 10.0, 1e3)


def _line_search(
    X: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    t: np.ndarray,
    lam: np.ndarray,
    value: float,
    grad: np.ndarray,
    step: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray] | None:
    """Backtracking (Armijo) along ``step``; None if no sufficient decrease is found."""
    slope = float(grad @ step)
    if not np.isfinite(slope) or slope >= 0:
        return None
    residual = float(np.max(np.abs(grad)))
    s = 1.0
    while s > 1e-10:
        new = lam + s * step
        new_value, new_w, new_h = _dual(X, b, lo, hi, t, new)
        if np.isfinite(new_value) and (
            new_value <= value + _ARMIJO * s * slope
            # near the solution the dual's decrease drowns in rounding: accept a step that
            # leaves the dual unchanged to rounding and halves the margin errors
            or (
                new_value <= value + 1e-12 * max(abs(value), 1.0)
                and float(np.max(np.abs(X.T @ new_w - t))) <= 0.5 * residual
            )
        ):
            return new, new_value, new_w, new_h
        s /= 2
    return None


def bounded_rake(
    weights: np.ndarray,
    ms: MarginSet,
    upper: np.ndarray | float,
    lower: np.ndarray | float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray | None, int | None, int]:
    """Weights within ``[lower, upper]`` meeting every margin of every group, or None and
    the first group for which there are none; and the most Newton iterations a group
    took. Rows with a base weight of 0 keep it.
    """
    n = weights.size
    up = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,))
    low = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,))
    out = weights.astype(np.float64, copy=True)
    most = 0
    for g in range(ms.n_groups):
        rows = np.flatnonzero((ms.group == g) & (weights > 0))
        if rows.size == 0:
            continue
        cols, targets = [], []
        for m, var in enumerate(ms.variables):
            t = ms.targets[m][g]
            if np.isnan(t).all():
                continue
            codes = var.codes[rows]
            for lv in np.flatnonzero(np.bincount(np.maximum(codes, 0), minlength=var.size)):
                cols.append(codes == lv)
                targets.append(t[lv])
        X = np.column_stack(cols).astype(np.float64)
        b = weights[rows]
        g_w, iterations = solve_group(
            X,
            b,
            low[rows] / b,
            up[rows] / b,
            np.asarray(targets),
            float(ms.totals[g]),
            tol,
            max_iter,
        )
        most = max(most, iterations)
        if g_w is None:
            return None, g, most
        out[rows] = b * g_w
    return out, None, most
