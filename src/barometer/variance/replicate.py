"""Replication variance (R ``svrVar``): re-estimate with every replicate weight."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import scipy.sparse as sp

from barometer import reduce
from barometer.replicates import parallel_map


def replicate_thetas(fam: Any) -> np.ndarray:
    """The family's K estimates under each replicate weight: (K x R).

    Each needs, per replicate, the weighted sums of the variable and of the rows in each
    (domain, level) cell: one grouped pass over the replicate weights. Columns the user
    supplied stay in polars and are summed there (multi-threaded, without forming the
    n x R matrix); weights built here (calibrated, ``to_replicates``) are an array and go
    through one sparse product.
    """
    design = fam.design
    cells, n_levels = reduce.cell_codes(fam.dom, fam.var)
    n_est = fam.n_domains * n_levels
    if design._array is None:
        num, den = _frame_sums(fam, cells, n_est)
    else:
        num, den = _array_sums(fam, cells, n_est)
    if not fam.ratio:
        return num
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.repeat(den, n_levels, axis=0)


def _frame_sums(fam: Any, cells: np.ndarray, n_est: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerator (K x R) and denominator (D x R) sums with a polars group-by."""
    frame = fam.design.replicate_frame
    n_rep = frame.width
    if fam.var.codes is not None:
        sums = _grouped(frame, cells, n_est)
        den = sums.reshape(fam.n_domains, -1, n_rep).sum(axis=1)
        return sums, den
    y = np.nan_to_num(fam.var.values)
    coded = _value_codes(y, cells)
    if coded is not None:
        # few distinct values (an indicator, a scale): group by (domain, value) and weight
        # the sums by the values afterwards — half the work of summing w * y and w
        codes, values = coded
        key = np.where(cells >= 0, cells * values.size + codes, -1)
        sums = _grouped(frame, key, n_est * values.size).reshape(n_est, values.size, n_rep)
        return np.einsum("kvr,v->kr", sums, values), sums.sum(axis=1)
    keyed = frame.with_columns(pl.Series("_y", y))
    exprs = [(pl.col(c) * pl.col("_y")).sum().alias(f"{c}_y") for c in frame.columns]
    both = _grouped(keyed, cells, n_est, [*exprs, *(pl.col(c).sum() for c in frame.columns)])
    return both[:, :n_rep], both[:, n_rep:]


def _value_codes(y: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes 0..V-1 of the values of ``y`` and the V values (at most 16), or None when the
    rows inside (``cells >= 0``) take more values. Integers in a short range (indicators,
    scales) are coded by an offset, without sorting or searching."""
    lo, hi = float(y.min()), float(y.max())
    if hi - lo < 16:
        shifted = y - lo
        codes = shifted.astype(np.int8)
        if np.array_equal(codes, shifted):
            return codes, lo + np.arange(int(hi - lo) + 1, dtype=float)
    values = np.sort(pl.Series(y[cells >= 0]).unique().to_numpy())
    if values.size > 16:
        return None
    return np.searchsorted(values, y), values


def _grouped(
    frame: pl.DataFrame, key: np.ndarray, size: int, exprs: list[pl.Expr] | None = None
) -> np.ndarray:
    """Sums of ``frame``'s replicate columns (or of ``exprs``) by ``key`` (rows with a
    negative key left out): a (size x columns) array.

    Plain column sums go through Arrow's hash aggregation, the columns split into one block
    per thread (zero-copy from polars; each block reads its columns once); ``exprs`` through
    a polars group-by."""
    key = np.where(key < 0, size, key).astype(np.int32)  # a spare group for the rows left out
    if exprs is None:
        table = frame.to_arrow()
        names = frame.columns
        n_blocks = min(len(names), max(1, pl.thread_pool_size()))
        blocks = [list(range(i, len(names), n_blocks)) for i in range(n_blocks)]
        k = pa.array(key)

        def block_sums(cols: list[int]) -> tuple[list[int], pa.Table]:
            part = pa.table([k, *(table.column(c) for c in cols)], names=["_k", *map(str, cols)])
            return cols, part.group_by("_k", use_threads=False).aggregate(
                [(str(c), "sum") for c in cols]
            )

        result = np.zeros((size + 1, len(names)))
        for cols, out in parallel_map(block_sums, blocks):
            rows = out.column("_k").to_numpy()
            for c in cols:
                result[rows, c] = out.column(f"{c}_sum").to_numpy()
        return result[:size]
    out = frame.with_columns(pl.Series("_k", key)).group_by("_k").agg(exprs)
    result = np.zeros((size + 1, out.width - 1))
    result[out.get_column("_k").to_numpy()] = out.drop("_k").to_numpy()
    return result[:size]


def _array_sums(fam: Any, cells: np.ndarray, n_est: int) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator sums from one sparse product, built directly in CSC form
    (which walks the n x R weights row by row, reading them once)."""
    reps = fam.design.replicate_weights
    n = reps.shape[0]
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
    return sums[:n_est], sums[n_est:]


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
