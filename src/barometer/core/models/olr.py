"""Design-based proportional-odds (ordinal logistic) regression, R ``svyolr``.

``P(y <= k | x) = logistic(zeta_k - x'beta)`` for the ordered levels ``1..K`` of the
response (McCullagh 1980); no intercept, ``K - 1`` cut-points ``zeta``. The estimates
maximise the weighted log-likelihood (Newton-Raphson with the analytic Hessian, to full
convergence). The variance is R's sandwich (Lumley 2010, sec. 6.3.2; Binder 1983): the
rows' scores times the inverse Hessian, whose design covariance comes from the core's
linearisation. As R, that Hessian is the central-difference Hessian (step 1e-3, R
``optimhess``) of the analytic gradient in R's parametrisation ``(beta, zeta_1,
log(zeta_k - zeta_{k-1}))``, mapped back to ``zeta`` by the delta method -- barometer
reproduces it so that its SEs equal R's; it differs from the exact Hessian by ~1e-7.
Linearisation designs only: R re-fits replicates with ``MASS::polr``, whose optimiser
stops too early to be a reference at 1e-8, so barometer refuses replicate designs here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
from scipy import special

from barometer.core import influence
from barometer.core.models import formula as fm
from barometer.core.models.table import coefficient_table
from barometer.errors import EstimationError

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign

#: R's stand-ins for the infinite outer cut-points, and optimhess's step
_EDGE = 100.0
_STEP = 1e-3


@dataclass(frozen=True, eq=False)
class OrdinalModel:
    """A fitted proportional-odds model: coefficients then cut-points (``"a|b"``), with
    design-based SEs; ``statistic`` is the t value, ``p_value`` and the interval use
    ``df_residual = degf - p`` (R ``svyolr``'s ``df.residual``; R prints no p-value)."""

    formula: str
    levels: tuple[str, ...]
    terms: tuple[str, ...]
    estimates: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    df_residual: float
    n: int

    def vcov(self) -> np.ndarray:
        """Covariance of (coefficients, cut-points)."""
        return self.covariance.copy()

    def to_polars(self, confidence: float = 0.95) -> pl.DataFrame:
        """``term, estimate, se, statistic, p_value, ci_low, ci_high``."""
        return coefficient_table(
            self.terms, self.estimates, self.covariance, self.df_residual, confidence
        )

    def to_pandas(self, confidence: float = 0.95) -> pd.DataFrame:
        """The coefficient table as a pandas DataFrame."""
        return self.to_polars(confidence).to_pandas()


@dataclass(frozen=True, eq=False)
class _Problem:
    x: np.ndarray  # (n, p) without intercept
    y: np.ndarray  # (n,) level 0..K-1
    w: np.ndarray
    q: int  # cut-points

    def parts(self, par: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per row: the two arguments ``a`` (upper), ``b`` (lower) and their Jacobians
        with respect to ``(beta, zeta)``."""
        p = self.x.shape[1]
        beta, zeta = par[:p], par[p:]
        cuts = np.concatenate([[-_EDGE], zeta, [_EDGE]])
        eta = self.x @ beta
        a, b = cuts[self.y + 1] - eta, cuts[self.y] - eta
        n = self.y.size
        da = np.zeros((n, p + self.q))
        db = np.zeros((n, p + self.q))
        da[:, :p] = -self.x
        db[:, :p] = -self.x
        up, low = self.y, self.y - 1  # zeta index of each row's upper / lower cut
        rows = np.arange(n)
        da[rows[up < self.q], p + up[up < self.q]] = 1.0
        db[rows[low >= 0], p + low[low >= 0]] = 1.0
        return a, b, da, db

    def row_gradients(self, par: np.ndarray) -> np.ndarray:
        """Each row's gradient of ``-w log P(y)`` with respect to ``(beta, zeta)``."""
        a, b, da, db = self.parts(par)
        pr = special.expit(a) - special.expit(b)
        fa, fb = _density(a), _density(b)
        grad: np.ndarray = -(self.w / pr)[:, None] * (fa[:, None] * da - fb[:, None] * db)
        return grad

    def hessian(self, par: np.ndarray) -> np.ndarray:
        """Analytic Hessian of ``-sum w log P(y)`` (for the Newton steps)."""
        a, b, da, db = self.parts(par)
        pr = special.expit(a) - special.expit(b)
        fa, fb = _density(a), _density(b)
        dfa, dfb = fa * (1 - 2 * special.expit(a)), fb * (1 - 2 * special.expit(b))
        laa = dfa / pr - fa * fa / pr**2
        lbb = -dfb / pr - fb * fb / pr**2
        lab = fa * fb / pr**2
        w = self.w
        h = (da * (w * laa)[:, None]).T @ da + (db * (w * lbb)[:, None]).T @ db
        cross = (da * (w * lab)[:, None]).T @ db
        out: np.ndarray = -(h + cross + cross.T)
        return out

    def loss(self, par: np.ndarray) -> float:
        a, b, _, _ = self.parts(par)
        pr = special.expit(a) - special.expit(b)
        return float(-(self.w * np.log(pr)).sum()) if (pr > 0).all() else np.inf


def _density(u: np.ndarray) -> np.ndarray:
    f = special.expit(u)
    out: np.ndarray = f * (1 - f)
    return out


def _jacobian(theta: np.ndarray) -> np.ndarray:
    """d zeta / d theta for ``zeta = cumsum(theta_1, exp(theta_2..))`` (R's ``jacobian``)."""
    k = theta.size
    mat = np.zeros((k, k))
    mat[:, 0] = 1.0
    for i in range(1, k):
        mat[i:, i] = np.exp(theta[i])
    return mat


def _newton(prob: _Problem, start: np.ndarray) -> np.ndarray:
    par = start
    loss = prob.loss(par)
    for _ in range(200):
        grad = prob.row_gradients(par).sum(axis=0)
        step = np.linalg.solve(prob.hessian(par), grad)
        t = 1.0
        while t > 1e-10:
            new = par - t * step
            new_loss = prob.loss(new)
            if np.isfinite(new_loss) and new_loss <= loss + 1e-12 * abs(loss):
                break
            t /= 2
        else:
            raise EstimationError("the ordinal model did not converge (separated levels?)")
        moved = np.abs(new - par).max()
        par, loss = new, new_loss
        if moved <= 1e-13 * max(1.0, float(np.abs(par).max())):
            return par
    raise EstimationError("the ordinal model did not converge in 200 iterations")


def _r_inverse_hessian(prob: _Problem, par: np.ndarray) -> np.ndarray:
    """R's ``Vm``: the inverse of ``optimhess``'s Hessian in ``(beta, theta)``, mapped to
    ``(beta, zeta)`` by the Jacobian of the cut-points."""
    p = prob.x.shape[1]
    zeta = par[p:]
    theta = np.concatenate([[zeta[0]], np.log(np.diff(zeta))])
    jac = _jacobian(theta)

    def gradient(b_theta: np.ndarray) -> np.ndarray:
        th = b_theta[p:]
        z = np.cumsum(np.concatenate([[th[0]], np.exp(th[1:])]))
        g = prob.row_gradients(np.concatenate([b_theta[:p], z])).sum(axis=0)
        return np.concatenate([g[:p], g[p:] @ _jacobian(th)])

    x0 = np.concatenate([par[:p], theta])
    k = x0.size
    hess = np.empty((k, k))
    for i in range(k):
        up, down = x0.copy(), x0.copy()
        up[i] += _STEP
        down[i] -= _STEP
        hess[i] = (gradient(up) - gradient(down)) / (2 * _STEP)
    hess = 0.5 * (hess + hess.T)
    a = np.eye(k)
    a[p:, p:] = jac
    vm: np.ndarray = a @ np.linalg.pinv(hess) @ a.T
    return vm


def olr(
    design: Design | ReplicateDesign,
    formula: str,
    levels: Sequence[object] | None = None,
    rows: np.ndarray | None = None,
) -> OrdinalModel:
    """Fit ``response ~ terms`` with the response's ordered ``levels``: by default an
    ``Enum`` column's declared order (a question's answer order, as an R ordered factor
    keeps its levels), any other column's values sorted (numbers as numbers, as R's
    ``factor``). See the module docstring."""
    from barometer.core.design import ReplicateDesign

    if isinstance(design, ReplicateDesign):
        raise EstimationError(
            "olr needs a linearisation design: replicate designs are not supported (see "
            "barometer.core.models.olr)"
        )
    frame = design.data
    lhs, rhs = formula.split("~", 1) if "~" in formula else ("", formula)
    response = lhs.strip().strip("`")
    if response not in frame.columns:
        raise EstimationError(f"olr: the response of {formula!r} must be a column of the data")
    keep = np.ones(frame.height, dtype=bool) if rows is None else rows
    # the response enters as its level code, so formulaic sees a numeric left-hand side
    coded = frame.with_columns(pl.col(response).cast(pl.String).alias("__olr_y"))
    column = frame.get_column(response)
    if levels is not None:
        order = [str(v) for v in levels]
    elif isinstance(column.dtype, pl.Enum):
        order = [str(v) for v in column.dtype.categories]
    else:
        order = sorted(
            {str(v) for v in column.drop_nulls().to_list()},
            key=lambda s: (float(s), s) if _is_number(s) else (np.inf, s),
        )
    code = {lev: i for i, lev in enumerate(order)}
    ys = coded.get_column("__olr_y").to_list()
    unknown = {v for v in ys if v is not None and v not in code}
    if unknown:
        raise EstimationError(f"olr: response value {sorted(unknown)[0]!r} is not in levels")
    coded = coded.with_columns(
        __olr_y=pl.Series([None if v is None else float(code[v]) for v in ys], dtype=pl.Float64)
    )
    names = [response, *fm.formula_variables(rhs, frame.columns)]
    keep = keep & ~fm.missing_rows(frame, names)
    mf = fm.build(coded, f"__olr_y ~ {rhs}", keep)
    present = np.unique(mf.y).astype(int)
    if present.size < 3:
        raise EstimationError(f"olr: response {response!r} needs 3 or more observed levels")
    order = [order[i] for i in present]
    y = np.searchsorted(present, mf.y.astype(int))
    cols = [j for j, c in enumerate(mf.columns) if c != "Intercept"]
    x = mf.x[:, cols]
    w = np.asarray(design.weights, dtype=np.float64)[mf.rows]
    q = len(order) - 1
    prob = _Problem(x, y, w, q)
    cum = np.cumsum(np.bincount(y, w, minlength=q + 1))[:-1] / w.sum()
    start = np.concatenate([np.zeros(x.shape[1]), special.logit(cum)])
    par = _newton(prob, start)
    vm = _r_inverse_hessian(prob, par)
    z = np.zeros((frame.height, par.size))
    z[mf.rows] = prob.row_gradients(par) @ vm
    inside = np.zeros(frame.height, dtype=bool)
    inside[mf.rows] = True
    cov = influence.linearised_vcov(design, z, inside)
    terms = tuple(mf.columns[j] for j in cols) + tuple(
        f"{a}|{b}" for a, b in itertools.pairwise(order)
    )
    df = float(influence.domain_degf(design, inside) - x.shape[1])
    return OrdinalModel(formula, tuple(order), terms, par, cov, df, int(mf.rows.size))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


__all__ = ["OrdinalModel", "olr"]
