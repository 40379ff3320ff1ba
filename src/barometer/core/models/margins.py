"""Predicted margins of a design-based GLM (R ``svypredmeans``) and their contrasts.

For each level ``g`` of a factor, every respondent's prediction with the factor set to
``g``, averaged with the design weights: ``m_g = sum_i w_i mu_i(g) / sum_i w_i``. As R, the
model used is the given one with the factor added (if it is not already a term), and the
variance is that of the weighted mean of the fixed predictions plus
``D' V D`` for the coefficients' uncertainty (``D_g = sum_i w_i mu'_i(g) x_i(g) / sum w``;
Graubard and Korn 1999, "Predictive margins with survey data", Biometrics 55, 652-659;
R ``svypredmeans``, which leaves out the covariance between the two parts -- so does
barometer). Differences of margins (average marginal effects) are contrasts of them with
that covariance (R ``svycontrast``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from barometer.core import influence
from barometer.core._frame import check_columns
from barometer.core.estimates import Contrast, linear_contrast
from barometer.core.intervals import wald_interval
from barometer.core.models import formula as fm
from barometer.core.models.irls import Link
from barometer.errors import EstimationError, did_you_mean

if TYPE_CHECKING:
    from barometer.core.models.glm import Model


@dataclass(frozen=True, eq=False)
class Margins:
    """Predicted margins: one row per level of ``group`` with ``estimate, se, ci_low,
    ci_high`` (normal intervals, as ``confint`` of R's ``svystat``), and their covariance."""

    group: str
    levels: tuple[str, ...]
    estimates: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    confidence: float = 0.95

    def to_polars(self) -> pl.DataFrame:
        """``group, estimate, se, ci_low, ci_high``, one row per level."""
        se = np.sqrt(np.maximum(np.diag(self.covariance), 0.0))
        lo, hi = wald_interval(self.estimates, se, self.confidence)
        return pl.DataFrame(
            {
                self.group: list(self.levels),
                "estimate": self.estimates,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
            }
        )

    def vcov(self) -> np.ndarray:
        """Covariance of the margins, in level order."""
        return self.covariance.copy()

    def contrast(self, coefficients: Mapping[str, float] | Sequence[float]) -> Contrast:
        """``sum_g c_g m_g`` with its SE (R ``svycontrast``); coefficients by level or in
        level order."""
        c = np.zeros(len(self.levels))
        if isinstance(coefficients, Mapping):
            for level, value in coefficients.items():
                c[self._index(str(level))] = float(value)
        else:
            c = np.asarray(coefficients, dtype=float)
            if c.shape != (len(self.levels),):
                raise EstimationError(
                    f"contrast needs {len(self.levels)} coefficients (one per level), not {c.size}"
                )
        return linear_contrast(self.estimates, self.covariance, c, self.confidence)

    def difference(self, level: str, reference: str) -> Contrast:
        """The margin of ``level`` minus that of ``reference`` (an average marginal effect)."""
        return self.contrast({level: 1.0, reference: -1.0})

    def _index(self, level: str) -> int:
        if level not in self.levels:
            raise EstimationError(
                f"{level!r} is not a level of {self.group!r}{did_you_mean(level, self.levels)}"
            )
        return self.levels.index(level)


def predmeans(model: Model, group: str, confidence: float = 0.95) -> Margins:
    """Predicted margins of ``model`` by the levels of ``group`` (R ``svypredmeans``)."""
    from barometer.core.design import ReplicateDesign
    from barometer.core.models.glm import fit

    design = model.design
    data = design.data
    check_columns(data, [group], "group", EstimationError)
    n = data.height
    rows = model.frame.rows
    keep = np.zeros(n, dtype=bool)
    keep[rows] = True
    if group in model.frame.variables:
        adjusted = model
    else:
        lhs, rhs = model.formula.split("~", 1)
        name = group if group.isidentifier() else f"`{group}`"
        adjusted = fit(design, f"{lhs}~{rhs} + C({name})", model.family, model.offset, keep)
    sub = data[rows]
    values = sub.get_column(group).drop_nulls().unique().sort()
    w = np.asarray(design.weights, dtype=np.float64)[rows]
    link = Link(model.family)
    off = model.offset_values(None)
    fits = np.empty((rows.size, values.len()))
    grad = np.empty((adjusted.coefficients.size, values.len()))
    for j, value in enumerate(values):
        x = fm.new_matrix(
            adjusted.frame, sub.with_columns(pl.lit(value, values.dtype).alias(group))
        )
        eta = x @ adjusted.coefficients + off
        fits[:, j] = link.linkinv(eta)
        grad[:, j] = (w * link.mu_eta(eta)) @ x / w.sum()
    means = w @ fits / w.sum()
    if isinstance(design, ReplicateDesign):
        reps = design.replicate_weights[rows]
        thetas = (fits.T @ reps) / reps.sum(axis=0)
        cond = influence.replicate_vcov(design, thetas, means)
    else:
        z = np.zeros((n, values.len()))
        z[rows] = w[:, None] * (fits - means) / w.sum()
        cond = influence.linearised_vcov(design, z, keep)
    cov = grad.T @ adjusted.covariance @ grad + cond
    labels = tuple(str(v) for v in values.to_list())
    return Margins(group, labels, means, cov, confidence)


__all__ = ["Margins", "predmeans"]
