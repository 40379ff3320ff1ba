"""Taylor-linearisation variance (R ``svyrecvar`` with ``onestage``/``onestrat``, first stage).

The variance of a vector of estimators with influence values ``z_i`` is

    V = sum_h scale_h [ sum_{j in h} Z_hj Z_hj' - (1/n_h) Z_h. Z_h.' ]

with ``Z_hj`` the PSU totals of ``z`` and ``scale_h = f_h n_h / (n_h - 1)`` (Wolter 2007,
ch. 6; Lumley 2010, sec. 2.2). Strata with a lonely PSU follow R's ``survey.lonely.psu``.
The functions take two sums that every path can compute cheaply:
``S2`` = sum over PSUs of ``scale_h(p) Z_p Z_p'`` (its diagonal, or in full) and
``S1[:, h]`` = the stratum totals ``Z_h.``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from barometer.core._protocols import FloatArray
from barometer.core.variance.steps import CalibrationStep, GregStep, PostStratStep, RakingStep

if TYPE_CHECKING:
    from barometer.core.design import Structure


def stratum_factors(structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    """Per-stratum ``scale_h`` and the centring factor ``c_h`` (0: stratum not centred)."""
    s = structure
    scale = np.where(s.census, 0.0, s.scale)
    lonely = s.n_psu == 1
    centre = scale / s.n_psu
    if s.lonely_psu == "adjust":
        # R: a lonely PSU is not centred, i.e. it is centred on the grand mean (zero)
        centre = np.where(lonely, 0.0, centre)
    return scale, centre


def combine(
    s2: np.ndarray, s1: np.ndarray, structure: Structure, strata_present: np.ndarray | None
) -> np.ndarray:
    """Variance from the sums: ``S2 - S1 diag(c) S1'`` (diagonal if ``s2`` is 1-D).

    ``strata_present`` (K x H bool) marks, per estimate, the strata that hold its domain; it
    is needed only for ``lonely_psu='average'``, whose lonely strata take the average of the
    others: R multiplies by ``nstrat / nokstrat``.
    """
    _, centre = stratum_factors(structure)
    if s2.ndim == 1:
        v = s2 - (s1 * s1) @ centre
    else:
        v = s2 - _centring(s1, centre)
    if structure.lonely_psu == "average":
        lonely = structure.n_psu == 1
        if lonely.any():
            present = (
                np.ones((s1.shape[0], lonely.size), bool)
                if strata_present is None
                else strata_present
            )
            nstrat = present.sum(axis=1)
            nok = nstrat - (present & lonely).sum(axis=1)
            factor = np.where(nok > 0, nstrat / np.maximum(nok, 1), np.nan)
            v = v * factor if v.ndim == 1 else v * np.sqrt(np.outer(factor, factor))
    out: FloatArray = v
    return out


def _centring(s1: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``S1 diag(c) S1'`` (K x K). An estimate's stratum totals are zero outside the
    strata its domain meets — a domain of one country and wave meets one stratum of a
    poll stratified by country x wave — so ``S1`` is mostly zeros and the product is
    taken sparse: it costs the pairs of estimates sharing a stratum, not K^2 H (with H
    in the tens, a dense K x H x K product is many small BLAS calls' worth of threads
    for little arithmetic). Each entry sums the same terms, the zeros left out."""
    if s1.size and np.count_nonzero(s1) * 4 < s1.size:
        left = sp.csr_matrix(s1 * centre)
        dense: np.ndarray = (left @ sp.csr_matrix(s1).T).toarray()
        return dense
    out: np.ndarray = (s1 * centre) @ s1.T
    return out


def psu_sums(z_psu: np.ndarray, structure: Structure, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """S2 and S1 from PSU totals ``z_psu`` (K x P, PSUs in stratum order)."""
    s = structure
    scale, _ = stratum_factors(s)
    scale_p = scale[s.psu_stratum]
    starts = np.concatenate([[0], np.cumsum(s.n_psu)[:-1]])
    s1 = np.add.reduceat(z_psu, starts, axis=1) if z_psu.shape[1] else z_psu
    s2 = (z_psu * scale_p) @ z_psu.T if full else np.einsum("kp,kp,p->k", z_psu, z_psu, scale_p)
    return s2, s1


def apply_steps(x: np.ndarray, steps: tuple[CalibrationStep, ...]) -> np.ndarray:
    """Replace influence values ``x`` (n x K) by their calibration residuals, step by step,
    as R ``svyrecvar`` does with ``design$postStrata``."""
    for step in steps:
        if isinstance(step, PostStratStep):
            x = _poststrat_residual(x, step)
        elif isinstance(step, RakingStep):
            x = _raking_residual(x, step)
        elif isinstance(step, GregStep):
            x = _greg_residual(x, step)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown calibration step {type(step).__name__}")
    return x


def _cell_sum(codes: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    """Column sums of ``values`` (n x K) within cells: (size x K)."""
    n = codes.size
    onehot = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(size, n))
    return np.asarray(onehot @ values)


def _poststrat_residual(x: np.ndarray, step: PostStratStep) -> np.ndarray:
    # R: psmeans <- rowsum(x * oldw / psw, g) / tapply(oldw, g, sum); x - psmeans[g] * psw
    g = step.cells
    size = int(g.max()) + 1
    ratio = step.old_weights / step.new_weights
    means = (
        _cell_sum(g, size, x * ratio[:, None])
        / np.bincount(g, step.old_weights, minlength=size)[:, None]
    )
    out: FloatArray = x - means[g] * step.new_weights[:, None]
    return out


def _raking_residual(x: np.ndarray, step: RakingStep) -> np.ndarray:
    # R: ten sweeps of x <- x - psw * ave(x / psw, margin), whatever the convergence
    x = x.copy()
    margins = [(m, int(m.max()) + 1, w) for m, w in zip(step.margins, step.weights, strict=True)]
    for _ in range(10):
        for codes, size, psw in margins:
            counts = np.bincount(codes, minlength=size).astype(float)
            means = _cell_sum(codes, size, x / psw[:, None]) / counts[:, None]
            x -= psw[:, None] * means[codes]
    return x


def _greg_residual(x: np.ndarray, step: GregStep) -> np.ndarray:
    # R: qr.resid(qr(X * sqrt(w_old)), x / w) * w, with w = g * sqrt(w_old)
    import scipy.linalg  # here: only a GREG step needs it (~0.05 s of every start-up)

    whalf = np.sqrt(step.old_weights)
    q, r, _ = scipy.linalg.qr(step.model_matrix * whalf[:, None], mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > 1e-7 * diag.max()).sum()) if diag.size else 0
    q = q[:, :rank]
    w = step.g * whalf
    u = x / w[:, None]
    out: FloatArray = (u - q @ (q.T @ u)) * w[:, None]
    return out
