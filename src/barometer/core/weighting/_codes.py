"""Integer codes for the columns weighting works on (raking variables, groups, cells).

Each column is encoded once by the door's encoder (``core._frame.encode_series``) as
``int64`` codes into its sorted levels (an ``Enum`` column keeps its declared order); a
missing value (null, or NaN in a float column) gets code -1. A string column whose values
should all be a target's levels is coded against them by a perfect hash (one pass); the
cells of several columns are their mixed-radix combinations (``combine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from barometer.core._frame import check_columns, dense_codes, encode_series
from barometer.errors import WeightingError

_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)


@dataclass(frozen=True, eq=False)
class Column:
    """One encoded column: ``codes[i]`` indexes ``levels`` (python values); -1 = missing.

    ``codes`` is an integer array of any width; an unsigned one (an enum's codes, read
    without a copy) has no missing values.
    """

    name: str
    codes: np.ndarray
    levels: tuple[object, ...]

    @property
    def size(self) -> int:
        return len(self.levels)

    def any_missing(self) -> bool:
        return self.codes.dtype.kind != "u" and bool((self.codes < 0).any())

    def nonnegative(self) -> np.ndarray:
        """The codes with missing values as level 0 (what cell building needs)."""
        return self.codes if self.codes.dtype.kind == "u" else np.maximum(self.codes, 0)


def _encode_by_hash(s: pl.Series, expected: Sequence[object]) -> Column | None:
    """Codes of a string column whose values should all be among ``expected`` (the target
    levels), by a perfect hash of the expected levels: one hashing pass, no sort or string
    comparison. Returns None (use the general path) if any value is not expected or null.

    Each row's 64-bit hash is mapped to a small table by multiply-shift; a multiplier is
    chosen that separates the expected levels, and every row's full hash is then checked
    against its level's, so a value outside ``expected`` can never pass as one of them.
    """
    texts = [e for e in expected if isinstance(e, str)]
    if not expected or len(texts) < len(expected):
        return None
    levels = sorted(set(texts))
    h_lv = pl.Series(levels, dtype=pl.String).hash().to_numpy()
    if np.unique(h_lv).size < h_lv.size:
        return None
    bits = max(4, int(np.ceil(np.log2(len(levels)))) + 4)
    shift = np.uint64(64 - bits)
    for mult in _MULTIPLIERS:
        slots = (h_lv * mult) >> shift
        if np.unique(slots).size == slots.size:
            break
    else:
        return None
    lut = np.zeros(1 << bits, dtype=np.int64)
    lut[slots.astype(np.int64)] = np.arange(len(levels))
    h = s.hash().to_numpy()
    with np.errstate(over="ignore"):
        codes = lut[((h * mult) >> shift).astype(np.int64)]
    if not np.array_equal(h_lv[codes], h):
        return None
    return Column(s.name, codes, tuple(levels))


def encode_column(
    frame: pl.DataFrame, name: str, role: str, expected: Sequence[object] | None = None
) -> Column:
    """Encode column ``name`` of ``frame``; ``role`` names it in errors ("raking variable").

    The codes are the door's (``core._frame.encode_series``). A column of another type
    than numbers, booleans, enums and categoricals (dates, ...) is encoded as text.
    ``expected``, the levels the column should hold (a target's keys), enables a fast path
    for string columns; the levels are then the expected ones, sorted, whether or not each
    occurs (a level with no respondents has no rows).
    """
    check_columns(frame, [name], role, WeightingError, noun="")
    s = frame.get_column(name)
    dtype = s.dtype
    textual = not (
        dtype.is_numeric() or dtype == pl.Boolean or isinstance(dtype, pl.Enum | pl.Categorical)
    )
    if textual:
        s = s.cast(pl.String)
        if expected is not None and s.null_count() == 0:
            fast = _encode_by_hash(s, expected)
            if fast is not None:
                return fast
    codes, levels = encode_series(s)
    return Column(name, codes, tuple(levels.to_list()))


def combine(columns: Sequence[Column], empty_cells: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cells of the combinations of ``columns`` present in the data.

    Returns ``(cell, present)``: ``cell[i]`` in 0..C-1 is row ``i``'s cell and ``present[c]``
    the mixed-radix code (first column most significant) of cell ``c``. Codes must be >= 0.
    ``empty_cells=True`` lets a small grid (at most one cell per row and 65,536 cells) be
    used whole, empty cells included, which saves renumbering the rows.
    """
    n = columns[0].codes.size if columns else 0
    sizes = [max(c.size, 1) for c in columns]
    grid = int(np.prod(sizes, dtype=np.float64)) if columns else 1
    if grid >= 2**62:
        raise WeightingError("too many combinations of weighting variables to form cells")
    if not columns:
        return np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64)
    # the narrowest integers the grid allows: less memory traffic in every pass
    narrow = np.uint16 if grid <= 1 << 16 else np.int32 if grid < 2**31 else np.int64
    code: np.ndarray
    if len(columns) == 1:
        code = columns[0].codes.astype(narrow)
    else:
        code = np.multiply(columns[0].codes, sizes[1], dtype=narrow, casting="unsafe")
    for k, col in enumerate(columns[1:], start=1):
        np.add(code, col.codes, out=code, casting="unsafe")  # in range: codes < size
        if k + 1 < len(columns):
            code *= sizes[k + 1]
    if empty_cells and grid <= min(n, 1 << 16):
        return code, np.arange(grid)  # uint16 cells: gather with np.take, not indexing
    return dense_codes(code.astype(np.int64, copy=False), grid)


def split(present: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Per-column level codes of mixed-radix cell codes (the inverse of ``combine``)."""
    out: list[np.ndarray] = []
    rest = present.copy()
    for size in reversed([max(s, 1) for s in sizes]):
        out.append(rest % size)
        rest //= size
    return list(reversed(out))
