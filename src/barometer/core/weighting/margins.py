"""Read and check weighting targets against the data, before any weight changes.

Targets come as ``{variable: {level: total}}`` (or, with ``by=``, keyed first by group). A
margin whose targets sum to 1 (within ``SHARE_TOL``) is read as *shares*: it is scaled to
the group's total, which is the common sum of the group's other margins given as totals,
or, when every margin is given as shares, the group's weighted total before weighting (so
weighting then keeps each group's total weight). Every problem is reported as a
``WeightingError`` naming the variable, level and group at fault.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, SupportsFloat, cast

import numpy as np
import polars as pl

from barometer.core._protocols import Targets
from barometer.core.weighting._codes import Column, encode_column
from barometer.errors import WeightingError, did_you_mean

SHARE_TOL = 1e-6
"""Margins summing to 1 within this are shares."""
TOTAL_TOL = 1e-6
"""Relative disagreement allowed between the totals of a group's margins."""


@dataclass(frozen=True, eq=False)
class MarginSet:
    """Targets aligned with the data's codes.

    ``variables[m]`` is margin ``m``'s column (levels = the levels present in the data,
    sorted); ``targets[m]`` is a (G, L_m) array of totals, NaN where group ``g`` is not
    weighted on that variable; ``group`` codes each row's group 0..G-1 (all 0 without
    ``by``); ``totals`` holds each group's total.
    """

    variables: tuple[Column, ...]
    targets: tuple[np.ndarray, ...]
    group: np.ndarray
    group_labels: tuple[object, ...]
    by: str | None
    totals: np.ndarray
    shares: tuple[tuple[bool, ...], ...]  # [g][m]: was margin m given as shares in group g

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    def where(self, m: int, g: int, level: int | None = None) -> str:
        """Human description of a margin cell, for messages."""
        var = self.variables[m]
        out = repr(var.name) if level is None else f"{var.name!r}={var.levels[level]!r}"
        if self.by is not None:
            out += f" (group {self.by}={self.group_labels[g]!r})"
        return out


def is_table(obj: object) -> bool:
    """A polars, pandas or pyarrow table, or a list of records (mappings)."""
    if isinstance(obj, list | tuple) and obj and all(isinstance(r, Mapping) for r in obj):
        return True
    return type(obj).__module__.split(".")[0] in {"polars", "pandas", "pyarrow"}


def keyed_rows(table: Any, keys: list[str], what: str) -> list[tuple[Any, ...]]:
    """Rows ``(*keys, value)`` of a table with the ``keys`` columns and one value column."""
    from barometer.core._frame import to_polars

    records = isinstance(table, list | tuple)
    frame = pl.DataFrame(list(table)) if records else to_polars(table)
    missing = [k for k in keys if k not in frame.columns]
    values = [c for c in frame.columns if c not in keys]
    if missing or len(values) != 1:
        raise WeightingError(
            f"{what} needs the columns {keys} and one column of numbers; it has {frame.columns}"
        )
    return frame.select([*keys, values[0]]).rows()


def from_table(table: Any, by: str | None) -> Any:
    """Targets given as a long table -> the nested mapping; anything else is returned as is.

    The table (polars, pandas or pyarrow) has columns ``variable``, ``level`` and one
    numeric column of targets (any name), plus the ``by`` column when raking by group:
    one row per (group,) variable and level, as targets are usually kept in a spreadsheet.
    """
    if not is_table(table):
        return table
    keys = ([by] if by is not None else []) + ["variable", "level"]
    nested: dict[Any, Any] = {}
    for row in keyed_rows(table, keys, "a table of targets"):
        *path, level, target = row
        node = nested
        for key in path:
            node = node.setdefault(key, {})
        if level in node:
            raise WeightingError(f"the table of targets gives {[*path, level]} twice")
        node[level] = target
    return nested


def check_convergence(tol: float, max_iter: int) -> None:
    """Validate the ``tol`` and ``max_iter`` options shared by raking and calibration."""
    if isinstance(tol, bool) or not (isinstance(tol, int | float) and tol > 0):
        raise WeightingError(f"tol must be a positive number, not {tol!r}")
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1:
        raise WeightingError(f"max_iter must be a positive integer, not {max_iter!r}")


@functools.lru_cache(maxsize=64)
def _indexes(levels: tuple[object, ...]) -> tuple[dict[object, int], dict[str, int]]:
    return {lv: i for i, lv in enumerate(levels)}, {str(lv): i for i, lv in enumerate(levels)}


def lookup(keys: Sequence[object], levels: Sequence[object]) -> list[int | None]:
    """Index of each key among ``levels``: exact match first, then by string form."""
    exact, as_str = _indexes(tuple(levels))
    out: list[int | None] = []
    for key in keys:
        try:
            idx = exact.get(key)
        except TypeError:
            idx = None
        out.append(idx if idx is not None else as_str.get(str(key)))
    return out


def _where(var: str, level: object, by: str | None, group: object) -> str:
    out = f"{var!r}={level!r}"
    return out if by is None else f"{out} (group {by}={group!r})"


def check_target(value: object, var: str, level: object, by: str | None, group: object) -> float:
    """A target as a float, or a WeightingError if it is missing, NaN, infinite or negative."""
    where = _where(var, level, by, group)
    if value is None or isinstance(value, bool):
        raise WeightingError(f"target for {where} is {value!r}; give a number >= 0")
    try:
        x = float(cast(SupportsFloat | str, value))  # anything else: the TypeError below
    except (TypeError, ValueError):
        raise WeightingError(f"target for {where} is {value!r}; give a number >= 0") from None
    if not math.isfinite(x) or x < 0:
        raise WeightingError(f"target for {where} is {x!r}; targets must be finite and >= 0")
    return x


def _group_column(frame: pl.DataFrame, by: str | None, keys: list[object]) -> Column:
    if by is None:
        return Column("", np.zeros(frame.height, dtype=np.int64), (None,))
    col = encode_column(frame, by, "by column", expected=keys)
    if col.any_missing():
        rows = np.flatnonzero(col.codes < 0)
        raise WeightingError(
            f"by column {by!r} has missing values in {rows.size} rows (first: row {rows[0]}); "
            "every respondent must belong to a group"
        )
    return col


def _map_groups(
    margins: Mapping[Any, Any], groups: Column, by: str
) -> tuple[list[int], list[object]]:
    """Map margin keys to the data's groups (each group's index and margins, in group order)."""
    keys = list(margins.keys())
    found: list[int] = []
    for key, idx in zip(keys, lookup(keys, groups.levels), strict=True):
        if idx is None:
            _no_respondents(by, key, groups)
        if not isinstance(margins[key], Mapping):
            raise WeightingError(
                f"with by={by!r}, margins must be keyed by group: margins[{key!r}] should be "
                f"{{variable: {{level: target}}}}, not {type(margins[key]).__name__}"
            )
        found.append(idx)
    order = np.argsort(found).tolist()
    return [found[i] for i in order], [keys[i] for i in order]


def _no_respondents(by: str, key: object, groups: Column) -> NoReturn:
    raise WeightingError(
        f"margins are given for group {by}={key!r}, which has no respondents"
        f"{did_you_mean(str(key), [str(v) for v in groups.levels])}"
    )


def _check_groups(enc: EncodedMargins, count: np.ndarray) -> None:
    """Every group given margins has respondents, and every group with respondents has margins."""
    by = enc.by
    assert by is not None
    for g, key in zip(enc.group_index, enc.keys, strict=True):
        if count[g] == 0:
            _no_respondents(by, key, enc.groups)
    missing = sorted(set(np.flatnonzero(count).tolist()) - set(enc.group_index))
    if missing:
        labels = ", ".join(repr(enc.groups.levels[i]) for i in missing[:5])
        raise WeightingError(
            f"groups of {by!r} with respondents but no margins: {labels}; "
            "give margins for every group or drop those respondents first"
        )


@dataclass(frozen=True, eq=False)
class EncodedMargins:
    """Targets read and their columns encoded, before they are checked against the data's
    group counts and aligned (``align_margins``)."""

    groups: Column
    columns: tuple[Column, ...]
    by: str | None
    group_index: list[int]  # the data group of each group given margins, in group order
    keys: list[object]  # the margins' key of each of those groups
    per_group: list[Mapping[str, object]]


def margin_columns(margins: Targets, by: str | None) -> list[str]:
    """The columns ``margins`` names (``by`` and the variables of every group), what a
    weighting reads of a design's data; anything malformed is left to
    :func:`encode_margins` to report."""
    if not isinstance(margins, Mapping):
        return []
    groups = margins.values() if by is not None else [margins]
    named = (v for g in groups if isinstance(g, Mapping) for v in g if isinstance(v, str))
    return list(dict.fromkeys([*([by] if by is not None else []), *named]))


def encode_margins(
    frame: pl.DataFrame,
    margins: Targets,
    by: str | None,
    role: str = "raking variable",
) -> EncodedMargins:
    """Read ``margins`` and encode the group and variable columns they name."""
    if not isinstance(margins, Mapping) or not margins:
        raise WeightingError(
            "margins must be a non-empty mapping {variable: {level: target}}"
            + ("" if by is None else " keyed by group")
        )
    groups = _group_column(frame, by, list(margins.keys()))
    keys: list[object]
    if by is None:
        group_index, keys, specs = [0], [None], [margins]
    else:
        group_index, keys = _map_groups(margins, groups, by)
        specs = [margins[k] for k in keys]
    names: list[str] = []
    per_group: list[Mapping[str, object]] = []
    for spec in specs:
        for var in spec:
            if not isinstance(var, str):
                raise WeightingError(f"margin keys must be column names, not {var!r}")
            if var not in names:
                names.append(var)
        per_group.append(spec)
    expected: dict[str, list[object]] = {name: [] for name in names}
    for spec in per_group:
        for var, table in spec.items():
            if isinstance(table, Mapping):
                expected[var].extend(table.keys())
    columns = tuple(encode_column(frame, name, role, expected=expected[name]) for name in names)
    return EncodedMargins(groups, columns, by, group_index, keys, per_group)


def parse_margins(
    frame: pl.DataFrame,
    margins: Targets,
    by: str | None,
    weights: np.ndarray,
    role: str = "raking variable",
) -> MarginSet:
    """Check ``margins`` against ``frame`` and align them with integer codes (see module doc)."""
    enc = encode_margins(frame, margins, by, role)
    g, size = enc.groups.codes, enc.groups.size
    count = np.bincount(g, minlength=size)
    return align_margins(enc, count, lambda: np.bincount(g, weights, minlength=size))


def align_margins(
    enc: EncodedMargins, count: np.ndarray, group_weight: Callable[[], np.ndarray]
) -> MarginSet:
    """Check the encoded targets against the data and align them with its codes.

    ``count`` says which groups have respondents (> 0); ``group_weight`` gives each group's
    weighted total (asked for only when a group's margins are all shares).
    """
    groups, columns, by = enc.groups, enc.columns, enc.by
    if by is not None:
        _check_groups(enc, count)
    names = [c.name for c in columns]
    G = groups.size if by is not None else 1
    gcodes = groups.codes
    base_total = functools.cache(group_weight)
    targets = [np.full((G, c.size), np.nan) for c in columns]
    raw: list[dict[str, tuple[np.ndarray, float]]] = [{} for _ in range(G)]
    for g, spec in zip(enc.group_index, enc.per_group, strict=True):
        glabel = groups.levels[g]
        for var, table in spec.items():
            m = names.index(var)
            raw[g][var] = _align(table, columns[m], by, glabel)
    for col in columns:
        _check_missing(col, gcodes, [g for g in range(G) if col.name in raw[g]], by, groups)
    totals = np.zeros(G)
    shares: list[tuple[bool, ...]] = []
    for g in range(G):
        glabel = groups.levels[g]

        def group_base(g: int = g) -> float:
            return float(base_total()[g])

        total, is_share = _group_total(raw[g], group_base, by, glabel)
        totals[g] = total
        shares.append(tuple(is_share.get(c.name, False) for c in columns))
        for var, (t, _) in raw[g].items():
            m = names.index(var)
            targets[m][g] = t * total if is_share[var] else t
    return MarginSet(
        tuple(columns), tuple(targets), gcodes, tuple(groups.levels), by, totals, tuple(shares)
    )


def _align(table: object, col: Column, by: str | None, group: object) -> tuple[np.ndarray, float]:
    """Targets of one variable in one group, as an array over ``col``'s levels, and their sum."""
    if not isinstance(table, Mapping) or not table:
        raise WeightingError(
            f"targets for {col.name!r}"
            + ("" if by is None else f" (group {by}={group!r})")
            + f" must be a non-empty mapping {{level: target}}, not {table!r}"
        )
    keys = list(table.keys())
    out = np.full(col.size, np.nan)
    total = 0.0
    for key, idx in zip(keys, lookup(keys, col.levels), strict=True):
        value = check_target(table[key], col.name, key, by, group)
        if idx is None:
            if value > 0:
                raise WeightingError(
                    f"target level {_where(col.name, key, by, group)} has no respondents"
                    f"{did_you_mean(str(key), [str(v) for v in col.levels])}; "
                    "merge it with a neighbouring level or drop it from the targets"
                )
            continue
        out[idx] = value
        total += value
    return out, total


def _check_missing(
    col: Column, gcodes: np.ndarray, used: list[int], by: str | None, groups: Column
) -> None:
    if not col.any_missing():
        return
    bad = col.codes < 0
    if by is not None and len(used) < groups.size:
        bad &= np.isin(gcodes, used)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(r) for r in rows[:5])
        raise WeightingError(
            f"{col.name!r} has missing values in rows {shown}{', ...' if rows.size > 5 else ''}"
            f" ({rows.size} in all); impute them or give them a level of their own with a target"
        )


def _group_total(
    raw: dict[str, tuple[np.ndarray, float]],
    base_total: Callable[[], float],
    by: str | None,
    group: object,
) -> tuple[float, dict[str, bool]]:
    sums = {var: s for var, (_, s) in raw.items()}
    is_share = {var: abs(s - 1.0) <= SHARE_TOL for var, s in sums.items()}
    given = [(var, s) for var, s in sums.items() if not is_share[var]]
    if not given:
        return float(base_total()), is_share
    first_var, total = given[0]
    for var, s in given[1:]:
        if abs(s - total) > TOTAL_TOL * max(abs(total), abs(s)):
            where = "" if by is None else f" in group {by}={group!r}"
            raise WeightingError(
                f"margins disagree on the total{where}: {first_var!r} sums to {total:,.6g} "
                f"but {var!r} to {s:,.6g} (relative difference "
                f"{abs(s - total) / max(abs(total), abs(s)):.2g} > {TOTAL_TOL:g}); "
                "make every margin add up to the same population total"
            )
    if total <= 0:
        raise WeightingError(
            f"targets for {first_var!r} sum to {total!r}; a population total must be positive"
        )
    return total, is_share


def row_codes(ms: MarginSet) -> list[np.ndarray]:
    """Each row's margin-level code (group x level) for every margin (missing -> level 0)."""
    group = ms.group.astype(np.int64)  # codes may be narrow (an enum's): widen first
    return [group * max(v.size, 1) + v.nonnegative() for v in ms.variables]


def check_support(
    ms: MarginSet, codes: Sequence[np.ndarray], count: np.ndarray, weight: np.ndarray
) -> None:
    """Every level with respondents has a target; every positive target has weight.

    ``codes[m]`` gives each cell's (or row's) group x level code of margin ``m``;
    ``count`` and ``weight`` the cells' respondent counts and weight sums.
    """
    G = ms.n_groups
    for m, col in enumerate(ms.variables):
        L = max(col.size, 1)
        n_m = np.bincount(codes[m], count, minlength=G * L).reshape(G, L).astype(np.int64)
        wsum = np.bincount(codes[m], weight, minlength=G * L).reshape(G, L)
        t = ms.targets[m]
        used = ~np.isnan(t).all(axis=1)
        for g, lv in zip(*np.nonzero(used[:, None] & (n_m > 0) & ~(t > 0)), strict=True):
            what = "no target" if np.isnan(t[g, lv]) else "a target of 0"
            raise WeightingError(
                f"level {ms.where(m, g, lv)} has {n_m[g, lv]} respondents but {what}; "
                "add a target for it or recode those respondents into a level with one"
            )
        for g, lv in zip(*np.nonzero(used[:, None] & (t > 0) & (n_m == 0)), strict=True):
            raise WeightingError(
                f"target level {ms.where(m, g, lv)} has no respondents; "
                "merge it with a neighbouring level or drop it from the targets"
            )
        for g, lv in zip(*np.nonzero((t > 0) & (n_m > 0) & ~(wsum > 0)), strict=True):
            raise WeightingError(
                f"level {ms.where(m, g, lv)} has {n_m[g, lv]} respondents but their weights "
                "sum to zero, so no factor can reach its target"
            )
