"""Generalised regression (GREG) calibration, as R ``survey::calibrate``.

New weights are ``w * g`` with ``g = 1 + F(x' lambda)``; ``lambda`` solves
``sum w g x = population totals`` (Deville & Särndal 1992). ``F`` is the calibration
function: linear (GREG; closed form when unbounded, R ``regcalibrate``), raking
(exponential) or logit (bounded); bounds on ``g`` apply to all three. The Newton
iterations follow R's ``grake`` step for step (including its rescaling of the weights
when every population total exceeds 20 times the sample total, and step halving).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
import polars as pl

from barometer.core._frame import check_columns
from barometer.core._protocols import SurveyDesign, Targets
from barometer.core.variance.steps import GregStep
from barometer.core.weighting._codes import Column, combine, split
from barometer.core.weighting.margins import (
    MarginSet,
    check_convergence,
    check_support,
    parse_margins,
    row_codes,
)
from barometer.core.weighting.spec import CalibrationSpec, WeightingInfo, freeze, margin_table
from barometer.errors import WeightingError, warn
from barometer.options import CalibrationMethod, check_option

D = TypeVar("D", bound=SurveyDesign)

INTERCEPT = "(Intercept)"
_RESCALE = 20.0  # R grake's SOMETHRESHOLD
_GINV_TOL = 256 * np.finfo(np.float64).eps  # R grake: MASS::ginv(tol = 256 * eps)

Calfun = Callable[[np.ndarray, float, float], np.ndarray]


# --- calibration functions: R's cal.linear, cal.raking, cal.logit (Fm1 and dF) -------------


def _linear_fm1(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(u + 1.0, lo, hi) - 1.0


def _linear_df(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return ((u < hi - 1.0) & (u > lo - 1.0)).astype(np.float64)


def _raking_fm1(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out: np.ndarray = np.clip(np.exp(u), lo, hi) - 1.0
    return out


def _raking_df(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # R compares u (not exp(u)) with the bounds minus 1; kept for identical iterations.
    return np.where((u < hi - 1.0) & (u > lo - 1.0), np.exp(u), 0.0)


def _logit_fm1(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a = (hi - lo) / ((hi - 1.0) * (1.0 - lo))
    e = np.exp(a * u)
    return (lo * (hi - 1.0) + hi * (1.0 - lo) * e) / (hi - 1.0 + (1.0 - lo) * e) - 1.0


def _logit_df(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a = (hi - lo) / ((hi - 1.0) * (1.0 - lo))
    e = np.exp(a * u)
    den = hi - 1.0 + (1.0 - lo) * e
    return (
        hi * (1.0 - lo) * e * a / den
        - (lo * (hi - 1.0) + hi * (1.0 - lo) * e) * ((1.0 - lo) * e * a) / den**2
    )


CALFUNS: dict[str, tuple[Calfun, Calfun]] = {
    "linear": (_linear_fm1, _linear_df),
    "raking": (_raking_fm1, _raking_df),
    "logit": (_logit_fm1, _logit_df),
}


@dataclass(frozen=True, eq=False)
class GrakeResult:
    """g-weights, Newton iterations used, and the largest relative misfit left."""

    g: np.ndarray
    iterations: int
    misfit: np.ndarray  # |population - achieved| / (1 + |population|), per column
    converged: bool


def grake(
    X: np.ndarray,
    w: np.ndarray,
    population: np.ndarray,
    method: str,
    lower: float,
    upper: float,
    *,
    tol: float,
    max_iter: int,
) -> GrakeResult:
    """Newton iterations for the calibration equations, as R ``survey:::grake``.

    Converged when every ``|misfit| / (1 + |population|) < tol``.
    """
    fm1, df = CALFUNS[method]
    sample_total = X.T @ w
    eta = np.zeros(X.shape[1])
    xeta = np.zeros(X.shape[0])
    deriv = df(xeta, lower, upper)
    it = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = population / sample_total
    scale = None
    if np.min(scales) > _RESCALE:
        scale = float(np.mean(scales))
        w = w * scale
        sample_total = sample_total * scale
        if math.isfinite(lower) or math.isfinite(upper):
            warn(
                f"bounds are interpreted after rescaling the weights by {scale:.3g} (as R's "
                "calibrate does when every population total is over 20x the sample's)"
            )
    denom = 1.0 + np.abs(population)
    converged = False
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            T = (X * (w * deriv)[:, None]).T @ X
            misfit = population - sample_total - X.T @ (w * fm1(xeta, lower, upper))
            deta = np.linalg.pinv(T, rcond=_GINV_TOL) @ misfit
            eta = eta + deta
            xeta = X @ eta
            g = 1.0 + fm1(xeta, lower, upper)
            deriv = df(xeta, lower, upper)
            while it < max_iter and not (np.isfinite(g).all() and np.isfinite(deriv).all()):
                it += 1
                deta = deta / 2.0
                eta = eta - deta
                xeta = X @ eta
                g = 1.0 + fm1(xeta, lower, upper)
                deriv = df(xeta, lower, upper)
            misfit = population - sample_total - X.T @ (w * fm1(xeta, lower, upper))
            rel = np.abs(misfit) / denom
            if np.all(rel < tol):
                converged = True
                break
            it += 1
            if it > max_iter:
                break
    if scale is not None:
        g = g * scale
    return GrakeResult(g, it, rel, converged)


def linear_g(X: np.ndarray, w: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Unbounded linear calibration in closed form, as R ``regcalibrate``:
    ``g = 1 + X (X' W X)^-1 (population - X' w)``."""
    T = (X * w[:, None]).T @ X
    try:
        lam = np.linalg.solve(T, population - X.T @ w)
    except np.linalg.LinAlgError:
        raise WeightingError(
            "the calibration model matrix is singular: two margins or totals carry the same "
            "information (e.g. a numeric variable constant within a margin's levels)"
        ) from None
    return 1.0 + X @ lam


# --- the model matrix ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Model:
    """Calibration model matrix (R ``model.matrix``: intercept, treatment dummies with the
    first level dropped, numeric columns) with its population totals and column names.

    On categorical margins only, ``cells`` numbers each respondent's calibration cell —
    the crossing of the margins' levels present — and ``X`` has one row per cell: every
    respondent of a cell has that row (a level's dummies are all that vary), so the
    respondents' matrix is ``X[cells]``, never needed to calibrate. Otherwise ``X`` has one
    row per respondent and ``cells`` is None."""

    X: np.ndarray
    population: np.ndarray
    names: tuple[str, ...]
    categories: MarginSet | None
    numeric: tuple[str, ...]
    cells: np.ndarray | None = None


def _split_margins(
    margins: Targets,
) -> tuple[dict[str, Any], dict[str, float], float | None]:
    if not isinstance(margins, Mapping) or not margins:
        raise WeightingError(
            "margins must be a non-empty mapping: {variable: {level: total}} for categories "
            "and {variable: total} for numeric variables"
        )
    cats: dict[str, Any] = {}
    nums: dict[str, float] = {}
    intercept = None
    for var, value in margins.items():
        if isinstance(value, Mapping):
            cats[var] = value
            continue
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise WeightingError(
                f"calibration target for {var!r} is {value!r}: give {{level: total}} for a "
                "categorical variable or a number (its population total) for a numeric one"
            ) from None
        if isinstance(value, bool) or not math.isfinite(x):
            raise WeightingError(f"calibration total for {var!r} is {value!r}; give a number")
        if var == INTERCEPT:
            intercept = x
        else:
            nums[var] = x
    return cats, nums, intercept


def build_model(frame: pl.DataFrame, margins: Targets, weights: np.ndarray) -> Model:
    """Check the targets and build the calibration model matrix and population vector."""
    cats, nums, intercept = _split_margins(margins)
    ms = None
    cells = None
    n_rows = frame.height
    columns: list[np.ndarray] = []
    names: list[str] = []
    pop: list[float] = []
    if cats:
        ms = parse_margins(frame, cats, None, weights, role="calibration variable")
        ones = np.ones(frame.height)
        check_support(ms, row_codes(ms), ones, weights)
        total = float(ms.totals[0])
        if intercept is not None and abs(intercept - total) > 1e-6 * abs(total):
            raise WeightingError(
                f"the {INTERCEPT!r} total {intercept:,.6g} disagrees with the category margins' "
                f"total {total:,.6g}"
            )
        intercept = total
    codes: list[np.ndarray] = []
    if ms is not None:
        codes = [v.nonnegative() for v in ms.variables]  # (no missing values pass parse)
        if not nums:  # the model's rows are those of the calibration cells
            cols = [Column(v.name, c, v.levels) for v, c in zip(ms.variables, codes, strict=True)]
            cells, present = combine(cols)
            codes = split(present, [v.size for v in ms.variables])
            n_rows = present.size
    if intercept is not None:
        columns.append(np.ones(n_rows))
        names.append(INTERCEPT)
        pop.append(intercept)
    if ms is not None:
        for m, (var, code) in enumerate(zip(ms.variables, codes, strict=True)):
            # levels with no respondents (and so a zero target) have no column, as in R
            present = np.flatnonzero(np.bincount(code, minlength=var.size))
            for lv in present[1:]:
                columns.append((code == lv).astype(np.float64))
                names.append(f"{var.name}{var.levels[lv]}")
                pop.append(float(ms.targets[m][0, lv]))
    for name, total in nums.items():
        columns.append(_numeric(frame, name))
        names.append(name)
        pop.append(total)
    X = np.column_stack(columns)
    return Model(X, np.asarray(pop), tuple(names), ms, tuple(nums), cells)


def _numeric(frame: pl.DataFrame, var: str) -> np.ndarray:
    check_columns(frame, [var], "calibration variable", WeightingError, noun="")
    s = frame.get_column(var)
    if not s.dtype.is_numeric():
        raise WeightingError(
            f"calibration variable {var!r} is {s.dtype}, not numeric: give its targets as "
            "{level: total} to calibrate on its categories"
        )
    x = s.cast(pl.Float64).fill_nan(None)
    if x.null_count():
        rows = np.flatnonzero(x.is_null().to_numpy())
        raise WeightingError(
            f"calibration variable {var!r} has missing values in {rows.size} rows (first: row "
            f"{rows[0]}); impute them or drop those respondents first"
        )
    return x.to_numpy()


# --- the public function ------------------------------------------------------------------


def _bounds(method: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if bounds is None:
        lo, hi = -math.inf, math.inf
    else:
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise WeightingError(f"bounds must be a pair (lower, upper), not {bounds!r}") from None
        if not lo < 1.0 < hi:
            raise WeightingError(
                f"bounds={bounds!r} on the g-weights must satisfy lower < 1 < upper"
            )
    if method == "logit" and not (math.isfinite(lo) and math.isfinite(hi)):
        raise WeightingError(
            "logit calibration needs finite bounds, e.g. bounds=(0.5, 2.0) (as R's cal.logit)"
        )
    return lo, hi


def _check_bounds_feasible(model: Model, w: np.ndarray, lo: float, hi: float) -> None:
    """A category target out of [lo, hi] x its weighted sample total cannot be met."""
    ms = model.categories
    if ms is None or (not math.isfinite(lo) and not math.isfinite(hi)):
        return
    for m, var in enumerate(ms.variables):
        wsum = np.bincount(np.maximum(var.codes, 0), w, minlength=var.size)
        t = ms.targets[m][0]
        for lv in np.flatnonzero(wsum > 0):
            need = t[lv] / wsum[lv]
            if need < lo or need > hi:
                raise WeightingError(
                    f"bounds ({lo:g}, {hi:g}) cannot be met: {var.name!r}={var.levels[lv]!r} "
                    f"needs its weights multiplied by {need:.4g} on average (target "
                    f"{t[lv]:,.6g}, weighted sample {wsum[lv]:,.6g}); widen the bounds"
                )


def calibrate(
    design: D,
    margins: Targets,
    *,
    method: CalibrationMethod = "linear",
    bounds: tuple[float, float] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> D:
    """Calibrate the design's weights to population totals (GREG; R ``calibrate``).

    Parameters
    ----------
    design : Design or ReplicateDesign
    margins : mapping
        ``{variable: {level: total}}`` for categorical variables and ``{variable: total}``
        for numeric ones (e.g. ``{"stype": {"E": 4421, "H": 755, "M": 1018},
        "api99": 3914069}``). The model has an intercept whose total is the categories'
        common total (give ``"(Intercept)": N`` when there are only numeric totals) and
        treatment dummies for every level but the first, as R's ``model.matrix``. Category
        margins summing to 1 are shares (see ``rake``).
    method : {"linear", "raking", "logit"}
        The calibration function, as R's ``calfun``.
    bounds : (lower, upper), optional
        Bounds on the g-weights (new weight / old weight); logit needs them. Targets that
        the bounds make unreachable raise a ``WeightingError``.
    tol, max_iter : float, int
        Newton iterations stop when every ``|misfit| / (1 + |total|) < tol`` (R's
        ``epsilon``, whose default is 1e-7); more than ``max_iter`` is an error.

    Returns
    -------
    Design
        A new design, with a ``GregStep`` record so that variances use the residuals of the
        calibration regression (R). On categorical margins only, the record also numbers
        each row's calibration cell, and those variances run on sums by cell
        (``variance.calibrated.GregProjection``); with a numeric total they are formed row
        by row. A replicate design has every replicate calibrated to the same totals.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"sex": ["f", "m", "m", "m"], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> d = bm.Design(df).calibrate({"sex": {"f": 40, "m": 60}, "x": 230})
    >>> [round(float(w), 4) for w in d.weights]
    [40.0, 15.0, 20.0, 25.0]
    """
    method = check_option(method, CalibrationMethod, "method", WeightingError)
    check_convergence(tol, max_iter)
    lo, hi = _bounds(method, bounds)
    spec = CalibrationSpec(
        freeze(margins), method, None if bounds is None else (lo, hi), tol, max_iter
    )
    w = np.asarray(design.weights, dtype=np.float64)
    model = build_model(design.data, margins, w)
    _check_bounds_feasible(model, w, lo, hi)
    solve = _solver(model, method, lo, hi, tol, max_iter)
    g, iterations = solve(w, None)
    new = w * g
    reps = design.replicate_weights
    step = GregStep(matrix=model.X, old_weights=w, g=g, cells=model.cells)
    achieved = model.X.T @ (new if model.cells is None else np.bincount(model.cells, new))
    info = WeightingInfo(
        method="calibrate",
        spec=spec,
        by=None,
        iterations=iterations,
        max_error=float(
            np.max(np.abs(achieved - model.population) / np.maximum(np.abs(model.population), 1))
        ),
        n_capped=0,
        n_floored=0,
        build_margins=partial(_table, design.data, model, w, new),
        before=w,
    )
    if reps is None:
        return design.with_weights(new, step, info)
    reps = np.asarray(reps, dtype=np.float64)
    new_reps = np.empty_like(reps)
    for r in range(reps.shape[1]):
        new_reps[:, r] = reps[:, r] * solve(reps[:, r], r)[0]
    return design.with_weights(new, step, info, replicate_weights=new_reps)


def _solver(
    model: Model, method: str, lo: float, hi: float, tol: float, max_iter: int
) -> Callable[[np.ndarray, int | None], tuple[np.ndarray, int]]:
    """g-weights for a weight vector: closed form or Newton (as R chooses).

    With calibration cells (categorical margins, ``Model.cells``) the equations are solved
    on the cell table — one row per cell, its summed weight — as the DuckDB path does:
    every sum the iterations take (``X' W X``, ``X' w F(X lambda)``) is a sum over cells of
    the rows' sums, and a cell's g-weight is a function of its model row, so the g-weights
    are the same (to rounding) at the cost of the cells, not the respondents."""
    cells, x_fit = model.cells, model.X

    def solve(w: np.ndarray, replicate: int | None = None) -> tuple[np.ndarray, int]:
        if cells is not None:
            g, iterations = fit(np.bincount(cells, w, minlength=x_fit.shape[0]), replicate)
            return np.take(g, cells), iterations
        return fit(w, replicate)

    def fit(w: np.ndarray, replicate: int | None) -> tuple[np.ndarray, int]:
        if method == "linear" and not (math.isfinite(lo) or math.isfinite(hi)):
            return linear_g(x_fit, w, model.population), 1
        res = grake(x_fit, w, model.population, method, lo, hi, tol=tol, max_iter=max_iter)
        if not res.converged:
            j = int(np.nanargmax(np.nan_to_num(res.misfit, nan=np.inf)))
            which = "" if replicate is None else f"replicate {replicate + 1}: "
            raise WeightingError(
                f"{which}{method} calibration did not converge in {max_iter} iterations: the "
                f"largest relative misfit left is {res.misfit[j]:.3g}, on {model.names[j]!r}"
                + (
                    f"; the bounds ({lo:g}, {hi:g}) may be too tight to meet the targets"
                    if math.isfinite(lo) or math.isfinite(hi)
                    else "; raise max_iter or check the targets"
                )
                + (
                    ""
                    if replicate is None
                    else " (R's calibrate only warns, keeping the replicate's unconverged weights)"
                )
            )
        return res.g, res.iterations

    return solve


def _table(
    frame: pl.DataFrame, model: Model, before: np.ndarray, after: np.ndarray
) -> pl.DataFrame:
    parts = []
    ms = model.categories
    if ms is not None:
        for m, var in enumerate(ms.variables):
            codes = np.maximum(var.codes, 0)
            L = var.size
            parts.append(
                margin_table(
                    None,
                    [None],
                    var.name,
                    var.levels,
                    np.bincount(codes, minlength=L)[None, :],
                    np.bincount(codes, before, minlength=L)[None, :],
                    np.bincount(codes, after, minlength=L)[None, :],
                    ms.targets[m],
                )
            )
    for j, name in enumerate(model.names):
        if name in model.numeric or (name == INTERCEPT and ms is None):
            x = model.X[:, j]
            parts.append(
                pl.DataFrame(
                    {
                        "variable": [name],
                        "level": pl.Series([None], dtype=pl.String),
                        "n": [frame.height],
                        "sample_share": [None],
                        "before_share": [None],
                        "after_share": [None],
                        "target_share": [None],
                        "target": [float(model.population[j])],
                        "after": [float(x @ after)],
                    },
                    schema_overrides={
                        k: pl.Float64
                        for k in ("sample_share", "before_share", "after_share", "target_share")
                    },
                )
            )
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame()
