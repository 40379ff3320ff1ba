"""Calibration residuals from cell sums alone, for designs whose rows stay in an engine.

When a design was calibrated on its table of cells — raked, post-stratified or calibrated
(linear, raking or logit GREG) on categorical margins, with no cap — every step multiplies
the weights of a cell by one factor. The steps are then recorded on that table (one row
per joint cell ``J``, its weights the cells' summed weights), and R ``svyrecvar``'s
residuals (``variance.linearisation.apply_steps``) of all respondents follow from sums by
cell; no respondent's influence value has to be formed.

Derivation. Let ``w_i`` be the final weights. Every step's weights are ``w_i alpha(J)``
with ``alpha`` constant within cells, so by induction over the steps the residual of
respondent ``i`` in cell ``J`` is

    x_i = z_i - w_i C[J]        (C: J x K, zero before the first step)

and each step needs only cell sums of ``x``: with ``U1[J] = sum_{i in J} z_i / w_i``,
``Uw[J] = sum_{i in J} z_i``, ``n_J`` the respondents and ``W_J`` the final weight of cell
``J``,

* ``postStratify`` (``psw = w alpha``, ``oldw / psw = beta``): ``M_c = sum_{J in c} beta_J
  (Uw[J] - W_J C[J]) / sum_{J in c} oldw_J`` and ``C[J] += alpha_J M_{c(J)}``;
* ``rake``, ten sweeps over the margins (``psw_v = w alpha_v``): ``M_c = sum_{J in c}
  (U1[J] - n_J C[J]) / alpha_vJ / sum_{J in c} n_J`` and ``C[J] += alpha_vJ M_{c(J)}``;
* GREG (``x - w_new X (X' W_old X)^- X' (x / g)``, ``X`` and ``g`` constant in cells):
  ``B = (X' W_old X)^- X' v`` with ``v_J = (Uw[J] - W_J C[J]) / g_J``, and
  ``C[J] += alpha_J X_J B`` (``w_new = w alpha``).

The variance then needs, per PSU ``p`` (per stratum ``h`` for an element design), the
weights by (unit, cell): ``Z_p - sum_J W_pJ C[J]``; and for an element design's second
moments ``sum_i s_i x_i x_i' = sum_i s_i z_i z_i' - (V' C + C' V) + C' diag(S) C`` with
``V[J] = sum_{i in J} s_i w_i z_i`` and ``S_J = sum_{i in J} s_i w_i^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from barometer.core.variance.calibrated import RAKING_SWEEPS
from barometer.core.variance.steps import CalibrationStep, GregStep, PostStratStep, RakingStep


@dataclass(frozen=True, eq=False)
class CellSteps:
    """Calibration steps recorded on the table of cells: ``steps`` (their arrays have one
    entry per cell), ``n`` respondents and ``weights`` (final summed weight) per cell."""

    steps: tuple[CalibrationStep, ...]
    n: np.ndarray
    weights: np.ndarray


def _cell_mean(codes: np.ndarray, values: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``rowsum(values, codes) / norm`` for (J x K) ``values``."""
    size = int(codes.max()) + 1 if codes.size else 0
    onehot = sp.csr_matrix(
        (np.ones(codes.size), (codes, np.arange(codes.size))), shape=(size, codes.size)
    )
    summed = np.asarray(onehot @ values).reshape(size, values.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = summed / norm[:size, None]
    return out


def residual_table(cells: CellSteps, u1: np.ndarray, uw: np.ndarray) -> np.ndarray:
    """``C`` (J x K) with the calibration residuals ``x_i = z_i - w_i C[J(i)]``, from the
    family's cell sums ``U1`` and ``Uw`` (see the module doc)."""
    big_w, n = cells.weights, cells.n.astype(float)
    c = np.zeros_like(uw)
    for step in cells.steps:
        if isinstance(step, PostStratStep):
            g = step.cells
            alpha = step.new_weights / big_w
            beta = step.old_weights / step.new_weights
            norm = np.bincount(g, step.old_weights)
            c += alpha[:, None] * _cell_mean(g, beta[:, None] * (uw - big_w[:, None] * c), norm)[g]
        elif isinstance(step, RakingStep):
            margins = [
                (codes, psw / big_w, np.bincount(codes, n))
                for codes, psw in zip(step.margins, step.weights, strict=True)
            ]
            for _ in range(RAKING_SWEEPS):
                for codes, alpha, counts in margins:
                    x = (u1 - n[:, None] * c) / alpha[:, None]
                    c += alpha[:, None] * _cell_mean(codes, x, counts)[codes]
        elif isinstance(step, GregStep):
            x_mat, old = step.model_matrix, step.old_weights
            root = np.sqrt(old)
            v = (uw - big_w[:, None] * c) / step.g[:, None]
            # (X' W_old X)^- X' v as least squares on sqrt(W_old) X: the fitted values
            # X B do not depend on the generalised inverse, and no normal equations form
            b = np.linalg.lstsq(x_mat * root[:, None], v / root[:, None], rcond=None)[0]
            c += ((old * step.g) / big_w)[:, None] * (x_mat @ b)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown calibration step {type(step).__name__}")
    return c


def unit_corrections(unit_weights: sp.csr_matrix, c: np.ndarray) -> np.ndarray:
    """What calibration takes off each unit's (PSU's, or an element design's stratum's)
    total of the influence values: ``sum_J W_uJ C[J]``, (K x units)."""
    out: np.ndarray = np.asarray(unit_weights @ c).T
    return out


def element_second_moments(v: np.ndarray, s: np.ndarray, c: np.ndarray, full: bool) -> np.ndarray:
    """What calibration changes in ``sum_i s_i x_i x_i'`` of an element design:
    ``-(V' C + C' V) + C' diag(S) C`` (its diagonal unless ``full``)."""
    if full:
        cross = v.T @ c
        out: np.ndarray = (c * s[:, None]).T @ c - cross - cross.T
        return out
    diag: np.ndarray = np.einsum("jk,jk->k", c, c * s[:, None] - 2.0 * v)
    return diag


__all__ = ["CellSteps", "element_second_moments", "residual_table", "unit_corrections"]
