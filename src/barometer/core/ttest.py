"""Design-based t-tests (R ``svyttest``).

Two groups: the coefficient of the group in the design-based linear model
``variable ~ group`` (R fits ``svyglm(variable ~ group, family=gaussian())``), i.e. the
difference of the two domain means (second level minus first, levels sorted), with its
sandwich SE and a t test on the model's residual degrees of freedom ``degf + 1 - 2``; the
interval is R ``confint(svyglm)``'s. One sample (``group=None``): the mean over its SE,
on ``degf - 1`` degrees of freedom, as R ``svyttest(y ~ 0)``. Lumley (2010), sec. 5.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from barometer.core import distributions
from barometer.core._frame import check_columns
from barometer.core.intervals import t_quantile
from barometer.errors import EstimationError

if TYPE_CHECKING:
    from barometer.core.design import Design, ReplicateDesign


@dataclass(frozen=True)
class TTest:
    """Result of ``Design.ttest``: the difference (or mean), its SE, ``statistic`` (t),
    ``df``, the two-sided ``p_value`` and the interval at ``confidence``."""

    variable: str
    group: str | None
    levels: tuple[str, ...]
    estimate: float
    se: float
    statistic: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_polars(self) -> pl.DataFrame:
        """One row: variable, group, contrast, estimate, se, statistic, df, p_value, ci_low,
        ci_high."""
        contrast = f"{self.levels[1]} - {self.levels[0]}" if len(self.levels) == 2 else None
        return pl.DataFrame(
            {
                "variable": [self.variable],
                "group": pl.Series([self.group], dtype=pl.String),
                "contrast": pl.Series([contrast], dtype=pl.String),
                "estimate": [self.estimate],
                "se": [self.se],
                "statistic": [self.statistic],
                "df": [self.df],
                "p_value": [self.p_value],
                "ci_low": [self.ci_low],
                "ci_high": [self.ci_high],
            }
        )


def _name(column: str) -> str:
    return column if column.isidentifier() else f"`{column}`"


def ttest(
    design: Design | ReplicateDesign,
    variable: str,
    group: str | None = None,
    confidence: float = 0.95,
) -> TTest:
    """The t-test of ``variable`` between the two levels of ``group`` (or against 0)."""
    engine = getattr(design, "ttest_parts", None)
    if engine is not None:  # a design over a query engine's table (core/backends)
        labels, est, se, df = engine(variable, group)
        return _result(variable, group, labels, est, se, df, confidence)
    frame = design.data
    check_columns(
        frame, [variable] if group is None else [variable, group], "ttest", EstimationError
    )
    if group is None:
        est = design.mean(variable).to_polars()
        mean, se = float(est["estimate"][0]), float(est["se"][0])
        df = float(design.degf - 1)
        return _result(variable, None, (), mean, se, df, confidence)
    col = frame.get_column(group)
    observed = frame.filter(pl.col(variable).is_not_null()).get_column(group).drop_nulls()
    levels = observed.unique().sort()
    if levels.len() != 2:
        raise EstimationError(
            f"ttest: group {group!r} must have two levels among the rows with {variable!r} "
            f"observed; it has {levels.len()}"
        )
    formula = f"{_name(variable)} ~ C({_name(group)})"
    if col.dtype.is_numeric() and set(levels.to_list()) <= {0, 1}:
        formula = f"{_name(variable)} ~ {_name(group)}"
    model = design.glm(formula)
    table = model.to_polars()
    diff, se = float(table["estimate"][1]), float(table["se"][1])
    labels = tuple(str(v) for v in levels.to_list())
    return _result(variable, group, labels, diff, se, model.df_residual, confidence)


def _result(
    variable: str,
    group: str | None,
    levels: tuple[str, ...],
    est: float,
    se: float,
    df: float,
    confidence: float,
) -> TTest:
    t = est / se if se > 0 else float("nan")
    p = float(2 * distributions.t_sf(abs(t), df)) if df > 0 else float("nan")
    q = float(t_quantile(confidence, df)) if df > 0 else float("nan")
    return TTest(variable, group, levels, est, se, t, df, p, est - q * se, est + q * se)


__all__ = ["TTest", "ttest"]
