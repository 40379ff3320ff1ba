"""Raking (iterative proportional fitting) of a design's weights to marginal targets.

The respondents are reduced once to the table of distinct cells of the raking variables
(and the group, with ``by=``): one ``bincount`` of the weights per cell. The IPF kernel
(``weighting.ipf``) rakes that small table; the factors are broadcast back to the rows.
Raking by group is one vectorised IPF whose margin levels are group x level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

from barometer.core._protocols import SurveyDesign, Targets
from barometer.core.variance.steps import RakingStep
from barometer.core.weighting._codes import Column, combine, split
from barometer.core.weighting.bounded import bounded_rake
from barometer.core.weighting.ipf import IpfResult, ipf, totals
from barometer.core.weighting.margins import (
    EncodedMargins,
    MarginSet,
    align_margins,
    check_convergence,
    check_support,
    encode_margins,
    from_table,
    margin_columns,
)
from barometer.core.weighting.spec import RakeSpec, WeightingInfo, freeze, margin_table
from barometer.errors import WeightingError

D = TypeVar("D", bound=SurveyDesign)


@dataclass(frozen=True, eq=False)
class Cells:
    """The cell table: ``cell[i]`` is row i's cell; per margin, each cell's level code
    (group x level) with the targets and group totals of those codes."""

    cell: np.ndarray
    n_cells: int
    codes: tuple[np.ndarray, ...]
    targets: tuple[np.ndarray, ...]
    scale: tuple[np.ndarray, ...]
    group: np.ndarray  # group of each cell


def _cell_codes(enc: EncodedMargins) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cell of (group, raking variables), and the cells' mixed-radix codes."""
    cols = [enc.groups, *(Column(v.name, v.nonnegative(), v.levels) for v in enc.columns)]
    return combine(cols, empty_cells=True)


def build_cells(ms: MarginSet, cell: np.ndarray, present: np.ndarray) -> Cells:
    """The cell table of (group, raking variables): the margin codes of each cell."""
    parts = split(present, [ms.n_groups, *(v.size for v in ms.variables)])
    g_cell = parts[0]
    codes, targets, scale = [], [], []
    for m, var in enumerate(ms.variables):
        L = max(var.size, 1)
        codes.append(g_cell * L + parts[m + 1])
        targets.append(ms.targets[m].reshape(-1))
        scale.append(np.repeat(ms.totals, L))
    return Cells(cell, present.size, tuple(codes), tuple(targets), tuple(scale), g_cell)


def _check_options(tol: float, max_iter: int, cap: float | None, floor: float | None) -> None:
    check_convergence(tol, max_iter)
    if cap is not None and not (isinstance(cap, int | float) and cap >= 1):
        raise WeightingError(
            f"cap={cap!r}: a cap is a multiple of the mean weight and must be >= 1 (e.g. 5)"
        )
    if floor is not None and not (isinstance(floor, int | float) and 0 <= floor <= 1):
        raise WeightingError(
            f"floor={floor!r}: a floor is a multiple of the mean weight between 0 and 1"
        )


def _not_converged(ms: MarginSet, cells: Cells, res: IpfResult, max_iter: int, what: str) -> str:
    m, k, j = res.worst()
    L = max(ms.variables[m].size, 1)
    g, lv = divmod(k, L)
    where = ms.where(m, g, lv) + (f" in replicate {j}" if j > 0 else "")
    return (
        f"{what} did not converge in {max_iter} sweeps: the largest margin error left is "
        f"{res.max_error:.3g} of the total, at {where}; raise max_iter, "
        "loosen tol, or collapse sparse levels"
    )


def rake(
    design: D,
    margins: Targets,
    *,
    by: str | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    cap: float | None = None,
    floor: float | None = None,
) -> D:
    """Rake the design's weights to marginal targets by iterative proportional fitting.

    Parameters
    ----------
    design : Design or ReplicateDesign
        Its current weights are the base weights (they are honoured, not replaced).
    margins : mapping or table
        ``{variable: {level: target}}``; with ``by``, ``{group: {variable: {level: target}}}``;
        or a long table (polars, pandas, pyarrow) with columns ``variable``, ``level``, one
        column of targets, and the ``by`` column when raking by group.
        Targets are population totals; a margin whose targets sum to 1 is read as shares
        and scaled to the group's total: the sum of its margins given as totals, or, if all
        are shares, the group's weighted total before raking (which raking then keeps).
        A group may omit a variable other groups are raked on.
    by : str, optional
        Column whose groups (e.g. countries) are each raked to their own margins, all in
        one vectorised IPF.
    tol : float
        Convergence: every margin's weighted total is within ``tol`` x the group total of
        its target.
    max_iter : int
        Largest number of sweeps; with ``cap``/``floor``, of rounds of trimming and
        re-raking (each of at most 50 sweeps).
    cap, floor : float, optional
        Bounds on the final weights as multiples of the group's mean weight. Weights
        beyond them are held at the bound and the others re-raked (the excess is
        redistributed), until every weight is within bounds and every margin holds. Should
        that stall, the bounded raking problem is solved exactly on its dual
        (``weighting.bounded``); a ``WeightingError`` then means that no weights within the
        bounds meet the margins.

    Returns
    -------
    Design
        A new design with the raked weights; its standard errors account for the raking
        (the ``RakingStep`` record: each margin's codes and the weights after each margin
        in the last sweep, as R keeps in ``design$postStrata``). For a replicate design
        every replicate is raked to the same targets (R ``rake`` on a ``svyrep.design``),
        and with ``cap``/``floor`` held within the same bounds (rows a replicate drops stay
        at 0).

    Notes
    -----
    Each sweep post-stratifies on every margin in turn (R ``survey::rake``), on the table
    of distinct cells. R stops when the full cross-table changes by less than its
    ``epsilon`` in a sweep; barometer stops after a sweep in which no margin moved by more
    than ``tol`` x the group total and after which every margin is within ``tol`` of its
    target (what a weighting analyst checks). So R's ``control=list(epsilon=e)`` with
    ``e < 1`` and barometer's ``tol=e`` give the same weights to about ``e``. Replicates
    are raked in the same sweeps and must meet the same tolerance. With ``cap``/``floor``
    the variance record treats the result as raking (R's ``trimWeights`` is not reflected
    in variances either).

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"sex": ["f", "f", "m", "m"], "age": ["y", "o", "y", "o"]})
    >>> d = bm.Design(df).rake({"sex": {"f": 60, "m": 40}, "age": {"y": 50, "o": 50}})
    >>> [round(float(w), 3) for w in d.weights]
    [30.0, 30.0, 20.0, 20.0]
    >>> print(d.weight_summary().margins.select("variable", "level", "after_share"))
    shape: (4, 3)
    ┌──────────┬───────┬─────────────┐
    │ variable ┆ level ┆ after_share │
    │ ---      ┆ ---   ┆ ---         │
    │ str      ┆ str   ┆ f64         │
    ╞══════════╪═══════╪═════════════╡
    │ sex      ┆ f     ┆ 0.6         │
    │ sex      ┆ m     ┆ 0.4         │
    │ age      ┆ o     ┆ 0.5         │
    │ age      ┆ y     ┆ 0.5         │
    └──────────┴───────┴─────────────┘
    """
    _check_options(tol, max_iter, cap, floor)
    targets = from_table(margins, by)
    spec = RakeSpec(freeze(targets), by, tol, max_iter, cap, floor)
    weights = np.asarray(design.weights, dtype=np.float64)
    reps = design.replicate_weights
    enc = encode_margins(design.data_with(margin_columns(targets, by)), targets, by)
    cell, present = _cell_codes(enc)
    cell_before = np.bincount(cell, weights, minlength=present.size)
    n_groups = enc.groups.size
    group = present // int(np.prod([max(v.size, 1) for v in enc.columns]))  # of each cell
    group_weight = np.bincount(group, cell_before, minlength=n_groups)
    # with every weight positive, a cell (a group) has respondents iff it has weight, so the
    # respondents need counting only for the margin table or an error message
    positive = weights.size == 0 or weights.min() > 0
    cell_count = functools.cache(
        lambda: np.bincount(cell, minlength=present.size).astype(np.float64)
    )
    has_rows = (cell_before > 0).astype(np.float64) if positive else cell_count()
    group_rows = np.bincount(group, has_rows, minlength=n_groups)
    ms = align_margins(enc, group_rows, lambda: group_weight)
    cells = build_cells(ms, cell, present)
    try:
        check_support(ms, cells.codes, has_rows, cell_before)
    except WeightingError:
        check_support(ms, cells.codes, cell_count(), cell_before)  # the message with counts
        raise
    if cap is None and floor is None:
        new, step, res = _rake_plain(weights, cell_before, ms, cells, max_iter, tol, reps)
        f = res.factors[:, 0] if res.factors.ndim == 2 else res.factors
        cell_after, n_capped, n_floored, held = cell_before * f, 0, 0, None
    else:
        bounds = _bounds(ms, cap, floor)
        new, step, res, held = _capped(weights, ms, cells, max_iter, tol, bounds)
        if reps is not None:
            new = (new[0], _rake_replicates_capped(reps, ms, cells, max_iter, tol, bounds))
        n_capped, n_floored = int((held == 1).sum()), int((held == 2).sum())
        cell_after = np.bincount(cells.cell, new[0], minlength=cells.n_cells)
    info = WeightingInfo(
        method="rake",
        spec=spec,
        by=by,
        iterations=res.iterations,
        max_error=res.max_error,
        n_capped=n_capped,
        n_floored=n_floored,
        build_margins=lambda: _table(ms, cells, cell_count(), cell_before, cell_after),
        before=weights,
        held=held,
        trace=res.trace,
    )
    if reps is None:
        return design.with_weights(new[0], step, info)
    return design.with_weights(new[0], step, info, replicate_weights=new[1])


def _rake_plain(
    weights: np.ndarray,
    W: np.ndarray,
    ms: MarginSet,
    cells: Cells,
    max_iter: int,
    tol: float,
    reps: np.ndarray | None,
) -> tuple[tuple[np.ndarray, ...], RakingStep, IpfResult]:
    C = cells.n_cells
    if reps is not None:
        W = np.column_stack([W, totals(cells.cell, np.asarray(reps, dtype=np.float64), C)])
        _check_replicates(ms, cells, W[:, 1:])
    res = ipf(W, cells.codes, cells.targets, cells.scale, tol=tol, max_iter=max_iter)
    if not res.converged:
        raise WeightingError(_not_converged(ms, cells, res, max_iter, "raking"))

    def main(f: np.ndarray) -> np.ndarray:
        return f[:, 0] if reps is not None else f

    new = weights * np.take(main(res.factors), cells.cell)
    step = RakingStep(cells.cell, cells.codes, weights, tuple(main(s) for s in res.sweep))
    if reps is None:
        return (new,), step, res
    new_reps = np.take(res.factors[:, 1:], cells.cell, axis=0)
    new_reps *= reps
    return (new, new_reps), step, res


def _check_replicates(ms: MarginSet, cells: Cells, W: np.ndarray) -> None:
    """Every replicate needs weight in every level with a positive target."""
    for m, codes in enumerate(cells.codes):
        tot = totals(codes, W, cells.targets[m].size)
        with np.errstate(invalid="ignore"):
            bad = (cells.targets[m] > 0)[:, None] & (tot <= 0)
        if bad.any():
            k, r = (int(i[0]) for i in np.nonzero(bad))
            g, lv = divmod(k, max(ms.variables[m].size, 1))
            raise WeightingError(
                f"replicate {r + 1} has no weight in {ms.where(m, g, lv)} (all its respondents "
                "are in the replicate's dropped units), so it cannot be raked to the target; "
                "collapse that level with a neighbour"
            )


_SWEEPS_PER_ROUND = 50
"""With caps, the held rows are revised after at most this many sweeps."""
_RELEASE_ROUNDS = 20
"""Rounds in which held weights may be released again; after them the held set only grows,
so the rounds end."""


class _NotFound(WeightingError):
    """Trimming and re-raking found no weights within the bounds (some may still exist)."""


@dataclass(frozen=True, eq=False)
class _Bounds:
    """Per-row upper and lower bounds on the weights (cap, floor x the group mean)."""

    upper: np.ndarray | float
    lower: np.ndarray | float
    cap: float | None
    floor: float | None


def _bounds(ms: MarginSet, cap: float | None, floor: float | None) -> _Bounds:
    n_g = np.bincount(ms.group, minlength=ms.n_groups)
    mean = (ms.totals / np.maximum(n_g, 1))[ms.group]
    return _Bounds(
        np.inf if cap is None else cap * mean, 0.0 if floor is None else floor * mean, cap, floor
    )


def _capped(
    weights: np.ndarray, ms: MarginSet, cells: Cells, max_iter: int, tol: float, bounds: _Bounds
) -> tuple[tuple[np.ndarray, ...], RakingStep, IpfResult, np.ndarray]:
    """Trim and re-rake on the cell table; if that finds nothing, solve the bounded raking
    problem exactly on its dual (``weighting.bounded``), which fails only when no weights
    within the bounds meet the margins."""
    try:
        return _rake_capped(weights, ms, cells, max_iter, tol, bounds)
    except _NotFound:
        new, failed, iterations = bounded_rake(
            weights, ms, bounds.upper, bounds.lower, tol, max(max_iter, 200)
        )
        if new is None:
            assert failed is not None
            where = "" if ms.by is None else f" in group {ms.by}={ms.group_labels[failed]!r}"
            raise WeightingError(
                f"{_bounds_text(bounds.cap, bounds.floor)} cannot be met: no weights within "
                f"the bounds meet every margin{where}; loosen the bounds or collapse levels"
            ) from None
    positive = weights > 0
    held = np.zeros(weights.size, dtype=np.int8)
    held[positive & (new >= bounds.upper * (1 - 1e-12))] = 1
    held[positive & (new <= bounds.lower * (1 + 1e-12))] = 2
    cell_w = np.bincount(cells.cell, new, minlength=cells.n_cells)
    errors = tuple(
        np.where(np.isnan(t), 0.0, np.abs(np.bincount(c, cell_w, minlength=t.size) - t) / sc)
        for c, t, sc in zip(cells.codes, cells.targets, cells.scale, strict=True)
    )
    f = np.ones(cells.n_cells)
    res = IpfResult(f, (f,) * len(cells.codes), iterations, errors, True)
    step = RakingStep(cells.cell, cells.codes, new, (np.ones(cells.n_cells),) * len(cells.codes))
    return (new,), step, res, held


def _rake_replicates_capped(
    reps: np.ndarray, ms: MarginSet, cells: Cells, max_iter: int, tol: float, bounds: _Bounds
) -> np.ndarray:
    """Every replicate raked to the same targets within the same bounds (rows a replicate
    drops, with weight 0, stay at 0)."""
    reps = np.asarray(reps, dtype=np.float64)
    out = np.empty_like(reps)
    for r in range(reps.shape[1]):
        try:
            out[:, r] = _capped(reps[:, r], ms, cells, max_iter, tol, bounds)[0][0]
        except WeightingError as e:
            raise WeightingError(f"replicate {r + 1}: {e}") from None
    return out


def _rake_capped(
    weights: np.ndarray,
    ms: MarginSet,
    cells: Cells,
    max_iter: int,
    tol: float,
    bounds: _Bounds,
) -> tuple[tuple[np.ndarray, ...], RakingStep, IpfResult, np.ndarray]:
    """Rake with weights held at ``cap``/``floor`` x the group mean.

    The fixed point sought is ``w_i = clip(b_i f_c, lower, upper)`` with cell factors
    ``f`` that make the margins hold. Each round rakes the free rows (the held ones enter
    the margins as fixed offsets), then holds every row whose raked weight falls outside
    the bounds and frees every held row whose weight would fall inside them. Rows with a
    base weight of 0 are never held.
    """
    C = cells.n_cells
    upper, lower, cap, floor = bounds.upper, bounds.lower, bounds.cap, bounds.floor
    positive = weights > 0
    _check_reachable(ms, cells, positive, upper, lower, cap, floor)
    status = np.zeros(weights.size, dtype=np.int8)  # 0 free, 1 at cap, 2 at floor
    sweeps = 0
    start = None
    for round_ in range(max_iter):
        releasing = round_ < _RELEASE_ROUNDS
        held = np.where(status == 1, upper, np.where(status == 2, lower, 0.0))
        free = status == 0
        W = np.bincount(cells.cell, np.where(free, weights, 0.0), minlength=C)
        offset = np.bincount(cells.cell, held, minlength=C)
        stuck = _stuck_levels(cells, W, offset)
        if stuck is not None and releasing:
            status[np.isin(cells.codes[stuck[0]][cells.cell], stuck[1])] = 0
            continue
        if stuck is not None:
            _raise_stuck(ms, cells, stuck, offset, status, cap, floor)
        res = ipf(
            W,
            cells.codes,
            cells.targets,
            cells.scale,
            tol=tol,
            max_iter=min(max_iter, _SWEEPS_PER_ROUND),
            offset=offset,
            start=start,
        )
        start = res.factors
        sweeps += res.iterations
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging round: inf factors
            cand = weights * np.take(res.factors, cells.cell, axis=0)
            want = np.where(cand > upper, 1, np.where(cand < lower, 2, 0)).astype(np.int8)
        want[~positive] = 0
        if not releasing:
            want = np.where(free, want, status)
        if np.array_equal(want, status):
            if res.converged:
                break
            continue  # same rows held: keep raking from where this round stopped
        status = want
    else:
        if not res.converged:
            raise _NotFound(_not_converged(ms, cells, res, sweeps, _bounds_text(cap, floor)))
        raise _NotFound(
            f"{_bounds_text(cap, floor)} did not settle in {max_iter} rounds of trimming "
            "and re-raking; raise max_iter or loosen the bounds"
        )
    new = np.where(free, cand, held)
    step = RakingStep(cells.cell, cells.codes, np.where(free, weights, 0.0), res.sweep, held)
    res = IpfResult(res.factors, res.sweep, sweeps, res.errors, res.converged, res.trace)
    return (new,), step, res, status


def _check_reachable(
    ms: MarginSet,
    cells: Cells,
    positive: np.ndarray,
    upper: np.ndarray | float,
    lower: np.ndarray | float,
    cap: float | None,
    floor: float | None,
) -> None:
    """A level whose respondents, all at the cap (floor), fall short of (exceed) its target."""
    C = cells.n_cells
    shape = cells.cell.shape
    hi = np.bincount(cells.cell, np.where(positive, upper, 0.0), minlength=C)
    lo = np.bincount(
        cells.cell, np.where(positive, np.broadcast_to(lower, shape), 0.0), minlength=C
    )
    count = np.bincount(cells.cell, positive.astype(np.float64), minlength=C)
    for m, codes in enumerate(cells.codes):
        K = cells.targets[m].size
        t = cells.targets[m]
        most = np.bincount(codes, hi, minlength=K)
        least = np.bincount(codes, lo, minlength=K)
        n = np.bincount(codes, count, minlength=K)
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(t) & ((most < t) | (least > t))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            g, lv = divmod(k, max(ms.variables[m].size, 1))
            side = (
                f"at most the cap they reach {most[k]:,.6g}"
                if most[k] < t[k]
                else f"at least the floor they reach {least[k]:,.6g}"
            )
            raise WeightingError(
                f"{_bounds_text(cap, floor)} cannot be met: {ms.where(m, g, lv)} has "
                f"{int(n[k])} respondents, and {side} against a target of {t[k]:,.6g}; "
                "loosen the bounds or collapse levels"
            )


def _stuck_levels(
    cells: Cells, free_w: np.ndarray, offset: np.ndarray
) -> tuple[int, np.ndarray] | None:
    """The first margin with levels whose held weights miss the target and nothing is free."""
    for m, codes in enumerate(cells.codes):
        K = cells.targets[m].size
        t = cells.targets[m]
        held = np.bincount(codes, offset, minlength=K)
        movable = np.bincount(codes, free_w, minlength=K)
        with np.errstate(invalid="ignore"):
            gap = t - held
            bad = ~np.isnan(t) & (
                (gap < -1e-12 * cells.scale[m]) | ((movable <= 0) & (np.abs(gap) > 1e-12 * t))
            )
        if bad.any():
            return m, np.flatnonzero(bad)
    return None


def _raise_stuck(
    ms: MarginSet,
    cells: Cells,
    stuck: tuple[int, np.ndarray],
    offset: np.ndarray,
    status: np.ndarray,
    cap: float | None,
    floor: float | None,
) -> None:
    m, levels = stuck
    k = int(levels[0])
    g, lv = divmod(k, max(ms.variables[m].size, 1))
    held = float(np.bincount(cells.codes[m], offset, minlength=cells.targets[m].size)[k])
    raise _NotFound(
        f"{_bounds_text(cap, floor)} cannot be met: after holding {int((status == 1).sum())} "
        f"weights at the cap and {int((status == 2).sum())} at the floor, "
        f"{ms.where(m, g, lv)} has held weight {held:,.6g} against a target of "
        f"{cells.targets[m][k]:,.6g} and nothing left to adjust; loosen the bounds or "
        "collapse levels"
    )


def _bounds_text(cap: float | None, floor: float | None) -> str:
    parts = ([] if cap is None else [f"cap={cap:g}"]) + (
        [] if floor is None else [f"floor={floor:g}"]
    )
    return "raking with " + " and ".join(parts) + " x the mean weight"


def _table(
    ms: MarginSet, cells: Cells, count: np.ndarray, wb: np.ndarray, wa: np.ndarray
) -> pl.DataFrame:
    """The before/after margin table, from cell counts and weight sums before and after."""
    parts = []
    for m, var in enumerate(ms.variables):
        K = cells.targets[m].size
        shape = (ms.n_groups, max(var.size, 1))
        parts.append(
            margin_table(
                ms.by,
                ms.group_labels,
                var.name,
                var.levels,
                np.bincount(cells.codes[m], count, minlength=K).reshape(shape).astype(np.int64),
                np.bincount(cells.codes[m], wb, minlength=K).reshape(shape),
                np.bincount(cells.codes[m], wa, minlength=K).reshape(shape),
                ms.targets[m],
            )
        )
    return pl.concat(parts, how="vertical")
