"""Estimates: the tidy, immutable result table of every estimator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from barometer.errors import EstimationError, did_you_mean
from barometer.options import CONFIDENCE, CombineRule, check_option, confidence_level

if TYPE_CHECKING:
    import pandas as pd

    from barometer.core.estimators import RatioFamily

COLUMNS = ("variable", "level", "estimate", "se", "ci_low", "ci_high", "n", "deff")
#: Population weights of ``Estimates.combine``: one per member, keyed by its value.
MemberWeights = Mapping[str, float] | Mapping[int, float]


@dataclass(frozen=True, eq=False)
class Estimates:
    """A table of estimates: ``*by, variable, level, estimate, se, ci_low, ci_high, n, deff``.

    ``level`` is null for numeric variables; ``n`` is the unweighted base (rows in the domain
    with the variable observed); ``deff`` the design effect as R's ``deff=TRUE``. Intervals
    are 95% unless asked otherwise. The covariance of the estimates is available from
    :meth:`vcov` (computed on demand from the design).
    """

    table: pl.DataFrame
    by: tuple[str, ...] = ()
    statistic: str = ""
    families: tuple[RatioFamily, ...] = field(default=(), repr=False)
    rows: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    #: Derived estimates (regions, nets, contrasts) are ``coefficients @ source``; their
    #: covariance is ``C V C'`` with ``V`` the source's.
    source: Estimates | None = field(default=None, repr=False)
    coefficients: np.ndarray | None = field(default=None, repr=False)
    #: ``vcov()`` once computed (read-only); a copy made by ``replace`` starts empty.
    _vcov: list[np.ndarray] = field(default_factory=list, init=False, repr=False)

    def to_polars(self) -> pl.DataFrame:
        """The estimates as a polars DataFrame."""
        return self.table

    def to_pandas(self) -> pd.DataFrame:
        """The estimates as a pandas DataFrame."""
        return self.table.to_pandas()

    def to_dicts(self) -> list[dict[str, object]]:
        """The estimates as a list of records."""
        return self.table.to_dicts()

    def __len__(self) -> int:
        return self.table.height

    def __repr__(self) -> str:
        return f"Estimates({self.statistic}, {self.table.height} rows)\n{self.table}"

    def __getitem__(self, column: str) -> pl.Series:
        return self.table.get_column(column)

    def filter(self, predicate: pl.Expr) -> Estimates:
        """The rows where ``predicate`` (a polars expression) holds, keeping their covariance."""
        table = self.table.with_row_index("_i")
        kept = table.filter(predicate)
        if kept.height == table.height:
            return self
        idx = kept.get_column("_i").to_numpy()
        if self.source is not None:
            assert self.coefficients is not None
            return replace(self, table=kept.drop("_i"), coefficients=self.coefficients[idx])
        rows = idx if self.rows is None else np.asarray(self.rows)[idx]
        return replace(self, table=kept.drop("_i"), rows=rows)

    def vcov(self) -> np.ndarray:
        """Covariance matrix of the estimates, in row order (R ``vcov(svyby(..., covmat=TRUE))``).

        Estimates of one variable from one design; covariances between different domains of
        the same design include what their shared PSUs and strata bring.  Computed once
        per result (a publication asks for it per finding) and returned read-only.
        """
        if not self._vcov:
            v = self._compute_vcov()
            v.setflags(write=False)
            self._vcov.append(v)
        return self._vcov[0]

    def _compute_vcov(self) -> np.ndarray:
        from barometer.core.estimators import family_variance

        if self.source is not None:
            c = self.coefficients
            assert c is not None
            base = self.source.vcov()
            missing = np.isnan(base).any(axis=1)
            if not missing.any():
                return sandwich(c, base)
            # an empty domain's NaN reaches only the rows that use it (0 * NaN is NaN)
            touched = (c[:, missing] != 0).any(axis=1)
            out: np.ndarray = np.array(sandwich(c, np.nan_to_num(base)), dtype=float)
            out[touched, :] = np.nan
            out[:, touched] = np.nan
            return out
        if not self.families:
            raise EstimationError(
                f"these {self.statistic or ''} estimates carry no covariance matrix "
                "(only means, totals, proportions and combinations of them do)"
            )
        if len(self.families) != 1:
            raise EstimationError(
                "vcov() needs the estimates of a single variable; estimate each variable separately"
            )
        v: np.ndarray = family_variance(self.families[0], full=True)
        if self.rows is not None:
            kept: np.ndarray = v[np.ix_(self.rows, self.rows)]
            return kept
        return v

    def contrast(
        self,
        coefficients: Sequence[float] | Mapping[int, float] | np.ndarray,
        confidence: float = CONFIDENCE,
        *,
        level: float | None = None,
    ) -> Contrast:
        """A linear combination ``sum_k c_k theta_k`` with its SE (R ``svycontrast``) and
        normal interval at ``confidence`` (``level=`` is its deprecated spelling)."""
        conf = confidence_level(confidence, level, EstimationError, "contrast", "level")
        c = np.zeros(self.table.height)
        if isinstance(coefficients, Mapping):
            for k, v in coefficients.items():
                c[int(k)] = v
        else:
            c = np.asarray(coefficients, dtype=float)
            if c.shape != (self.table.height,):
                raise EstimationError(
                    f"contrast needs {self.table.height} coefficients (one per row), not {c.size}"
                )
        return linear_contrast(self.table.get_column("estimate").to_numpy(), self.vcov(), c, conf)

    def combine(
        self,
        over: str,
        members: Sequence[object],
        name: str,
        rule: CombineRule = "mean",
        weights: MemberWeights | None = None,
        confidence: float = CONFIDENCE,
        *,
        level: float | None = None,
    ) -> Estimates:
        """Combine the rows of ``members`` (values of the by-column ``over``) into one
        group ``name``, within every combination of the other columns.

        ``rule="mean"``: the simple average of the members' estimates (each counts equally);
        ``"population"``: weighted by ``weights`` (e.g. adult population), normalised;
        ``"median"``: the median of the members' estimates — its SE is that of the middle
        member (the average of the two middle ones for an even count), conditional on the
        ranking, an approximation. The combined rows are linear combinations of these rows,
        so their covariance (``vcov()``) follows from this table's, whether the members are
        independent samples or domains of one design. A column ``members`` lists who is
        behind each figure; ``n`` is the members' summed base. Intervals are normal, at
        ``confidence`` (``level=`` is its deprecated spelling).
        """
        from barometer.core.intervals import wald_interval

        if over not in self.by:
            raise EstimationError(
                f"combine over {over!r}: it is not a by-column of these estimates "
                f"({', '.join(self.by) or 'none'}){did_you_mean(over, self.by)}"
            )
        rule = check_option(rule, CombineRule, "rule", EstimationError)
        conf = confidence_level(confidence, level, EstimationError, "combine", "level")
        wanted = [str(m) for m in members]
        table = self.table.with_columns(_who=pl.col(over).cast(pl.String))
        known = set(table.get_column("_who").to_list())
        absent = [m for m in wanted if m not in known]
        if absent:
            raise EstimationError(
                f"{name}: member {absent[0]!r} does not occur in column {over!r}"
                f"{did_you_mean(absent[0], known)}"
            )
        if rule == "population" and weights is None:
            raise EstimationError("rule='population' needs weights (e.g. adult population)")
        pop: dict[object, float] = {} if weights is None else dict(weights.items())
        if rule == "population":
            lacking = [m for m in members if m not in pop]
            if lacking:
                raise EstimationError(f"{name}: no population weight for member {lacking[0]!r}")
        others = [c for c in self.by if c != over] + ["variable", "level"]
        grouped = (
            table.with_row_index("_row")
            .filter(pl.col("_who").is_in(wanted))
            .group_by(others, maintain_order=True)
            .agg(pl.col("_row"), pl.col("_who"), pl.col("n").sum())
        )
        theta = self.table.get_column("estimate").to_numpy()
        coef = np.zeros((grouped.height, theta.size))
        share = {str(m): float(pop[m]) for m in members} if rule == "population" else {}
        for g, (rows, who) in enumerate(
            zip(
                grouped.get_column("_row").to_list(),
                grouped.get_column("_who").to_list(),
                strict=True,
            )
        ):
            rows = np.asarray(rows)
            if rule == "mean":
                coef[g, rows] = 1.0 / rows.size
            elif rule == "population":
                pw = np.array([share[x] for x in who])
                coef[g, rows] = pw / pw.sum()
            else:
                order = rows[np.argsort(theta[rows], kind="stable")]
                mid = order.size // 2
                if order.size % 2:
                    coef[g, order[mid]] = 1.0
                else:
                    coef[g, order[mid - 1 : mid + 1]] = 0.5
        est = coef @ theta
        se = np.sqrt(np.maximum(sandwich_diagonal(coef, self.vcov()), 0.0))
        low, high = wald_interval(est, se, conf)
        out = grouped.select(
            *[
                pl.lit(name).alias(over) if c == over else pl.col(c)
                for c in self.by
                if c in grouped.columns or c == over
            ],
            *[c for c in ("variable", "level") if c in grouped.columns],
        ).with_columns(
            estimate=pl.Series(est),
            se=pl.Series(se),
            ci_low=pl.Series(low),
            ci_high=pl.Series(high),
            n=grouped.get_column("n").cast(pl.Int64),
            deff=pl.lit(None, dtype=pl.Float64),
            members=grouped.get_column("_who").list.sort(),
        )
        return Estimates(
            out.select([*self.by, *COLUMNS, "members"]),
            by=self.by,
            statistic=f"{self.statistic} ({rule} of {over})",
            notes=(*self.notes, f"{name}: {rule} of {over} over {', '.join(sorted(wanted))}"),
            source=self,
            coefficients=coef,
        )


@dataclass(frozen=True)
class Contrast:
    """A linear combination of estimates: estimate, SE, interval and two-sided p-value."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float


def sandwich(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``c v c'``, the covariance of the combinations ``c`` of estimates with covariance
    ``v``; with sparse ``c`` (a region's rows combine a few members' rows, a selection one
    row each) as a sparse product, which costs the non-zero coefficients, not all of them."""
    if c.size and np.count_nonzero(c) * 4 < c.size:
        import scipy.sparse as sp

        cs = sp.csr_matrix(c)
        left = np.asarray(cs @ v)  # c v
        out: np.ndarray = np.asarray(cs @ left.T).T  # (c (c v)')' = c v c'
        return out
    dense: np.ndarray = c @ v @ c.T
    return dense


def sandwich_diagonal(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The diagonal of ``c v c'`` (the combinations' variances) without forming the rest:
    ``rowsum((c v) * c)``, with ``c v`` a sparse product when ``c`` is sparse."""
    if c.size and np.count_nonzero(c) * 4 < c.size:
        import scipy.sparse as sp

        left = np.asarray(sp.csr_matrix(c) @ v)
    else:
        left = c @ v
    out: np.ndarray = (left * c).sum(axis=1)
    return out


def linear_contrast(
    theta: np.ndarray, vcov: np.ndarray, c: np.ndarray, confidence: float = CONFIDENCE
) -> Contrast:
    """``c' theta`` with variance ``c' V c`` (R ``svycontrast``); normal interval and test."""
    from barometer.core import distributions
    from barometer.core.intervals import wald_interval

    est = float(c @ theta)
    se = float(np.sqrt(max(float(c @ vcov @ c), 0.0)))
    lo, hi = wald_interval(np.array([est]), np.array([se]), confidence)
    p = float(2 * distributions.norm_sf(abs(est) / se)) if se > 0 else float("nan")
    return Contrast(est, se, float(lo[0]), float(hi[0]), p)
