"""Weighting diagnostics: what the weights cost in precision, and whether the margins hold.

Kish's effective sample size ``n_eff = (sum w)^2 / sum w^2`` and design effect due to
weighting ``deff_w = n sum w^2 / (sum w)^2 = 1 + CV^2`` (CV with the population variance of
the weights; Kish 1965, 11.7), efficiency ``1 / deff_w``, over the respondents with a
positive weight. Raked by group, every figure is also given per group.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from barometer.core._protocols import SurveyDesign
from barometer.core.weighting._codes import encode_column
from barometer.core.weighting.spec import RakeSpec


@dataclass(frozen=True)
class WeightStats:
    """Spread of one set of weights (one group, or all respondents when ``group`` is None)."""

    group: str | None
    n: int
    total: float
    mean: float
    min: float
    max: float
    ratio: float
    cv: float
    n_eff: float
    deff: float
    efficiency: float
    deff_before: float
    n_capped: int
    n_floored: int


def _stats(
    labels: list[str | None],
    codes: np.ndarray,
    w: np.ndarray,
    before: np.ndarray | None,
    held: np.ndarray | None,
) -> list[WeightStats]:
    """Weight statistics for each group ``codes`` 0..G-1 (bincounts; min/max by polars)."""
    G = len(labels)
    pos = w > 0
    n = np.bincount(codes, pos, minlength=G)
    wp = np.where(pos, w, 0.0)
    total = np.bincount(codes, wp, minlength=G)
    sq = np.bincount(codes, wp * wp, minlength=G)
    b = np.where(before > 0, before, 0.0) if before is not None else wp
    nb = np.bincount(codes, b > 0, minlength=G)
    tb = np.bincount(codes, b, minlength=G)
    sb = np.bincount(codes, b * b, minlength=G)
    lo = np.full(G, np.nan)
    hi = np.full(G, np.nan)
    if G == 1:
        if pos.any():
            lo[0], hi[0] = wp[pos].min(), wp[pos].max()
    else:
        agg = (
            pl.DataFrame({"g": codes, "w": w})
            .filter(pl.col("w") > 0)
            .group_by("g")
            .agg(lo=pl.col("w").min(), hi=pl.col("w").max())
        )
        idx = agg["g"].to_numpy()
        lo[idx], hi[idx] = agg["lo"].to_numpy(), agg["hi"].to_numpy()
    capped = np.bincount(codes, held == 1, minlength=G) if held is not None else np.zeros(G)
    floored = np.bincount(codes, held == 2, minlength=G) if held is not None else np.zeros(G)
    return weight_stats(labels, (n, total, sq, lo, hi), (nb, tb, sb), capped, floored)


def weight_stats(
    labels: list[str | None],
    after: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    before: tuple[np.ndarray, np.ndarray, np.ndarray],
    capped: np.ndarray,
    floored: np.ndarray,
) -> list[WeightStats]:
    """Weight statistics of each group from its sums over the positive weights: ``after``
    is (count, sum, sum of squares, min, max) of the weights, ``before`` (count, sum, sum
    of squares) of the weights before the weighting; ``capped``/``floored`` the rows held
    at a bound. What a query engine's GROUP BY returns as well as ``np.bincount``."""
    n, total, sq, lo, hi = after
    nb, tb, sb = before
    G = len(labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = n * sq / total**2
        deff_b = nb * sb / tb**2
        mean = total / n
        n_eff = total**2 / sq
    return [
        WeightStats(
            group=labels[g],
            n=int(n[g]),
            total=float(total[g]),
            mean=float(mean[g]),
            min=float(lo[g]),
            max=float(hi[g]),
            ratio=float(hi[g] / lo[g]),
            cv=float(np.sqrt(max(deff[g] - 1.0, 0.0))),
            n_eff=float(n_eff[g]),
            deff=float(deff[g]),
            efficiency=float(1.0 / deff[g]),
            deff_before=float(deff_b[g]),
            n_capped=int(capped[g]),
            n_floored=int(floored[g]),
        )
        for g in range(G)
    ]


@dataclass(frozen=True, eq=False)
class WeightSummary:
    """Diagnostics of a design's weights (see module doc).

    ``overall`` covers all respondents and ``groups`` each group when the last weighting
    was by group. ``method``, ``iterations`` and ``max_margin_error`` (largest
    |weighted total - target| / group total) describe the last weighting run, and
    ``margins`` is its before/after table: per margin level the respondents ``n``, the
    unweighted ``sample_share``, the weighted share ``before_share`` and ``after_share``,
    the ``target_share``, the ``target`` total and the total reached (``after``).
    """

    overall: WeightStats
    groups: tuple[WeightStats, ...]
    method: str | None
    iterations: int | None
    max_margin_error: float | None
    margins: pl.DataFrame

    def to_polars(self) -> pl.DataFrame:
        """One row per group (and one for all respondents, group null)."""
        rows = [self.overall, *self.groups]
        names = [f.name for f in fields(WeightStats)]
        return pl.DataFrame(
            {name: [getattr(r, name) for r in rows] for name in names},
            schema_overrides={"group": pl.String},
        )

    def __str__(self) -> str:
        o = self.overall
        lines = [
            f"weights of {o.n} respondents: min {o.min:.4g}, max {o.max:.4g} "
            f"(ratio {o.ratio:.3g}), CV {o.cv:.3f}",
            f"design effect of weighting {o.deff:.3f} (before: {o.deff_before:.3f}); "
            f"effective n {o.n_eff:,.0f}; efficiency {o.efficiency:.1%}",
        ]
        if self.method is not None:
            lines.append(
                f"last weighting: {self.method}, {self.iterations} iteration(s), largest "
                f"margin error {self.max_margin_error:.2g} of the total"
                + (
                    f", {o.n_capped} capped, {o.n_floored} floored"
                    if o.n_capped or o.n_floored
                    else ""
                )
            )
        return "\n".join(lines)


def weight_summary(design: SurveyDesign) -> WeightSummary:
    """Diagnostics of ``design``'s weights and of the weighting that produced them.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> df = pl.DataFrame({"sex": ["f", "m", "m", "m"]})
    >>> s = bm.Design(df).poststratify("sex", {"f": 50, "m": 50}).weight_summary()
    >>> round(s.overall.deff, 4), round(s.overall.n_eff, 3)
    (1.3333, 3.0)
    """
    w = np.asarray(design.weights, dtype=np.float64)
    info = design.weighting
    before = info.before if info is not None else None
    held = info.held if info is not None else None
    (overall,) = _stats([None], np.zeros(w.size, dtype=np.int64), w, before, held)
    groups: list[WeightStats] = []
    if info is not None and info.by is not None:
        keys = list(info.spec.margins.keys()) if isinstance(info.spec, RakeSpec) else None
        col = encode_column(design.data_with([info.by]), info.by, "by column", expected=keys)
        present = np.bincount(np.maximum(col.codes, 0), minlength=col.size) > 0
        stats = _stats([str(v) for v in col.levels], np.maximum(col.codes, 0), w, before, held)
        groups = [st for st, keep in zip(stats, present, strict=True) if keep]
    return WeightSummary(
        overall=overall,
        groups=tuple(groups),
        method=info.method if info is not None else None,
        iterations=info.iterations if info is not None else None,
        max_margin_error=info.max_error if info is not None else None,
        margins=info.margins if info is not None else pl.DataFrame(),
    )
