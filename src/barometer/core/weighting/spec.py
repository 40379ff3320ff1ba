"""Frozen weighting specifications and the record of what a weighting run did.

A spec holds the targets and options of one call, so it can be printed in a methodology
note or re-applied to the next wave (``spec.apply(design)``). ``WeightingInfo`` is what a
run leaves on the new design (``design.weighting``) for ``weight_summary``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import polars as pl

from barometer.core._protocols import SurveyDesign, Targets
from barometer.options import CalibrationMethod, WeightingMethod

D = TypeVar("D", bound=SurveyDesign)


def freeze(obj: object) -> Any:
    """A read-only deep copy of nested mappings (targets given by a user)."""
    if isinstance(obj, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    return obj


@dataclass(frozen=True)
class RakeSpec:
    """Raking to marginal targets (see ``barometer.core.weighting.rake``)."""

    margins: Mapping[Hashable, object]
    by: str | None = None
    tol: float = 1e-10
    max_iter: int = 100
    cap: float | None = None
    floor: float | None = None

    def apply(self, design: D) -> D:
        """Rake ``design`` with these targets and options."""
        from barometer.core.weighting.raking import rake

        return rake(
            design,
            self.margins,
            by=self.by,
            tol=self.tol,
            max_iter=self.max_iter,
            cap=self.cap,
            floor=self.floor,
        )


@dataclass(frozen=True)
class CalibrationSpec:
    """GREG calibration (see ``barometer.core.weighting.calibrate``)."""

    margins: Mapping[Hashable, object]
    method: CalibrationMethod = "linear"
    bounds: tuple[float, float] | None = None
    tol: float = 1e-10
    max_iter: int = 100

    def apply(self, design: D) -> D:
        """Calibrate ``design`` with these targets and options."""
        from barometer.core.weighting.calibration import calibrate

        return calibrate(
            design,
            self.margins,
            method=self.method,
            bounds=self.bounds,
            tol=self.tol,
            max_iter=self.max_iter,
        )


@dataclass(frozen=True)
class PostStratSpec:
    """Post-stratification to a cell table (see ``barometer.core.weighting.poststratify``)."""

    variables: tuple[str, ...]
    table: Targets
    partial: bool = False

    def apply(self, design: D) -> D:
        """Post-stratify ``design`` to this table."""
        from barometer.core.weighting.poststratify import poststratify

        return poststratify(design, list(self.variables), self.table, partial=self.partial)


@dataclass(frozen=True, eq=False)
class WeightingInfo:
    """What one weighting run did, kept on the new design as ``design.weighting``.

    ``margins`` is the before/after table of every margin (see ``weight_summary``), built
    on first use by ``build_margins``;
    ``max_error`` the largest |weighted total - target| divided by the group's total;
    ``before`` the weights the run started from; ``held`` (raking with a cap or floor)
    marks each row 0 free, 1 held at the cap, 2 held at the floor; ``trace`` (raking) the
    largest margin error after each sweep.
    """

    method: WeightingMethod
    spec: RakeSpec | CalibrationSpec | PostStratSpec
    by: str | None
    iterations: int
    max_error: float
    n_capped: int
    n_floored: int
    build_margins: Callable[[], pl.DataFrame] = field(repr=False)
    before: np.ndarray = field(repr=False)
    held: np.ndarray | None = field(default=None, repr=False)
    trace: tuple[float, ...] = ()

    @cached_property
    def margins(self) -> pl.DataFrame:
        """The before/after table of every margin (built on first use)."""
        return self.build_margins()


def margin_table(
    by: str | None,
    group_labels: Sequence[object],
    variable: str,
    levels: Sequence[object],
    count: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    target: np.ndarray,
) -> pl.DataFrame:
    """The before/after rows of one margin; arrays are (G, L), target NaN = not a target.

    Shares are within the group: unweighted sample share, weighted share before and after
    weighting, and the target share.
    """
    keep = ~np.isnan(target) | (count > 0)
    keep &= ~np.isnan(target).all(axis=1, keepdims=True)
    g_idx, l_idx = np.nonzero(keep)

    def share(a: np.ndarray) -> np.ndarray:
        tot = np.nansum(a, axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: np.ndarray = (a / tot)[g_idx, l_idx]
        return out

    cols: dict[str, Any] = {}
    if by is not None:
        cols["group"] = pl.Series([str(group_labels[g]) for g in g_idx.tolist()], dtype=pl.String)
    t = np.nan_to_num(target, nan=0.0)
    cols.update(
        variable=pl.Series([variable] * g_idx.size, dtype=pl.String),
        level=pl.Series([str(levels[lv]) for lv in l_idx.tolist()], dtype=pl.String),
        n=count[g_idx, l_idx].astype(np.int64),
        sample_share=share(count.astype(np.float64)),
        before_share=share(before),
        after_share=share(after),
        target_share=share(t),
        target=t[g_idx, l_idx],
        after=after[g_idx, l_idx],
    )
    return pl.DataFrame(cols)
