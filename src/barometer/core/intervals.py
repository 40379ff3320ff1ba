"""Confidence intervals: normal/t intervals, and R ``svyciprop``'s methods for proportions.

``proportion_interval`` gives, for every level's share in every domain, the interval of
``ci=`` (``options.CIMethod``). Apart from ``wald`` (R ``confint(svymean(...))``, normal
quantile) every method follows R ``svyciprop`` (survey 4.1.1) under ``svyby``: it uses the
degrees of freedom ``degf`` of the *domain's* design (see ``domain_design``).

Sources: R ``survey`` functions ``svyciprop``, ``confint.svyglm``, ``MASSprofile_glm``,
``confint_profile``, ``degf``; Korn and Graubard (1998), "Confidence intervals for
proportions with small expected number of positive counts estimated from survey data",
Survey Methodology 24, 193-201; Lumley (2010), *Complex Surveys*, sec. 2.4.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy import special

from barometer.core import distributions, reduce
from barometer.core._protocols import FloatArray, IntArray, SurveyDesign
from barometer.options import CIMethod

if TYPE_CHECKING:
    from barometer.core.estimators import RatioFamily
from barometer.errors import EstimationError


def t_quantile(level: float, df: float | np.ndarray = np.inf) -> np.ndarray:
    """Upper ``(1 + level) / 2`` quantile of the t distribution with ``df`` degrees of freedom
    (normal when ``df`` is infinite; NaN when ``df <= 0``, as R's ``qt``)."""
    if np.ndim(df) == 0:
        return _scalar_quantile(float(level), float(np.asarray(df)))
    return _t_quantile(level, np.asarray(df, dtype=float))


@functools.lru_cache(maxsize=64)
def _scalar_quantile(level: float, df: float) -> np.ndarray:
    q = _t_quantile(level, np.asarray(df))
    q.setflags(write=False)  # shared by every caller
    return q


def _t_quantile(level: float, df: np.ndarray) -> np.ndarray:
    upper = 0.5 + level / 2
    with np.errstate(invalid="ignore"):
        t = distributions.t_ppf(upper, np.where(np.isinf(df) | (df <= 0), 1.0, df))
    return np.where(np.isinf(df), distributions.norm_ppf(upper), np.where(df > 0, t, np.nan))


def wald_interval(
    est: np.ndarray, se: np.ndarray, level: float = 0.95, df: float | np.ndarray = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """``est -/+ q se`` with ``q`` the normal (``df=inf``, R ``confint.svystat``) or the
    t quantile with ``df`` degrees of freedom (R ``confint(..., df=)``)."""
    q = t_quantile(level, df)
    return est - q * se, est + q * se


# ---------------------------------------------------------------------------------------
# the domain's own design, as R's svyby sees it (design[domain, ])
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DomainDesign:
    """Per domain, the facts of R's subset design ``design[domain, ]`` that intervals need.

    ``degf``: R ``degf`` of the subset (distinct PSUs minus distinct strata among its rows
    with non-zero weight; for a replicate design the rank of its rows' replicate weights
    minus one). ``nrow``: R ``nrow(subset)`` (a calibrated design keeps all its rows, with
    zero weight outside the domain). ``weight_sum``: the sum of the weights over the domain.
    """

    degf: np.ndarray
    nrow: np.ndarray
    weight_sum: np.ndarray


def domain_design(design: SurveyDesign, dom: IntArray, n_domains: int) -> DomainDesign:
    """The ``DomainDesign`` of the domains coded by ``dom`` (-1: row outside every domain)."""
    inside = dom >= 0
    # rows outside every domain go to a spare bin: the same sums, with no selection
    spare = np.where(inside, dom, n_domains)
    count = np.bincount(spare, minlength=n_domains + 1)[:n_domains].astype(float)
    weight_sum = np.bincount(spare, design.weights, minlength=n_domains + 1)[:n_domains]
    s = design.structure  # None: a replicate design
    calibrated = bool(design.calibration)
    nrow = np.full(n_domains, float(design.n)) if calibrated and s is not None else count
    if s is None:
        reps = design.replicate_weights
        assert reps is not None
        degf = _replicate_degf(reps, dom, n_domains, count)
    else:
        # each row its own PSU: a domain holds as many PSUs as rows
        psus = count if s.element else _distinct_per_domain(spare, s.psu, s.n_psus, n_domains)
        degf = psus - _distinct_per_domain(spare, s.strata, s.n_strata, n_domains)
    return DomainDesign(degf.astype(float), nrow, weight_sum)


def _distinct_per_domain(
    spare: IntArray, codes: IntArray, n_codes: int, n_domains: int
) -> IntArray:
    """How many distinct ``codes`` (PSUs, strata) each domain's rows hold (``spare``: each
    row's domain, ``n_domains`` for a row outside them all): the pairs ``(domain, code)``
    marked in a table when there are few possible pairs, else sorted once and counted
    where they change (a sort, where ``np.unique``'s hashing costs several times as much
    on a million distinct PSUs)."""
    if (n_domains + 1) * n_codes <= 4 * spare.size:  # few pairs: mark them in a table
        key = spare * n_codes + codes
        seen = np.bincount(key, minlength=(n_domains + 1) * n_codes) > 0
        found: IntArray = seen.reshape(n_domains + 1, n_codes)[:n_domains].sum(axis=1)
        return found
    inside = spare < n_domains
    key = spare[inside].astype(np.int64) * n_codes + codes[inside]
    key.sort()
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    out: IntArray = np.bincount(key[first] // n_codes, minlength=n_domains)
    return out


def _replicate_degf(
    reps: np.ndarray, dom: np.ndarray, n_domains: int, count: np.ndarray
) -> np.ndarray:
    """Rank of each domain's rows of the replicate weights, minus one (R ``degf`` of a
    subset of an ``svyrep.design``). The rank is taken from the R x R cross-product with a
    relative tolerance of 1e-5 on the singular values (R: ``qr(..., tol=1e-5)$rank``)."""
    out = np.full(n_domains, np.nan)
    order = np.argsort(dom, kind="stable")
    bounds = np.searchsorted(dom[order], np.arange(n_domains + 1))
    for k in np.flatnonzero(count > 0):
        sub = reps[order[bounds[k] : bounds[k + 1]]]
        eig = np.linalg.eigvalsh(sub.T @ sub)
        out[k] = np.count_nonzero(eig > eig.max() * 1e-10) - 1
    return out


def _by_columns(table: pl.DataFrame) -> list[str]:
    cols = list(table.columns)
    return cols[: cols.index("variable")]


# ---------------------------------------------------------------------------------------
# proportion intervals
# ---------------------------------------------------------------------------------------


def proportion_interval(
    fam: RatioFamily, table: pl.DataFrame, method: CIMethod, level: float
) -> tuple[FloatArray, FloatArray]:
    """Interval for each level's share in each domain by ``method``.

    ``table`` holds the family's D x L rows (``*by, variable, level, estimate, se, ...``),
    domain-major. Methods, with ``q`` the t quantile on ``degf`` of the domain's design:

    * ``wald``: ``p -/+ z se``, normal (R ``confint(svymean(...))``);
    * ``mean``: ``p -/+ q se`` (R ``svyciprop(method="mean")``);
    * ``xlogit``: ``logit p -/+ q se / (p (1 - p))``, back-transformed;
    * ``logit``: R fits ``svyglm(y ~ 1, family=quasibinomial)``; for a linearisation design
      its sandwich SE equals the delta method, so this equals ``xlogit``; for a replicate
      design the SE of ``logit p`` comes from the replicates' ``logit p_r`` (R ``svrepglm``);
    * ``asin``: ``asin(sqrt p) -/+ q se / (2 sqrt(p (1 - p)))``, clipped to
      ``[0, pi/2]`` and back-transformed by ``sin(.)^2``. R does not clip, so its limits
      wrap around (a lower limit above ``p``) when the interval passes 0 or ``pi/2``;
      elsewhere the two agree;
    * ``beta``: Korn and Graubard (1998): Clopper-Pearson limits with the effective sample
      size ``n* = p (1 - p) / var`` times ``(t_{n-1} / t_degf)^2``, ``n`` = R's
      ``nrow`` of the domain's design;
    * ``wilson`` (not in R survey 4.1.1): the Wilson score interval with the effective
      sample size ``n* = p (1 - p) / var`` and ``q`` in place of the normal quantile;
    * ``likelihood``: see ``likelihood_interval`` (linearisation designs only; NaN where
      R's profile does not reach its cut-off, where R gives NA).

    ``mean`` and ``asin`` can leave [0, 1] or be NaN as in R. A domain with ``degf <= 0``
    (one PSU) gets NaN limits from every t-based method, as R. A share of exactly 0 or 1
    has no variance: ``beta`` and ``wilson`` then give the simple-random-sample interval
    for the domain's unweighted count (Clopper-Pearson; Wilson with the normal quantile);
    every other method returns the degenerate interval ``[p, p]`` (R gives NaN, or for
    ``likelihood`` an error, for most of them).
    """
    p = table.get_column("estimate").to_numpy().astype(float)
    se = table.get_column("se").to_numpy().astype(float)
    if method == "wald":
        return wald_interval(p, se, level)
    n_levels = fam.n_levels
    by = _by_columns(table)
    design = fam.design
    engine = getattr(design, "domain_design", None)  # a design over an engine's table
    if engine is not None:
        info: DomainDesign = engine(by)
    else:
        info = domain_design(design, reduce.domains(design, by).codes, fam.n_domains)
    df = np.repeat(info.degf, n_levels)
    q = t_quantile(level, df)
    var = se * se
    edge = (var == 0) & ((p == 0) | (p == 1))
    count = np.repeat(fam.count, n_levels).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            low, high = p - q * se, p + q * se
        elif method == "asin":
            centre = np.arcsin(np.sqrt(p))
            half = q * se / (2 * np.sqrt(p * (1 - p)))
            low = np.sin(np.clip(centre - half, 0, np.pi / 2)) ** 2
            high = np.sin(np.clip(centre + half, 0, np.pi / 2)) ** 2
        elif method == "xlogit" or (method == "logit" and design.structure is not None):
            low, high = _logit_interval(p, se / (p * (1 - p)), q)
        elif method == "logit":
            low, high = _logit_interval(p, np.sqrt(_replicate_logit_variance(fam)), q)
        elif method == "beta":
            alpha = 1 - level
            nrow = np.repeat(info.nrow, n_levels)
            ratio = distributions.t_ppf(alpha / 2, nrow - 1) / distributions.t_ppf(alpha / 2, df)
            low, high = _clopper_pearson(p, p * (1 - p) / var * ratio**2, alpha)
        elif method == "wilson":
            low, high = _wilson(p, p * (1 - p) / var, q)
        elif method == "likelihood":
            if design.structure is None:  # a replicate design
                raise EstimationError(
                    "ci='likelihood' is not available for a ReplicateDesign (R's svyciprop "
                    "returns NA there: the replicate quasi-likelihood profile never reaches "
                    "its cut-off); use ci='logit' or ci='beta'"
                )
            low, high = likelihood_interval(fam, info, p, se, level)
        else:  # pragma: no cover - options.check_option guards the boundary
            raise ValueError(method)
    if edge.any():
        low, high = np.array(low, dtype=float), np.array(high, dtype=float)
        low[edge], high[edge] = boundary_interval(p[edge], count[edge], method, level)
    return low, high


def boundary_interval(
    p: np.ndarray, n: np.ndarray, method: CIMethod, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """The interval ``proportion_interval`` gives a share of exactly 0 or 1 (no variance,
    so no design effect to estimate) from ``n`` observations: ``beta`` the Clopper-Pearson
    interval of ``n p`` successes in ``n`` (R ``binom.test``; Korn and Graubard's interval
    with ``n* = n``), ``wilson`` the Wilson score interval with the normal quantile, every
    other method the degenerate ``[p, p]``. ``n`` may be an effective size (e.g. that of a
    combination of independent domains' shares, ``1 / sum(c_k^2 / n_k)``)."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    if method == "beta":
        return _clopper_pearson(p, n, 1 - level)
    if method == "wilson":
        return _wilson(p, n, np.broadcast_to(t_quantile(level), p.shape))
    return p.copy(), p.copy()


def _logit_interval(
    p: np.ndarray, se_logit: np.ndarray, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    centre = special.logit(p)
    return special.expit(centre - q * se_logit), special.expit(centre + q * se_logit)


def _clopper_pearson(p: np.ndarray, n: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """R: ``qbeta(a/2, n p, n (1-p) + 1)`` and ``qbeta(1 - a/2, n p + 1, n (1-p))``; a shape
    of 0 puts the limit at 0 (lower) or 1 (upper)."""
    x = n * p
    lo = np.where(x > 0, distributions.beta_ppf(alpha / 2, np.maximum(x, 1e-300), n - x + 1), 0.0)
    hi = np.where(
        n - x > 0, distributions.beta_ppf(1 - alpha / 2, x + 1, np.maximum(n - x, 1e-300)), 1.0
    )
    bad = ~np.isfinite(n)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def _wilson(p: np.ndarray, n: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for a share ``p`` of ``n`` with critical value ``q``."""
    q2n = q * q / n
    centre = (p + q2n / 2) / (1 + q2n)
    half = q / (1 + q2n) * np.sqrt(p * (1 - p) / n + q2n / (4 * n))
    low = np.where(p == 0, 0.0, np.maximum(centre - half, 0.0))
    return low, np.where(p == 1, 1.0, np.minimum(centre + half, 1.0))


def _replicate_logit_variance(fam: RatioFamily) -> FloatArray:
    """R ``svrepglm``: the replicate variance of ``logit p_r`` (intercept-only quasibinomial
    fits under each replicate weight), centred as the design asks (R ``svrVar``)."""
    from barometer.core.design import ReplicateDesign
    from barometer.core.variance.replicate import replicate_thetas, svr_variance

    design = fam.design
    assert isinstance(design, ReplicateDesign)  # for the type checker: told by .structure
    with np.errstate(invalid="ignore", divide="ignore"):
        thetas = special.logit(replicate_thetas(design, fam))
        theta = special.logit(fam.theta.ravel())
    return svr_variance(thetas, theta, design, full=False)


# ---------------------------------------------------------------------------------------
# likelihood: R's profile of the quasi-binomial deviance (confint.svyglm, method="likelihood")
# ---------------------------------------------------------------------------------------


def likelihood_interval(
    fam: RatioFamily,
    info: DomainDesign,
    p: np.ndarray,
    se: np.ndarray,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """R ``svyciprop(method="likelihood")``: invert the profile of the quasi-binomial
    deviance of ``svyglm(y ~ 1, family=quasibinomial)``, at a level adjusted for the design
    (Rao-Scott style): with ``lambda`` = sandwich variance / model variance of ``logit p``,
    R profiles at ``alpha = Phi(t_{degf, (1-level)/2} sqrt(lambda)) / 2`` and reads the
    limits where the signed root deviance ``z(b)`` reaches ``-/+ qnorm(2 alpha)``.

    The deviance difference of an intercept-only binomial fit is closed-form:
    ``D(b) - D(b0) = 2 S_W KL(p, expit b)`` with ``S_W`` the sum of R's rescaled prior
    weights; the dispersion is R's ``svyvar`` of the Pearson residuals. As R, the profile
    is evaluated on MASS's grid (steps of ``zmax/5`` SEs, at most 9 each way), interpolated
    with an FMM cubic spline at ``3 x`` as many points and inverted linearly. barometer
    reproduces that algorithm, and R's IRLS model variance (``_glm_information``), with the
    exact ``logit p`` where R has its IRLS fit (1e-10 away): limits agree with R to about
    1e-9 relative; the spline's own error against the exact profile root is about 1e-4.
    """
    design = fam.design
    n_levels = fam.n_levels
    n_d = fam.n_domains
    calibrated = bool(design.calibration)
    n_est = n_d * n_levels
    s_w = np.repeat(fam.denom, n_levels)  # sum of w over observed rows of the domain
    n_obs = np.repeat(fam.count, n_levels)
    # R's glm prior weights are W = w / c, c the mean weight over the domain design's rows
    # (a calibrated design keeps all its rows, with zero weight outside the domain)
    all_rows = np.full(n_est, float(design.n)) if calibrated else np.repeat(info.nrow, n_levels)
    c = np.repeat(info.weight_sum, n_levels) / all_rows
    pq = p * (1 - p)
    # summary.svyglm: svyvar of the Pearson residuals r = (y - mu) sqrt(W / pw') / sd with
    # pw' = w / mean(w) over the rows kept after dropping missing values: a constant times
    # the standardised residual, whose weighted variance is n / (n - 1)
    mean_pw = s_w / (all_rows if calibrated else n_obs)
    dispersion = mean_pw / c * n_obs / (n_obs - 1)
    var_logit = (se / pq) ** 2
    sum_w_glm = s_w / c
    lam = var_logit * _glm_information(fam, c, p, sum_w_glm)
    df = np.repeat(info.degf, n_levels)
    if calibrated:
        n_glm = np.full(n_est, float(np.count_nonzero(fam.var.level_codes >= 0)))
    else:
        n_glm = n_obs
    low = np.full(n_est, np.nan)
    high = np.full(n_est, np.nan)
    for j in np.flatnonzero((pq > 0) & (df > 0) & (var_logit > 0)):
        low[j], high[j] = _profile_limits(
            p[j],
            np.sqrt(var_logit[j]),
            sum_w_glm[j],
            dispersion[j],
            lam[j],
            df[j],
            n_glm[j],
            level,
        )
    return low, high


def _glm_information(
    fam: RatioFamily, c: np.ndarray, p: np.ndarray, sum_w: np.ndarray
) -> np.ndarray:
    """``1 / naive.cov`` of R's intercept-only quasi-binomial ``glm`` fit, emulating
    ``glm.fit``'s IRLS: it is ``sum W mu (1 - mu)`` at the ``mu`` of the *start* of the last
    iteration, so it lags the converged fit by one step (relative error ~1e-5), and R's
    ``lambda`` inherits that. Prior weights ``W = w / c``; R starts from
    ``mu_i = (W_i y_i + 0.5) / (W_i + 1)`` and stops when the deviance changes by less than
    ``1e-8 (|dev| + 0.1)`` (``glm.control``).
    """
    n_levels = fam.n_levels
    n_est = fam.n_domains * n_levels
    inside = fam.dom >= 0
    d = fam.dom[inside]
    k = d * n_levels + fam.var.level_codes[inside]
    big_w = fam.design.weights[inside] / c[k]

    def per_estimate(g1: np.ndarray, g0: np.ndarray) -> np.ndarray:
        """sum over the domain of g(W, y): y = 1 on the level's rows, 0 on the others."""
        dom0 = np.repeat(np.bincount(d, g0, minlength=fam.n_domains), n_levels)
        return np.bincount(k, g1 - g0, minlength=n_est) + dom0

    sums = []
    for y in (1.0, 0.0):
        mu = (big_w * y + 0.5) / (big_w + 1)
        v = big_w * mu * (1 - mu)
        dev = -2 * big_w * (y * np.log(mu) + (1 - y) * np.log1p(-mu))
        sums.append((v, v * special.logit(mu) + big_w * (y - mu), dev))
    info, num, dev_old = (per_estimate(a, b) for a, b in zip(*sums, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = num / info
        active = np.isfinite(beta) & (p > 0) & (p < 1)
        for _ in range(25):
            mu = special.expit(beta)
            dev = -2 * sum_w * (p * np.log(mu) + (1 - p) * np.log1p(-mu))
            active &= ~(np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < 1e-8)
            if not active.any():
                break
            step_info = sum_w * mu * (1 - mu)
            info = np.where(active, step_info, info)
            beta = np.where(active, beta + (p - mu) / (mu * (1 - mu)), beta)
            dev_old = dev
    return info


def _profile_limits(
    p: float,
    se_logit: float,
    sum_w: float,
    dispersion: float,
    lam: float,
    df: float,
    n: float,
    level: float,
) -> tuple[float, float]:
    """One estimate's limits by R's ``MASSprofile_glm`` + ``confint_profile``."""
    alpha = distributions.norm_cdf(distributions.t_ppf((1 - level) / 2, df) * np.sqrt(lam)) / 2
    zmax = distributions.t_isf(alpha / 2, n - 1)  # sqrt(qf(alpha, 1, n-1, upper)), stable when tiny
    step_size = zmax / 5
    b0 = special.logit(p)
    zs, bs = [0.0], [b0]
    for sgn in (-1.0, 1.0):
        z = 0.0
        step = 0
        while (step := step + 1) < 10 and abs(z) < zmax:
            b = b0 + sgn * step * step_size * se_logit
            mu = special.expit(b)
            kl = special.xlogy(p, p / mu) + special.xlogy(1 - p, (1 - p) / (1 - mu))
            zz = max(2 * sum_w * kl / dispersion, 0.0)
            z = sgn * np.sqrt(zz)
            zs.append(z)
            bs.append(b)
    order = np.argsort(zs, kind="stable")
    z_arr, b_arr = np.asarray(zs)[order], np.asarray(bs)[order]
    grid_b, grid_z = _r_spline(b_arr, z_arr)
    cut = float(distributions.norm_ppf(2 * alpha))
    lo = _r_approx(grid_z, grid_b, cut)
    hi = _r_approx(grid_z, grid_b, -cut)
    return float(special.expit(lo)), float(special.expit(hi))


def _r_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R ``spline(x, y)``: the FMM interpolating cubic spline (Forsythe, Malcolm and Moler
    1977) evaluated at ``3 * length(x)`` equally spaced points over the range of ``x``."""
    n_out = 3 * x.size
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    b, c, d = _fmm_coefficients(x, y)
    lo, hi = x[0], x[-1]
    i = np.arange(n_out, dtype=float)
    by = (hi - lo) / (n_out - 1)
    grid = np.where(i < n_out // 2, lo + i * by, hi - (n_out - 1 - i) * by)
    grid[0], grid[-1] = lo, hi
    idx = np.clip(np.searchsorted(x, grid, side="right") - 1, 0, x.size - 1)
    dx = grid - x[idx]
    return grid, y[idx] + dx * (b[idx] + dx * (c[idx] + dx * d[idx]))


def _fmm_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of R's ``fmm_spline``: end conditions match the third derivative of the
    cubic through the four points at each end."""
    n = x.size
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n < 3:
        b[:] = (y[1] - y[0]) / (x[1] - x[0]) if n == 2 else 0.0
        return b, c, d
    m = n - 1
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, m):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0] = -d[0]
    b[m] = -d[n - 2]
    c[0] = c[m] = 0.0
    if n > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[m] = c[n - 2] / (x[m] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
        c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
        c[m] = -c[m] * d[n - 2] * d[n - 2] / (x[m] - x[n - 4])
    for i in range(1, n):
        t = d[i - 1] / b[i - 1]
        b[i] = b[i] - t * d[i - 1]
        c[i] = c[i] - t * c[i - 1]
    c[m] = c[m] / b[m]
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[m] = (y[m] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[m])
    for i in range(m):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[m] = 3.0 * c[m]
    d[m] = d[n - 2]
    return b, c, d


def _r_approx(x: np.ndarray, y: np.ndarray, v: float) -> float:
    """R ``approx(x, y, xout=v)``: linear interpolation after sorting ``x`` (ties averaged);
    NaN outside the range of ``x``."""
    xs, inv = np.unique(x, return_inverse=True)
    ys = np.bincount(inv, y) / np.bincount(inv)
    if not xs[0] <= v <= xs[-1]:
        return float("nan")
    j = int(np.searchsorted(xs, v, side="left"))
    if xs[j] == v:
        return float(ys[j])
    i = j - 1
    return float(ys[i] + (ys[j] - ys[i]) * ((v - xs[i]) / (xs[j] - xs[i])))
