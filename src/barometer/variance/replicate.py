"""Replication variance (R ``svrVar``): re-estimate with every replicate weight."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from barometer import reduce


def replicate_thetas(fam: Any) -> np.ndarray:
    """The family's K estimates under each replicate weight: (K x R)."""
    design = fam.design
    reps = design.replicate_weights
    n = reps.shape[0]
    cells, n_levels = reduce.cell_codes(fam.dom, fam.var)
    n_est = fam.n_domains * n_levels
    inside = cells >= 0
    rows = np.flatnonzero(inside)
    if fam.var.codes is not None:
        y = np.ones(rows.size)
    else:
        y = np.nan_to_num(fam.var.values)[rows]
    num_map = sp.csr_matrix((y, (cells[rows], rows)), shape=(n_est, n))
    num = np.asarray(num_map @ reps)
    if not fam.ratio:
        return num
    den_map = sp.csr_matrix((np.ones(rows.size), (fam.dom[rows], rows)), shape=(fam.n_domains, n))
    den = np.asarray(den_map @ reps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.repeat(den, n_levels, axis=0)


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
