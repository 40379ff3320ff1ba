"""Comparisons: differences, nets and regions as linear combinations of estimates,
column-proportion tests and multiplicity adjustment.

Everything here is small dense algebra on the estimates and their covariance matrix, which
the estimators already compute from one grouped pass over the data (``Estimates.vcov``,
``estimators.family_variance``). The Rao-Scott chi-square lives in :mod:`barometer.core.chisq`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import polars as pl

from barometer.core import distributions
from barometer.core.estimates import (
    Estimates,
    MemberWeights,
    linear_contrast,
    sandwich_diagonal,
)
from barometer.core.intervals import wald_interval
from barometer.errors import EstimationError, did_you_mean
from barometer.options import (
    CONFIDENCE,
    PAdjustMethod,
    RegionCombineRule,
    check_option,
    confidence_level,
)

# ---------------------------------------------------------------------------------------
# Comparisons: differences, nets and regions as linear combinations of estimates
# ---------------------------------------------------------------------------------------

#: A row of an ``Estimates`` table: its position, a mapping of column values that picks
#: exactly one row (e.g. ``{"country": "KR", "level": "ally"}``), or a vector of
#: coefficients over all rows (a linear combination of them).
Selector = int | Mapping[str, object] | np.ndarray


@dataclass(frozen=True)
class Difference:
    """``first - second`` with its standard error, normal interval and two-sided p-value.

    ``independent`` tells whether the two estimates were taken as independent samples
    (variances added) or from one design (their covariance subtracted).
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    first: float
    second: float
    independent: bool


def select(estimates: Estimates, selector: Selector) -> np.ndarray:
    """The coefficient vector (one entry per row of ``estimates``) that ``selector`` stands
    for: a unit vector for one row, or the given coefficients."""
    table = estimates.table
    k = table.height
    if isinstance(selector, np.ndarray):
        if selector.shape != (k,):
            raise EstimationError(
                f"a coefficient vector needs {k} entries (one per row), not {selector.size}"
            )
        return selector.astype(float)
    out = np.zeros(k)
    if isinstance(selector, int | np.integer):
        if not -k <= int(selector) < k:
            raise EstimationError(f"row {selector} is out of range: the table has {k} rows")
        out[int(selector)] = 1.0
        return out
    if not isinstance(selector, Mapping):
        raise EstimationError(
            "a row is an int, a mapping of column values or a coefficient vector, "
            f"not {type(selector).__name__}"
        )
    mask = np.ones(k, dtype=bool)
    for column, value in selector.items():
        if column not in table.columns:
            raise EstimationError(
                f"column {column!r} is not in the estimates{did_you_mean(column, table.columns)}"
            )
        col = table.get_column(column)
        hit = (col.cast(pl.String) == str(value)).fill_null(False).to_numpy()
        if not hit.any():
            seen = [str(x) for x in col.unique(maintain_order=True).to_list()]
            raise EstimationError(
                f"{column}={value!r} matches no row{did_you_mean(str(value), seen)}; "
                f"values: {', '.join(seen[:12])}"
            )
        mask &= hit
    rows = np.flatnonzero(mask)
    if rows.size != 1:
        raise EstimationError(
            f"{dict(selector)!r} matches {rows.size} rows, not one; name more columns "
            f"(of {', '.join([*estimates.by, 'variable', 'level'])})"
        )
    out[rows[0]] = 1.0
    return out


def _source_design(estimates: Estimates) -> object | None:
    while estimates.source is not None:
        estimates = estimates.source
    fams = estimates.families
    return fams[0].design if fams else None


def difference(
    e1: Estimates,
    row1: Selector,
    e2: Estimates | None = None,
    row2: Selector | None = None,
    confidence: float = CONFIDENCE,
    *,
    level: float | None = None,
) -> Difference:
    """Difference ``row1 of e1 - row2 of e2`` with a normal (z) interval and test.

    * ``e2`` omitted or the same table as ``e1`` (two domains of one design — two
      countries, a country and a region built from it with :func:`region`, two levels of
      one question, two nets): ``var = c' V c`` with ``c`` the difference of the two
      coefficient vectors and ``V = e1.vcov()``; this is R ``svycontrast`` on
      ``svyby(..., covmat=TRUE)``.
    * ``e2`` another table from an independent sample (another wave, another country
      surveyed separately): ``var = var1 + var2``.

    Two different tables from the same design are refused: their covariance is unknown
    here; estimate both in one call (``by=``) instead.

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> from barometer.core.comparisons import difference
    >>> df = pl.DataFrame({"g": ["a", "b"] * 50, "y": [1.0, 0.0, 1.0, 1.0] * 25})
    >>> e = bm.Design(df).mean("y", by="g")
    >>> round(difference(e, {"g": "a"}, e, {"g": "b"}).estimate, 2)
    0.5
    """
    if row2 is None:
        raise EstimationError("difference needs a second row (row2)")
    conf = confidence_level(confidence, level, EstimationError, "difference", "level")
    same = e2 is None or e2 is e1
    if same:
        c1, c2 = select(e1, row1), select(e1, row2)
        theta = e1.table.get_column("estimate").to_numpy()
        res = linear_contrast(theta, e1.vcov(), c1 - c2, conf)
        return Difference(
            res.estimate, res.se, res.ci_low, res.ci_high, res.p_value,
            float(c1 @ theta), float(c2 @ theta), independent=False,
        )  # fmt: skip
    assert e2 is not None
    d1, d2 = _source_design(e1), _source_design(e2)
    if d1 is not None and d1 is d2:
        raise EstimationError(
            "the two estimates come from the same design, so they are not independent; "
            "estimate them in one table (by=...) and call difference(e, row1, e, row2)"
        )
    est1, var1 = _one(e1, row1)
    est2, var2 = _one(e2, row2)
    theta = np.array([est1, est2])
    res = linear_contrast(theta, np.diag([var1, var2]), np.array([1.0, -1.0]), conf)
    return Difference(
        res.estimate, res.se, res.ci_low, res.ci_high, res.p_value, est1, est2,
        independent=True,
    )  # fmt: skip


def _one(estimates: Estimates, selector: Selector) -> tuple[float, float]:
    """Estimate and variance of one selected row (from the table) or combination (vcov)."""
    c = select(estimates, selector)
    theta = estimates.table.get_column("estimate").to_numpy()
    if isinstance(selector, np.ndarray):
        return float(c @ theta), float(c @ estimates.vcov() @ c)
    k = int(np.flatnonzero(c)[0])
    se = float(estimates.table.get_column("se")[k])
    return float(theta[k]), se * se


def level_difference(
    estimates: Estimates,
    first: object,
    second: object,
    where: Mapping[str, object] | None = None,
    confidence: float = CONFIDENCE,
    *,
    level: float | None = None,
) -> Difference:
    """Difference between two levels of one question in one domain (e.g. the share who say
    "ally" minus the share who say "partner" in South Korea), with their covariance.

    ``where`` picks the domain and variable (e.g. ``{"country": "KR"}``).
    """
    conf = confidence_level(confidence, level, EstimationError, "level_difference", "level")
    base: dict[str, object] = dict(where or {})
    return difference(
        estimates, {**base, "level": first}, estimates, {**base, "level": second}, conf
    )


def _derived(
    estimates: Estimates,
    keys: pl.DataFrame,
    coef: np.ndarray,
    n: np.ndarray,
    note: str,
    confidence: float = CONFIDENCE,
) -> Estimates:
    """The source rows followed by new rows ``coef @ theta`` (with ``keys`` their by,
    variable and level columns), all with their covariance; normal intervals at
    ``confidence``."""
    theta = estimates.table.get_column("estimate").to_numpy()
    v = estimates.vcov()
    # an empty domain's NaN makes NaN only the new rows that use it (0 * NaN is NaN)
    missing = np.isnan(theta) | np.isnan(v).any(axis=1)
    touched = (coef[:, missing] != 0).any(axis=1)
    est = coef @ np.where(missing, 0.0, theta)
    var = sandwich_diagonal(coef, np.nan_to_num(v))
    est[touched] = np.nan
    var[touched] = np.nan
    se = np.sqrt(np.maximum(var, 0.0))
    low, high = wald_interval(est, se, confidence)
    new = keys.with_columns(
        estimate=pl.Series(est),
        se=pl.Series(se),
        ci_low=pl.Series(low),
        ci_high=pl.Series(high),
        n=pl.Series(n.astype(np.int64)),
        deff=pl.lit(None, dtype=pl.Float64),
    )
    table = pl.concat(
        [estimates.table, new.select(estimates.table.columns)], how="vertical_relaxed"
    )
    full = np.vstack([np.eye(theta.size), coef])
    return Estimates(
        table,
        by=estimates.by,
        statistic=estimates.statistic,
        notes=(*estimates.notes, note),
        source=estimates,
        coefficients=full,
    )


def net(
    estimates: Estimates, nets: Mapping[str, Sequence[object]], confidence: float = CONFIDENCE
) -> Estimates:
    """Add nets — sums of levels, e.g. ``{"ally_or_partner": ["ally", "partner"]}`` — as
    new levels in every domain, with standard errors from the covariance of the levels.

    The result holds the original rows followed by the nets (their ``deff`` is null), and
    its ``vcov()`` covers both, so nets can be compared like any other level. A net's
    share equals R's ``svymean(~I(q %in% c(...)))`` (the sum of its levels' shares, the
    variance ``c' V c``); its interval is normal at ``confidence``.
    """
    conf = confidence_level(confidence, None, EstimationError, "net")
    table = estimates.table
    if "level" not in table.columns or table.get_column("level").null_count() == table.height:
        raise EstimationError("nets need the estimates of a categorical variable (levels)")
    levels = table.get_column("level").cast(pl.String)
    known = set(levels.drop_nulls().to_list())
    for name, members in nets.items():
        if isinstance(members, str) or not members:
            raise EstimationError(f"net {name!r} needs a list of levels, not {members!r}")
        if str(name) in known:
            raise EstimationError(f"net {name!r} has the name of an existing level")
        for m in members:
            if str(m) not in known:
                raise EstimationError(
                    f"net {name!r}: level {m!r} does not occur{did_you_mean(str(m), known)}"
                )
    group_cols = [*estimates.by, "variable"]
    groups = table.select(group_cols).with_row_index("_row")
    first = groups.group_by(group_cols, maintain_order=True).agg(pl.col("_row"))
    gid = np.zeros(table.height, dtype=np.int64)
    for g, rows in enumerate(first.get_column("_row").to_list()):
        gid[rows] = g
    n_groups = first.height
    rows_per_net = []
    keys = []
    n_net = []
    n_all = table.get_column("n").to_numpy()
    for name, members in nets.items():
        hit = levels.is_in([str(m) for m in members]).fill_null(False).to_numpy()
        c = np.zeros((n_groups, table.height))
        c[gid[hit], np.flatnonzero(hit)] = 1.0
        rows_per_net.append(c)
        keys.append(first.select(group_cols).with_columns(level=pl.lit(str(name))))
        n_net.append(np.array([n_all[r[0]] for r in first.get_column("_row").to_list()]))
    coef = np.vstack(rows_per_net)
    key_frame = pl.concat(keys, how="vertical_relaxed")
    note = "nets: " + "; ".join(f"{k} = {' + '.join(map(str, v))}" for k, v in nets.items())
    return _derived(estimates, key_frame, coef, np.concatenate(n_net), note, conf)


def region(
    estimates: Estimates,
    over: str,
    members: Sequence[object],
    name: str,
    rule: RegionCombineRule = "mean",
    weights: MemberWeights | None = None,
) -> Estimates:
    """Add a region (e.g. "EU") combining the rows of ``members`` of the by-column
    ``over`` — their simple mean (each member counts equally, ``rule="mean"``) or a
    ``weights``-weighted mean (``"population"``) — within every combination of the other
    columns. Unlike :meth:`Estimates.combine`, the result keeps the member rows and the
    covariance between them and the region, so a country can be compared with a region
    that contains it (:func:`difference`).
    """
    rule = check_option(rule, RegionCombineRule, "rule", EstimationError)
    combined = estimates.combine(over, members, name, rule=rule, weights=weights)
    assert combined.coefficients is not None
    keys = combined.table.select([*estimates.by, "variable", "level"])
    n_new = combined.table.get_column("n").to_numpy()
    note = combined.notes[-1]
    return _derived(estimates, keys, combined.coefficients, n_new, note)


def pairwise_differences(
    estimates: Estimates,
    over: str,
    adjust: PAdjustMethod = "holm",
    confidence: float = CONFIDENCE,
    *,
    level: float | None = None,
) -> pl.DataFrame:
    """Every pair of values of the by-column ``over`` compared within each combination of
    the other columns (and variable and level): the column-proportion tests of a banner
    table, design-based (their covariance from ``estimates.vcov()``), normal (z) tests.

    Returns one row per pair: the other by-columns, ``variable``, ``level``, ``first`` and
    ``second`` (the two values of ``over``, in table order), ``estimate_first``,
    ``estimate_second``, ``difference`` (first - second), ``se``, ``ci_low``, ``ci_high``,
    ``p_value`` and ``p_adjusted`` — adjusted by ``adjust`` (:func:`adjust_pvalues`)
    within each group, i.e. over the pairs of one row of the banner. Intervals are at
    ``confidence`` (``level=`` is its deprecated spelling).
    """
    if over not in estimates.by:
        raise EstimationError(
            f"pairwise over {over!r}: it is not a by-column of these estimates "
            f"({', '.join(estimates.by) or 'none'}){did_you_mean(over, estimates.by)}"
        )
    adjust = check_option(adjust, PAdjustMethod, "adjust", EstimationError)
    conf = confidence_level(confidence, level, EstimationError, "pairwise_differences", "level")
    table = estimates.table
    theta = table.get_column("estimate").to_numpy()
    v = estimates.vcov()
    others = [c for c in estimates.by if c != over] + ["variable", "level"]
    groups = (
        table.select(others)
        .with_columns(_row=pl.int_range(pl.len()))
        .group_by(others, maintain_order=True)
        .agg(pl.col("_row"))
    )
    first, second, gid = [], [], []
    pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # by group size: most are alike
    for g, rows in enumerate(groups.get_column("_row").to_list()):
        if len(rows) not in pairs:
            pairs[len(rows)] = np.triu_indices(len(rows), k=1)
        i, j = pairs[len(rows)]
        r = np.asarray(rows)
        first.append(r[i])
        second.append(r[j])
        gid.append(np.full(i.size, g))
    a = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
    b = np.concatenate(second) if second else np.zeros(0, dtype=np.int64)
    g_of = np.concatenate(gid) if gid else np.zeros(0, dtype=np.int64)
    diff = theta[a] - theta[b]
    se = np.sqrt(np.maximum(v[a, a] + v[b, b] - 2 * v[a, b], 0.0))
    low, high = wald_interval(diff, se, conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(se > 0, 2 * distributions.norm_sf(np.abs(diff) / se), np.nan)
    p_adj = p.copy() if adjust == "none" else np.full(p.size, np.nan)
    if adjust != "none":  # each group's pairs are contiguous (g_of ascends)
        bounds = np.searchsorted(g_of, np.arange(groups.height + 1))
        for lo, hi in pairwise(bounds):
            p_adj[lo:hi] = adjust_pvalues(p[lo:hi], adjust)
    labels = table.get_column(over)
    out = groups.select(others)[g_of.tolist()] if g_of.size else groups.select(others).head(0)
    return out.with_columns(
        first=labels.gather(a),
        second=labels.gather(b),
        estimate_first=pl.Series(theta[a]),
        estimate_second=pl.Series(theta[b]),
        difference=pl.Series(diff),
        se=pl.Series(se),
        ci_low=pl.Series(low),
        ci_high=pl.Series(high),
        p_value=pl.Series(p),
        p_adjusted=pl.Series(p_adj),
    )


# ---------------------------------------------------------------------------------------
# Multiplicity
# ---------------------------------------------------------------------------------------


def adjust_pvalues(p: Sequence[float] | np.ndarray, method: PAdjustMethod = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons, as R ``p.adjust``.

    ``"holm"``: Holm's step-down, ``max_{j<=i} min(1, (m - j + 1) p_(j))``;
    ``"bh"``: Benjamini-Hochberg false-discovery rate, ``min_{j>=i} min(1, m p_(j) / j)``;
    ``"bonferroni"``: ``min(1, m p)``; ``"none"``. ``m`` counts the non-missing p-values;
    missing (NaN) ones stay missing. Results are in the input order.

    Examples
    --------
    >>> from barometer.core.comparisons import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    method = check_option(method, PAdjustMethod, "method", EstimationError)
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise EstimationError("p-values must lie between 0 and 1")
    out = p.copy()
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        return out
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, m * q)
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.minimum(1.0, np.maximum.accumulate((m - i + 1) * ranked))
    else:
        adj = np.minimum(1.0, np.minimum.accumulate((m / i * ranked)[::-1])[::-1])
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
