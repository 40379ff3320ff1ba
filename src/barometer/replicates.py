"""Replicate weights: binding supplied columns, and building them from a design."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from barometer._frame import as_list, check_columns, first_rows
from barometer.errors import DesignError


@dataclass(frozen=True, eq=False)
class ReplicateSetup:
    weights: np.ndarray  # (n, R)
    scale: float
    rscales: np.ndarray  # (R,)


def _default_scale(type: str, n_rep: int, rho: float | None) -> float:
    if type == "jk1":
        return (n_rep - 1) / n_rep
    if type == "brr":
        return 1.0 / n_rep
    if type == "fay":
        if rho is None:
            raise DesignError("type='fay' needs rho, the Fay coefficient (e.g. rho=0.5)")
        return 1.0 / (n_rep * (1.0 - rho) ** 2)
    if type == "bootstrap":
        return 1.0 / (n_rep - 1)
    if type == "sdr":
        return 4.0 / n_rep
    return 1.0  # jkn: the per-replicate factors are in rscales


def replicate_setup(
    frame: pl.DataFrame,
    replicates: str | Sequence[str],
    type: str,
    rscales: float | Sequence[float] | None,
    scale: float | None,
    rho: float | None,
) -> ReplicateSetup:
    """Validate replicate columns (a list, or a prefix shared by their names) and set R's
    default ``scale``/``rscales`` for the type (R ``svrepdesign``)."""
    names = as_list(replicates)
    if len(names) == 1 and names[0] not in frame.columns:
        prefixed = [c for c in frame.columns if c.startswith(names[0])]
        if prefixed:
            names = prefixed
    if not names:
        raise DesignError("replicates: no replicate weight columns given")
    check_columns(frame, names, "replicate weight", DesignError)
    for name in names:
        col = frame.get_column(name)
        if not col.dtype.is_numeric():
            raise DesignError(f"replicate weight column {name!r} must be numeric, not {col.dtype}")
    reps = frame.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    bad = ~np.isfinite(reps)
    if bad.any():
        col = names[int(np.flatnonzero(bad.any(axis=0))[0])]
        raise DesignError(
            f"replicate weight column {col!r} has missing values in {first_rows(bad.any(axis=1))}"
        )
    if (reps < 0).any():
        col = names[int(np.flatnonzero((reps < 0).any(axis=0))[0])]
        raise DesignError(f"replicate weight column {col!r} has negative weights")
    n_rep = reps.shape[1]
    if type == "jkn" and rscales is None:
        raise DesignError("type='jkn' needs rscales: (n_h - 1) / n_h for each replicate")
    rs = (
        np.ones(n_rep)
        if rscales is None
        else np.broadcast_to(np.asarray(rscales, dtype=float), (n_rep,)).copy()
    )
    if rs.shape != (n_rep,):
        raise DesignError(f"rscales has {rs.size} values; there are {n_rep} replicates")
    sc = (
        _default_scale(type, n_rep, rho)
        if scale is None or type in ("brr", "fay", "sdr")
        else float(scale)
    )
    return ReplicateSetup(np.ascontiguousarray(reps), sc, rs)


def to_replicates(design: object, type: str, replicates: int | None, seed: int | None) -> object:
    """Build replicate weights from a linearisation design, as R ``as.svrepdesign``."""
    raise NotImplementedError("to_replicates is being written")
