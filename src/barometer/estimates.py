"""Estimates: the tidy, immutable result table of every estimator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from barometer.errors import EstimationError, did_you_mean

COLUMNS = ("variable", "level", "estimate", "se", "ci_low", "ci_high", "n", "deff")
CombineRule = Literal["mean", "population", "median"]


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
    families: tuple[Any, ...] = field(default=(), repr=False)
    rows: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def to_polars(self) -> pl.DataFrame:
        """The estimates as a polars DataFrame."""
        return self.table

    def to_pandas(self) -> Any:
        """The estimates as a pandas DataFrame."""
        return self.table.to_pandas()

    def to_dicts(self) -> list[dict[str, Any]]:
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
        rows = idx if self.rows is None else np.asarray(self.rows)[idx]
        return Estimates(
            kept.drop("_i"),
            by=self.by,
            statistic=self.statistic,
            families=self.families,
            rows=rows,
            notes=self.notes,
        )

    def vcov(self) -> np.ndarray:
        """Covariance matrix of the estimates, in row order (R ``vcov(svyby(..., covmat=TRUE))``).

        Estimates of one variable from one design; covariances between different domains of
        the same design include what their shared PSUs and strata bring.
        """
        from barometer.estimators import family_variance

        if len(self.families) != 1:
            raise EstimationError(
                "vcov() needs the estimates of a single variable; estimate each variable separately"
            )
        v = family_variance(self.families[0], full=True)
        if self.rows is not None:
            v = v[np.ix_(self.rows, self.rows)]
        return v

    def contrast(
        self, coefficients: Sequence[float] | Mapping[int, float] | np.ndarray, level: float = 0.95
    ) -> Contrast:
        """A linear combination ``sum_k c_k theta_k`` with its SE (R ``svycontrast``)."""
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
        return linear_contrast(self.table.get_column("estimate").to_numpy(), self.vcov(), c, level)

    def combine(
        self,
        over: str,
        members: Sequence[Any],
        name: str,
        rule: CombineRule = "mean",
        weights: Mapping[Any, float] | None = None,
        level: float = 0.95,
    ) -> Estimates:
        """Combine the rows of ``members`` (values of the by-column ``over``) into one
        group ``name``, within every combination of the other columns.

        ``rule="mean"``: the simple average of the members' estimates (each counts equally);
        ``"population"``: weighted by ``weights`` (e.g. adult population), normalised;
        ``"median"``: the median of the members' estimates — its SE is that of the middle
        member (the average of the two middle ones for an even count), conditional on the
        ranking, an approximation. Variances use the full covariance of the estimates, so
        members that share a design are handled as well as independent samples. The result
        has a ``countries``-style column ``members`` listing who is behind each figure.
        """
        from barometer.intervals import wald_interval

        if over not in self.by:
            raise EstimationError(
                f"combine over {over!r}: it is not a by-column of these estimates "
                f"({', '.join(self.by) or 'none'}){did_you_mean(over, self.by)}"
            )
        if rule == "population" and weights is None:
            raise EstimationError("rule='population' needs weights (e.g. adult population)")
        table = self.table.with_row_index("_row")
        others = [c for c in self.by if c != over] + ["variable", "level"]
        present = table.filter(pl.col(over).is_in(list(members)))
        if present.height == 0:
            raise EstimationError(f"none of {list(members)!r} occurs in column {over!r}")
        v = self.vcov()
        est_all = table.get_column("estimate").to_numpy()
        out_rows = []
        for key, grp in present.group_by(others, maintain_order=True):
            idx = grp.get_column("_row").to_numpy()
            who = grp.get_column(over).to_list()
            vals = est_all[idx]
            c = np.zeros(est_all.size)
            if rule == "mean":
                c[idx] = 1.0 / idx.size
            elif rule == "population":
                pw = np.array([float(weights[m]) for m in who])  # type: ignore[index]
                c[idx] = pw / pw.sum()
            else:
                order = idx[np.argsort(vals, kind="stable")]
                mid = order.size // 2
                if order.size % 2:
                    c[order[mid]] = 1.0
                else:
                    c[order[mid - 1]] = c[order[mid]] = 0.5
            estimate = float(c @ est_all)
            se = float(np.sqrt(max(c @ v @ c, 0.0)))
            lo, hi = wald_interval(np.array([estimate]), np.array([se]), level)
            row = dict(zip(others, key, strict=True))
            row.update(
                {
                    over: name,
                    "estimate": estimate,
                    "se": se,
                    "ci_low": float(lo[0]),
                    "ci_high": float(hi[0]),
                    "n": int(grp.get_column("n").sum()),
                    "deff": None,
                    "members": sorted(str(m) for m in who),
                }
            )
            out_rows.append(row)
        columns = [*self.by, *COLUMNS, "members"]
        schema = {c: self.table.schema[c] for c in columns if c in self.table.schema}
        schema[over] = pl.String
        schema["members"] = pl.List(pl.String)
        out = pl.DataFrame(out_rows, schema=schema).select(columns)
        return Estimates(
            out,
            by=self.by,
            statistic=f"{self.statistic} ({rule} of {over})",
            notes=(f"{name}: {rule} of {over} over the members listed",),
        )


@dataclass(frozen=True)
class Contrast:
    """A linear combination of estimates: estimate, SE, interval and two-sided p-value."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float


def linear_contrast(
    theta: np.ndarray, vcov: np.ndarray, c: np.ndarray, level: float = 0.95
) -> Contrast:
    """``c' theta`` with variance ``c' V c`` (R ``svycontrast``); normal interval and test."""
    from scipy import stats

    from barometer.intervals import wald_interval

    est = float(c @ theta)
    se = float(np.sqrt(max(float(c @ vcov @ c), 0.0)))
    lo, hi = wald_interval(np.array([est]), np.array([se]), level)
    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else float("nan")
    return Contrast(est, se, float(lo[0]), float(hi[0]), p)
