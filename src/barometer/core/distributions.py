"""The few distribution functions the estimators' intervals and tests need, straight from
``scipy.special`` — the functions ``scipy.stats`` itself evaluates for them (``norm.ppf`` is
``ndtri``, ``t.ppf`` is ``stdtrit``, ``f.sf`` is ``fdtrc``, ...) — so that importing the
core does not import ``scipy.stats`` (over a second of every command's start-up).

Arguments outside a distribution's support give NaN, as ``scipy.stats`` does.
"""

from __future__ import annotations

import numpy as np
from scipy import special

ArrayLike = "np.ndarray | float"


def norm_ppf(q: np.ndarray | float) -> np.ndarray:
    """Standard normal quantile (``scipy.stats.norm.ppf``)."""
    return np.asarray(special.ndtri(q), dtype=float)


def norm_cdf(x: np.ndarray | float) -> np.ndarray:
    """Standard normal distribution function (``norm.cdf``)."""
    return np.asarray(special.ndtr(x), dtype=float)


def norm_sf(x: np.ndarray | float) -> np.ndarray:
    """Standard normal upper tail (``norm.sf``)."""
    return np.asarray(special.ndtr(np.negative(x)), dtype=float)


def t_ppf(q: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Student t quantile (``t.ppf``)."""
    return np.asarray(special.stdtrit(df, q), dtype=float)


def t_isf(q: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Student t upper-tail quantile (``t.isf``: ``-stdtrit(df, q)``, stable for tiny q)."""
    return np.asarray(np.negative(special.stdtrit(df, q)), dtype=float)


def t_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Student t upper tail (``t.sf``)."""
    return np.asarray(special.stdtr(df, np.negative(x)), dtype=float)


def chi2_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Chi-squared upper tail (``chi2.sf``)."""
    return np.asarray(special.chdtrc(df, x), dtype=float)


def f_sf(x: np.ndarray | float, dfn: np.ndarray | float, dfd: np.ndarray | float) -> np.ndarray:
    """F upper tail (``f.sf``)."""
    return np.asarray(special.fdtrc(dfn, dfd, x), dtype=float)


def beta_ppf(q: np.ndarray | float, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Beta quantile (``beta.ppf``: both are Boost's ``ibeta_inv``, the same doubles)."""
    return np.asarray(special.betaincinv(a, b, q), dtype=float)
