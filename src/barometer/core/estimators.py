"""Means, totals and proportions by domain, with design-based variances.

Every estimator here is a ratio ``theta = sum_d w y / sum_d w x`` (a total has no
denominator) over a domain ``d`` (a combination of ``by`` values) and, for a categorical
variable, one indicator ``y`` per level. Its influence values are
``z_i = w_i (y_i - theta x_i) / X_d`` for ``i`` in the domain and 0 outside (Lumley 2010,
sec. 2.3; R ``svymean``/``svytotal`` under ``svyby``): missing values of the variable, like
rows outside the domain, contribute zero, while the variance keeps the whole design.

The mean of an answer scale (whole numbers in a short range, ``is_scale``) is read off the
shares of its values, ``sum_v v W_v / X`` (``scale_mean``): the same estimator, whose
influence values are the same combination of the indicators', from the one family the
scale's quantiles and distribution read too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from barometer.core import reduce
from barometer.core._protocols import FloatArray, IntArray, SurveyDesign
from barometer.core.estimates import Estimates
from barometer.core.intervals import proportion_interval, wald_interval
from barometer.core.reduce import Variable
from barometer.core.variance import calibrated
from barometer.core.variance import linearisation as lin
from barometer.options import CIMethod

if TYPE_CHECKING:
    from barometer.core.design import Structure

#: Column-block size (in cells of n x K) for the dense calibrated path, to bound memory.
_DENSE_CELLS = 20_000_000


@dataclass(frozen=True, eq=False)
class RatioFamily:
    """K = D x L ratio estimates of one variable, and what their variances need."""

    design: SurveyDesign
    var: Variable
    domains: np.ndarray  # (n,) domain code of every row (-1: outside every domain)
    n_domains: int
    ratio: bool  # mean/proportion (True) or total (False)
    theta: np.ndarray  # (D, L)
    denom: np.ndarray  # (D,) weighted base sum_d w
    count: np.ndarray  # (D,) unweighted base
    #: what the variances need, once computed: the sums by (domain, PSU) pair
    #: (``pairs``), the full covariance matrix (``vcov``: estimates derived from this
    #: family — subsets, regions, nets — all ask for it), ``dom``
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_levels(self) -> int:
        return self.var.n_levels

    @property
    def dom(self) -> np.ndarray:
        """(n,) domain code of the rows where the variable is observed, else -1."""
        if "dom" not in self.cache:
            self.cache["dom"] = reduce.domain_codes(self.domains, self.var)
        dom: IntArray = self.cache["dom"]
        return dom

    def influence(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Influence values (n x L) of each row for its own domain's L estimates."""
        w = self.design.weights
        d = self.dom
        inside = d >= 0
        dd = np.where(inside, d, 0)
        if self.var.categorical:
            y = (self.var.level_codes[:, None] == np.arange(self.n_levels)[None, :]).astype(float)
            wy, theta, denom = w[:, None], self.theta[dd], self.denom[dd][:, None]
        else:  # one column: formed flat (no n x 1 temporaries), viewed as n x 1 at the end
            y = self.var.filled
            wy, theta, denom = w, self.theta[:, 0][dd], self.denom[dd]
        z = wy * (y - theta) / denom if self.ratio else wy * y
        z[~inside] = 0.0
        out: FloatArray = z if z.ndim == 2 else z[:, None]
        return out


def _structure(design: SurveyDesign) -> Structure:
    """The structure of a linearisation design (the linearised sums run on no other)."""
    s = design.structure
    assert s is not None, "linearised sums need a linearisation design"
    return s


def clusters(design: SurveyDesign) -> Structure | None:
    """The structure of a linearisation design with PSUs (not one row each), whose
    estimates sum by (domain, PSU) pair; None for other designs."""
    s = design.structure
    return s if s is not None and not s.element else None


def family(
    design: SurveyDesign,
    var: Variable,
    dom_coding_codes: IntArray,
    n_domains: int,
    ratio: bool,
) -> RatioFamily:
    """The ratio (``ratio=True``: mean, proportion) or total estimates of ``var`` in the
    domains coded ``dom_coding_codes`` (-1: outside every domain), by the one grouped pass."""
    w = design.weights
    s = clusters(design)
    if s is not None:
        pairs = reduce.make_pairs(dom_coding_codes, n_domains, s)
        sums = reduce.pair_sums(var, pairs, dom_coding_codes, w)
        return pair_family(design, sums, pairs, dom_coding_codes, ratio)
    dom = reduce.domain_codes(dom_coding_codes, var)
    cells, n_levels = reduce.cell_codes(dom, var)
    n_cells = n_domains * n_levels
    # the weighted sums and the counts from one binning of the rows' cells
    if var.categorical:
        num, rows = reduce.sums_each(cells, n_cells, (w, None))
        num = num.reshape(n_domains, n_levels)
        denom = num.sum(axis=1)
    else:  # (one level: the cells are the domains)
        num, denom, rows = reduce.sums_each(dom, n_domains, (w * var.filled, w, None))
        num = num[:, None]
    rows = rows.reshape(n_domains, n_levels)
    count = rows.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = num / denom[:, None] if ratio else num
    cache: dict[str, Any] = {"dom": dom}
    if var.categorical:  # a scale's mean and weighted CDF are read off them (scale_mean)
        cache["level_sums"], cache["level_rows"] = num, rows
    return RatioFamily(design, var, dom_coding_codes, n_domains, ratio, theta, denom, count, cache)


def pair_family(
    design: SurveyDesign,
    sums: reduce.PairSums,
    pairs: reduce.PsuPairs,
    domains: np.ndarray,
    ratio: bool,
) -> RatioFamily:
    """The family from its sums by (domain, PSU) pair: each domain's total is the sum of its
    pairs (a contiguous block)."""
    n_dom, n_lev = pairs.n_domains, sums.num.shape[0]
    if pairs.size:
        num = np.add.reduceat(sums.num, pairs.starts, axis=1).T
        denom = np.add.reduceat(sums.den, pairs.starts)
    else:
        num, denom = np.zeros((n_dom, n_lev)), np.zeros(n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = num / denom[:, None] if ratio else num
    cache: dict[str, Any] = {"pairs": (pairs, sums), "level_sums": num}
    return RatioFamily(
        design, sums.var, domains, n_dom, ratio, theta, denom, sums.count.copy(), cache
    )


def linearised_sums(fam: RatioFamily, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """S2 and S1 (see ``variance.linearisation``) of the family's K estimates."""
    design = fam.design
    s = _structure(design)
    own = fam.cache.get("linearised")  # an engine's sums, from moments (core/backends)
    if own is not None:
        from_engine: tuple[FloatArray, FloatArray] = own(full)
        return from_engine
    steps = design.calibration
    if not steps:
        if s.element:
            return _element_sums(fam, full, None if fam.var.categorical else fam.influence())
        if not full:
            return _pair_sums(fam)
        return lin.psu_sums(psu_totals(fam), s, full)
    plan = calibrated.plan(design)
    if plan is None:
        return _calibrated_sums(fam, full)
    # the cell sums and their projections, shared by the SEs and the full covariance;
    # the rows' influence values (n x K) are made again when needed, never kept
    need_z = s.element and not fam.var.categorical
    z = fam.influence() if need_z else None
    if "calibrated" not in fam.cache:
        kinds = ("q", "scaled") if s.element else ("q",)
        found = calibrated.table_sums(plan, fam, kinds)
        if found is None:
            z = fam.influence() if z is None else z
            found = calibrated.row_sums(plan, calibrated.DomainRows.of(z, fam.dom, fam.n_domains))
        fam.cache["calibrated"] = (found, calibrated.accumulate(found, plan))
    sums, acc = fam.cache["calibrated"]
    if s.element:
        s2, s1 = _element_sums(fam, full, z)
        parts = acc.parts
        s1 = s1 - calibrated.group_corrections(plan, parts, s.strata, s.n_strata, "strata").T
        s2 = s2 + calibrated.element_second_moments(plan, parts, sums, full)
        return s2, s1
    sparse_sums = calibrated.psu_sums(plan, acc, sparse_psu_totals(fam), s, full)
    if sparse_sums is not None:
        return sparse_sums
    corrections = calibrated.group_corrections(plan, acc.parts, s.psu, s.n_psus, "psu")
    return lin.psu_sums(psu_totals(fam) - corrections.T, s, full)


def _pair_influence(fam: RatioFamily) -> tuple[reduce.PsuPairs, np.ndarray]:
    """Each pair's total of the influence values (L x M): ``sum w (y - theta x) / X_d``."""
    pairs, sums = fam.cache["pairs"]
    if not fam.ratio:
        return pairs, sums.num
    d = pairs.domain
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (sums.num - fam.theta.T[:, d] * sums.den) / fam.denom[d]
    return pairs, np.nan_to_num(z, copy=False)


def psu_totals(fam: RatioFamily) -> np.ndarray:
    """PSU totals of the influence values (K x P), from the pairs' totals."""
    s = _structure(fam.design)
    pairs, z = _pair_influence(fam)
    zp = np.zeros((fam.n_domains, fam.n_levels, s.n_psus))
    zp[pairs.domain, :, pairs.psu] = z.T
    return zp.reshape(-1, s.n_psus)


def sparse_psu_totals(fam: RatioFamily) -> sp.csr_matrix:
    """``psu_totals`` transposed and sparse (P x K): a PSU's totals are non-zero for the
    estimates of the domains it meets only."""
    s = _structure(fam.design)
    pairs, z = _pair_influence(fam)
    n_lev = fam.n_levels
    # the pairs in PSU order (a stable sort keeps each PSU's domains in order): CSR order
    order = np.argsort(pairs.psu, kind="stable")
    cols = (np.take(pairs.domain, order)[:, None] * n_lev + np.arange(n_lev)).ravel()
    indptr = np.concatenate(([0], np.cumsum(np.bincount(pairs.psu, minlength=s.n_psus) * n_lev)))
    data = np.take(z, order, axis=1).T.ravel()
    return sp.csr_matrix((data, cols, indptr), shape=(s.n_psus, fam.n_domains * n_lev))


def _pair_sums(fam: RatioFamily) -> tuple[np.ndarray, np.ndarray]:
    """S2 (diagonal) and S1 straight from the pairs' influence totals: S2 sums
    ``scale_h Z^2`` over each domain's pairs, S1 over each (domain, stratum) block."""
    s = _structure(fam.design)
    pairs, z = _pair_influence(fam)
    n_dom, n_lev = fam.n_domains, fam.n_levels
    if not pairs.size:
        return np.zeros(n_dom * n_lev), np.zeros((n_dom * n_lev, s.n_strata))
    scale, _ = lin.stratum_factors(s)
    zz = z * z
    zz *= scale[s.psu_stratum[pairs.psu]]
    s2 = np.add.reduceat(zz, pairs.starts, axis=1).T.ravel()
    s1 = np.zeros((n_dom, n_lev, s.n_strata))
    s1[pairs.block_domain, :, pairs.block_stratum] = np.add.reduceat(
        z, pairs.block_starts, axis=1
    ).T
    return s2, s1.reshape(-1, s.n_strata)


def _element_sums(
    fam: RatioFamily, full: bool, z: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each row its own PSU: the sums straight from the rows' influence values ``z``
    (level indicators need none: ``_indicator_sums``)."""
    s = _structure(fam.design)
    scale, _ = lin.stratum_factors(s)
    n_levels = fam.n_levels
    inside = fam.dom >= 0
    if fam.var.categorical:
        return _indicator_sums(fam, full, scale, inside)
    assert z is not None and n_levels == 1  # a numeric variable: one estimate per domain
    # a row outside the domains adds its zero influence to domain 0: the same sums, with
    # no selection of the rows inside
    d = np.maximum(fam.dom, 0)
    zi = z[:, 0]
    n_dom, n_strata = fam.n_domains, s.n_strata
    s1 = np.bincount(d * n_strata + s.strata, zi, minlength=n_dom * n_strata)
    squares = np.bincount(d, zi * zi * scale[s.strata], minlength=n_dom)
    s1 = s1.reshape(n_dom, n_strata)
    # S2 is diagonal: an estimate's influence values are zero outside its domain
    return (np.diag(squares) if full else squares), s1


def _indicator_sums(
    fam: RatioFamily, full: bool, scale: np.ndarray, inside: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """S2 and S1 of level indicators on an element design from sums by (domain, stratum,
    level), without the rows' influence values: ``S1[(d, l), h] = (W_dhl - theta_dl W_dh)
    / X_d`` (``W``: sums of ``w``; a total: ``W_dhl``), and the diagonal of S2 is
    ``(A_dl (1 - theta_dl)^2 + (B_d - A_dl) theta_dl^2) / X_d^2`` with ``A_dl = sum_h
    scale_h sum_{(d, h, l)} w^2`` and ``B_d = sum_l A_dl`` (``A_dl`` for a total; the full
    blocks in ``_indicator_blocks``). Two grouped passes (of ``w`` and ``w^2``) by
    (level, domain x stratum), over all the rows: outside the domains is a spare group."""
    n_dom, n_lev = fam.n_domains, fam.n_levels
    if "indicator" not in fam.cache:  # the two passes, shared by the diagonal and full forms
        fam.cache["indicator"] = _indicator_tables(fam, scale)
    s1, a = fam.cache["indicator"]
    s1 = s1.copy()
    th = np.nan_to_num(fam.theta)
    if full:
        blocks = _indicator_blocks(fam, a)
        s2 = np.zeros((n_dom * n_lev, n_dom * n_lev))
        for dd in range(n_dom):
            sl = slice(dd * n_lev, (dd + 1) * n_lev)
            s2[sl, sl] = blocks[dd]
        return s2, s1
    if fam.ratio:
        b = a.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = (a * (1 - th) ** 2 + (b[:, None] - a) * th**2) / fam.denom[:, None] ** 2
        s2 = np.nan_to_num(s2, copy=False)
    else:
        s2 = a.astype(float)  # a copy: the cached table stays as it was
    return s2.ravel(), s1


def _indicator_tables(fam: RatioFamily, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ``A_dl`` of ``_indicator_sums``, from its two grouped passes over the rows."""
    s = _structure(fam.design)
    n_dom, n_lev, n_strata = fam.n_domains, fam.n_levels, s.n_strata
    span = n_dom * n_strata
    groups = fam.domains * n_strata
    groups += s.strata
    groups[fam.domains < 0] = span
    w = fam.design.weights
    # both passes from one (level, group) code per row; the squared weights are the
    # design's, kept for its next question
    of_w, of_squares = reduce.level_tables(fam.var, groups, span + 1, (w, _squared(fam.design)))

    def table(sums: np.ndarray) -> np.ndarray:  # (D, H, L)
        return sums[:, :span].T.reshape(n_dom, n_strata, n_lev)

    wdhl = table(of_w)
    th = np.nan_to_num(fam.theta)
    if fam.ratio:
        with np.errstate(invalid="ignore", divide="ignore"):
            s1 = (wdhl - th[:, None, :] * wdhl.sum(axis=2)[:, :, None]) / fam.denom[:, None, None]
        s1 = np.nan_to_num(s1, copy=False)
    else:
        s1 = wdhl
    s1 = s1.transpose(0, 2, 1).reshape(n_dom * n_lev, n_strata)
    a = np.einsum("dhl,h->dl", table(of_squares), scale)
    return s1, a


def _squared(design: SurveyDesign) -> np.ndarray:
    """The design's weights squared, computed once per design (``DesignCache``)."""
    kept = design.cache.squared_weights
    if kept is None:
        kept = design.weights * design.weights
        kept.setflags(write=False)  # (as the weights are: shared by every question)
        design.cache.squared_weights = kept
    return kept


def _indicator_blocks(fam: RatioFamily, a: np.ndarray) -> np.ndarray:
    """``sum_i s_i z_i z_i'`` per domain for level indicators, in closed form from ``A_dl =
    sum_{code=l} s w^2`` (``_indicator_sums``): with ``A`` over ``X_d^2`` for a ratio and
    ``B_d = sum_l A_dl``, the block is ``diag(A) - A theta' - theta A' + B theta theta'``."""
    n_dom, n_lev = fam.n_domains, fam.n_levels
    if fam.ratio:
        with np.errstate(invalid="ignore", divide="ignore"):
            a = a / fam.denom[:, None] ** 2
        a = np.where(fam.denom[:, None] > 0, a, 0.0)
    blocks = np.zeros((n_dom, n_lev, n_lev))
    diag = np.arange(n_lev)
    blocks[:, diag, diag] = a
    if fam.ratio:
        b = a.sum(axis=1)
        th = np.nan_to_num(fam.theta)
        blocks -= a[:, :, None] * th[:, None, :] + th[:, :, None] * a[:, None, :]
        blocks += b[:, None, None] * th[:, :, None] * th[:, None, :]
    return blocks


def _calibrated_sums(fam: RatioFamily, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated designs: dense influence columns, residualised on the calibration steps."""
    design = fam.design
    s = _structure(design)
    n = s.n
    n_levels = fam.n_levels
    n_est = fam.n_domains * n_levels
    z = fam.influence()
    inside = fam.dom >= 0
    scale, _ = lin.stratum_factors(s)
    group = s.strata if s.element else s.psu
    n_group = s.n_strata if s.element else s.n_psus
    onehot = sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_group, n))
    block = max(1, _DENSE_CELLS // n)
    out_s1 = np.zeros((n_est, s.n_strata))
    out_s2 = np.zeros((n_est, n_est)) if full else np.zeros(n_est)
    cols_all = []
    for start in range(0, n_est, block):
        ks = np.arange(start, min(n_est, start + block))
        x = np.zeros((n, ks.size))
        for j, k in enumerate(ks):
            dd, lv = divmod(int(k), n_levels)
            rows = inside & (fam.dom == dd)
            x[rows, j] = z[rows, lv]
        x = lin.apply_steps(x, design.calibration)
        if s.element:
            sc = scale[s.strata]
            out_s1[ks] = np.asarray(onehot @ x).T
            if full:
                cols_all.append((ks, x))
            else:
                out_s2[ks] = np.einsum("ik,ik,i->k", x, x, sc)
        else:
            zp = np.asarray(onehot @ x).T  # (k, P)
            s2, s1 = lin.psu_sums(zp, s, False)
            out_s1[ks] = s1
            if full:
                cols_all.append((ks, zp))
            else:
                out_s2[ks] = s2
    if full:
        weights = scale[s.strata] if s.element else scale[s.psu_stratum]
        for ka, xa in cols_all:
            for kb, xb in cols_all:
                if s.element:
                    out_s2[np.ix_(ka, kb)] = (xa * weights[:, None]).T @ xb
                else:
                    out_s2[np.ix_(ka, kb)] = (xa * weights) @ xb.T
    return out_s2, out_s1


def strata_present(fam: RatioFamily) -> np.ndarray | None:
    """Per estimate, which strata hold rows of its domain (for lonely_psu='average')."""
    design = fam.design
    s = design.structure
    if s is None or s.lonely_psu != "average":
        return None
    if design.calibration:
        return None  # R keeps every row of a calibrated design in a subset
    if "strata_present" in fam.cache:  # an engine's, from its sums (core/backends)
        present_: np.ndarray = fam.cache["strata_present"]
        return present_
    h = s.n_strata
    inside = fam.dom >= 0
    counts = np.bincount(fam.dom[inside] * h + s.strata[inside], minlength=fam.n_domains * h)
    present = counts.reshape(fam.n_domains, h) > 0
    return np.repeat(present, fam.n_levels, axis=0)


def family_variance(fam: RatioFamily, full: bool = False) -> np.ndarray:
    """Variances (or the covariance matrix) of the family's K estimates."""
    if full:
        if "vcov" not in fam.cache:
            fam.cache["vcov"] = _family_variance(fam, True)
            fam.cache["vcov"].setflags(write=False)
        vcov: FloatArray = fam.cache["vcov"]
        return vcov
    if "vcov" in fam.cache:
        return np.diag(fam.cache["vcov"]).copy()
    return _family_variance(fam, False)


def _family_variance(fam: RatioFamily, full: bool) -> FloatArray:
    """The design's own variance (linearisation or replicates): dispatched once, by it."""
    return fam.design.variance(fam, full)


def design_effect(fam: RatioFamily, variance: np.ndarray) -> np.ndarray:
    """R's ``deff=TRUE``: the variance over that of a simple random sample without
    replacement of the same size, ``s^2 (N - n) / (N n)`` with ``N`` the weighted base
    (``svymean``/``svytotal``); for a total, times ``N^2``."""
    nobs = fam.count[:, None]
    psum = fam.denom[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if fam.var.categorical:
            p = fam.theta / psum if not fam.ratio else fam.theta
            mean_sq = p
            mean = p
        else:
            if "sq" in fam.cache:  # an engine's domain sums of w y^2 (core/backends)
                sq = fam.cache["sq"][:, None]
            else:
                w, y = fam.design.weights, fam.var.filled
                sq = reduce.sums(fam.dom, fam.n_domains, w * y * y)[:, None]
            mean_sq = sq / psum
            mean = fam.theta / psum if not fam.ratio else fam.theta
        s2 = (mean_sq - mean * mean) * nobs / (nobs - 1)
        vsrs = s2 * (psum - nobs) / (psum * nobs)
        vsrs = np.where(psum < nobs, np.nan, vsrs)
        if not fam.ratio:
            vsrs = vsrs * psum * psum
        deff: FloatArray = variance.reshape(fam.theta.shape) / vsrs
        return deff


def _table(
    fam: RatioFamily, by_levels: pl.DataFrame, variance: np.ndarray, deff: np.ndarray | None
) -> pl.DataFrame:
    d, l_ = fam.n_domains, fam.n_levels
    est = fam.theta.ravel()
    se = np.sqrt(np.maximum(variance, 0.0))
    empty = np.repeat(fam.count == 0, l_)
    se = np.where(np.isnan(variance) | empty, np.nan, se)
    low, high = wald_interval(est, se, 0.95)
    cols: dict[str, object] = {}
    if by_levels.width:
        rows = pl.Series(np.repeat(np.arange(d, dtype=np.uint32), l_))
        cols.update(by_levels.select(pl.all().gather(rows)).to_dict())
    cols["variable"] = pl.Series("variable", [fam.var.name] * (d * l_), dtype=pl.String)
    if fam.var.levels is not None:
        cols["level"] = pl.Series(
            "level", fam.var.levels.cast(pl.String).to_list() * d, dtype=pl.String
        )
    else:
        cols["level"] = pl.Series("level", [None] * (d * l_), dtype=pl.String)
    cols["estimate"] = est
    cols["se"] = se
    cols["ci_low"] = low
    cols["ci_high"] = high
    cols["n"] = np.repeat(fam.count, l_).astype(np.int64)
    cols["deff"] = deff.ravel() if deff is not None else np.full(d * l_, np.nan)
    return pl.DataFrame(cols)


def _run(
    design: SurveyDesign,
    variables: list[str],
    by: list[str],
    ratio: bool,
    categorical: bool | None,
    kind: str,
) -> Estimates:
    parts, families = [], []
    by_levels, found = _families(design, variables, by, ratio, categorical)
    for fam in found:
        v = np.diag(family_variance(fam, True)).copy() if _full_first(fam) else family_variance(fam)
        parts.append(_table(fam, by_levels, v, design_effect(fam, v)))
        families.append(fam)
    table = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    return Estimates(table, by=tuple(by), statistic=kind, families=tuple(families))


#: At most this many estimates in a numeric family whose covariance matrix is formed
#: with its variances (see ``_full_first``).
_FULL_FIRST = 1024


def _full_first(fam: RatioFamily) -> bool:
    """True when a numeric family's covariance matrix costs what its variances do (one
    estimate per domain, few domains; not the dense calibrated path, which keeps every
    column for it): formed at once, later asks for it (regions, changes, a total across
    domains) are read from the family's cache instead of a second pass over the rows."""
    design = fam.design
    if fam.var.categorical or fam.n_domains > _FULL_FIRST or hasattr(design, "reduce_families"):
        return False  # (an engine's families: as the engine computes them)
    return covariance_is_cheap(design)


def _families(
    design: SurveyDesign, variables: list[str], by: list[str], ratio: bool, categorical: bool | None
) -> tuple[pl.DataFrame, Iterator[RatioFamily]]:
    """The reduction: the domains of ``by`` and each variable's family, from grouped sums
    formed in memory — or, for a design over a query engine's table, by that engine
    (``core.backends``: the design has ``reduce_families``)."""
    engine = getattr(design, "reduce_families", None)
    if engine is not None:
        reduced: tuple[pl.DataFrame, Iterator[RatioFamily]] = engine(
            variables, by, ratio, categorical
        )
        return reduced
    coding = reduce.domains(design, by)
    pairs = reduce.psu_pairs(design, by) if clusters(design) is not None else None

    def each() -> Iterator[RatioFamily]:
        for name in variables:
            scale = scale_mean(design, name, by) if ratio and categorical is False else None
            if scale is not None:
                yield scale
            elif ratio and categorical:
                yield level_family(design, name, by)
            elif pairs is not None:
                sums = reduce.column_pair_sums(design, name, categorical, pairs, coding.codes)
                yield pair_family(design, sums, pairs, coding.codes, ratio)
            else:
                var = reduce.variable(design, name, categorical)
                yield family(design, var, coding.codes, coding.size, ratio)

    return coding.levels, each()


#: At most this many shares (domains x values) in the family of a scale's values from
#: which its mean and quantiles are read (a covariance matrix of 32 MB).
LEVEL_ESTIMATES = 2048


def is_scale(design: SurveyDesign, name: str, x: np.ndarray, n_dom: int) -> bool:
    """True when column ``name`` is numeric (not boolean: its levels are not numbers) and its
    values ``x`` (NaN: missing) in ``n_dom`` domains are an answer scale: whole numbers in a
    range short enough that the shares of each value by domain form one family whose
    covariance is formed (:data:`LEVEL_ESTIMATES`), whose every observed row has a weight
    (so the shares' domains are the scale's), on a design whose covariance is cheap —
    including the shares' PSU totals, at most ``_DENSE_CELLS`` (many small PSUs: the rows
    are cheaper). Then its mean (``scale_mean``), quantiles (``core.quantiles``) and
    distribution are all read off that one family (``level_family``)."""
    if not reduce.is_numeric(design.data_with([name]).get_column(name)):
        return False
    lo, hi = np.fmin.reduce(x, initial=np.inf), np.fmax.reduce(x, initial=-np.inf)
    if not lo <= hi:
        return False
    n_shares = n_dom * (hi - lo + 1)
    s = clusters(design)
    if n_shares > LEVEL_ESTIMATES or (s is not None and n_shares * s.n_psus > _DENSE_CELLS):
        return False
    observed = ~np.isnan(x)
    return (
        not np.any(x != np.floor(x), where=observed)
        and covariance_is_cheap(design)
        and not np.any(design.weights == 0, where=observed)
    )


def covariance_is_cheap(design: SurveyDesign) -> bool:
    """True unless the design's variances take the dense calibrated path, which keeps a
    column per estimate for every row to form a covariance matrix."""
    return design.structure is None or not design.calibration or calibrated.plan(design) is not None


def scale_mean(design: SurveyDesign, name: str, by: list[str]) -> RatioFamily | None:
    """The family of the mean of ``name`` by ``by`` read off the shares of its values, when
    ``name`` is an answer scale (``is_scale``); None otherwise (the mean from its rows).
    The shares are the design's kept ones when a scale's quantiles, asked first, left them
    (``level_family``; its distribution takes them after), or made here: one path for a
    scale's mean whatever was asked before it, so the same call gives the same digits.

    The mean is ``sum_v v W_dv / X_d`` (``W_dv`` the weights of value ``v`` in domain ``d``)
    and its covariance ``A V A'`` with ``V`` the shares' (``A`` the values, per domain):
    the same estimator as ``sum w y / sum w`` (R ``svymean``) with influence values ``w (y -
    theta) / X`` (a linear combination of the indicators'); ``deff`` from ``sum w y^2 =
    sum_v v^2 W_dv``. It is also the more exact sum: one rounding per value, not per row.
    A scale's every observed row has a weight (``is_scale``), so the shares' domains are
    the mean's."""
    var = reduce.variable(design, name, False)
    kept = design.cache.level_family
    if kept is not None and kept[0] == (name, tuple(by)):
        shares = kept[1]
    else:
        assert var.values is not None
        if not is_scale(design, name, var.values, reduce.domains(design, by).size):
            return None
        shares = level_family(design, name, by)
    levels = shares.var.levels
    assert levels is not None
    values = levels.cast(pl.Float64).to_numpy()
    n_dom, n_lev = shares.n_domains, shares.n_levels
    cover = family_variance(shares, full=True).reshape(n_dom, n_lev, n_dom, n_lev)
    vcov = np.einsum("l,dlem,m->de", values, cover, values)
    vcov.setflags(write=False)
    # from the sums of weights by value, as sum w y / sum w: one rounding at the end
    sums = shares.cache["level_sums"]
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = ((sums @ values) / shares.denom)[:, None]
    squares = sums @ (values * values)
    cache: dict[str, Any] = {"dom": shares.dom, "vcov": vcov, "sq": squares}
    return RatioFamily(
        design, var, shares.domains, n_dom, True, theta, shares.denom, shares.count, cache
    )


def level_family(design: SurveyDesign, name: str, by: list[str], keep: bool = False) -> RatioFamily:
    """The family of the shares of every level of ``name`` by ``by`` on an in-memory design
    (what ``proportion`` estimates). With ``keep``, it is left on the design's cache for
    the next call without (which takes it off): a scale's quantiles (``core.quantiles``)
    take their variances from its covariance, and the scale's mean (``scale_mean``, which
    leaves it there) and distribution, asked next, read them instead of a pass over the
    rows each. Only one is kept, and only until then: a family held longer keeps its row
    arrays alive for nothing."""
    key = (name, tuple(by))
    kept = design.cache.level_family
    if kept is not None and kept[0] == key:
        if not keep:
            design.cache.level_family = None
        return kept[1]
    coding = reduce.domains(design, by)
    if clusters(design) is not None:
        pairs = reduce.psu_pairs(design, by)
        sums = reduce.column_pair_sums(design, name, True, pairs, coding.codes)
        fam = pair_family(design, sums, pairs, coding.codes, True)
    else:
        fam = family(design, reduce.variable(design, name, True), coding.codes, coding.size, True)
    if keep:
        design.cache.level_family = (key, fam)
    return fam


def mean(
    design: SurveyDesign, variables: list[str], by: list[str], confidence: float = 0.95
) -> Estimates:
    """Weighted means ``sum w y / sum w`` of numeric variables, by domain (R ``svymean``),
    with normal intervals at ``confidence``."""
    est = _run(design, variables, by, ratio=True, categorical=False, kind="mean")
    if confidence == 0.95:  # the table's own are the 95% Wald limits
        return est
    table = est.table
    low, high = wald_interval(
        table.get_column("estimate").to_numpy(), table.get_column("se").to_numpy(), confidence
    )
    table = table.with_columns(ci_low=pl.Series(low), ci_high=pl.Series(high))
    return Estimates(table, by=est.by, statistic=est.statistic, families=est.families)


def total(design: SurveyDesign, variables: list[str], by: list[str]) -> Estimates:
    """Weighted totals ``sum w y`` (R ``svytotal``); a categorical variable gives the
    weighted count of each level."""
    return _run(design, variables, by, ratio=False, categorical=None, kind="total")


def proportion(
    design: SurveyDesign,
    variable: str,
    by: list[str],
    level: object,
    ci: CIMethod,
    confidence: float,
) -> Estimates:
    """The share of every level of a variable by domain (R ``svymean`` of a factor), with
    intervals by ``ci`` (``wald`` as ``confint(svymean(...))``, the others as
    R ``svyciprop``; see ``intervals``). ``level=`` keeps one level."""
    est = _run(design, [variable], by, ratio=True, categorical=True, kind="proportion")
    table = est.table
    if level is not None:
        keep = table.get_column("level") == str(level)
        if not keep.any():
            from barometer.errors import EstimationError, did_you_mean

            levels = table.get_column("level").unique().to_list()
            raise EstimationError(
                f"level {level!r} does not occur in variable {variable!r}"
                f"{did_you_mean(str(level), levels)}"
            )
    fam = est.families[0]
    if ci != "wald" or confidence != 0.95:  # the table's own are the 95% Wald limits
        low, high = proportion_interval(fam, table, ci, confidence)
        table = table.with_columns(ci_low=pl.Series(low), ci_high=pl.Series(high))
    if level is not None:
        table = table.filter(keep)
    return Estimates(
        table,
        by=est.by,
        statistic="proportion",
        families=est.families,
        rows=None if level is None else np.flatnonzero(keep.to_numpy()),
    )
