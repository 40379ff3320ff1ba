"""Replication variance (R ``svrVar``): re-estimate with every replicate weight."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from barometer import reduce


def replicate_thetas(fam: Any) -> np.ndarray:
    """The family's K estimates under each replicate weight: (K x R).

    One sparse product reads the replicate weights once: every observed row is a column
    with its value in its (domain, level) numerator row and, for a ratio, a 1 in its
    domain's denominator row (built directly in CSC form, which walks the n x R weights
    row by row).
    """
    reps = fam.design.replicate_weights
    n = reps.shape[0]
    cells, n_levels = reduce.cell_codes(fam.dom, fam.var)
    n_est = fam.n_domains * n_levels
    rows = np.flatnonzero(cells >= 0)
    y = np.ones(rows.size) if fam.var.codes is not None else np.nan_to_num(fam.var.values)[rows]
    per = 2 if fam.ratio else 1
    indices = np.empty(rows.size * per, dtype=np.int64)
    data = np.empty(rows.size * per)
    indices[0::per] = cells[rows]
    data[0::per] = y
    if fam.ratio:
        indices[1::per] = n_est + fam.dom[rows]
        data[1::per] = 1.0
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[rows + 1] = per
    np.cumsum(indptr, out=indptr)
    shape = (n_est + (fam.n_domains if fam.ratio else 0), n)
    sums = np.asarray(sp.csc_matrix((data, indices, indptr), shape=shape) @ reps)
    if not fam.ratio:
        return sums
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[:n_est] / np.repeat(sums[n_est:], n_levels, axis=0)


def svr_variance(thetas: np.ndarray, theta: np.ndarray, design: Any, full: bool) -> np.ndarray:
    """R ``svrVar``: ``scale * sum_r rscales_r (theta_r - centre)^2`` for replicate
    estimates ``thetas`` (K x R), with the centre the mean of the replicates (R's default)
    or the full-sample ``theta`` (``mse=True``). Replicates that give no estimate (an empty
    domain) are left out, as R's ``na.omit`` does."""
    rscales = np.broadcast_to(np.asarray(design.rscales, dtype=float), (thetas.shape[1],))
    ok = np.isfinite(thetas)
    if design.mse:
        centre = theta
    else:
        use = ok & (rscales > 0)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(use, thetas, 0.0).sum(axis=1) / use.sum(axis=1)
    dev = np.where(ok, thetas - centre[:, None], 0.0) * np.sqrt(rscales)[None, :]
    if full:
        return design.scale * (dev @ dev.T)
    return design.scale * np.einsum("kr,kr->k", dev, dev)


def replicate_variance(fam: Any, full: bool) -> np.ndarray:
    """Replicate variances of the family's K estimates (see ``svr_variance``)."""
    return svr_variance(replicate_thetas(fam), fam.theta.ravel(), fam.design, full)
