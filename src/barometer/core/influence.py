"""Design-based covariance of estimators given by their influence values (or replicates).

An estimator that is a smooth function of weighted totals -- a ratio, a regression
coefficient, a predicted margin -- has influence values ``z_i`` (n x K) such that its
Taylor-linearisation covariance is that of the total ``sum_i z_i`` (Binder 1983; Lumley 2010,
sec. 2.3 and 5.2). This module hands those values to the core's one linearisation
(``variance.linearisation``: calibration residuals, PSU totals, stratum centring and the
lonely-PSU rules, as R ``svyrecvar``), and replicate estimates to the core's replication
variance (``variance.replicate.svr_variance``, R ``svrVar``). It adds no variance formula of
its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from barometer.core.estimates import Estimates
from barometer.core.variance import linearisation as lin
from barometer.core.variance.replicate import svr_variance

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign


def linearised_vcov(
    design: Design,
    z: np.ndarray,
    rows: np.ndarray | None = None,
    at: np.ndarray | None = None,
) -> np.ndarray:
    """Covariance (K x K) of ``sum_i z_i`` under the design (R ``svyrecvar``).

    ``z`` is n x K with zeros outside the estimator's domain -- or, with ``at`` (row
    positions), the values of those rows only, every other row being zero; ``rows`` (n, or
    n x K, bool) marks the domain of all (or of each) estimates, which only
    ``lonely_psu='average'`` needs (R counts the strata of the subset).
    On a calibrated design the values are first replaced by their calibration residuals,
    as R does with ``design$postStrata``.
    """
    s = design.structure
    x = np.asarray(z, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    psu = s.psu
    if at is not None and design.calibration:
        full = np.zeros((s.psu.size, x.shape[1]))
        full[at] = x
        x = full
    elif at is not None:
        psu = s.psu[at]
    if design.calibration:
        x = lin.apply_steps(x, design.calibration)
    k = x.shape[1]
    z_psu = np.empty((k, s.n_psus))
    for j in range(k):
        z_psu[j] = np.bincount(psu, x[:, j], minlength=s.n_psus)
    return psu_totals_vcov(design, z_psu, None if design.calibration else rows)


def psu_totals_vcov(design: Design, z_psu: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """``linearised_vcov`` from the PSU totals ``z_psu`` (K x PSUs) of the influence values
    (of a design without calibration, or of their calibration residuals); ``rows`` as there."""
    s = design.structure
    k = z_psu.shape[0]
    s2, s1 = lin.psu_sums(z_psu, s, True)
    present = None
    if s.lonely_psu == "average" and rows is not None:
        masks = np.broadcast_to(rows[:, None] if rows.ndim == 1 else rows, (s.psu.size, k))
        present = np.stack(
            [np.bincount(s.strata[masks[:, j]], minlength=s.n_strata) > 0 for j in range(k)]
        )
    v: np.ndarray = lin.combine(s2, s1, s, present)
    return v


def replicate_vcov(design: ReplicateDesign, thetas: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Covariance (K x K) from the estimates under each replicate weight, ``thetas``
    (K x R), centred as the design says (R ``svrVar``)."""
    v: np.ndarray = svr_variance(thetas, np.asarray(theta, dtype=float), design, True)
    return v


@dataclass(frozen=True, eq=False)
class FixedEstimates(Estimates):
    """Estimates whose covariance was formed with them (ratios): ``vcov()`` reads it."""

    covariance: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    def vcov(self) -> np.ndarray:
        """Covariance matrix of the estimates, in row order."""
        v = self.covariance
        if self.rows is not None:
            v = v[np.ix_(self.rows, self.rows)]
        return v.copy()


def domain_degf(design: Design, rows: np.ndarray) -> int:
    """R ``degf`` of ``design[rows, ]``: PSUs minus strata among the rows kept (R counts
    the rows of non-zero weight, so a calibrated design's subset counts the same)."""
    s = design.structure
    psus = np.flatnonzero(np.bincount(s.psu[rows], minlength=s.n_psus))
    return int(psus.size - np.unique(s.psu_stratum[psus]).size)


__all__ = [
    "FixedEstimates",
    "domain_degf",
    "linearised_vcov",
    "psu_totals_vcov",
    "replicate_vcov",
]
