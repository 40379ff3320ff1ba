"""The door: convert a user's table once, find its columns and encode them as integer codes."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from barometer.core._protocols import IntArray
from barometer.errors import BarometerError, DesignError, column_not_found, did_you_mean


def to_polars(data: object) -> pl.DataFrame:
    """Return ``data`` (polars, pandas or pyarrow) as a polars DataFrame, never modifying it."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return _from_pandas(data)
    if module == "pyarrow":
        frame = pl.from_arrow(data)
        if isinstance(frame, pl.DataFrame):
            return frame
    raise TypeError(f"data must be a polars, pandas or pyarrow table, not {type(data).__name__}")


def _from_pandas(data: Any) -> pl.DataFrame:
    """A pandas frame as polars, with the errors a user can cause named: columns that
    share a name, and a column whose values mix types (text and numbers)."""
    names = [str(c) for c in data.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        listing = ", ".join(repr(n) for n in repeated[:3])
        raise DesignError(f"the data has several columns named {listing}; rename them")
    try:
        return pl.from_pandas(data)
    except Exception as err:  # pyarrow/polars type errors name no column: find it
        for name in data.columns:
            try:
                pl.from_pandas(data[[name]])
            except Exception:
                kinds = sorted({type(v).__name__ for v in data[name].dropna().head(10_000)})
                raise DesignError(
                    f"column {str(name)!r} mixes values of types {', '.join(kinds)}; "
                    "give each column one type (numbers, or text)"
                ) from None
        raise DesignError(f"the data cannot be converted ({type(err).__name__}: {err})") from None


def as_list(names: str | Sequence[str] | None) -> list[str]:
    """``None`` -> [], ``"a"`` -> ["a"], a sequence -> a list."""
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def check_columns(
    frame: pl.DataFrame,
    names: Sequence[str],
    role: str,
    error: type[BarometerError],
    noun: str = " column",
) -> None:
    """Raise a ``ColumnNotFoundError`` (also an ``error``: the caller's layer) naming the
    first column of ``names`` that ``frame`` lacks (as ``role + noun``, "by column"), with
    the closest ones as candidates."""
    present = set(frame.columns)  # (a frame's column list is made anew per call)
    for name in names:
        if name not in present:
            candidates = difflib.get_close_matches(name, frame.columns, n=3, cutoff=0.6)
            what = role + noun
            raise column_not_found(error)(
                f"{what} {name!r} is not in the data{did_you_mean(name, frame.columns)}",
                name,
                candidates,
            )


def first_rows(mask: np.ndarray, k: int = 5) -> str:
    """The first ``k`` row numbers where ``mask`` holds, for error messages."""
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:k])
    return f"rows {shown}{', ...' if rows.size > k else ''} ({rows.size} in all)"


@dataclass(frozen=True, eq=False)
class Coding:
    """Integer codes of one or several columns: ``codes[i]`` indexes ``levels``; -1 = missing."""

    codes: np.ndarray
    levels: pl.DataFrame  # one row per code, one column per encoded column
    size: int


def encode_series(s: pl.Series) -> tuple[IntArray, pl.Series]:
    """The one column encoder: ``int64`` codes of ``s`` into its sorted levels present
    (an ``Enum`` keeps all its declared categories, in order; a boolean is coded as 0/1),
    -1 for a missing value (null, or NaN in a float column), and the levels as a Series.

    Integers in a modest range go through a lookup table, strings through a categorical
    cast; anything else is ranked."""
    if isinstance(s.dtype, pl.Enum):
        levels = pl.Series(s.name, s.dtype.categories, dtype=s.dtype)
        codes = s.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
        return codes, levels
    if s.dtype == pl.Boolean:
        s = s.cast(pl.Int8)
    if s.dtype.is_integer():
        return _encode_integers(s)
    if s.dtype.is_float():
        s = s.fill_nan(None)
        whole = _whole_numbers(s)
        if whole is not None:  # an answer scale stored as floats: the integer path
            codes, levels = _encode_integers(whole)
            return codes, levels.cast(s.dtype)
    if s.dtype in (pl.String, pl.Categorical):
        return _encode_strings(s)
    levels = s.drop_nulls().unique().sort()
    codes = (s.rank("dense") - 1).cast(pl.Int64).fill_null(-1).to_numpy()
    return codes, levels


def _whole_numbers(s: pl.Series) -> pl.Series | None:
    """A float column (NaN already null) as Int64 when every value is a whole number that
    a double holds exactly, else None."""
    valid = s.drop_nulls()
    if valid.len() == 0:
        return None
    lo, hi = valid.min(), valid.max()
    assert isinstance(lo, float) and isinstance(hi, float)
    if not (-(2.0**53) <= lo and hi <= 2.0**53) or not (valid == valid.floor()).all():
        return None
    return s.cast(pl.Int64)


def _encode_integers(s: pl.Series) -> tuple[np.ndarray, pl.Series]:
    valid = s.drop_nulls()
    if valid.len() == 0:
        return np.full(s.len(), -1, dtype=np.int64), valid
    lo, hi = integer_range(valid)
    if hi - lo > 10_000_000 or hi >= 2**63:  # a wide range, or ids beyond int64: sort
        levels = valid.unique().sort()
        codes = (s.rank("dense") - 1).cast(pl.Int64).fill_null(-1).to_numpy()
        return codes, levels
    nulls = s.null_count() > 0
    v = s.cast(pl.Int64).fill_null(lo - 1).to_numpy() if nulls else s.cast(pl.Int64).to_numpy()
    v = v - lo if lo else v.copy()
    seen = np.bincount(v + 1 if nulls else v, minlength=hi - lo + 1 + nulls)[int(nulls) :] > 0
    if seen.all():
        # no gaps in the code range (the usual case for answer codes): v is the code
        return v, pl.Series(s.name, np.arange(lo, hi + 1)).cast(s.dtype)
    lookup = np.cumsum(seen) - 1
    codes = np.where(v >= 0, lookup[np.maximum(v, 0)], -1) if nulls else lookup[v]
    levels = pl.Series(s.name, np.flatnonzero(seen) + lo).cast(s.dtype)
    return codes, levels


def _encode_strings(s: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Codes of a text (or categorical) column into its sorted values, its text hashed
    once: cast to a categorical of categories of its own (codes in order of first
    appearance), whose few values are then sorted and the codes renumbered to match."""
    # (polars 2.1 marks Categories unstable: tests/core/test_frame.py holds these codes to
    # the sorted distinct values, alone and in pairs)
    categories = pl.Categories.random()
    cat = s.cast(pl.String).cast(pl.Categorical(categories))
    found = categories.to_series()
    order = found.arg_sort().to_numpy()
    renumber = np.empty(order.size + 1, dtype=np.int64)
    renumber[order] = np.arange(order.size)
    renumber[-1] = -1  # a null's code
    codes = renumber[cat.to_physical().fill_null(order.size).to_numpy()]
    return codes, found.gather(order).alias(s.name)


def integer_range(s: pl.Series) -> tuple[int, int]:
    """The smallest and largest value of an integer column with a value that is not null."""
    lo, hi = s.min(), s.max()
    assert isinstance(lo, int) and isinstance(hi, int), "an integer column with values"
    return lo, hi


def dense_codes(key: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber non-negative integer keys below ``span`` as 0..K-1 in sorted key order.

    Returns ``(codes, present)`` with ``present`` the sorted distinct keys. A key range
    within a few times the row count is renumbered through a lookup table (two linear
    passes); a wider one by sorting.
    """
    if span <= max(4 * key.size, 1 << 16):
        present = np.flatnonzero(np.bincount(key, minlength=span) > 0)  # bools: ~6x faster
        lut = np.zeros(span, dtype=np.int64)
        lut[present] = np.arange(present.size)
        return lut[key], present
    present, codes = np.unique(key, return_inverse=True)
    return codes.astype(np.int64, copy=False), present


def encode(frame: pl.DataFrame, names: Sequence[str]) -> Coding:
    """Encode the combinations of ``names`` present in ``frame`` as codes 0..K-1.

    Levels are sorted (an ``Enum`` column keeps its declared order); a row with a null in any
    of the columns gets code -1.
    """
    n = frame.height
    if not names:
        return Coding(np.zeros(n, dtype=np.int64), pl.DataFrame(), 1)
    # each column's dtype, not frame.schema: that builds the whole frame's schema per call
    if all(frame.get_column(c).dtype in (pl.String, pl.Categorical) for c in names):
        combined, levels = _combine_strings(frame, names)
    else:
        combined, levels = _mixed_radix(frame, names)
    if len(names) == 1:
        return Coding(combined, pl.DataFrame(levels), levels[0].len())
    sizes = [max(lv.len(), 1) for lv in levels]
    span = int(np.prod(sizes, dtype=np.float64))
    missing = combined < 0
    if missing.any():
        inverse, present = dense_codes(combined[~missing], span)
        out = np.full(n, -1, dtype=np.int64)
        out[~missing] = inverse
    else:
        out, present = dense_codes(combined, span)
    columns = []
    rest = present
    for lv, size in zip(reversed(levels), reversed(sizes), strict=True):
        columns.append(lv.gather(rest % size))
        rest = rest // size
    return Coding(out, pl.DataFrame(list(reversed(columns))), present.size)


#: String columns whose rows stand in runs of at least this many equal values on average
#: (data sorted by them, or read group by group) are coded
#: from the first row of each run; ``_RUN_PROBE`` first rows tell whether to look.
_ROWS_PER_RUN = 16
_RUN_PROBE = 4096


def _combine_strings(
    frame: pl.DataFrame, names: Sequence[str]
) -> tuple[np.ndarray, list[pl.Series]]:
    """Mixed-radix codes (-1: a null) of string columns and their sorted levels.

    Hashing every row's text is most of the cost, so where the rows stand in runs the
    runs' first rows are coded and their codes repeated (the same codes and levels: every
    value present starts a run); otherwise every row is (:func:`_mixed_radix`)."""
    keys = frame.select(names)
    starts = _run_starts(keys)
    if starts is None:
        return _mixed_radix(keys, names)
    combined, levels = _mixed_radix(keys[starts], names)
    return np.repeat(combined, np.diff(np.append(starts, keys.height))), levels


def _run_starts(keys: pl.DataFrame) -> np.ndarray | None:
    """The first row of each run of equal rows of ``keys`` (a null equal to a null) when
    the runs are ``_ROWS_PER_RUN`` rows long on average, else None; a probe of the first
    rows answers first, so rows in no particular order cost a few thousand comparisons."""
    n = keys.height
    if n < 2 * _RUN_PROBE:
        return None
    changed = pl.any_horizontal(pl.all().ne_missing(pl.all().shift(1)))
    if int(keys.head(_RUN_PROBE).select(changed.sum()).item()) * _ROWS_PER_RUN > _RUN_PROBE:
        return None
    flags = keys.select(changed).to_series().to_numpy()
    flags[0] = True  # (a first row of nulls equals the shift's null)
    starts = np.flatnonzero(flags)
    return starts if starts.size * _ROWS_PER_RUN <= n else None


def _mixed_radix(frame: pl.DataFrame, names: Sequence[str]) -> tuple[np.ndarray, list[pl.Series]]:
    """Each column of ``names`` coded by :func:`encode_series`, the codes combined in mixed
    radix (the first column most significant; -1 where any is missing), and the levels."""
    parts = [encode_series(frame.get_column(c)) for c in names]
    levels = [lv.alias(c) for (_, lv), c in zip(parts, names, strict=True)]
    if len(parts) == 1:
        return parts[0][0], levels
    combined = np.zeros(frame.height, dtype=np.int64)
    missing = np.zeros(frame.height, dtype=bool)
    for codes, lv in parts:
        missing |= codes < 0
        combined = combined * max(lv.len(), 1) + np.maximum(codes, 0)
    combined[missing] = -1
    return combined, levels
