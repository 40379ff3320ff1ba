"""Rao-Scott chi-square: design-based tests of independence of two categorical variables.

The cell shares of the two-way table and their full covariance come from one grouped pass
over the data (``estimators.family``, ``estimators.family_variance``); the test itself is
small dense algebra on them. Source: R ``svychisq`` (``survey`` 4.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from barometer.core import distributions, estimators, reduce
from barometer.core._frame import check_columns
from barometer.core._protocols import BoolArray, SurveyDesign
from barometer.core.estimators import RatioFamily
from barometer.errors import EstimationError
from barometer.options import ChisqStatistic, check_option

_METHODS = {
    "F": "Pearson's X^2: Rao & Scott adjustment (second order, F)",
    "Chisq": "Pearson's X^2: Rao & Scott adjustment (first order, chi-square)",
    "Wald": "Design-based Wald test of association",
    "adjWald": "Design-based Wald test of association (adjusted F)",
}


@dataclass(frozen=True, eq=False)
class ChisqTest:
    """Result of a design-based test of independence of two categorical variables.

    ``statistic`` is the F statistic (``"F"``, ``"Wald"``, ``"adjWald"``) or Pearson's X^2
    (``"Chisq"``, whose p-value uses X^2 divided by the mean generalised design effect);
    ``ndf``/``ddf`` are the numerator and denominator degrees of freedom (``ddf`` is
    infinite for ``"Chisq"``). ``table`` holds the weighted share of every cell
    (rows with either variable missing excluded), with the weighted total and the
    unweighted count.
    """

    statistic: float
    ndf: float
    ddf: float
    p_value: float
    method: str
    variables: tuple[str, str]
    table: pl.DataFrame = field(repr=False)
    pearson: float = field(default=float("nan"), repr=False)
    design_effects: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


def chisq(
    design: SurveyDesign,
    a: str,
    b: str,
    statistic: ChisqStatistic = "F",
    where: Mapping[str, object] | None = None,
) -> ChisqTest:
    """Test the independence of categorical variables ``a`` and ``b`` (R ``svychisq``).

    The cells of the ``a`` x ``b`` table are estimated as shares of the rows where both are
    observed (R's ``na.rm=TRUE``), with their full design-based covariance ``V``. Pearson's
    ``X^2`` is computed on the table of shares scaled to the number of rows ``N``. With
    ``C`` a basis of the interaction contrasts (orthogonal to the main effects) and
    ``P = diag(p)``, the generalised design effects are the eigenvalues of
    ``Delta = (C' P^-1 C / N)^-1 C' P^-1 V P^-1 C`` (Rao and Scott 1984).

    ``statistic="F"`` (R's default, second-order): ``F = X^2 / tr(Delta)`` on
    ``d0 = tr(Delta)^2 / tr(Delta^2)`` and ``d0 * nu`` degrees of freedom, ``nu`` the design
    degrees of freedom (``design.degf``). ``"Chisq"`` (first-order): ``X^2 / mean(diag
    Delta)`` against chi-square on ``(r-1)(c-1)`` df. ``"Wald"``: the Wald statistic of the
    interaction residuals of the cell totals over ``(r-1)(c-1)``, F on ``(r-1)(c-1)`` and
    ``nu`` df; ``"adjWald"`` scales it by ``(nu - d + 1) / (d nu)`` with ``d = (r-1)(c-1)``,
    on ``d`` and ``nu - d + 1`` df (Thomas and Rao 1987). Source: R ``svychisq``
    (``survey`` 4.1, ``svychisq.survey.design`` and ``svychisq.svyrep.design``).

    Only levels observed (in the domain) count, as R's ``factor()``. ``where`` (e.g.
    ``{"country": "DE"}``; a list of values keeps any of them) tests within a domain, as
    R's ``svychisq(~a+b, subset(design, ...))``: the variance keeps the whole design,
    ``N`` is the number of rows in the domain and ``nu`` counts the PSUs and strata that
    hold them (R's subset drops the others; a calibrated design keeps every row, as R).

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"a": ["x", "y"] * 20, "b": ["u"] * 15 + ["v"] * 25})
    >>> t = bm.Design(df).chisq("a", "b")
    >>> round(t.statistic, 3), t.ndf, t.ddf, round(t.p_value, 3)
    (0.104, 1.0, 39.0, 0.749)
    """
    statistic = check_option(statistic, ChisqStatistic, "statistic", EstimationError)
    frame = design.data
    if a == b:
        raise EstimationError(f"chisq needs two different variables, got {a!r} twice")
    inside = _domain_mask(frame, where)
    va = _observed(reduce.variable(design, a, categorical=True), inside)
    vb = _observed(reduce.variable(design, b, categorical=True), inside)
    nr, nc = va.n_levels, vb.n_levels
    for v in (va, vb):
        if v.n_levels < 2:
            raise EstimationError(
                f"chisq: variable {v.name!r} has {v.n_levels} observed level(s)"
                f"{' in ' + repr(dict(where)) if where else ''}; "
                "a test of independence needs at least two"
            )
    assert va.codes is not None and vb.codes is not None and va.levels is not None
    assert vb.levels is not None
    both = (va.codes >= 0) & (vb.codes >= 0)
    if not both.any():
        raise EstimationError(f"chisq: no row has both {a!r} and {b!r} observed")
    # cells numbered with the row variable varying fastest, as R's interaction()
    cell = np.where(both, va.codes + nr * vb.codes, -1)
    row_lab = va.levels.cast(pl.String).to_list()
    col_lab = vb.levels.cast(pl.String).to_list()
    labels = [f"{r}.{c}" for c in col_lab for r in row_lab]  # as R's interaction()
    var = reduce.Variable(f"{a}:{b}", None, cell, pl.Series("cell", labels))
    zeros = np.zeros(frame.height, dtype=np.int64)
    nu = float(design.degf if where is None else _domain_degf(design, inside))
    counts = np.bincount(cell[both], minlength=nr * nc)
    return rao_scott(
        lambda ratio: estimators.family(design, var, zeros, 1, ratio=ratio),
        (a, b),
        (row_lab, col_lab),
        counts,
        int(inside.sum()),
        nu,
        statistic,
    )


def rao_scott(
    family: Callable[[bool], estimators.RatioFamily],
    variables: tuple[str, str],
    labels: tuple[list[str], list[str]],
    counts: np.ndarray,
    n_rows: int,
    nu: float,
    statistic: str,
) -> ChisqTest:
    """The test from the cells' family (``family(ratio)``: shares, or totals for the Wald
    tests, of the ``r x c`` cells numbered rows fastest), the cells' unweighted ``counts``,
    the domain's rows ``n_rows`` (R's ``N``) and the design degrees of freedom ``nu``; see
    ``chisq``. Shared by every engine."""
    a, b = variables
    row_lab, col_lab = labels
    nr, nc = len(row_lab), len(col_lab)
    if statistic in ("Wald", "adjWald"):
        fam = family(False)
        stat, ndf, ddf = _wald(fam, nr, nc, nu, statistic)
        p_value = float(distributions.f_sf(stat, ndf, ddf))
        pearson = float("nan")
        deltas = np.empty(0)
    else:
        fam = family(True)
        p = fam.theta.ravel()
        cov = estimators.family_variance(fam, full=True)
        pearson = _pearson(p * n_rows, nr, nc)
        delta = _design_effect_matrix(p, cov, n_rows, nr, nc)
        deltas = np.sort(np.linalg.eigvals(delta).real)[::-1]
        trace = float(np.trace(delta))
        if statistic == "F":
            d0 = trace**2 / float(np.trace(delta @ delta))
            stat, ndf, ddf = pearson / trace, d0, d0 * nu
            p_value = float(distributions.f_sf(stat, ndf, ddf))
        else:
            k = delta.shape[0]
            stat, ndf, ddf = pearson, float(k), float("inf")
            p_value = float(distributions.chi2_sf(pearson / (trace / k), k))
    totals = fam.theta.ravel() * (fam.denom[0] if fam.ratio else 1.0)
    table = pl.DataFrame(
        {
            a: [r for _ in col_lab for r in row_lab],
            b: [c for c in col_lab for _ in row_lab],
            "share": totals / totals.sum(),
            "total": totals,
            "n": counts.astype(np.int64),
        }
    )
    return ChisqTest(
        statistic=float(stat),
        ndf=float(ndf),
        ddf=float(ddf),
        p_value=p_value,
        method=_METHODS[statistic],
        variables=(a, b),
        table=table,
        pearson=pearson,
        design_effects=deltas,
    )


def _domain_mask(frame: pl.DataFrame, where: Mapping[str, object] | None) -> BoolArray:
    """Rows in the domain ``where`` (column -> value or list of values); all rows if None."""
    mask = np.ones(frame.height, dtype=bool)
    for column, value in (where or {}).items():
        check_columns(frame, [column], "where:", EstimationError)
        values: list[object] = list(value) if isinstance(value, list | tuple | set) else [value]
        col = frame.get_column(column)
        mask &= (
            col.is_in(pl.Series(values).cast(col.dtype, strict=False)).fill_null(False).to_numpy()
        )
    if not mask.any():
        raise EstimationError(f"where={dict(where or {})!r} selects no row")
    return mask


def _observed(var: reduce.Variable, inside: np.ndarray) -> reduce.Variable:
    """The variable restricted to the domain, with only the levels observed there."""
    assert var.codes is not None and var.levels is not None
    codes = np.where(inside, var.codes, -1)
    present = np.bincount(codes[codes >= 0], minlength=var.n_levels) > 0
    if present.all():
        return reduce.Variable(var.name, None, codes, var.levels)
    new_code = np.cumsum(present) - 1
    codes = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1)
    return reduce.Variable(var.name, None, codes, var.levels.filter(pl.Series(present)))


def _domain_degf(design: SurveyDesign, inside: BoolArray) -> int:
    """Degrees of freedom of R's ``subset(design, domain)``: PSUs minus strata holding the
    domain's rows (a calibrated design keeps all rows); for replicate weights, the rank of
    the domain's replicate weights minus one."""
    if design.calibration:
        return int(design.degf)
    s = design.structure
    if s is None:
        reps = design.replicate_weights
        assert reps is not None
        return int(np.linalg.matrix_rank(reps[inside])) - 1
    psus = np.unique(s.psu[inside])
    return int(psus.size - np.unique(s.psu_stratum[psus]).size)


def _pearson(table: np.ndarray, nr: int, nc: int) -> float:
    """Pearson's X^2 of an r x c table given column-major (rows fastest), as R
    ``chisq.test(correct=FALSE)``."""
    t = table.reshape(nc, nr).T
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(((t - expected) ** 2 / expected).sum())


def _interaction_basis(nr: int, nc: int) -> np.ndarray:
    """Interaction contrasts of an r x c table (rows fastest), residualised on the main
    effects: R's ``qr.resid(qr(X1), X12[, interaction columns])``."""
    rows = np.tile(np.arange(nr), nc)
    cols = np.repeat(np.arange(nc), nr)
    main = np.column_stack(
        [np.ones(nr * nc)]
        + [(rows == i).astype(float) for i in range(1, nr)]
        + [(cols == j).astype(float) for j in range(1, nc)]
    )
    inter = np.column_stack(
        [((rows == i) & (cols == j)).astype(float) for j in range(1, nc) for i in range(1, nr)]
    )
    coef, *_ = np.linalg.lstsq(main, inter, rcond=None)
    basis: np.ndarray = inter - main @ coef
    return basis


def _design_effect_matrix(
    p: np.ndarray, cov: np.ndarray, n_rows: int, nr: int, nc: int
) -> np.ndarray:
    """Rao-Scott's ``Delta``: the design covariance of the interaction contrasts relative
    to their multinomial covariance (R ``svychisq``, with empty cells given weight 0)."""
    c = _interaction_basis(nr, nc)
    inv_p = np.divide(1.0, p, out=np.zeros_like(p), where=p != 0)
    cp = c * inv_p[:, None]
    denom = c.T @ cp / n_rows
    numer = cp.T @ cov @ cp
    return np.linalg.solve(denom, numer)


def _wald(
    fam: RatioFamily, nr: int, nc: int, nu: float, statistic: str
) -> tuple[float, float, float]:
    """Wald test on the cell totals' departures from independence ``T - R C' / G``."""
    t = fam.theta.ravel()
    cov = estimators.family_variance(fam, full=True)
    rows = np.tile(np.arange(nr), nc)
    cols = np.repeat(np.arange(nc), nr)
    row_tot = np.bincount(rows, t, minlength=nr)
    col_tot = np.bincount(cols, t, minlength=nc)
    grand = t.sum()
    y = t - row_tot[rows] * col_tot[cols] / grand
    # Jacobian of y with respect to the cell totals
    same_row = rows[:, None] == rows[None, :]
    same_col = cols[:, None] == cols[None, :]
    jac = (
        np.eye(nr * nc)
        - same_row * (col_tot[cols] / grand)[:, None]
        - same_col * (row_tot[rows] / grand)[:, None]
        + (row_tot[rows] * col_tot[cols] / grand**2)[:, None]
    )
    v = jac @ cov @ jac.T
    use = (rows > 0) & (cols > 0)
    try:
        wald = float(y[use] @ np.linalg.solve(v[np.ix_(use, use)], y[use]))
    except np.linalg.LinAlgError as exc:
        raise EstimationError(
            "chisq: the covariance of the table is singular (an empty row or column?); "
            "use statistic='F'"
        ) from exc
    d = (nr - 1) * (nc - 1)
    if statistic == "Wald":
        return wald / d, float(d), nu
    ddf = nu - d + 1
    return wald * ddf / (d * nu), float(d), ddf
