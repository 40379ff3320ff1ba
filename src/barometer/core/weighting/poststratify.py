"""Post-stratification of a design's weights to a table of population cell totals."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import polars as pl

from barometer.core._protocols import SurveyDesign, Targets
from barometer.core.variance.steps import PostStratStep
from barometer.core.weighting._codes import Column, combine, encode_column, split
from barometer.core.weighting.ipf import totals
from barometer.core.weighting.margins import SHARE_TOL, check_target, is_table, keyed_rows, lookup
from barometer.core.weighting.spec import PostStratSpec, WeightingInfo, freeze, margin_table
from barometer.errors import WeightingError, warn

D = TypeVar("D", bound=SurveyDesign)


def _table_items(variables: list[str], table: Any) -> list[tuple[tuple[object, ...], object]]:
    """The population table as (cell key, target) pairs."""
    k = len(variables)
    if isinstance(table, Mapping):
        items = []
        for key, value in table.items():
            key_t = key if isinstance(key, tuple) else (key,)
            if len(key_t) != k:
                raise WeightingError(
                    f"population cell {key!r} does not give one level for each of {variables}"
                    + ("; key cells by tuples of levels" if k > 1 else "")
                )
            items.append((key_t, value))
        return items
    if is_table(table):
        rows = keyed_rows(table, variables, "a population table")
        return [(tuple(r[:-1]), r[-1]) for r in rows]
    raise WeightingError(
        "table must be a mapping {level: total} ({(level, level, ...): total} for several "
        "variables) or a data frame of the variables and a total column, not "
        f"{type(table).__name__}"
    )


def poststratify(
    design: D,
    variables: str | Sequence[str],
    table: Targets,
    *,
    partial: bool = False,
) -> D:
    """Post-stratify the design's weights to population cell totals (R ``postStratify``).

    Within each cell ``c`` of ``variables``, ``w_new = w * N_c / sum_c(w)``.

    Parameters
    ----------
    design : Design or ReplicateDesign
    variables : str or list of str
        The post-stratification variables; their combinations are the cells. No missing
        values are allowed (R's ``na.fail``).
    table : mapping or data frame
        ``{level: total}`` for one variable, ``{(level_1, level_2, ...): total}`` for
        several, or a data frame (or list of records) with the variables and one column
        of totals (R's ``population`` data frame with ``Freq``). Totals summing to 1 are
        shares, scaled to the design's weighted total.
    partial : bool
        Ignore population cells with no respondents (with a warning), as R's
        ``partial=TRUE``; by default they are an error.

    Returns
    -------
    Design
        A new design; its variances account for the post-stratification (the
        ``PostStratStep`` record, as R's ``design$postStrata``). A replicate design has every
        replicate post-stratified to the same totals (R ``postStratify.svyrep.design``).

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"sex": ["f", "m", "m", "m"]})
    >>> [float(w) for w in bm.Design(df).poststratify("sex", {"f": 50, "m": 60}).weights]
    [50.0, 20.0, 20.0, 20.0]
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    if not names:
        raise WeightingError("poststratify needs at least one variable")
    spec = PostStratSpec(tuple(names), freeze(table), partial)
    weights = np.asarray(design.weights, dtype=np.float64)
    cols = [encode_column(design.data, v, "post-stratification variable") for v in names]
    for col in cols:
        if (col.codes < 0).any():
            rows = np.flatnonzero(col.codes < 0)
            raise WeightingError(
                f"post-stratification variable {col.name!r} has missing values in "
                f"{rows.size} rows (first: row {rows[0]}); impute them or give them a cell"
            )
    cell, present = combine(cols)
    C = present.size
    pop = _population(cols, present, _table_items(names, table), partial)
    W = np.bincount(cell, weights, minlength=C)
    if pop.sum() > 0 and abs(pop.sum() - 1.0) <= SHARE_TOL:
        pop = pop * W.sum()
    empty = (W <= 0) & (pop > 0)
    if empty.any():
        raise WeightingError(
            f"cell {_label(cols, present, int(np.flatnonzero(empty)[0]))} has respondents "
            "but their weights sum to zero; no factor can reach its total"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(W > 0, pop / W, 0.0)
    new = weights * ratio[cell]
    step = PostStratStep(cells=cell, old_weights=weights, new_weights=new)
    info = WeightingInfo(
        method="poststratify",
        spec=spec,
        by=None,
        iterations=1,
        max_error=0.0,
        n_capped=0,
        n_floored=0,
        build_margins=functools.partial(_margins, cols, present, cell, W, pop),
        before=weights,
    )
    reps = design.replicate_weights
    if reps is None:
        return design.with_weights(new, step, info)
    reps = np.asarray(reps, dtype=np.float64)
    Wr = totals(cell, reps, C)
    empty = (Wr <= 0) & (pop[:, None] > 0)
    if empty.any():
        c, r = (int(i[0]) for i in np.nonzero(empty))
        raise WeightingError(
            f"replicate {r + 1} has no weight in cell {_label(cols, present, c)} (all its "
            "respondents are in the replicate's dropped units), so it cannot be "
            "post-stratified; collapse that cell with a neighbour"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        rratio = np.where(Wr > 0, pop[:, None] / Wr, 0.0)
    return design.with_weights(new, step, info, replicate_weights=reps * rratio[cell])


def _label(cols: Sequence[Column], present: np.ndarray, c: int) -> str:
    parts = split(present[c : c + 1], [col.size for col in cols])
    return ", ".join(
        f"{col.name}={col.levels[int(p[0])]!r}" for col, p in zip(cols, parts, strict=True)
    )


def _population(
    cols: Sequence[Column],
    present: np.ndarray,
    items: list[tuple[tuple[object, ...], object]],
    partial: bool,
) -> np.ndarray:
    """Population totals aligned with the sample cells ``present``."""
    names = [c.name for c in cols]
    pop = np.full(present.size, np.nan)
    idx = [lookup([k[j] for k, _ in items], col.levels) for j, col in enumerate(cols)]
    absent: list[tuple[object, ...]] = []
    for i, (key, value) in enumerate(items):
        where = ", ".join(f"{n}={v!r}" for n, v in zip(names, key, strict=True))
        x = check_target(value, "/".join(names), key if len(key) > 1 else key[0], None, None)
        code = 0
        found = True
        for j, col in enumerate(cols):
            level = idx[j][i]
            if level is None:
                found = False
                break
            code = code * max(col.size, 1) + level
        pos = int(np.searchsorted(present, code)) if found else present.size
        if pos >= present.size or present[pos] != code:
            if x > 0:
                absent.append(key)
                if not partial:
                    raise WeightingError(
                        f"population cell {where} has no respondents; merge it with a "
                        "neighbouring cell, or pass partial=True to ignore it (as R does)"
                    )
            continue
        if not np.isnan(pop[pos]):
            raise WeightingError(f"population cell {where} is given twice")
        pop[pos] = x
    if absent:
        warn(
            f"{len(absent)} population cells have no respondents and were ignored "
            f"(first: {absent[0]!r})"
        )
    bad = np.isnan(pop) | (pop <= 0)
    if bad.any():
        c = int(np.flatnonzero(bad)[0])
        what = "no population total" if np.isnan(pop[c]) else "a population total of 0"
        raise WeightingError(
            f"sample cell {_label(cols, present, c)} has respondents but {what}; add it "
            "to the table or recode those respondents"
        )
    return pop


def _margins(
    cols: Sequence[Column], present: np.ndarray, cell: np.ndarray, W: np.ndarray, pop: np.ndarray
) -> pl.DataFrame:
    count = np.bincount(cell, minlength=present.size)
    parts = split(present, [col.size for col in cols])
    labels = [
        ":".join(str(col.levels[int(p[c])]) for col, p in zip(cols, parts, strict=True))
        for c in range(present.size)
    ]
    return margin_table(
        None,
        [None],
        " x ".join(c.name for c in cols),
        labels,
        count[None, :],
        W[None, :],
        pop[None, :],
        pop[None, :],
    )
