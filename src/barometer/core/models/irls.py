"""Generalised linear models by iteratively reweighted least squares (R ``glm.fit``).

Families with their canonical links, as R's ``gaussian()``, ``binomial()``/``quasibinomial()``
and ``poisson()``/``quasipoisson()``: a survey fit uses only the mean and variance functions
(the quasi-families estimate the same coefficients; ``svyglm``'s sandwich variance does not
use the dispersion). Each step is the weighted least-squares step of IRLS (McCullagh and
Nelder 1989, sec. 2.5) written as a Newton step, ``beta += (X'WX)^-1 X'W (y - mu) / mu'``,
solved on the equilibrated p x p Gram matrix; the bread of the sandwich is the inverse of the
last iteration's Gram matrix, as R's ``glm.fit`` keeps the QR of its last iteration (R takes it
from the QR; the equilibrated inverse agrees to ~1e-12). The Gram matrix, the one n x p x p
product per iteration, is a symmetric rank-k update (BLAS ``dsyrk``) of ``sqrt(W) X``: half
the flops of a general product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import special
from scipy.linalg import blas

from barometer.errors import EstimationError
from barometer.options import ModelFamily as Family

#: coefficients have converged when no step moves one by more than this, relative
_TOL = 1e-13
_MAX_ITER = 100


@dataclass(frozen=True)
class Link:
    """A family's inverse link, its derivative and the variance function."""

    name: str

    @property
    def kind(self) -> str:
        return (
            "binomial" if "binomial" in self.name else "poisson" if "poisson" in self.name else ""
        )

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        if self.kind == "binomial":
            # scipy's expit is 1 / (1 + exp(-eta)) too, at three times the cost
            with np.errstate(over="ignore"):
                out: np.ndarray = 1.0 / (1.0 + np.exp(-eta))
            return out
        if self.kind == "poisson":
            exp: np.ndarray = np.exp(eta)
            return exp
        return eta

    def mu_eta(self, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """``d mu / d eta``; ``mu`` (``linkinv(eta)``, when at hand) spares recomputing it."""
        if mu is None:
            mu = self.linkinv(eta)
        if self.kind == "binomial":
            return mu * (1.0 - mu)
        if self.kind == "poisson":
            return mu
        return np.ones_like(eta)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.kind == "binomial":
            return mu * (1.0 - mu)
        if self.kind == "poisson":
            return mu
        return np.ones_like(mu)

    def start(self, y: np.ndarray) -> np.ndarray:
        """R's ``mustart`` (linear predictor): ``(y + 1/2) / 2`` for binomial with unit
        trials, ``y + 0.1`` for Poisson, ``y`` otherwise."""
        if self.kind == "binomial":
            mu = (y + 0.5) / 2.0
            out: np.ndarray = special.logit(mu)
            return out
        if self.kind == "poisson":
            return np.log(y + 0.1)
        return y


@dataclass(frozen=True, eq=False)
class Fit:
    """A converged fit: coefficients, the bread ``(X'WX)^-1`` and the score factor.

    ``score[i] = w_i mu_eta_i (y_i - mu_i) / V(mu_i)``: the estimating function of row ``i``
    is ``x_i score_i`` (R: ``model.matrix * resid(working) * weights``)."""

    beta: np.ndarray
    bread: np.ndarray
    score: np.ndarray
    mu: np.ndarray


def check_response(y: np.ndarray, link: Link, response: str) -> None:
    """Refuse a response the family cannot model (R accepts some of these with a warning)."""
    if link.kind == "binomial" and not ((y == 0.0) | (y == 1.0)).all():
        bad = y[(y != 0.0) & (y != 1.0)][0]
        raise EstimationError(
            f"response {response!r} must be 0/1 (or a comparison such as I(q == 'yes')) for "
            f"family {link.name!r}; it has the value {bad!r}"
        )
    if link.kind == "poisson" and (y < 0).any():
        raise EstimationError(
            f"response {response!r} must be non-negative for family {link.name!r}; "
            f"it has the value {y[y < 0][0]!r}"
        )


def _gram_dense(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X' diag(w) X`` (p x p) for ``w >= 0``, as ``dsyrk`` of ``sqrt(w) X`` (column-major,
    so that BLAS reads it without a copy)."""
    root = np.asfortranarray(x * np.sqrt(w)[:, None])
    upper: np.ndarray = blas.dsyrk(1.0, root, trans=1)
    g: np.ndarray = np.triu(upper) + np.triu(upper, 1).T
    return g


def _mv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a tall ``a``, in NumPy's own loop: OpenBLAS would run it on all cores,
    and its idle threads spin between the calls of an IRLS loop -- on a busy machine that
    doubles the fit's CPU time for no gain on a memory-bound product."""
    out: np.ndarray = np.einsum("ij,j->i", a, b)
    return out


@dataclass(frozen=True, eq=False)
class Cells:
    """The model matrix split by its 0/1 columns (dummies of factors and their interactions,
    the intercept): every row's 0/1 part is one of ``pattern``'s K rows, ``cell[i]`` which.

    ``X'WX`` then needs only sums by cell -- of the weights, and of the weights times each
    other column -- instead of an n x p x p product: ``C'WC = P' diag(sum_k w) P``,
    ``C'WV = P' (sum_k w v)`` and a dense ``V'WV`` over the few other columns ``V``."""

    cell: np.ndarray
    pattern: np.ndarray
    ind: np.ndarray
    other: np.ndarray
    v: np.ndarray

    @staticmethod
    def of(x: np.ndarray) -> Cells | None:
        """The split of ``x``, or None when it would not pay (fewer than two 0/1 columns,
        more than 62 of them, or nearly as many cells as rows)."""
        n, p = x.shape
        binary = np.array([bool(((x[:, j] == 0.0) | (x[:, j] == 1.0)).all()) for j in range(p)])
        ind, other = np.flatnonzero(binary), np.flatnonzero(~binary)
        if ind.size < 2 or ind.size > 62:
            return None
        key = np.zeros(n, dtype=np.int64)
        for bit, j in enumerate(ind):
            key |= x[:, j].astype(np.int64) << bit
        _, first, cell = np.unique(key, return_index=True, return_inverse=True)
        if first.size > n // 4:
            return None
        v = np.asfortranarray(x[:, other])
        return Cells(cell.ravel(), np.ascontiguousarray(x[np.ix_(first, ind)]), ind, other, v)

    def subset(self, rows: np.ndarray) -> Cells:
        return Cells(self.cell[rows], self.pattern, self.ind, self.other, self.v[rows])

    @property
    def width(self) -> int:
        return int(self.ind.size + self.other.size)

    def dot(self, beta: np.ndarray) -> np.ndarray:
        """``X @ beta``: the 0/1 part by cell, gathered, plus the other columns'."""
        out: np.ndarray = _mv(self.pattern, beta[self.ind])[self.cell]
        if self.other.size:
            out += _mv(self.v, beta[self.other])
        return out

    def tdot(self, r: np.ndarray) -> np.ndarray:
        """``X' r`` from the sums of ``r`` by cell."""
        out = np.empty(self.width)
        sums = np.bincount(self.cell, r, minlength=self.pattern.shape[0])
        out[self.ind] = np.einsum("ij,i->j", self.pattern, sums)
        if self.other.size:
            out[self.other] = np.einsum("ij,i->j", self.v, r)
        return out

    def dense(self) -> np.ndarray:
        """The model matrix itself (rows x columns)."""
        x = np.empty((self.cell.size, self.width), order="F")
        x[:, self.ind] = self.pattern[self.cell]
        x[:, self.other] = self.v
        return x

    def gram(self, w: np.ndarray) -> np.ndarray:
        k, p = self.pattern.shape[0], self.ind.size + self.other.size
        s0 = np.bincount(self.cell, w, minlength=k)
        g = np.empty((p, p))
        g[np.ix_(self.ind, self.ind)] = np.einsum(
            "ki,kj->ij", self.pattern * s0[:, None], self.pattern
        )
        if self.other.size:
            vw = self.v * w[:, None]  # column-major, as v: the sums by cell read columns
            sv = np.stack(
                [np.bincount(self.cell, vw[:, j], minlength=k) for j in range(vw.shape[1])],
                axis=1,
            )
            cross = np.einsum("ki,kj->ij", self.pattern, sv)
            g[np.ix_(self.ind, self.other)] = cross
            g[np.ix_(self.other, self.ind)] = cross.T
            vv = np.einsum("ij,ik->jk", vw, self.v)
            g[np.ix_(self.other, self.other)] = 0.5 * (vv + vv.T)
        return g


@dataclass(frozen=True, eq=False)
class _Dense:
    """A model matrix that does not split into cells, with ``Cells``' operations."""

    x: np.ndarray

    def dot(self, beta: np.ndarray) -> np.ndarray:
        return _mv(self.x, beta)

    def tdot(self, r: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.einsum("ij,i->j", self.x, r)
        return out

    def gram(self, w: np.ndarray) -> np.ndarray:
        return _gram_dense(self.x, w)

    def dense(self) -> np.ndarray:
        return self.x

    def subset(self, rows: np.ndarray) -> _Dense:
        return _Dense(self.x[rows])


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``gram^-1 rhs`` after scaling ``gram`` to a unit diagonal (equilibration)."""
    s = 1.0 / np.sqrt(np.diag(gram))
    col = s if rhs.ndim == 1 else s[:, None]
    out: np.ndarray = col * scipy.linalg.solve(gram * np.outer(s, s), col * rhs, assume_a="pos")
    return out


def check_rank(gram: np.ndarray, columns: tuple[str, ...]) -> None:
    """A singular model matrix is an error naming an aliased column (R drops it as NA).

    The rank is that of R's pivoted QR of ``sqrt(W) X`` (tolerance 1e-7), found from the
    small Gram matrix ``X'WX``: a square root ``M`` with ``M'M = X'WX`` has the same column
    norms and pivots, so the p x p factorisation stands in for the n x p one. Which positive
    weights ``W`` are used does not change the rank, so IRLS checks its first Gram matrix."""
    if gram.shape[0] == 0:
        raise EstimationError("the model has no coefficient")
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    zero = norms <= 1e-7 * norms.max()
    if zero.any():
        raise EstimationError(
            f"the model matrix is singular: column {columns[int(np.flatnonzero(zero)[0])]!r} "
            "is zero in every row the model uses; drop that term"
        )
    scaled = gram / np.outer(norms, norms)
    vals, vecs = np.linalg.eigh(scaled)
    root = np.sqrt(np.maximum(vals, 0.0))[:, None] * vecs.T
    r, piv = scipy.linalg.qr(root, mode="r", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > 1e-7 * diag.max()).sum())
    if rank < gram.shape[0]:
        aliased = [columns[int(j)] for j in piv[rank:]]
        raise EstimationError(
            f"the model matrix is singular: column {aliased[0]!r} is a linear combination of "
            f"the others ({len(aliased)} aliased); drop or merge that term"
        )


def _separated(x: np.ndarray, y: np.ndarray, columns: tuple[str, ...]) -> str:
    """The first 0/1 column whose rows with 1 all share one response: the separating term."""
    for j, name in enumerate(columns):
        col = x[:, j]
        if name == "Intercept" or not np.isin(col, (0.0, 1.0)).all():
            continue
        on = col == 1.0
        if on.any() and (y[on].min() == y[on].max()):
            return name
        off = ~on
        if off.any() and (y[off].min() == y[off].max()):
            return name
    return ""


def irls(
    x: np.ndarray | None,
    y: np.ndarray,
    w: np.ndarray,
    link: Link,
    offset: np.ndarray,
    columns: tuple[str, ...],
    start: np.ndarray | None = None,
    full: bool = True,
    cells: Cells | None = None,
) -> Fit:
    """Fit by IRLS with prior weights ``w`` (zero-weight rows do not count), from ``start``
    (coefficients; R's replicate fits start from the full-sample fit) or from R's
    ``mustart``; ``full=False`` skips what only the variance of a full-sample fit needs.
    Converges when no coefficient moves by more than 1e-13 relative; a binary
    response that some term separates perfectly is an error naming the term.

    With ``cells`` the model matrix is used only through them (``x`` may be None): ``X b``
    and ``X' r`` by cell. Every family has its canonical link, where ``d mu / d eta`` is the
    variance function: the working weights are ``w V(mu)`` and the score ``w (y - mu)``."""
    use = w > 0
    if not use.all():
        y, w, offset = y[use], w[use], offset[use]
        x = None if x is None else x[use]
        cells = None if cells is None else cells.subset(use)
    ops: Cells | _Dense
    if cells is None:
        assert x is not None, "irls needs the model matrix or its cells"
        ops = _Dense(x)
    else:
        ops = cells
    p = len(columns)
    eta = link.start(y) if start is None else ops.dot(start) + offset
    beta = np.full(p, np.nan) if start is None else start
    converged = False
    gram = np.empty((0, 0))
    with np.errstate(all="ignore"):
        for it in range(_MAX_ITER):
            mu = link.linkinv(eta)
            ww = w * link.mu_eta(eta, mu)
            if not np.isfinite(ww).all():
                break  # fitted means at the edge of the family's range: no finite fit
            gram = ops.gram(ww)
            if it == 0 and full:
                check_rank(gram, columns)
            try:
                if np.isfinite(beta).all():
                    # the IRLS step as a Newton step: the score is formed exactly, so the
                    # solver's rounding slows convergence at most, never moves the fixed point
                    delta = _solve(gram, ops.tdot(w * (y - mu)))
                    beta = beta + delta
                    step = float(np.abs(delta).max())
                else:
                    z = ww * (eta - offset) + w * (y - mu)  # ww times the working response
                    beta, step = _solve(gram, ops.tdot(z)), np.inf
            except (ValueError, np.linalg.LinAlgError):
                break  # weights of zero (fitted means at the edge): no finite step
            eta = ops.dot(beta) + offset
            if step <= _TOL * max(1.0, float(np.abs(beta).max())):
                converged = True
                break
        mu = link.linkinv(eta)
    tiny = 10 * np.finfo(float).eps
    edge = not np.isfinite(mu).all() or (mu < tiny).any() or (mu > 1 - tiny).any()
    if link.kind == "binomial" and (not converged or edge):
        term = _separated(ops.dense(), y, columns)
        which = f"term {term!r} separates" if term else "the terms separate"
        raise EstimationError(
            f"{which} the binary response perfectly (fitted probabilities of 0 or 1): the "
            "coefficients do not exist; R's glm only warns -- barometer refuses"
        )
    if not converged:
        raise EstimationError(
            f"the model did not converge in {_MAX_ITER} iterations (fitted means reach the "
            "edge of the family's range?)"
        )
    if not full:  # a replicate's re-fit: only its coefficients are used
        return Fit(beta, np.empty((0, 0)), np.empty(0), np.empty(0))
    # (X'WX)^-1 on the equilibrated Gram matrix of the last iteration (its weights are
    # those of coefficients within 1e-13 of the optimum); its rounding is that of its
    # condition number after scaling (collinearity only), ~1e-12 relative in practice
    bread = _solve(gram, np.eye(p))
    bread = 0.5 * (bread + bread.T)
    score = np.zeros(use.size)
    score[use] = w * (y - mu)
    mu_all = np.zeros(use.size)
    mu_all[use] = mu
    return Fit(beta, bread, score, mu_all)


__all__ = ["Cells", "Family", "Fit", "Link", "check_rank", "check_response", "irls"]
