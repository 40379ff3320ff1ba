"""The grouped pass: weighted sums of a variable by domain (x level) (x PSU), from integer codes.

Every estimator reduces the respondents once to these sums with ``np.bincount``; the variance
algebra then runs on the small arrays that come out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from barometer.core._frame import Coding, check_columns, dense_codes, encode, integer_range
from barometer.core._protocols import IntArray, SurveyDesign
from barometer.errors import EstimationError

if TYPE_CHECKING:
    from barometer.core.design import Structure


@dataclass(frozen=True, eq=False)
class Variable:
    """One analysed variable as arrays.

    Numeric: ``values`` (float, nan = missing) and ``levels is None``. Categorical: ``codes``
    (int, -1 = missing) into ``levels`` (a one-column frame of level values). The codes may
    be left to ``lazy_codes``, computed on first use: the grouped pass by PSU does not need
    them.
    """

    name: str
    values: np.ndarray | None
    _codes: np.ndarray | None
    levels: pl.Series | None
    lazy_codes: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    #: the integer values the codes are read off, when they came straight from the column
    raw: RawLevels | None = field(default=None, repr=False)
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def codes(self) -> np.ndarray | None:
        if self._codes is not None or self.lazy_codes is None:
            return self._codes
        if "codes" not in self._cache:
            self._cache["codes"] = self.lazy_codes()
        return self._cache["codes"]

    @property
    def level_codes(self) -> np.ndarray:
        """The codes of a categorical variable (which always has them)."""
        codes = self.codes
        assert codes is not None, f"variable {self.name!r} is not categorical"
        return codes

    @property
    def categorical(self) -> bool:
        return self.levels is not None

    @property
    def n_levels(self) -> int:
        return 1 if self.levels is None else self.levels.len()

    @property
    def filled(self) -> np.ndarray:
        """``np.nan_to_num(values)`` (missing values as 0), formed once; the values
        themselves when all are finite (no copy, no checks for infinities)."""
        if "filled" not in self._cache:
            v = self.values
            assert v is not None
            self._cache["filled"] = v if np.isfinite(v).all() else np.nan_to_num(v)
        return self._cache["filled"]

    @property
    def valid(self) -> np.ndarray:
        if self.categorical:
            codes = self.codes
            assert codes is not None
            return codes >= 0
        assert self.values is not None
        valid: np.ndarray = ~np.isnan(self.values)
        return valid


@dataclass(frozen=True, eq=False)
class RawLevels:
    """A categorical integer column as read: ``values`` in ``shift`` (missing) .. ``shift +
    n_range``, of which the levels are those ``seen`` (n_range,). A later grouped pass bins
    the values themselves (``level_pass``) and keeps the rows of the levels seen, as the
    first pass did, instead of first turning the values into codes."""

    values: np.ndarray
    shift: int
    n_range: int
    seen: np.ndarray


def is_numeric(series: pl.Series) -> bool:
    return series.dtype.is_numeric() and not isinstance(series.dtype, pl.Enum | pl.Categorical)


def coding(design: SurveyDesign, names: list[str]) -> Coding:
    """``encode(design.data, names)``, computed once per design (its data never change)."""
    cache = design.cache.codings
    key = tuple(names)
    if key not in cache:
        cache[key] = encode(design.data_with(names), names)
    return cache[key]


def variable(design: SurveyDesign, name: str, categorical: bool | None) -> Variable:
    """Read column ``name`` as numeric (``categorical=False``), categorical (True) or by type."""
    frame = design.data_with([name])
    check_columns(frame, [name], "variable", EstimationError)
    col = frame.get_column(name)
    if col.dtype == pl.Boolean and categorical is False:
        col = col.cast(pl.Float64)
    numeric = is_numeric(col)
    if categorical is None:
        categorical = not numeric
    if not categorical:
        if not numeric:
            raise EstimationError(
                f"variable {name!r} is {col.dtype}, not numeric: use proportion() for the "
                "share of each level, or total() for the weighted count of each level"
            )
        values = col.cast(pl.Float64).fill_nan(None).fill_null(float("nan")).to_numpy()
        return Variable(name, values, None, None)
    if col.dtype == pl.Boolean:
        col_coding = encode(frame.select(pl.col(name).cast(pl.String)), [name])
    else:
        col_coding = coding(design, [name])
    return Variable(name, None, col_coding.codes, col_coding.levels.get_column(name))


def domains(design: SurveyDesign, by: list[str]) -> Coding:
    """The domains of ``by`` (their observed combinations); rows with a null by-value: -1."""
    check_columns(design.data_with(by), by, "by", EstimationError)
    return coding(design, by)


def domain_codes(dom: np.ndarray, var: Variable) -> np.ndarray:
    """Domain codes restricted to rows where ``var`` is observed (others -1): R's ``na.rm``."""
    return np.where(var.valid, dom, -1)


def sums(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount`` over ``codes`` into ``size`` bins; rows with a negative code are dropped
    (sent to one spare bin, which is cheaper than selecting the others)."""
    return sums_each(codes, size, (weights,))[0]


def sums_each(
    codes: np.ndarray, size: int, weights: Sequence[np.ndarray | None]
) -> list[np.ndarray]:
    """:func:`sums` of each of ``weights`` (None: counts) over the same ``codes``, the rows
    left out sent to the spare bin once for all of them."""
    if not (codes.size and codes.min() >= 0):  # rows left out: one copy of the codes
        codes = np.where(codes < 0, size, codes)
        return [binned_sums(codes, size, w) for w in weights]
    return [np.bincount(codes, w, minlength=size).astype(float, copy=False) for w in weights]


def cell_codes(dom: np.ndarray, var: Variable) -> tuple[np.ndarray, int]:
    """Code of (domain, level) for every row (negative outside), and the number of levels.

    ``dom`` comes from ``domain_codes`` (-1 where the variable is missing), so
    ``dom * L + level`` is negative exactly for the rows outside: no selection needed.
    """
    n_levels = var.n_levels
    if var.codes is None:
        return dom, 1
    return dom * n_levels + var.codes, n_levels


def binned_sums(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount`` of codes already in ``0..size`` where ``size`` is a spare bin for the
    rows to leave out."""
    return np.bincount(codes, weights, minlength=size + 1)[:size].astype(float, copy=False)


# ---------------------------------------------------------------------------------------
# the grouped pass by (domain, PSU) pair, for clustered designs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PsuPairs:
    """The (domain, PSU) pairs that hold rows, numbered 0..M-1 in (domain, PSU) order.

    Sums by pair are all that the point estimates and their linearisation variance need
    (a domain's PSU total is its pair's sum; a PSU outside the domain contributes zero).
    PSUs are numbered in stratum order, so each domain's pairs, and each (domain, stratum)
    block of them, are contiguous: sums over them are ``np.add.reduceat``.
    """

    codes: np.ndarray  # (n,) pair of each row; M (a spare pair) for a row outside all domains
    size: int  # M
    n_domains: int
    domain: np.ndarray  # (M,) domain of each pair
    psu: np.ndarray  # (M,) PSU of each pair
    starts: np.ndarray  # (D,) first pair of each domain
    rows: np.ndarray  # (D,) rows in each domain
    block_starts: np.ndarray  # (B,) first pair of each (domain, stratum) block
    block_domain: np.ndarray  # (B,)
    block_stratum: np.ndarray  # (B,)


def psu_pairs(design: SurveyDesign, by: list[str]) -> PsuPairs:
    """The pairs of the domains of ``by`` and the PSUs of a linearisation design, computed
    once per design."""
    cache = design.cache.psu_pairs
    key = tuple(by)
    if key not in cache:
        structure = design.structure
        assert structure is not None, "PSU pairs need a linearisation design"
        dom = coding(design, by)
        cache[key] = make_pairs(dom.codes, dom.size, structure)
    return cache[key]


def make_pairs(dom: IntArray, n_domains: int, structure: Structure) -> PsuPairs:
    """Pairs of the domain codes ``dom`` (-1: outside every domain) and the PSUs."""
    s = structure
    n_psus = s.n_psus
    inside = dom >= 0
    key = dom * n_psus
    key += s.psu
    span = n_domains * n_psus
    if inside.all():
        codes, present = dense_codes(key, span)
        rows = np.bincount(dom, minlength=n_domains)
    else:
        found, present = dense_codes(key[inside], span)
        codes = np.full(dom.size, present.size, dtype=np.int64)
        codes[inside] = found
        rows = np.bincount(dom[inside], minlength=n_domains)
    domain, psu = np.divmod(present, n_psus)
    return pairs_of(codes, n_domains, domain, psu, rows, s.psu_stratum)


def pairs_of(
    codes: np.ndarray,
    n_domains: int,
    domain: np.ndarray,
    psu: np.ndarray,
    rows: np.ndarray,
    psu_stratum: np.ndarray,
) -> PsuPairs:
    """The pairs ``(domain[m], psu[m])``, sorted by (domain, PSU), with their blocks."""
    stratum = psu_stratum[psu]
    new_domain = np.diff(domain, prepend=-1) != 0
    new_block = new_domain | (np.diff(stratum, prepend=-1) != 0)
    block_starts = np.flatnonzero(new_block)
    return PsuPairs(
        codes=codes,
        size=domain.size,
        n_domains=n_domains,
        domain=domain,
        psu=psu,
        starts=np.flatnonzero(new_domain),
        rows=rows,
        block_starts=block_starts,
        block_domain=domain[block_starts],
        block_stratum=stratum[block_starts],
    )


@dataclass(frozen=True, eq=False)
class PairSums:
    """A variable's weighted sums by (domain, PSU) pair."""

    var: Variable
    num: np.ndarray  # (L, M): sum w y (numeric) or sum w [level l] (categorical) per pair
    den: np.ndarray  # (M,): sum w over the pair's rows where the variable is observed
    count: np.ndarray  # (D,): rows in each domain where the variable is observed


def pair_sums(var: Variable, pairs: PsuPairs, dom: np.ndarray, w: np.ndarray) -> PairSums:
    """The one grouped pass by (pair, level) of ``var`` with weights ``w``."""
    if var.categorical:
        assert var.codes is not None
        sums, count = _level_pass(var.codes, -1, var.n_levels, pairs, dom, w)
        num = sums[:, : pairs.size]
        return PairSums(var, num, num.sum(axis=0), count)
    assert var.values is not None
    missing = np.isnan(var.values)
    code = np.where(missing, pairs.size, pairs.codes)
    num = binned_sums(code, pairs.size, w * var.filled)
    den = binned_sums(code, pairs.size, w)
    return PairSums(var, num[None, :], den, _observed(pairs, dom, missing))


def column_pair_sums(
    design: SurveyDesign, name: str, categorical: bool | None, pairs: PsuPairs, dom: IntArray
) -> PairSums:
    """``pair_sums`` of column ``name`` read as ``variable(design, name, categorical)``.

    A categorical integer column (answer codes) with a short range is binned straight from
    its values, not first renumbered as codes (that waits until something asks for
    ``var.codes``, and then reads them off the same values); its levels are the values
    with a positive weighted sum, which are the values present when every weight is
    positive (always so without calibration; a calibrated design's weights are checked).
    """
    frame = design.data_with([name])
    w = design.weights
    col = frame.get_column(name) if name in frame.columns else None
    if (
        col is None
        or categorical is not True
        or not col.dtype.is_integer()
        or col.null_count() == col.len()
        or (design.calibration and not (w > 0).all())
    ):
        return pair_sums(variable(design, name, categorical), pairs, dom, w)
    lo, hi = integer_range(col)
    if (hi - lo + 2) * (pairs.size + 1) > max(4 * col.len(), 1 << 16):
        return pair_sums(variable(design, name, categorical), pairs, dom, w)
    if lo < 1:
        col = col.cast(pl.Int64)
    raw = col.fill_null(lo - 1).to_numpy() if col.null_count() else col.to_numpy()
    sums, count = _level_pass(raw, lo - 1, hi - lo + 1, pairs, dom, w)
    seen = sums.sum(axis=1) > 0  # the spare pair's column too: a value seen anywhere
    levels = pl.Series(name, np.flatnonzero(seen) + lo).cast(col.dtype)

    def codes() -> np.ndarray:
        # the codes ``encode`` gives the column (the rank of each value among those
        # present, -1 for missing), from the values already read; kept as its coding
        lookup = np.concatenate(([-1], np.cumsum(seen) - 1))
        found = lookup[raw - (lo - 1)] if lo != 1 else lookup[raw]
        design.cache.codings.setdefault((name,), Coding(found, pl.DataFrame(levels), len(levels)))
        return design.cache.codings[(name,)].codes

    var = Variable(
        name, None, None, levels, lazy_codes=codes, raw=RawLevels(raw, lo - 1, hi - lo + 1, seen)
    )
    num = sums[:, : pairs.size] if seen.all() else sums[seen, : pairs.size]
    return PairSums(var, num, num.sum(axis=0), count)


def _level_pass(
    raw: np.ndarray, shift: int, n_range: int, pairs: PsuPairs, dom: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sums by (value, pair) of integer values ``raw`` in ``shift`` (= missing)
    ``.. shift + n_range``, and the rows per domain where the value is not missing.

    Returns the sums (n_range x (M + 1): the spare pair's column last) and the counts."""
    sums = level_sums(raw, shift, n_range, pairs.codes, pairs.size + 1, w)
    return sums, _observed(pairs, dom, raw == shift)


def level_table(var: Variable, groups: np.ndarray, width: int, w: np.ndarray | None) -> np.ndarray:
    """Sums of ``w`` (None: counts) by (level, group) of a categorical ``var``: (L x
    width), by one pass over all the rows (``level_sums``) — of the column's own integer
    values when its first pass binned those (``RawLevels``), else of its codes."""
    return level_tables(var, groups, width, (w,))[0]


def level_tables(
    var: Variable, groups: np.ndarray, width: int, weights: Sequence[np.ndarray | None]
) -> list[np.ndarray]:
    """:func:`level_table` for each of ``weights``, the rows' (level, group) code formed
    once for all of them."""
    raw = var.raw
    if raw is not None:
        tables = level_sums_each(raw.values, raw.shift, raw.n_range, groups, width, weights)
        return tables if raw.seen.all() else [t[raw.seen] for t in tables]
    return level_sums_each(var.level_codes, -1, var.n_levels, groups, width, weights)


def level_sums(
    raw: np.ndarray,
    shift: int,
    n_range: int,
    groups: np.ndarray,
    width: int,
    w: np.ndarray | None,
) -> np.ndarray:
    """Sums of ``w`` (None: counts) by (value, group) of integer values ``raw`` in ``shift``
    (= missing) ``.. shift + n_range`` and group codes ``groups`` in ``0 .. width - 1``, by
    one ``np.bincount`` into (n_range + 1) x width bins: (n_range x width), the missing
    value's row dropped (no selection of the rows observed)."""
    return level_sums_each(raw, shift, n_range, groups, width, (w,))[0]


def level_sums_each(
    raw: np.ndarray,
    shift: int,
    n_range: int,
    groups: np.ndarray,
    width: int,
    weights: Sequence[np.ndarray | None],
) -> list[np.ndarray]:
    """:func:`level_sums` of each of ``weights``: one (value, group) code per row, then one
    ``np.bincount`` per weight (a pass of the codes costs what a pass of the sums does)."""
    code = np.multiply(raw, width, dtype=np.intp)
    if shift:
        code -= shift * width
    code += groups
    size = (n_range + 1) * width
    return [np.bincount(code, w, minlength=size).reshape(n_range + 1, width)[1:] for w in weights]


def _observed(pairs: PsuPairs, dom: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Rows per domain where the variable is observed: the domain's rows less its missing."""
    rows = np.flatnonzero(missing)
    if rows.size == 0:
        return pairs.rows
    lost = np.bincount(dom[rows] + 1, minlength=pairs.n_domains + 1)[1:]
    return pairs.rows - lost
