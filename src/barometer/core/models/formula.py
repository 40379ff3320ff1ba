"""Model formulas: the design's table to a response vector and a model matrix (formulaic).

Wilkinson formulas as formulaic reads them (``"y ~ age + C(country) + age:gender"``,
``I(...)`` for arithmetic and comparisons, backticks for names that are not Python
identifiers: ``` `sch.wide` ```). As R's ``model.frame``, a row missing any variable the
formula names drops out of the model; the caller treats the dropped rows as outside the
model's domain (R ``svyglm``'s ``na.action``). Categorical columns take treatment contrasts
against their first level, as R's factors do: the first in sorted order for text, the first
declared for an ``Enum`` (a question's answer order), among the levels the model's rows have
(R's ``drop.unused.levels``).

formulaic parses every formula and codes every term. When each factor of the right-hand side
is a column named bare or in ``C(name)``, the model matrix is not materialised through
pandas: formulaic codes a small prototype (one row per combination of each term's levels),
and the matrix is assembled from the columns' integer codes (``Block``), which also gives
the fit its cells (``irls.Cells``) and the variance its PSU sums without an n x p matrix.
Any other factor (``I(...)``, transforms, contrasts) goes through formulaic on the data.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
from formulaic import Formula, ModelSpec

from barometer.core._frame import dense_codes, encode_series
from barometer.core.formulas import formula_variables, strip_strings, unknown_names
from barometer.core.models.irls import Cells
from barometer.errors import (
    BarometerError,
    ColumnNotFoundError,
    EstimationError,
    column_not_found,
    did_you_mean,
)

#: a factor ``C(name)`` or ``C(`odd name`)`` with no contrast argument
_C_OF = re.compile(r"^C\(\s*(?:`([^`]+)`|([A-Za-z_][A-Za-z0-9_.]*))\s*\)$")
#: prototype rows beyond which the term-by-term coding does not pay
_MAX_PROTOTYPE = 100_000


@dataclass(frozen=True, eq=False)
class Block:
    """One term's columns of the model matrix from codes: rows ``i`` take row ``combo[i]``
    of ``table`` (the term's coding of each combination of its categorical factors' levels;
    one row when it has none), times ``numeric[i]`` (the product of its numeric factors;
    None when it has none). ``columns`` is the term's slice of the model matrix."""

    columns: slice
    table: np.ndarray
    combo: np.ndarray | None
    numeric: np.ndarray | None
    categorical: tuple[str, ...]

    def values(self) -> np.ndarray:
        """The term's columns (rows x columns)."""
        out: np.ndarray = self.table[self.combo] if self.combo is not None else self.table[[0]]
        if self.numeric is not None:
            scaled: np.ndarray = out * self.numeric[:, None]
            return scaled
        return out


@dataclass(frozen=True, eq=False)
class ModelFrame:
    """A formula applied to a table: what a fit and its predictions need.

    ``rows`` are the positions (in the design's table) of the rows used; ``columns`` the
    model matrix's column names, ``term_of[j]`` the formula term column ``j`` belongs to;
    ``spec`` formulaic's model spec, which re-applies the same coding to new data. The model
    matrix ``x`` (column-major) is assembled on first use when the frame was coded by
    ``blocks``, whose ``cells`` then split it for the fit.
    """

    formula: str
    response: str
    y: np.ndarray
    columns: tuple[str, ...]
    term_of: tuple[str, ...]
    rows: np.ndarray
    spec: ModelSpec
    variables: tuple[str, ...]
    intercept: bool
    dense: np.ndarray | None = field(default=None, repr=False)
    blocks: tuple[Block, ...] = field(default=(), repr=False)
    cells: Cells | None = field(default=None, repr=False)
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def x(self) -> np.ndarray:
        """The model matrix (rows x columns, column-major)."""
        if self.dense is not None:
            return self.dense
        if "x" not in self._cache:
            out = np.empty((self.rows.size, len(self.columns)), order="F")
            for block in self.blocks:
                out[:, block.columns] = block.values()
            self._cache["x"] = out
        return self._cache["x"]


def missing_rows(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """Rows where any of ``names`` is null (or NaN), as R's ``complete.cases`` sees them."""
    miss = np.zeros(frame.height, dtype=bool)
    for name in names:
        col = frame.get_column(name)
        miss |= col.is_null().to_numpy()
        if col.dtype.is_float():
            miss |= col.is_nan().fill_null(False).to_numpy()
    return miss


def _text_like(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _coded(col: pl.Series, rows: np.ndarray | None = None) -> tuple[np.ndarray, list[object]]:
    """Codes (-1: missing) of a categorical column at ``rows`` (all when None) over the
    levels those rows have: sorted, or in declared order for an ``Enum`` (R's factor
    levels after ``drop.unused.levels``)."""
    codes, levels = encode_series(col)
    if rows is not None:
        codes = codes[rows]
    valid = codes >= 0
    seen = np.bincount(codes[valid], minlength=levels.len()) > 0
    if not seen.all():
        lookup = np.cumsum(seen) - 1
        codes = np.where(valid, lookup[np.maximum(codes, 0)], -1)
        levels = levels.filter(pl.Series(seen))
    if _text_like(levels.dtype):
        levels = levels.cast(pl.String)
    return codes, levels.to_list()


def _column(col: pl.Series) -> object:
    """A column as formulaic reads it fast: text and categorical columns as a pandas
    ``Categorical`` of integer codes over their levels (``_coded``), instead of an array of
    Python strings."""
    if _text_like(col.dtype):
        codes, levels = _coded(col)
        return pd.Categorical.from_codes(codes, categories=levels)
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
    unknown = unknown_names(formula, columns)
    if unknown:
        return _missing_column(formula, unknown[0], columns)
    return EstimationError(f"formula {formula!r} cannot be read: {exc}")


def _non_finite(formula: str, rows: np.ndarray, bad: np.ndarray) -> EstimationError:
    # an expression gave a non-finite value (log(0), 1/0): R drops such rows only when
    # they are NA; barometer refuses rather than guess
    first = int(rows[np.flatnonzero(bad)[0]])
    return EstimationError(
        f"formula {formula!r} gives a non-finite value in row {first} "
        f"({int(bad.sum())} rows); transform the variables so that every value is finite"
    )


def _factor_column(expr: str, method: str, columns: list[str]) -> tuple[str, bool] | None:
    """(column, named in ``C()``) of a factor that is a column, bare or in ``C(name)``."""
    if method == "lookup" and expr in columns:
        return expr, False
    m = _C_OF.match(expr)
    name = m and (m.group(1) or m.group(2))
    if name and name in columns:
        return name, True
    return None


@dataclass(frozen=True)
class _Term:
    label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]


def _plan(parsed: Formula, frame: pl.DataFrame) -> list[_Term] | None:
    """The right-hand side's terms as columns coded (categorical) or used as numbers, or
    None when a factor is anything else (then formulaic materialises the matrix)."""
    columns = frame.columns
    kind: dict[str, bool] = {}
    terms = []
    for term in parsed.rhs:
        cat: list[str] = []
        num: list[str] = []
        for factor in term.factors:
            method = str(getattr(factor.eval_method, "value", factor.eval_method))
            if method == "literal" and factor.expr == "1":
                continue
            found = _factor_column(factor.expr, method, columns)
            if found is None:
                return None
            name, in_c = found
            dtype = frame.schema[name]
            if dtype == pl.Boolean or not (_text_like(dtype) or dtype.is_numeric()):
                return None
            categorical = in_c or _text_like(dtype)
            if kind.setdefault(name, categorical) != categorical or name in cat + num:
                return None
            (cat if categorical else num).append(name)
        terms.append(_Term(str(term), tuple(cat), tuple(num)))
    return terms


def _strides(sizes: list[int]) -> list[int]:
    out, step = [], 1
    for size in sizes:
        out.append(step)
        step *= size
    return out


def _coded_matrix(
    frame: pl.DataFrame, parsed: Formula, rows: np.ndarray, formula: str
) -> tuple[list[Block], ModelSpec, tuple[str, ...], Cells | None] | None:
    """The right-hand side as ``Block`` s, with formulaic's spec and column names and the
    cells of the categorical terms; None when ``_plan`` finds a factor it does not code."""
    plan = _plan(parsed, frame)
    if plan is None:
        return None
    names = list(dict.fromkeys(v for t in plan for v in (*t.categorical, *t.numeric)))
    codes: dict[str, np.ndarray] = {}
    levels: dict[str, list[object]] = {}
    values: dict[str, np.ndarray] = {}
    at = pl.Series(rows)
    for name in names:
        col = frame.get_column(name)
        if any(name in t.categorical for t in plan):
            codes[name], levels[name] = _coded(col, rows)
        else:
            values[name] = col.gather(at).cast(pl.Float64).to_numpy()
            bad = ~np.isfinite(values[name])
            if bad.any():
                raise _non_finite(formula, rows, bad)
    sizes = [int(np.prod([len(levels[v]) for v in t.categorical])) for t in plan]
    if sum(sizes) > _MAX_PROTOTYPE:
        return None
    # the prototype: each term's block of rows runs through its levels' combinations
    total = sum(sizes)
    proto_codes = {v: np.zeros(total, dtype=np.int64) for v in codes}
    offset = 0
    for term, size in zip(plan, sizes, strict=True):
        k = np.arange(size)
        dims = [len(levels[v]) for v in term.categorical]
        for v, stride, dim in zip(term.categorical, _strides(dims), dims, strict=True):
            proto_codes[v][offset : offset + size] = (k // stride) % dim
        offset += size
    proto: dict[str, object] = {v: np.ones(total) for v in values}
    for v, c in proto_codes.items():
        if _text_like(frame.schema[v]):
            proto[v] = pd.Categorical.from_codes(c, categories=levels[v])
        else:
            proto[v] = np.asarray(levels[v])[c]
    frame_proto = pd.DataFrame(proto, index=pd.RangeIndex(total))
    rhs = parsed.rhs.get_model_matrix(frame_proto, na_action="ignore")
    table = np.asarray(rhs, dtype=float)
    spec = rhs.model_spec
    slices = {str(t): sl for t, sl in spec.term_slices.items()}
    blocks = []
    offset = 0
    for term, size in zip(plan, sizes, strict=True):
        sl = slices[term.label]
        combo = None
        if term.categorical:
            dims = [len(levels[v]) for v in term.categorical]
            combo = np.zeros(rows.size, dtype=np.int64)
            for v, stride in zip(term.categorical, _strides(dims), strict=True):
                combo += codes[v] * stride if stride > 1 else codes[v]
        numeric = None
        for v in term.numeric:
            numeric = values[v] if numeric is None else numeric * values[v]
        part = np.ascontiguousarray(table[offset : offset + size, sl])
        blocks.append(Block(sl, part, combo, numeric, term.categorical))
        offset += size
    columns = tuple(str(c) for c in rhs.columns)
    return blocks, spec, columns, _cells(blocks, codes, levels, rows.size, len(columns))


def _cells(
    blocks: list[Block],
    codes: dict[str, np.ndarray],
    levels: dict[str, list[object]],
    n: int,
    p: int,
) -> Cells | None:
    """``irls.Cells`` from the codes: the cell of a row is its combination of the levels of
    the terms without a numeric factor (their columns are the 0/1 part of the matrix)."""
    fixed = [b for b in blocks if b.numeric is None]
    names = list(dict.fromkeys(v for b in fixed for v in b.categorical))
    if not names:
        return None
    dims = [len(levels[v]) for v in names]
    if float(np.prod(dims, dtype=np.float64)) > 2.0**62:
        return None
    key = np.zeros(n, dtype=np.int64)
    for v, stride in zip(names, _strides(dims), strict=True):
        key += codes[v] * stride
    cell, present = dense_codes(key, int(np.prod(dims, dtype=np.int64)))
    if present.size > n // 4:
        return None
    at = {
        v: (present // stride) % dim
        for v, stride, dim in zip(names, _strides(dims), dims, strict=True)
    }
    ind: list[int] = []
    parts = []
    for b in fixed:
        ind.extend(range(b.columns.start, b.columns.stop))
        if b.combo is None:
            parts.append(np.broadcast_to(b.table[0], (present.size, b.table.shape[1])))
            continue
        bd = [len(levels[v]) for v in b.categorical]
        combo = sum(
            (at[v] * st for v, st in zip(b.categorical, _strides(bd), strict=True)),
            np.zeros(present.size, dtype=np.int64),
        )
        parts.append(b.table[combo])
    other = np.setdiff1d(np.arange(p), ind)
    rest = np.empty((n, other.size), order="F")
    j = 0
    for b in sorted(blocks, key=lambda b: b.columns.start):
        if b.numeric is not None:
            width = b.columns.stop - b.columns.start
            rest[:, j : j + width] = b.values()
            j += width
    order = np.argsort(ind)
    pattern = np.ascontiguousarray(np.concatenate(parts, axis=1)[:, order])
    return Cells(cell, pattern, np.asarray(ind)[order], other, rest)


def _response(
    frame: pl.DataFrame, parsed: Formula, formula: str, rows: np.ndarray
) -> tuple[np.ndarray, str]:
    """The response at ``rows``: a numeric column read directly, anything else (a
    comparison, a transform) through formulaic."""
    terms = list(parsed.lhs)
    if len(terms) == 1 and len(terms[0].factors) == 1:
        factor = terms[0].factors[0]
        method = str(getattr(factor.eval_method, "value", factor.eval_method))
        name = factor.expr
        if method == "lookup" and name in frame.columns:
            col = frame.get_column(name)
            if col.dtype.is_numeric() and col.dtype != pl.Boolean:
                return col.cast(pl.Float64).to_numpy()[rows], name
    lhs_text = strip_strings(formula.split("~", 1)[0])
    names = formula_variables(lhs_text, frame.columns)
    try:
        lhs = parsed.lhs.get_model_matrix(_pandas(frame, names, rows), na_action="ignore")
    except Exception as exc:  # formulaic raises many kinds; one clear error here
        raise _formula_error(formula, frame.columns, exc) from exc
    if lhs.shape[1] != 1:
        raise EstimationError(
            f"formula {formula!r}: the response must be one numeric column or a comparison "
            f"such as I(q == 'yes'), not {list(lhs.columns)}"
        )
    return np.asarray(lhs.iloc[:, 0], dtype=float), str(lhs.columns[0])


def build(
    frame: pl.DataFrame,
    formula: str,
    keep: np.ndarray,
    extra: list[str] | None = None,
) -> ModelFrame:
    """The model frame of ``formula`` on the rows ``keep`` (bool) of ``frame`` that have
    every variable (and every ``extra`` column, e.g. an offset) observed."""
    columns = frame.columns
    text = strip_strings(formula)
    if "~" not in formula:
        raise EstimationError(f"formula {formula!r} has no response: write 'y ~ x1 + x2'")
    unknown = unknown_names(formula, columns)
    if unknown:
        raise _missing_column(formula, unknown[0], columns)
    names = formula_variables(text, columns)
    extra = [e for e in (extra or []) if e not in names]
    rows = np.flatnonzero(keep & ~missing_rows(frame, names + extra))
    if rows.size == 0:
        raise EstimationError(f"formula {formula!r}: no row has every variable observed")
    try:
        parsed = Formula(formula)
    except Exception as exc:  # formulaic raises many kinds; one clear error here
        raise _formula_error(formula, columns, exc) from exc
    y, response = _response(frame, parsed, formula, rows)
    if not np.isfinite(y).all():
        raise _non_finite(formula, rows, ~np.isfinite(y))
    try:
        coded = _coded_matrix(frame, parsed, rows, formula)
    except BarometerError:
        raise
    except Exception:  # the prototype did not code: formulaic on the data says why
        coded = None
    dense: np.ndarray | None = None
    if coded is None:
        try:
            rhs = parsed.rhs.get_model_matrix(_pandas(frame, names, rows), na_action="ignore")
        except Exception as exc:  # formulaic raises many kinds; one clear error here
            raise _formula_error(formula, columns, exc) from exc
        dense = _dense(rhs)
        bad = ~np.isfinite(dense).all(axis=1)
        if bad.any():
            raise _non_finite(formula, rows, bad)
        blocks: list[Block] = []
        spec, names_x, cells = rhs.model_spec, tuple(str(c) for c in rhs.columns), Cells.of(dense)
    else:
        blocks, spec, names_x, cells = coded
    term_of: list[str] = [""] * len(names_x)
    for term, sl in spec.term_slices.items():
        for j in range(sl.start, sl.stop):
            term_of[j] = str(term)
    return ModelFrame(
        formula=formula,
        response=response,
        y=y,
        columns=names_x,
        term_of=tuple(term_of),
        rows=rows,
        spec=spec,
        variables=tuple(names),
        intercept="1" in term_of,
        dense=dense,
        blocks=tuple(blocks),
        cells=cells,
    )


def new_matrix(model: ModelFrame, data: pl.DataFrame) -> np.ndarray:
    """The model matrix of new rows under the fitted coding (R ``model.frame(xlev=)``)."""
    rhs = strip_strings(model.formula.split("~", 1)[1])
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
