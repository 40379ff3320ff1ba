"""Records of calibration steps, kept on a design so that variances account for them.

Each record holds what R's ``survey`` package keeps in ``design$postStrata`` after
``postStratify()``, ``rake()`` and ``calibrate()``; ``variance.linearisation`` applies them,
in order, to the influence values before the PSU totals are formed (``svyrecvar``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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

    Raking works on the table of cells, so the record is kept there: ``cell`` maps rows to
    cells, ``cell_margins[m]`` cells to the levels of margin ``m`` and ``factors[m]`` holds
    each cell's factor after margin ``m`` in the last sweep. The per-row ``margins`` and
    ``weights`` R keeps are formed only when a variance first asks for them: raking alone
    then never pays for them. Row ``i``'s weight after margin ``m`` is
    ``base[i] * factors[m][cell[i]] + fixed[i]`` (``fixed``: weights held at a cap or floor,
    which raking does not scale).
    """

    cell: np.ndarray
    cell_margins: tuple[np.ndarray, ...]
    base: np.ndarray
    factors: tuple[np.ndarray, ...]
    fixed: np.ndarray | None = None

    @cached_property
    def margins(self) -> tuple[np.ndarray, ...]:
        """Each row's level code of every margin."""
        return tuple(np.take(c.astype(np.int32), self.cell) for c in self.cell_margins)

    @cached_property
    def weights(self) -> tuple[np.ndarray, ...]:
        """Each row's weight after each margin's post-stratification in the last sweep."""
        out = []
        for f in self.factors:
            w = self.base * np.take(f, self.cell)
            out.append(w if self.fixed is None else w + self.fixed)
        return tuple(out)


@dataclass(frozen=True, eq=False)
class GregStep:
    """Generalised regression calibration (R ``calibrate``).

    ``model_matrix`` is the calibration model matrix (n x p), ``old_weights`` the weights
    before calibration and ``g`` the g-weights (new = old * g). Variance: residuals of the
    weighted regression, ``x - w_new X (X' W_old X)^-1 X' (x / g)``.

    ``cells`` (categorical margins only; None when the model has a numeric column) numbers
    each row's calibration cell 0..C-1, the crossing of the margins' levels present: the
    model matrix's row, and so the g-weight, is the same for every row of a cell, which
    lets the variance run on cell sums (``variance.calibrated.GregProjection``). ``matrix``
    is then the (C x p) matrix of the cells' rows, and the respondents' ``model_matrix`` is
    formed only if a variance asks for it (the dense path); without cells it is ``matrix``.
    """

    matrix: np.ndarray
    old_weights: np.ndarray
    g: np.ndarray
    cells: np.ndarray | None = None

    @cached_property
    def model_matrix(self) -> np.ndarray:
        """The model matrix, one row per respondent (n x p)."""
        if self.cells is None:
            return self.matrix
        return np.take(self.matrix, self.cells, axis=0)


CalibrationStep = PostStratStep | RakingStep | GregStep
