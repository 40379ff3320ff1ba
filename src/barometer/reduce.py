"""The grouped pass: weighted sums of a variable by domain (x level) (x PSU), from integer codes.

Every estimator reduces the respondents once to these sums with ``np.bincount``; the variance
algebra then runs on the small arrays that come out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from barometer._frame import Coding, encode
from barometer.errors import EstimationError


@dataclass(frozen=True, eq=False)
class Variable:
    """One analysed variable as arrays.

    Numeric: ``values`` (float, nan = missing) and ``levels is None``. Categorical: ``codes``
    (int, -1 = missing) into ``levels`` (a one-column frame of level values).
    """

    name: str
    values: np.ndarray | None
    codes: np.ndarray | None
    levels: pl.Series | None

    @property
    def categorical(self) -> bool:
        return self.codes is not None

    @property
    def n_levels(self) -> int:
        return 1 if self.levels is None else self.levels.len()

    @property
    def valid(self) -> np.ndarray:
        if self.codes is not None:
            return self.codes >= 0
        assert self.values is not None
        return ~np.isnan(self.values)


def is_numeric(series: pl.Series) -> bool:
    return series.dtype.is_numeric() and not isinstance(series.dtype, pl.Enum | pl.Categorical)


def coding(design: object, names: list[str]) -> Coding:
    """``encode(design.data, names)``, computed once per design (its data never change)."""
    cache = design.__dict__.setdefault("_codings", {})
    key = tuple(names)
    if key not in cache:
        cache[key] = encode(design.data, names)  # type: ignore[attr-defined]
    return cache[key]


def variable(design: object, name: str, categorical: bool | None) -> Variable:
    """Read column ``name`` as numeric (``categorical=False``), categorical (True) or by type."""
    from barometer._frame import check_columns

    frame: pl.DataFrame = design.data  # type: ignore[attr-defined]
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


def domains(design: object, by: list[str]) -> Coding:
    """The domains of ``by`` (their observed combinations); rows with a null by-value: -1."""
    from barometer._frame import check_columns

    check_columns(design.data, by, "by", EstimationError)  # type: ignore[attr-defined]
    return coding(design, by)


def domain_codes(dom: np.ndarray, var: Variable) -> np.ndarray:
    """Domain codes restricted to rows where ``var`` is observed (others -1): R's ``na.rm``."""
    return np.where(var.valid, dom, -1)


def sums(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount`` over ``codes`` into ``size`` bins; rows with a negative code are dropped
    (sent to one spare bin, which is cheaper than selecting the others)."""
    return binned_sums(np.where(codes < 0, size, codes), size, weights)


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
