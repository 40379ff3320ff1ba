"""Quantiles by domain with Woodruff confidence intervals (R ``svyquantile``, survey 4.x).

Point estimate (R ``qrule="math"``, the default): the inverse of the weighted empirical
CDF, ``Q(p) = min{x : F(x) >= p}`` with ``F(x) = sum_{y_i <= x} w_i / sum w_i`` over the
domain's rows where the variable is observed.

Interval (Woodruff 1952; R ``woodruffCI`` with ``interval.type="mean"``): the CDF at the
estimate, ``F(Q(p))``, is the mean of the indicator ``y <= Q(p)``; its design-based SE
(linearisation with strata, clusters, fpc and calibration, or replicates) gives the t
interval ``F -/+ t_df se`` on the probability scale, which ``Q`` maps back:
``[Q(F - t se), Q(F + t se)]`` (NaN where the probability leaves [0, 1], as R). The SE R
reports, and barometer too, is ``(upper - lower) / (2 t_df)``. ``df`` is R's ``degf`` of
the domain's design after dropping rows with a missing value (R ``svyquantile(na.rm=TRUE)``
under ``svyby``); the t quantile becomes normal only when ``df`` is infinite.

Sources: R ``survey`` 4.1.1 ``svyquantile.survey.design``, ``qrule_math``, ``woodruffCI``;
Woodruff (1952), JASA 47, 635-646; Lumley (2010), *Complex Surveys*, sec. 2.4.1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from barometer.core import estimators, reduce
from barometer.core._protocols import SurveyDesign
from barometer.core.estimates import Estimates
from barometer.core.intervals import domain_design, t_quantile
from barometer.core.reduce import Variable
from barometer.errors import EstimationError


def quantile(
    design: SurveyDesign,
    variable: str,
    probs: list[float],
    by: list[str],
    confidence: float = 0.95,
) -> Estimates:
    """Quantiles ``probs`` of a numeric ``variable`` in each domain of ``by``.

    Returns an ``Estimates`` with one row per domain and probability (domain-major):
    ``*by, variable, level, estimate, se, ci_low, ci_high, n, deff``. ``level`` holds the
    probability as text, as R labels it (``"0.5"``, ``"0.25"``); ``n`` is the number of rows
    with the variable observed; ``deff`` is null. Missing values are left out (R
    ``na.rm=TRUE``). See the module docstring for the estimator and its interval.

    R's rule is kept exactly, with one quirk of R 4.1.1: for ``p`` below the smallest
    observation's weight share, ``qrule_math`` returns the *second* smallest value, not the
    smallest. Point estimates rarely meet it, but the lower Woodruff limit in a small
    domain often does (e.g. 14 equal weights and ``F - t se < 1/14``); barometer returns
    what R returns.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "w": [1.0, 1.0, 1.0, 1.0]})
    >>> bm.Design(df, weights="w").quantile("y", 0.5).to_polars()["estimate"][0]
    2.0
    """
    check_probs(probs)
    x = reduce.variable(design, variable, categorical=False).values
    assert x is not None
    coding = reduce.domains(design, by)
    n_dom = coding.size
    w = design.weights
    valid = ~np.isnan(x) & (w != 0)
    dom = np.where(valid, coding.codes, -1)
    cdf = _WeightedCDF(x, w, dom, n_dom)
    info = domain_design(design, dom, n_dom)
    crit = t_quantile(confidence, info.degf)  # R: qt(1 - alpha/2, df), also for the SE

    def below(qhat: np.ndarray) -> estimators.RatioFamily:
        indicator = np.where(dom >= 0, (x <= qhat[np.maximum(dom, 0)]).astype(float), np.nan)
        var = Variable(variable, indicator, None, None)
        return estimators.family(design, var, coding.codes, n_dom, True)

    rows = woodruff(cdf.quantile, below, crit, probs)
    return quantile_table(coding.levels, variable, probs, rows, cdf.count)


def check_probs(probs: list[float]) -> None:
    """The probabilities lie in [0, 1] (the confidence level is checked at the door)."""
    if not probs:
        raise EstimationError("quantile() needs at least one probability in probs")
    bad = [p for p in probs if not 0.0 <= p <= 1.0]
    if bad:
        raise EstimationError(f"quantile probabilities must lie in [0, 1]; got {bad}")


Rows = list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def woodruff(
    quantile: Callable[[np.ndarray], np.ndarray],
    below: Callable[[np.ndarray], estimators.RatioFamily],
    crit: np.ndarray,
    probs: list[float],
) -> Rows:
    """Estimate, SE and Woodruff limits per probability, for every engine: ``quantile(p)``
    inverts each domain's weighted CDF (R ``qrule_math``), ``below(q)`` is the family of
    the mean of ``y <= q_d`` (the CDF at the estimate, with its design-based variance)."""
    rows = []
    for p in probs:
        qhat = quantile(np.full(crit.size, p))
        fam = below(qhat)
        f_hat = fam.theta[:, 0]
        se_f = np.sqrt(np.maximum(estimators.family_variance(fam), 0.0))
        with np.errstate(invalid="ignore"):
            p_lo, p_hi = f_hat - crit * se_f, f_hat + crit * se_f
        low = np.where(np.isnan(p_lo) | (p_lo < 0), np.nan, quantile(np.nan_to_num(p_lo)))
        high = np.where(np.isnan(p_hi) | (p_hi > 1), np.nan, quantile(np.nan_to_num(p_hi)))
        se = (high - low) / (2 * crit)
        rows.append((qhat, se, low, high))
    return rows


class _WeightedCDF:
    """The weighted empirical CDF of ``x`` in every domain, for R's ``qrule_math``.

    Rows are sorted by (domain, x), stably (R ``order``); cumulative weights are summed in
    extended precision and rounded to double, as R's ``cumsum`` and ``sum`` do.
    """

    def __init__(self, x: np.ndarray, w: np.ndarray, dom: np.ndarray, n_dom: int) -> None:
        keep = np.flatnonzero(dom >= 0)
        order = keep[np.lexsort((x[keep], dom[keep]))]
        self.x = x[order]
        self.dom = dom[order]
        self.count = np.bincount(self.dom, minlength=n_dom)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.cumw, _ = _segment_cumsum(w[order], self.start, self.count)
        # R's sum(w) adds the domain's weights in row order
        row_order = keep[np.argsort(dom[keep], kind="stable")]
        _, self.total = _segment_cumsum(w[row_order], self.start, self.count)

    def quantile(self, p: np.ndarray) -> np.ndarray:
        """``min{x : F(x) >= p_d}`` in each domain ``d`` (NaN for an empty domain).

        As R ``qs``: the position is the last sorted row whose cumulative weight is at most
        ``p W`` (the first row if none is); if that weight equals ``p W`` exactly the value
        there is the quantile, otherwise the next value. So for ``p`` below the smallest
        value's weight share R, and barometer, give the *second* smallest value.
        """
        n_dom = self.count.size
        out = np.full(n_dom, np.nan)
        if self.x.size == 0:
            return out
        target = p * self.total
        below = self.cumw <= target[self.dom]
        n_below = np.bincount(self.dom, below, minlength=n_dom).astype(np.int64)
        has = self.count > 0
        last = self.start + self.count - 1
        # R's last(): the last row with cumw <= p W, or the first row if there is none
        pos = self.start + np.maximum(n_below, 1) - 1
        pos, last = pos[has], last[has]
        exact = (n_below[has] > 0) & (p[has] - self.cumw[pos] / self.total[has] == 0)
        out[has] = self.x[np.where(exact, pos, np.minimum(pos + 1, last))]
        return out


def _segment_cumsum(
    w: np.ndarray, start: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums of ``w`` restarting at every segment ``start``, and the segments'
    totals, accumulated in extended precision and rounded to double (R's ``cumsum``)."""
    run = np.concatenate([[0], np.cumsum(w.astype(np.longdouble))])
    cum = (run[1:] - np.repeat(run[start], count)).astype(float)
    return cum, (run[start + count] - run[start]).astype(float)


def quantile_table(
    levels: pl.DataFrame,
    variable: str,
    probs: list[float],
    rows: Rows,
    count: np.ndarray,
) -> Estimates:
    n_dom = count.size
    n_p = len(probs)
    stack = [np.stack([r[i] for r in rows], axis=1).ravel() for i in range(4)]
    dom_index = np.repeat(np.arange(n_dom), n_p)
    cols: dict[str, object] = {
        name: levels.get_column(name).gather(dom_index) for name in levels.columns
    }
    cols["variable"] = pl.Series("variable", [variable] * (n_dom * n_p), dtype=pl.String)
    cols["level"] = pl.Series("level", [_label(p) for p in probs] * n_dom, dtype=pl.String)
    cols["estimate"], cols["se"], cols["ci_low"], cols["ci_high"] = stack
    cols["n"] = np.repeat(count, n_p).astype(np.int64)
    cols["deff"] = pl.Series("deff", [None] * (n_dom * n_p), dtype=pl.Float64)
    table = pl.DataFrame(cols)
    return Estimates(table, by=tuple(levels.columns), statistic="quantile")


def _label(p: float) -> str:
    """The probability as R prints it (15 significant digits): 0.5 -> "0.5"."""
    return f"{p:.15g}"
