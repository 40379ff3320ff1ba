"""The coefficient table every fitted model prints (R ``summary(svyglm)`` /
``summary(svyolr)`` with ``confint``): each term's estimate, its design-based standard
error, the t statistic, the two-sided p-value and the interval, all on the model's residual
degrees of freedom (the design's degrees of freedom less the number of coefficients)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from barometer.core import distributions
from barometer.core.intervals import t_quantile


def coefficient_table(
    terms: Sequence[str],
    estimates: np.ndarray,
    covariance: np.ndarray,
    df_residual: float,
    confidence: float,
) -> pl.DataFrame:
    """``term, estimate, se, statistic, p_value, ci_low, ci_high`` with t reference
    distributions on ``df_residual``; without residual degrees of freedom the p-values and
    intervals are NaN (R prints NaN there too)."""
    se = np.sqrt(np.diag(covariance))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = estimates / se
    if df_residual > 0:
        p = 2 * distributions.t_sf(np.abs(t), df_residual)
        q = float(t_quantile(confidence, df_residual))
    else:
        p, q = np.full(estimates.size, np.nan), np.nan
    return pl.DataFrame(
        {
            "term": list(terms),
            "estimate": estimates,
            "se": se,
            "statistic": t,
            "p_value": p,
            "ci_low": estimates - q * se,
            "ci_high": estimates + q * se,
        }
    )
