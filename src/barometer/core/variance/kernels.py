"""Compiled loops for the replicate sums (numba, where installed: see ``AVAILABLE``).

The sums of every replicate weight column by a small integer key are bound by memory
bandwidth: a loop that reads each column once, with the key, runs at that speed where
NumPy's ``bincount`` and Arrow's hash aggregation spend several cycles a row. Each call
handles four columns (their four sums of a row are independent, and the key is read once
for them) and releases the GIL, so the columns are shared among threads; the sums are
those of ``np.bincount`` up to rounding. The same read gives each column's smallest value
(NaNs ignored: they show in the sums), for the checks of ``replicates.check_values``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

try:
    import numba

    AVAILABLE = True
except ModuleNotFoundError:  # the module stays importable; callers check AVAILABLE
    AVAILABLE = False

F = TypeVar("F", bound=Callable[..., Any])


def njit(nogil: bool, cache: bool) -> Callable[[F], Callable[..., Any]]:
    """numba's ``njit`` where numba is installed, else the function as it is."""
    if not AVAILABLE:
        return lambda fn: fn
    compiled: Callable[[F], Callable[..., Any]] = numba.njit(nogil=nogil, cache=cache)
    return compiled


@njit(nogil=True, cache=True)
def key_sums(
    key: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    y: np.ndarray,
    with_y: bool,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """For four columns ``a``-``d`` at once (one read of the key): ``np.bincount(key, x,
    minlength=size)`` of each, for ``key`` in ``0..size-1`` (4 x 1 x size) — ``with_y``,
    ``bincount(key, x * y)`` first (4 x 2 x size) — and each column's minimum (4,)."""
    acc = np.zeros((4, 2 if with_y else 1, size))
    sums = acc[:, -1]  # a view: the plain sums
    lo_a = lo_b = lo_c = lo_d = np.inf
    for i in range(key.size):
        k = key[i]
        va, vb, vc, vd = a[i], b[i], c[i], d[i]
        sums[0, k] += va
        sums[1, k] += vb
        sums[2, k] += vc
        sums[3, k] += vd
        if with_y:
            yi = y[i]
            acc[0, 0, k] += va * yi
            acc[1, 0, k] += vb * yi
            acc[2, 0, k] += vc * yi
            acc[3, 0, k] += vd * yi
        if va < lo_a:
            lo_a = va
        if vb < lo_b:
            lo_b = vb
        if vc < lo_c:
            lo_c = vc
        if vd < lo_d:
            lo_d = vd
    return acc, np.array([lo_a, lo_b, lo_c, lo_d])
