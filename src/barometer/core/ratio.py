"""Ratios of weighted totals, overall or by domain (R ``svyratio``, under ``svyby``).

``R_d = sum_d w y / sum_d w x`` over the domain's rows with both variables observed (R
``na.rm=TRUE``: the others are outside the domain, the variance keeps the whole design).
Linearisation: influence values ``z_i = w_i (y_i - R_d x_i) / X_d`` in the domain, 0 elsewhere
(Lumley 2010, sec. 3.2; Cochran 1977, sec. 6.11), whose total's covariance is the core's
linearisation (``core.influence``); on a replicate design the ratio is recomputed under
every replicate weight (R ``svyratio.svyrep.design``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from barometer.core import influence, reduce
from barometer.core._frame import check_columns
from barometer.core.intervals import wald_interval
from barometer.errors import EstimationError

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign
    from barometer.core.estimates import Estimates


def _values(design: Design | ReplicateDesign, name: str) -> np.ndarray:
    values = reduce.variable(design, name, False).values
    assert values is not None
    return values


def ratio(
    design: Design | ReplicateDesign,
    numerators: list[str],
    denominators: list[str],
    by: list[str],
    confidence: float = 0.95,
) -> Estimates:
    """Every numerator over every denominator, in every domain of ``by``.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"w": [1.0, 2.0, 1.0], "y": [2.0, 4.0, 6.0], "x": [1.0, 2.0, 2.0]})
    >>> bm.Design(df, weights="w").ratio("y", "x").to_polars()["estimate"].to_list()
    [2.2857142857142856]
    """
    from barometer.core.design import ReplicateDesign

    engine = getattr(design, "reduce_ratio", None)
    if engine is not None:  # a design over a query engine's table (core/backends)
        found: Estimates = engine(numerators, denominators, by, confidence)
        return found
    frame = design.data
    if not numerators or not denominators:
        raise EstimationError("ratio needs a numerator and a denominator")
    names = numerators + [d for d in denominators if d not in numerators]
    check_columns(frame, names, "ratio", EstimationError)
    values = {name: _values(design, name) for name in names}
    complete = np.logical_and.reduce([np.isfinite(v) for v in values.values()])
    coding = reduce.domains(design, by)
    dom = np.where(complete, coding.codes, -1)
    n_dom = coding.size
    w = np.asarray(design.weights, dtype=float)
    n = frame.height
    pairs = [(a, b) for b in denominators for a in numerators]
    k = n_dom * len(pairs)
    inside = dom >= 0
    onehot = np.zeros((n, n_dom))
    onehot[np.flatnonzero(inside), dom[inside]] = 1.0
    est = np.empty(k)
    z = np.zeros((n, k))
    masks = np.zeros((n, k), dtype=bool)
    counts = np.bincount(dom[inside], minlength=n_dom)
    for j, (a, b) in enumerate(pairs):
        y, x = np.nan_to_num(values[a]), np.nan_to_num(values[b])
        ty, tx = (w * y) @ onehot, (w * x) @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            r = ty / tx
        cols = slice(j * n_dom, (j + 1) * n_dom)
        est[cols] = r
        dd = np.where(inside, dom, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            zi = w * (y - r[dd] * x) / tx[dd]
        z[np.flatnonzero(inside), j * n_dom + dom[inside]] = zi[inside]
        masks[:, cols] = onehot > 0
    if isinstance(design, ReplicateDesign):
        reps = design.replicate_weights
        thetas = np.empty((k, reps.shape[1]))
        for j, (a, b) in enumerate(pairs):
            y, x = np.nan_to_num(values[a]), np.nan_to_num(values[b])
            with np.errstate(invalid="ignore", divide="ignore"):
                thetas[j * n_dom : (j + 1) * n_dom] = ((onehot * y[:, None]).T @ reps) / (
                    (onehot * x[:, None]).T @ reps
                )
        cov = influence.replicate_vcov(design, thetas, est)
    else:
        cov = influence.linearised_vcov(design, np.nan_to_num(z), masks)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    low, high = wald_interval(est, se, confidence)
    cols_out: dict[str, object] = {}
    if coding.levels.width:
        take = pl.Series(np.tile(np.arange(n_dom, dtype=np.uint32), len(pairs)))
        cols_out.update(coding.levels.select(pl.all().gather(take)).to_dict())
    cols_out["variable"] = pl.Series(
        [f"{a}/{b}" for a, b in pairs for _ in range(n_dom)], dtype=pl.String
    )
    cols_out["level"] = pl.Series([None] * k, dtype=pl.String)
    cols_out["estimate"] = est
    cols_out["se"] = se
    cols_out["ci_low"] = low
    cols_out["ci_high"] = high
    cols_out["n"] = np.tile(counts, len(pairs)).astype(np.int64)
    cols_out["deff"] = np.full(k, np.nan)
    return influence.FixedEstimates(
        pl.DataFrame(cols_out), by=tuple(by), statistic="ratio", covariance=cov
    )


__all__ = ["ratio"]
