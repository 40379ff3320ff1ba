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


__all__ = ["WrittenWeights", "rake_variables", "weight_cells"]
