"""Confidence intervals for estimates and, for proportions, R ``svyciprop``'s methods."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def wald_interval(
    est: np.ndarray, se: np.ndarray, level: float = 0.95, df: float | np.ndarray = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """``est -/+ q se`` with ``q`` the normal (``df=inf``, R ``confint.svystat``) or the
    t quantile with ``df`` degrees of freedom."""
    q = _quantile(level, df)
    return est - q * se, est + q * se


def _quantile(level: float, df: float | np.ndarray) -> np.ndarray:
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isinf(df),
            stats.norm.ppf(0.5 + level / 2),
            stats.t.ppf(0.5 + level / 2, np.where(np.isinf(df), 1.0, df)),
        )


def proportion_interval(
    fam: Any, table: Any, method: str, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for each level's share in each domain by ``method``.

    ``wald``: normal interval (R ``confint(svymean(...))``). The others follow R
    ``svyciprop`` with ``df = degf`` of the domain's design: ``mean`` (t interval), ``logit``
    and ``xlogit`` (t interval on the logit scale, back-transformed; equal for a one-sample
    proportion), ``asin`` (arcsine square-root scale), ``beta`` (Korn and Graubard 1998:
    Clopper-Pearson with the effective sample size ``p(1-p)/var`` adjusted by
    ``(t_{n-1} / t_df)^2``), ``wilson`` (Wilson score interval with the effective sample
    size; not in R ``survey`` 4.1) and ``likelihood`` (see ``likelihood_interval``).
    """
    p = table.get_column("estimate").to_numpy()
    se = table.get_column("se").to_numpy()
    if method == "wald":
        return wald_interval(p, se, level)
    from barometer.intervals_svyciprop import svyciprop_interval

    return svyciprop_interval(fam, p, se, method, level)
