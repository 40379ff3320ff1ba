"""Records of calibration steps, kept on a design so that variances account for them.

Each record holds what R's ``survey`` package keeps in ``design$postStrata`` after
``postStratify()``, ``rake()`` and ``calibrate()``; ``variance.linearisation`` applies them,
in order, to the influence values before the PSU totals are formed (``svyrecvar``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PostStratStep:
    """Post-stratification (R ``postStratify``): cells and the weights before and after.

    Variance: ``x - psw * mean_g(x * oldw / psw, weighted by oldw)`` within cell ``g``.
    """

    cells: np.ndarray  # int codes 0..C-1, one per row
    old_weights: np.ndarray
    new_weights: np.ndarray


@dataclass(frozen=True, eq=False)
class RakingStep:
    """Raking (R ``rake``): each margin's codes, and the weights after post-stratifying on
    that margin in the last sweep (at convergence, all equal the final weights).

    Variance: ten sweeps of ``x - psw * ave(x / psw, margin)`` over the margins, as R does.
    """

    margins: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)
class GregStep:
    """Generalised regression calibration (R ``calibrate``).

    ``model_matrix`` is the calibration model matrix (n x p), ``old_weights`` the weights
    before calibration and ``g`` the g-weights (new = old * g). Variance: residuals of the
    weighted regression, ``x - w_new X (X' W_old X)^-1 X' (x / g)``.
    """

    model_matrix: np.ndarray
    old_weights: np.ndarray
    g: np.ndarray


CalibrationStep = PostStratStep | RakingStep | GregStep
