"""Model formulas: the design's table to a response vector and a model matrix (formulaic).

Wilkinson formulas as formulaic reads them (``"y ~ age + C(country) + age:gender"``,
``I(...)`` for arithmetic and comparisons, backticks for names that are not Python
identifiers: ``` `sch.wide` ```). As R's ``model.frame``, a row missing any variable the
formula names drops out of the model; the caller treats the dropped rows as outside the
model's domain (R ``svyglm``'s ``na.action``). Categorical columns take treatment contrasts
against their first level in sorted order, as R's factors do.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from formulaic import Formula, ModelSpec

from barometer.errors import (
    BarometerError,
    ColumnNotFoundError,
    EstimationError,
    column_not_found,
    did_you_mean,
)

_NAME = re.compile(r"`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*)")
#: names a formula may use that are not columns (formulaic's transforms, NumPy)
_KNOWN = frozenset(
    {"C", "I", "np", "log", "exp", "sqrt", "center", "scale", "poly", "bs", "lag", "abs"}
    | {"Treatment", "Sum", "Helmert", "Diff", "True", "False", "None", "contr"}
)


@dataclass(frozen=True, eq=False)
class ModelFrame:
    """A formula applied to a table: what a fit and its predictions need.

    ``rows`` are the positions (in the design's table) of the rows used; ``columns`` the
    model matrix's column names, ``term_of[j]`` the formula term column ``j`` belongs to;
    ``spec`` formulaic's model spec, which re-applies the same coding to new data.
    """

    formula: str
    response: str
    y: np.ndarray
    x: np.ndarray
    columns: tuple[str, ...]
    term_of: tuple[str, ...]
    rows: np.ndarray
    spec: ModelSpec
    variables: tuple[str, ...]
    intercept: bool


def formula_variables(formula: str, columns: list[str]) -> list[str]:
    """The table's columns the formula names (bare identifiers or backticked names)."""
    found: list[str] = []
    for quoted, bare in _NAME.findall(formula):
        name = quoted or bare
        if name in columns and name not in found:
            found.append(name)
    return found


def _unknown_names(formula: str, columns: list[str]) -> list[str]:
    """Names in the formula that are neither columns nor functions it may call."""
    out = []
    for quoted, bare in _NAME.findall(formula.replace("'", " ' ").replace('"', ' " ')):
        name = quoted or bare
        if name in columns or name in _KNOWN or keyword.iskeyword(name) or bare.isdigit():
            continue
        out.append(name)
    return out


def _strip_strings(formula: str) -> str:
    """The formula without its string literals (``I(q == 'ally')``): names inside quotes
    are values, not columns."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", formula)


def missing_rows(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """Rows where any of ``names`` is null (or NaN), as R's ``complete.cases`` sees them."""
    miss = np.zeros(frame.height, dtype=bool)
    for name in names:
        col = frame.get_column(name)
        miss |= col.is_null().to_numpy()
        if col.dtype.is_float():
            miss |= col.is_nan().fill_null(False).to_numpy()
    return miss


def _column(col: pl.Series) -> object:
    """A column as formulaic reads it fast: text and categorical columns as a pandas
    ``Categorical`` of integer codes over the sorted levels (the levels, and so the
    treatment contrasts, of R's ``factor``), instead of an array of Python strings."""
    if col.dtype in (pl.String, pl.Categorical) or isinstance(col.dtype, pl.Enum):
        text = col.cast(pl.String)
        levels = text.drop_nulls().unique().sort()
        codes = text.cast(pl.Enum(levels.to_list())).to_physical().fill_null(-1)
        return pd.Categorical.from_codes(codes.to_numpy(), categories=levels.to_list())
    return col.to_numpy()


def _dense(table: pd.DataFrame) -> np.ndarray:
    """A model matrix as a column-major float array, copied column by column (pandas'
    own conversion interleaves its mixed integer/float blocks row by row, ~20x slower)."""
    out = np.empty(table.shape, dtype=float, order="F")
    for j, (_, col) in enumerate(table.items()):
        out[:, j] = col.to_numpy()
    return out


def _pandas(frame: pl.DataFrame, names: list[str], rows: np.ndarray) -> pd.DataFrame:
    sub = frame.select(names)[rows]
    return pd.DataFrame(
        {n: _column(sub.get_column(n)) for n in names}, index=pd.RangeIndex(rows.size)
    )


def _missing_column(formula: str, name: str, columns: list[str]) -> ColumnNotFoundError:
    """A ``ColumnNotFoundError`` (as an ``EstimationError``) for a formula's unknown name."""
    return column_not_found(EstimationError)(
        f"formula {formula!r}: column {name!r} is not in the data{did_you_mean(name, columns)}",
        name,
        difflib.get_close_matches(name, columns, n=3, cutoff=0.6),
    )


def _formula_error(formula: str, columns: list[str], exc: Exception) -> BarometerError:
    unknown = _unknown_names(_strip_strings(formula), columns)
    if unknown:
        return _missing_column(formula, unknown[0], columns)
    return EstimationError(f"formula {formula!r} cannot be read: {exc}")


def build(
    frame: pl.DataFrame,
    formula: str,
    keep: np.ndarray,
    extra: list[str] | None = None,
) -> ModelFrame:
    """The model frame of ``formula`` on the rows ``keep`` (bool) of ``frame`` that have
    every variable (and every ``extra`` column, e.g. an offset) observed."""
    columns = frame.columns
    text = _strip_strings(formula)
    if "~" not in formula:
        raise EstimationError(f"formula {formula!r} has no response: write 'y ~ x1 + x2'")
    unknown = _unknown_names(text, columns)
    if unknown:
        raise _missing_column(formula, unknown[0], columns)
    names = formula_variables(text, columns)
    extra = [e for e in (extra or []) if e not in names]
    rows = np.flatnonzero(keep & ~missing_rows(frame, names + extra))
    if rows.size == 0:
        raise EstimationError(f"formula {formula!r}: no row has every variable observed")
    data = _pandas(frame, names, rows)
    try:
        parsed = Formula(formula)
        mm = parsed.get_model_matrix(data, na_action="ignore")
    except Exception as exc:  # formulaic raises many kinds; one clear error here
        raise _formula_error(formula, columns, exc) from exc
    lhs, rhs = mm.lhs, mm.rhs
    if lhs.shape[1] != 1:
        raise EstimationError(
            f"formula {formula!r}: the response must be one numeric column or a comparison "
            f"such as I(q == 'yes'), not {list(lhs.columns)}"
        )
    y = np.asarray(lhs.iloc[:, 0], dtype=float)
    x = _dense(rhs)
    bad = ~(np.isfinite(y) & np.isfinite(x).all(axis=1))
    if bad.any():
        # an expression gave a non-finite value (log(0), 1/0): R drops such rows only when
        # they are NA; barometer refuses rather than guess
        first = int(rows[np.flatnonzero(bad)[0]])
        raise EstimationError(
            f"formula {formula!r} gives a non-finite value in row {first} "
            f"({int(bad.sum())} rows); transform the variables so that every value is finite"
        )
    spec = rhs.model_spec
    term_of: list[str] = [""] * x.shape[1]
    for term, sl in spec.term_slices.items():
        for j in range(sl.start, sl.stop):
            term_of[j] = str(term)
    return ModelFrame(
        formula=formula,
        response=str(lhs.columns[0]),
        y=y,
        x=x,
        columns=tuple(str(c) for c in rhs.columns),
        term_of=tuple(term_of),
        rows=rows,
        spec=spec,
        variables=tuple(names),
        intercept="1" in term_of,
    )


def new_matrix(model: ModelFrame, data: pl.DataFrame) -> np.ndarray:
    """The model matrix of new rows under the fitted coding (R ``model.frame(xlev=)``)."""
    rhs = _strip_strings(model.formula.split("~", 1)[1])
    needed = [n for n in model.variables if n in formula_variables(rhs, list(model.variables))]
    absent = [n for n in needed if n not in data.columns]
    if absent:
        raise EstimationError(
            f"new data lack column {absent[0]!r} of the model "
            f"{model.formula!r}{did_you_mean(absent[0], data.columns)}"
        )
    rhs_names = needed
    miss = missing_rows(data, rhs_names)
    if miss.any():
        raise EstimationError(
            f"new data have missing values in a model variable in rows "
            f"{', '.join(str(int(i)) for i in np.flatnonzero(miss)[:5])}"
        )
    pdf = _pandas(data, rhs_names, np.arange(data.height))
    try:
        mm = model.spec.get_model_matrix(pdf, na_action="ignore")
    except Exception as exc:
        raise EstimationError(
            f"new data do not fit the model {model.formula!r}: {exc} "
            "(a level the model has not seen?)"
        ) from exc
    return np.asarray(mm, dtype=float)


def canonical(term: str) -> str:
    """A term label with its interaction parts sorted (R ``regTermTest``'s canonicalOrder)."""
    return ":".join(sorted(p.strip() for p in term.split(":")))


__all__ = ["ModelFrame", "build", "canonical", "formula_variables", "missing_rows", "new_matrix"]
