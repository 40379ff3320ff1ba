"""Compiled loops for the replicate sums (numba, where installed: see ``AVAILABLE``).

The sums of every replicate weight column by a small integer key are bound by memory
bandwidth: a loop that reads each column once, with the key, runs at that speed where
NumPy's ``bincount`` and Arrow's hash aggregation spend several cycles a row. Each call
handles one column and releases the GIL, so the columns are shared among threads. Four
interleaved accumulators keep consecutive rows of one key from waiting on each other's
additions; the sums are those of ``np.bincount`` up to rounding. The same read gives the
column's smallest value (NaNs ignored: they show in the sums), for the checks of
``replicates.check_values``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from numba import njit

    AVAILABLE = True
except ModuleNotFoundError:  # the module stays importable; callers check AVAILABLE
    AVAILABLE = False

    def njit(**_: Any) -> Callable[[Any], Any]:  # type: ignore[no-redef]
        return lambda fn: fn


@njit(nogil=True, cache=True)
def key_sums(
    key: np.ndarray, x: np.ndarray, y: np.ndarray, with_y: bool, size: int
) -> tuple[np.ndarray, float]:  # pragma: no cover
    """``np.bincount(key, x, minlength=size)`` for ``key`` in ``0..size-1`` (1 x size) —
    ``with_y``, ``bincount(key, x * y)`` first (2 x size) — and ``min(x)``."""
    parts = 2 if with_y else 1
    acc = np.zeros((4, parts, size))
    lo = np.full(4, np.inf)
    n = x.size
    for i in range(n):
        j = i % 4
        v = x[i]
        acc[j, parts - 1, key[i]] += v
        if parts == 2:
            acc[j, 0, key[i]] += v * y[i]
        if v < lo[j]:
            lo[j] = v
    return acc[0] + acc[1] + acc[2] + acc[3], lo.min()
