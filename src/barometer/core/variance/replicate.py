"""Replication variance (R ``svrVar``): re-estimate with every replicate weight."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import scipy.sparse as sp

from barometer.core import reduce
from barometer.core._protocols import FloatArray, IntArray
from barometer.core.replication.weights import parallel_map

if TYPE_CHECKING:
    from barometer.core.design import ReplicateDesign
    from barometer.core.estimators import RatioFamily

#: Rows x replicates from which the grouped pass uses numba's compiled loops, if installed:
#: in one pass, or over all the passes of a process so far (see ``_kernels``).
_COMPILED_FROM = 20_000_000

#: Rows x replicates the passes of this process have read without the compiled loops.
_read_without = 0


def replicate_thetas(design: ReplicateDesign, fam: RatioFamily) -> FloatArray:
    """The family's K estimates under each replicate weight: (K x R).

    Each needs, per replicate, the weighted sums of the variable and of the rows in each
    (domain, level) cell: one grouped pass over the replicate weights. Columns the user
    supplied stay in polars and are summed there (multi-threaded, without forming the
    n x R matrix); weights built here (calibrated, ``to_replicates``) are an array and go
    through one sparse product.
    """
    if "replicate_thetas" in fam.cache:  # an engine's, from its grouped sums (core/backends)
        thetas: FloatArray = fam.cache["replicate_thetas"]
        return thetas
    cells, n_levels = reduce.cell_codes(fam.dom, fam.var)
    n_est = fam.n_domains * n_levels
    array = design.replicate_array
    if array is None:
        num, den = _frame_sums(design, fam, cells, n_est)
    else:
        num, den = _array_sums(array, fam, cells, n_est)
    if not fam.ratio:
        return num
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.repeat(den, n_levels, axis=0)


def _frame_sums(
    design: ReplicateDesign, fam: RatioFamily, cells: IntArray, n_est: int
) -> tuple[FloatArray, FloatArray]:
    """Numerator (K x R) and denominator (D x R) sums in one grouped pass over the columns.

    A design whose weights are not yet checked (``ReplicateDesign.unchecked_frame``) is
    checked from the same pass (the compiled loops give each column's smallest value as
    they sum it), before any sum is used."""
    unchecked = design.unchecked_frame()
    frame = design.replicate_frame if unchecked is None else unchecked
    n_rep = frame.width
    y = None if fam.var.codes is not None else fam.var.filled
    coded = None if y is None else _value_codes(y, cells)
    if y is None:
        sums, lows = _grouped(frame, _key(cells, n_est), n_est)
    elif coded is not None:
        # few distinct values (an indicator, a scale): group by (domain, value) and weight
        # the sums by the values afterwards — half the work of summing w * y and w
        codes, values = coded
        key = _key(cells, n_est, codes, values.size)
        sums, lows = _grouped(frame, key, n_est * values.size)
    else:
        sums, lows = _grouped(frame, _key(cells, n_est), n_est, y)
    if unchecked is not None:
        design.mark_checked(lows)
    if y is None:
        return sums, sums.reshape(fam.n_domains, -1, n_rep).sum(axis=1)
    if coded is not None:
        sums = sums.reshape(n_est, coded[1].size, n_rep)
        return np.einsum("kvr,v->kr", sums, coded[1]), sums.sum(axis=1)
    return sums[:, :n_rep], sums[:, n_rep:]


def _key(
    cells: np.ndarray, n_cells: int, codes: np.ndarray | None = None, n_codes: int = 1
) -> np.ndarray:
    """Group of every row for ``_grouped`` (int32): ``cell * n_codes + code``, and for the
    rows outside every cell (``cells < 0``) a spare group ``n_cells * n_codes``, cheaper
    than selecting the others."""
    key = cells.astype(np.int32)
    if codes is not None:
        key *= n_codes
        key += codes
    outside = cells < 0
    if outside.any():
        key[outside] = n_cells * n_codes
    return key


def _value_codes(y: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes 0..V-1 of the values of ``y`` and the V values (at most 16), or None when the
    rows inside (``cells >= 0``) take more values. Integers in a short range (indicators,
    scales) are coded by an offset, without sorting or searching."""
    lo, hi = float(y.min()), float(y.max())
    if hi - lo < 16:
        shifted = y - lo if lo else y
        codes = shifted.astype(np.int8)
        if np.array_equal(codes, shifted):
            return codes, lo + np.arange(int(hi - lo) + 1, dtype=float)
    values = np.sort(pl.Series(y[cells >= 0]).unique().to_numpy())
    if values.size > 16:
        return None
    return np.searchsorted(values, y), values


def _kernels(cells: int) -> ModuleType | None:
    """The compiled loops of ``variance.kernels`` for a pass over ``cells`` values (rows x
    replicates), or None: where numba is not installed, or while they are not loaded and
    this pass together with the process's earlier ones has read less than it takes to repay
    loading them (about half a second, once per process). Counting the process's passes,
    not only this one, is the rent-or-buy rule: a process making one small call never
    pays the load, and one making many small calls pays it once it has spent about as much
    on Arrow's slower pass. Once loaded, every pass takes them (a third of Arrow's time,
    and the values' check comes with the sums)."""
    global _read_without
    loaded = sys.modules.get("barometer.core.variance.kernels")
    if loaded is None and _read_without + cells < _COMPILED_FROM:
        _read_without += cells
        return None
    from barometer.core.variance import kernels

    return kernels if kernels.AVAILABLE else None


def _grouped(
    frame: pl.DataFrame, key: np.ndarray, size: int, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Sums of ``frame``'s replicate columns by ``key`` (from ``_key``: ``size`` is the
    spare group of the rows left out):
    a (size x columns) array; with ``y``, the sums of each column times ``y`` and then
    those of the columns (size x 2 columns). Also each column's smallest value (NaN if a
    sum is NaN), where the pass finds it, else None.

    One read of every column, the columns shared among threads: a compiled loop per column
    (``variance.kernels``); else Arrow's hash aggregation (zero-copy from polars) over one block of
    columns per thread, or with ``y`` a polars group-by."""
    kernels = _kernels(frame.height * frame.width)
    if kernels is not None:
        y_in = np.empty(0) if y is None else np.ascontiguousarray(y, dtype=float)
        columns = [c.to_numpy() for c in frame.get_columns()]
        quads = [columns[i : i + 4] for i in range(0, len(columns), 4)]
        quads[-1] += [quads[-1][0]] * (4 - len(quads[-1]))  # padding, dropped below

        def four(q: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            acc: tuple[np.ndarray, np.ndarray] = kernels.key_sums(
                key, *q, y_in, y is not None, size + 1
            )
            return acc

        out = parallel_map(four, quads)
        acc = np.concatenate([o[0] for o in out])[: len(columns)]  # (R, parts, size + 1)
        sums = acc.transpose(2, 1, 0).reshape(size + 1, -1)
        lows = np.concatenate([o[1] for o in out])[: len(columns)]
        lows[np.isnan(sums).reshape(sums.shape[0], -1, lows.size).any(axis=(0, 1))] = np.nan
        return sums[:size], lows
    if y is None:
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
        for cols, part_sums in parallel_map(block_sums, blocks):
            rows = part_sums.column("_k").to_numpy()
            for c in cols:
                result[rows, c] = part_sums.column(f"{c}_sum").to_numpy()
        return result[:size], None
    exprs = [(pl.col(c) * pl.col("_y")).sum().alias(f"{c}_y") for c in frame.columns]
    exprs += [pl.col(c).sum() for c in frame.columns]
    keyed = frame.with_columns(pl.Series("_y", y), pl.Series("_k", key))
    grouped = keyed.group_by("_k").agg(exprs)
    result = np.zeros((size + 1, grouped.width - 1))
    result[grouped.get_column("_k").to_numpy()] = grouped.drop("_k").to_numpy()
    return result[:size], None


def _array_sums(
    reps: FloatArray, fam: RatioFamily, cells: IntArray, n_est: int
) -> tuple[FloatArray, FloatArray]:
    """Numerator and denominator sums from one sparse product, built directly in CSC form
    (which walks the n x R weights row by row, reading them once)."""
    n = reps.shape[0]
    rows = np.flatnonzero(cells >= 0)
    y = np.ones(rows.size) if fam.var.codes is not None else fam.var.filled[rows]
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


def svr_variance(
    thetas: FloatArray, theta: FloatArray, design: ReplicateDesign, full: bool
) -> FloatArray:
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
    out: FloatArray = (
        design.scale * (dev @ dev.T) if full else design.scale * np.einsum("kr,kr->k", dev, dev)
    )
    return out


def replicate_variance(design: ReplicateDesign, fam: RatioFamily, full: bool) -> FloatArray:
    """Replicate variances of the family's K estimates (see ``svr_variance``)."""
    return svr_variance(replicate_thetas(design, fam), fam.theta.ravel(), design, full)
