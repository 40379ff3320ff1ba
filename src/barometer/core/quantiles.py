"""Quantiles by domain with Woodruff confidence intervals (R ``svyquantile``, survey 4.x).

Point estimate (R ``qrule="math"``, the default): the inverse of the weighted empirical
CDF, ``Q(p) = min{x : F(x) >= p}`` with ``F(x) = sum_{y_i <= x} w_i / sum w_i`` over the
domain's rows where the variable is observed.

Interval (Woodruff 1952; R ``woodruffCI`` with ``interval.type="mean"``): the CDF at the
estimate, ``F(Q(p))``, is the mean of the indicator ``y <= Q(p)``; its design-based SE
(linearisation with strata, clusters, fpc and calibration, or replicates) gives the t
interval ``F -/+ t_df se`` on the probability scale, which ``Q`` maps back:
``[Q(F - t se), Q(F + t se)]`` (NaN where the probability leaves [0, 1], as R). The SE R
reports, and barometer too, is ``(upper - lower) / (2 t_df)``.

``df`` is R's ``degf`` of the domain's design after dropping rows with a missing value
(R ``svyquantile(na.rm=TRUE)`` under ``svyby``); the t quantile becomes normal only when
``df`` is infinite.

R forms one indicator per probability and domain; barometer gets every probability's
variance from one family: each row is binned by how many of its domain's estimates lie
below its value, so ``y <= Q(p)`` is "bin at most ``b_p``", whose influence values are
the sum of the bins' — the same variance, from one grouped pass for all the probabilities
(``cdf_below``). ``F(Q(p))`` itself is read off the weighted CDF.

An answer scale (whole numbers in a short range, ``estimators.is_scale``) needs
neither the sort nor the bins: its CDF is the domain's sums of weights by value, and
``y <= Q(p)`` is the sum of the indicators of the values at or below ``Q(p)``, whose
variance is the sum of their covariance block (``level_below``) — all read off one family
of the shares of each value, kept for the scale's mean (``estimators.scale_mean``) and
distribution (``Design.proportion``) asked next. The same estimator, by one grouped pass.

Sources: R ``survey`` 4.1.1 ``svyquantile.survey.design``, ``qrule_math``, ``woodruffCI``;
Woodruff (1952), JASA 47, 635-646; Lumley (2010), *Complex Surveys*, sec. 2.4.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    observed = ~np.isnan(x)
    valid = observed & (w != 0)
    dom = np.where(valid, coding.codes, -1)
    info = domain_design(design, dom, n_dom)
    crit = t_quantile(confidence, info.degf)  # R: qt(1 - alpha/2, df), also for the SE
    below: Below
    if estimators.is_scale(design, variable, x, n_dom):
        # every observed row kept (no zero weight): the shares' domains are the CDF's
        fam = estimators.level_family(design, variable, by, keep=True)
        cdf = WeightedCDF.of_levels(fam)

        def below(qhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return level_below(fam, cdf, qhat)
    else:
        scale = WeightedCDF.of_scale(x, w, dom, n_dom)
        cdf = scale if scale is not None else WeightedCDF.of_rows(x, w, dom, n_dom)

        def below(qhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return cdf_below(design, cdf, variable, x, dom, qhat)

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
#: ``quantile(p)``: each domain's quantiles at its probabilities ``p`` (D x m) -> (D x m).
Inverse = Callable[[np.ndarray], np.ndarray]
#: ``below(q)``: each domain's CDF at its thresholds ``q`` (D x P) and its variance.
Below = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: At most this many estimates (domains x bins) in one family whose covariance is formed
#: (32 MB); more domains are taken in chunks of domains.
FAMILY_ESTIMATES = 2048


def woodruff(quantile: Inverse, below: Below, crit: np.ndarray, probs: list[float]) -> Rows:
    """Estimate, SE and Woodruff limits per probability, for every engine: ``quantile(p)``
    inverts each domain's weighted CDF (R ``qrule_math``), ``below(q)`` is the mean of ``y
    <= q_d`` (the CDF at the estimate) with its design-based variance, for all the
    probabilities at once."""
    n_p = len(probs)
    qhat = quantile(np.tile(np.asarray(probs, dtype=float), (crit.size, 1)))
    f_hat, var = below(qhat)
    se_f = np.sqrt(np.maximum(var, 0.0))
    t = crit[:, None]
    with np.errstate(invalid="ignore"):
        p_lo, p_hi = f_hat - t * se_f, f_hat + t * se_f
    limits = quantile(np.nan_to_num(np.hstack([p_lo, p_hi])))
    low = np.where(np.isnan(p_lo) | (p_lo < 0), np.nan, limits[:, :n_p])
    high = np.where(np.isnan(p_hi) | (p_hi > 1), np.nan, limits[:, n_p:])
    se = (high - low) / (2 * t)
    return [(qhat[:, j], se[:, j], low[:, j], high[:, j]) for j in range(n_p)]


def cdf_below(
    design: SurveyDesign,
    cdf: WeightedCDF,
    variable: str,
    x: np.ndarray,
    dom: np.ndarray,
    qhat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``x <= qhat[d, j]`` in each domain ``d`` (``dom``; -1 outside every
    domain and where ``x`` is missing) for every column ``j``, with its design-based
    variance, from one family of bins (see the module docstring).

    The mean is read off the domain's weighted CDF (``cdf.share``: exactly 1 when every
    row is at or below, as R's ``svymean`` of an indicator true for the whole domain).
    With ``t`` the domain's thresholds sorted, a row's bin is ``#{k : t_k < x}``, and
    ``x <= qhat_j`` exactly when the bin is at most ``b_j = #{k : t_k < qhat_j}``. The
    variance is the sum of the bins' covariance block at or below ``b_j`` or, equally (the
    bins' influence values sum to zero), the block above it: the side holding the smaller
    share, whose sum cancels least — and above, when none of the domain's rows is, it is
    exactly zero, as R's variance of a constant."""
    n_dom, n_p = qhat.shape
    t = np.sort(qhat, axis=1)  # an empty domain's NaN thresholds: no row meets them
    inside = dom >= 0
    d = np.maximum(dom, 0)
    # counted in the narrowest type that holds them (a third of the time of int64's)
    counted = np.zeros(x.size, dtype=np.min_scalar_type(n_p))
    for j in range(n_p):
        counted += x > t[:, j].take(d)
    bins = counted.astype(np.int64)
    bins[~inside] = -1
    upto = np.count_nonzero(t[:, None, :] < qhat[:, :, None], axis=2)  # (D, P)
    f_hat = cdf.share(qhat)
    n_bins = n_p + 1
    var = Variable(variable, None, bins, pl.Series(variable, np.arange(n_bins)))
    variance = np.full((n_dom, n_p), np.nan)
    step = max(1, FAMILY_ESTIMATES // n_bins)
    for first in range(0, n_dom, step):
        last = min(n_dom, first + step)
        if last - first == n_dom:  # one chunk: the domains as they are
            local = dom
        else:
            local = dom - first
            local[(dom < first) | (dom >= last)] = -1
        cover = estimators.family_variance(
            estimators.family(design, var, local, last - first, True), full=True
        )
        k = np.arange(last - first)
        blocks = cover.reshape(k.size, n_bins, k.size, n_bins)[k, :, k, :]
        below = blocks.cumsum(axis=1).cumsum(axis=2)
        above = blocks[:, ::-1, ::-1].cumsum(axis=1).cumsum(axis=2)[:, ::-1, ::-1]
        b, kk = upto[first:last], k[:, None]
        lower = f_hat[first:last] <= 0.5
        variance[first:last] = np.where(lower, below[kk, b, b], above[kk, b + 1, b + 1])
    return f_hat, variance


def level_below(
    fam: estimators.RatioFamily, cdf: WeightedCDF, qhat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """As ``cdf_below``, from the family ``fam`` of the shares of each of the variable's
    values (levels in increasing order) in the same domains: ``x <= qhat[d, j]`` is the sum
    of the indicators of the levels at or below it, so its variance is the sum of the
    domain's covariance block over them or, equally, over the levels above (the side
    holding the smaller share; exactly zero above when no row is). The family, and its
    covariance, is the one the scale's distribution reads (``Design.proportion``)."""
    levels = fam.var.levels
    assert levels is not None
    values = levels.cast(pl.Float64).to_numpy()
    n_dom, n_lev = fam.n_domains, fam.n_levels
    cover = estimators.family_variance(fam, full=True)
    k = np.arange(n_dom)
    blocks = cover.reshape(n_dom, n_lev, n_dom, n_lev)[k, :, k, :]
    below = np.zeros((n_dom, n_lev + 1, n_lev + 1))  # [d, b, b]: the levels before b
    below[:, 1:, 1:] = blocks.cumsum(axis=1).cumsum(axis=2)
    above = np.zeros((n_dom, n_lev + 1, n_lev + 1))  # [d, b, b]: level b and after
    above[:, :-1, :-1] = blocks[:, ::-1, ::-1].cumsum(axis=1).cumsum(axis=2)[:, ::-1, ::-1]
    upto = np.searchsorted(values, qhat, side="right")  # levels at or below (NaN: all)
    f_hat = cdf.share(qhat)
    kk = k[:, None]
    return f_hat, np.where(f_hat <= 0.5, below[kk, upto, upto], above[kk, upto, upto])


def per_probability(below: Callable[[np.ndarray], estimators.RatioFamily]) -> Below:
    """A ``Below`` from the family of ``y <= q_d`` for one threshold per domain, asked for
    each column of thresholds in turn (an engine that forms the indicators itself)."""

    def each(qhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fams = [below(qhat[:, j]) for j in range(qhat.shape[1])]
        f_hat = np.column_stack([fam.theta[:, 0] for fam in fams])
        return f_hat, np.column_stack([estimators.family_variance(fam) for fam in fams])

    return each


@dataclass(frozen=True, eq=False)
class WeightedCDF:
    """The weighted empirical CDF of every domain over its distinct values, and R ``qs``'s
    inverse (``qrule_math``) for every engine.

    ``x`` holds each domain's distinct values in order (domains one after the other, from
    ``start``, ``values`` of them), ``rows`` the rows at each, ``cumw`` the domain's
    cumulative weight through it, ``total`` each domain's weight and ``count`` its rows.
    """

    x: np.ndarray
    rows: np.ndarray
    cumw: np.ndarray
    total: np.ndarray
    start: np.ndarray
    values: np.ndarray
    count: np.ndarray

    @classmethod
    def of_rows(cls, x: np.ndarray, w: np.ndarray, dom: np.ndarray, n_dom: int) -> WeightedCDF:
        """From the rows (``dom``: -1 for a row left out). Rows are sorted by (domain, x),
        stably (R ``order``), and weights accumulated row by row in extended precision
        and rounded to double, as R's ``cumsum`` does; a value's cumulative weight is the
        one at its last row, the domain's weight the one at its last value. (R's
        ``sum(w)`` adds the rows in their own order: in extended precision both sums
        round to the same double but for a tie in the last bit.)"""
        keep = np.flatnonzero(dom >= 0)
        dk = _small(dom[keep], n_dom)
        order = keep[_domain_order(x[keep], dk, n_dom)]
        count = np.bincount(dk, minlength=n_dom)
        ds = np.repeat(np.arange(n_dom), count)  # the domains, sorted
        xs = x[order]
        new = np.ones(xs.size, dtype=bool)
        new[1:] = (xs[1:] != xs[:-1]) | (ds[1:] != ds[:-1])
        firsts = np.flatnonzero(new)
        ends = np.append(firsts[1:], xs.size)  # one past each value's last row
        vd = ds[firsts]
        run = np.concatenate([[0], np.cumsum(w[order].astype(np.longdouble))])
        first_row = _starts(count)
        cumw = (run[ends] - run[first_row[vd]]).astype(float)
        total = (run[first_row + count] - run[first_row]).astype(float)
        values = np.bincount(vd, minlength=n_dom)
        return cls(xs[firsts], ends - firsts, cumw, total, _starts(values), values, count)

    @classmethod
    def of_scale(
        cls, x: np.ndarray, w: np.ndarray, dom: np.ndarray, n_dom: int
    ) -> WeightedCDF | None:
        """From sums of weights by (domain, value) when the kept rows' values are whole
        numbers in a short range (an answer scale: no more (domain, value) cells than rows),
        which needs no sort of the rows; None otherwise. The sums by cell are formed in
        double precision and accumulated over the values in extended precision: the same
        double as ``of_rows`` but for a rounding in the last bits, which moves an estimate
        only where ``p W`` falls within those bits of a cumulative weight."""
        codes = _scale_codes(x, dom, n_dom)
        if codes is None:
            return None
        cells, lo, span = codes
        size = n_dom * span
        weight = np.bincount(cells, w, minlength=size + 1)[:size]
        rows = np.bincount(cells, minlength=size + 1)[:size]
        held = np.flatnonzero(rows)
        d, v = np.divmod(held, span)
        return cls.of_values(d, (v + lo).astype(float), weight[held], rows[held], n_dom)

    @classmethod
    def of_levels(cls, fam: estimators.RatioFamily) -> WeightedCDF:
        """From the family of the shares of each of the variable's values (levels in
        increasing order): its sums of weights and rows by (domain, level) (those of
        ``family``; formed here for a family of sums by PSU)."""
        levels = fam.var.levels
        assert levels is not None
        n_dom, n_lev = fam.n_domains, fam.n_levels
        if "level_rows" in fam.cache:
            weight, rows = fam.cache["level_sums"], fam.cache["level_rows"]
        else:
            cells, _ = reduce.cell_codes(fam.dom, fam.var)
            weight = reduce.sums(cells, n_dom * n_lev, fam.design.weights)
            rows = reduce.sums(cells, n_dom * n_lev)
        held = np.flatnonzero(np.ravel(rows))
        d, lv = np.divmod(held, n_lev)
        values = levels.cast(pl.Float64).to_numpy()[lv]
        n = np.ravel(rows)[held].astype(np.int64)
        return cls.of_values(d, values, np.ravel(weight)[held], n, n_dom)

    @classmethod
    def of_values(
        cls, d: np.ndarray, x: np.ndarray, w: np.ndarray, n: np.ndarray, n_dom: int
    ) -> WeightedCDF:
        """From one row per (domain ``d``, distinct value ``x``), sorted, with the value's
        summed weight ``w`` and rows ``n`` (an engine's GROUP BY); cumulative weights are
        summed in extended precision."""
        values = np.bincount(d, minlength=n_dom)
        start = _starts(values)
        run = np.concatenate([[0], np.cumsum(w.astype(np.longdouble))])
        cumw = (run[1:] - np.repeat(run[start], values)).astype(float)
        total = (run[start + values] - run[start]).astype(float)
        count = np.bincount(d, n, minlength=n_dom).astype(np.int64)
        return cls(x, n, cumw, total, start, values, count)

    def quantile(self, p: np.ndarray) -> np.ndarray:
        """``min{x : F(x) >= p_dj}`` in each domain ``d`` for each column ``j`` of ``p`` (D x
        m; NaN for an empty domain).

        R ``qs`` works on the sorted rows: the position is the last row whose cumulative
        weight is at most ``p W`` (the first row if none is); if that weight equals ``p W``
        exactly the value there is the quantile, otherwise the next row's. On distinct
        values that is the last value whose cumulative weight is at most ``p W`` if it is
        exactly ``p W``, else the next value; and below the smallest value's share, R's
        *second row*: the smallest value again if it has two rows, else the next value (so
        for ``p`` below the smallest value's weight share R, and barometer, can give the
        second smallest value). A domain's cumulative weights never decrease, so one
        binary search finds all its positions.
        """
        out = np.full(p.shape, np.nan)
        for d in np.flatnonzero(self.values):
            first, last = self.start[d], self.start[d] + self.values[d] - 1
            total = self.total[d]
            below = np.searchsorted(self.cumw[first : last + 1], p[d] * total, side="right")
            pos = first + np.maximum(below, 1) - 1
            exact = (below > 0) & (p[d] - self.cumw[pos] / total == 0)
            pick = np.where(exact, pos, np.minimum(pos + 1, last))
            if self.rows[first] >= 2:
                pick = np.where(below == 0, first, pick)
            out[d] = self.x[pick]
        return out

    def share(self, q: np.ndarray) -> np.ndarray:
        """``F(q_dj) = sum_{x <= q_dj} w / W`` in each domain ``d`` for each column ``j`` of
        ``q`` (D x m; NaN for an empty domain): exactly 1 when all the domain's rows are at
        or below ``q_dj`` (R's mean of an indicator that is 1 for every row)."""
        out = np.full(q.shape, np.nan)
        for d in np.flatnonzero(self.values):
            first, n_values = self.start[d], self.values[d]
            n_le = np.searchsorted(self.x[first : first + n_values], q[d], side="right")
            cum = self.cumw[first + np.maximum(n_le, 1) - 1] / self.total[d]
            out[d] = np.where(n_le == n_values, 1.0, np.where(n_le > 0, cum, 0.0))
        return out


def _starts(sizes: np.ndarray) -> np.ndarray:
    """Where each of consecutive segments of ``sizes`` begins."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _small(codes: np.ndarray, size: int) -> np.ndarray:
    """Codes below ``size`` in the narrowest unsigned type: NumPy's stable sort of 16-bit
    integers is a radix sort, linear in the rows (a tenth of a comparison sort's time)."""
    for kind in (np.uint16, np.uint32):
        if size <= np.iinfo(kind).max:
            return codes.astype(kind)
    return codes


def _scale_codes(x: np.ndarray, dom: np.ndarray, n_dom: int) -> tuple[np.ndarray, int, int] | None:
    """The (domain, value) cell of every row (``n_dom * span`` for a row left out, ``dom``
    -1), the smallest value and the span, when the kept rows' values are whole numbers
    with at most as many cells as rows; None otherwise."""
    kept = x[dom >= 0]
    if not kept.size:
        return None
    lo, hi = float(kept.min()), float(kept.max())
    span = hi - lo + 1
    if span * n_dom > max(x.size, 1 << 16) or not (kept == np.floor(kept)).all():
        return None
    size = n_dom * int(span)
    # a row left out may hold NaN or any value: its offset is read as 0, its cell the spare
    offset = np.where(dom >= 0, x - lo, 0.0).astype(np.int64)
    cells = np.where(dom >= 0, dom * int(span) + offset, size)
    return cells, int(lo), int(span)


def _domain_order(x: np.ndarray, dom: np.ndarray, n_dom: int) -> np.ndarray:
    """The stable order by (domain, ``x``), as ``np.lexsort((x, dom))``. Whole numbers in a
    short range (an answer scale) sort as one small integer key; other values by ``x``
    first and then stably by domain."""
    if x.size:
        lo, hi = float(x.min()), float(x.max())
        span = hi - lo + 1
        if span * n_dom <= np.iinfo(np.uint16).max and (x == np.floor(x)).all():
            key = _small(dom, n_dom).astype(np.int64) * int(span) + (x - lo).astype(np.int64)
            return np.argsort(key.astype(np.uint16), kind="stable")
    by_x = np.argsort(x, kind="stable")
    return by_x[np.argsort(dom[by_x], kind="stable")]


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
