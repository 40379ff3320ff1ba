"""Raking and post-stratification of a DuckDB table, on its cell table.

With categorical margins every respondent of a cell (a combination of the weighting
variables, and the group with ``by=``) gets the same factor, so the weighting runs on the
cell table — one GROUP BY with each cell's summed weight — by the in-memory code itself
(``core.weighting``: the cells are the rows of a small in-memory design whose weights are
the cell sums). The factors go back to DuckDB and the weights ``w * f(cell)`` are written,
keyed by respondent id, to a new Parquet file or table the user names. The user's table
is never modified, and no array of all respondents' weights is formed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from barometer.core.backends.duck import SRC, Source, ident, literal, value_literal
from barometer.core.backends.duck_calibrated import CellRecord
from barometer.core.backends.duck_structure import weight_sql
from barometer.core.weighting.margins import from_table
from barometer.errors import BarometerError, WeightingError

if TYPE_CHECKING:
    from barometer.core.backends.duck_design import DuckDBDesign
    from barometer.core.weighting.diagnostics import WeightSummary


@dataclass(frozen=True, eq=False)
class WrittenWeights:
    """Weights written beside the data: ``target`` (a Parquet file or a table) holds one
    row per respondent, ``id`` and ``weight`` (``w * factor`` of the respondent's cell).

    ``cells`` is the cell table: the weighting variables, ``n`` respondents, the weight
    ``before`` and ``after`` and the ``factor``. ``design`` is the calibrated design: the
    data joined to the written weights by ``id`` (a view; nothing is copied), whose
    variances are the calibrated ones (R ``svyrecvar`` after ``rake``, ``postStratify``
    or ``calibrate``), computed from sums by cell (``backends.duck_calibrated``).
    """

    target: str
    id: str
    weight: str
    method: str
    cells: pl.DataFrame
    iterations: int | None
    max_error: float | None
    design: DuckDBDesign | None = None
    #: the column raked within (``rake(by=)``)
    group: str | None = None


def rake_variables(margins: Mapping[Any, Any], by: str | None) -> list[str]:
    """The raking variables of ``margins`` (nested by group with ``by``), in first-seen order."""
    nested = from_table(margins, by)
    if not isinstance(nested, Mapping):
        raise WeightingError("margins must be a mapping {variable: {level: target}} or a table")
    groups = list(nested.values()) if by is not None else [nested]
    names: list[str] = []
    for group in groups:
        if not isinstance(group, Mapping):
            raise WeightingError(f"with by={by!r}, margins map each group to its variables")
        names += [str(v) for v in group if str(v) not in names]
    return names


def weight_cells(
    src: Source,
    weights: str | None,
    variables: Sequence[str],
    method: str,
    run: Callable[[Any], Any],
    id: str,
    to: str | Path,
    name: str,
) -> tuple[WrittenWeights, CellRecord]:
    """The cell table of ``variables``, weighted by ``run`` (the in-memory method on a
    design over the cells), and the weights written to ``to`` keyed by ``id``; with the
    steps of the weighting on the cells, for the calibrated variances."""
    from barometer.core.design import Design

    src.check([*variables, id], "weighting", WeightingError)
    target = _check_target(src, to, id, name)
    cols = ", ".join(ident(v) for v in variables)
    w = weight_sql(weights)
    cells = src.sql(
        f"SELECT {cols}, fsum({w}) AS _w, count(*) AS _n FROM {SRC} GROUP BY ALL ORDER BY {cols}"
    )
    done = run(Design(cells, weights="_w"))
    factor = np.asarray(done.weights) / cells.get_column("_w").to_numpy()
    table = cells.select(*variables, n=pl.col("_n"), before=pl.col("_w")).with_columns(
        after=pl.Series(np.asarray(done.weights)), factor=pl.Series(factor)
    )
    rows = ", ".join(
        "(" + ", ".join([*(value_literal(v) for v in rec[: len(variables)]), literal(f)]) + ")"
        for rec, f in zip(cells.iter_rows(), factor, strict=True)
    )
    alias = ", ".join([*(ident(v) for v in variables), "_f"])
    query = (
        f"SELECT {ident(id)}, {w} * _f AS {ident(name)} FROM {SRC} "
        f"JOIN (VALUES {rows}) AS _g({alias}) USING ({cols})"
    )
    try:
        src.write(query, target)
    except BarometerError as exc:
        raise WeightingError(f"the weights cannot be written to {target!r}: {exc}") from None
    info = done.weighting
    written = WrittenWeights(
        target,
        id,
        name,
        method,
        table,
        getattr(info, "iterations", None),
        getattr(info, "max_error", None),
    )
    record = CellRecord(tuple(variables), cells.select(variables), done.calibration, weights, run)
    return written, record


def weight_summary(
    src: Source, weights: str | None, info: WrittenWeights | None, before: str | None
) -> WeightSummary:
    """``Design.weight_summary`` of a DuckDB design from one GROUP BY (and one overall
    query): over the positive weights, per group of the raking's ``by`` (and overall),
    their count, sum, sum of squares, min and max, and of the weights before it (Kish's
    design effect and effective n by ``diagnostics.weight_stats``, as in memory). A
    DuckDB weighting bounds no rows (nothing capped or floored); ``margins`` is empty
    (the margins' respondent counts would need the rows; the cells hold the totals).
    ``before`` is the weights column the weighting started from (None: not weighted)."""
    from barometer.core.weighting.diagnostics import WeightSummary, weight_stats

    w = weight_sql(weights)
    b = weight_sql(before) if info is not None else w
    sums = [
        f"count(*) FILTER (WHERE {w} > 0) AS n",
        f"fsum({w}) FILTER (WHERE {w} > 0) AS total",
        f"fsum({w} * {w}) FILTER (WHERE {w} > 0) AS sq",
        f"min({w}) FILTER (WHERE {w} > 0) AS lo",
        f"max({w}) FILTER (WHERE {w} > 0) AS hi",
        f"count(*) FILTER (WHERE {b} > 0) AS nb",
        f"fsum({b}) FILTER (WHERE {b} > 0) AS tb",
        f"fsum({b} * {b}) FILTER (WHERE {b} > 0) AS sb",
    ]

    def stats(group: str | None) -> list[Any]:
        key = f"CAST({ident(group)} AS VARCHAR) AS _g, " if group is not None else ""
        tail = f" GROUP BY {ident(group)} ORDER BY {ident(group)}" if group is not None else ""
        found = src.sql(f"SELECT {key}{', '.join(sums)} FROM {SRC}{tail}")
        labels = found.get_column("_g").to_list() if group is not None else [None]
        col = {c: found.get_column(c).cast(pl.Float64).fill_null(0.0).to_numpy() for c in
               ("n", "total", "sq", "lo", "hi", "nb", "tb", "sb")}  # fmt: skip
        zeros = np.zeros(found.height)
        return weight_stats(
            labels,
            (col["n"], col["total"], col["sq"], col["lo"], col["hi"]),
            (col["nb"], col["tb"], col["sb"]),
            zeros,
            zeros,
        )

    group = info.group if info is not None else None
    (overall,) = stats(None)
    return WeightSummary(
        overall=overall,
        groups=tuple(stats(group)) if group is not None else (),
        method=info.method if info is not None else None,
        iterations=info.iterations if info is not None else None,
        max_margin_error=info.max_error if info is not None else None,
        margins=pl.DataFrame(),
    )


def _check_target(src: Source, to: str | Path, id: str, name: str) -> str:
    """Where the weights go: a new Parquet file (never over an existing file) or, for a
    relation, a new table in its database. The id must identify the respondents."""
    target = str(to)
    if target.endswith(".parquet"):
        if Path(target).exists():
            raise WeightingError(
                f"{target!r} exists; the weights go to a new file (the data are never overwritten)"
            )
    elif not src.writes_tables:
        raise WeightingError(f"to={target!r}: weights of Parquet files go to a new *.parquet file")
    if name == id:
        raise WeightingError(f"the weight column cannot be named like the id column {id!r}")
    found = src.sql(
        f"SELECT count({ident(id)}) - count(DISTINCT {ident(id)}), count(*) FILTER (WHERE "
        f"{ident(id)} IS NULL) FROM {SRC}"
    ).row(0)
    if found[0] or found[1]:
        raise WeightingError(
            f"id column {id!r} must identify every respondent: {found[1]} rows have no id "
            f"and {found[0]} repeat one"
        )
    return target


__all__ = ["WrittenWeights", "rake_variables", "weight_cells", "weight_summary"]
