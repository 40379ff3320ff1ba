"""The design protocol: what the core's kernels read of a design, and its cache.

Estimators, variances, intervals and weighting take a ``SurveyDesign``: ``Design``
(Taylor linearisation) and ``ReplicateDesign`` (replicate weights) both are one. Each
kind carries its own ``variance`` method, so the variance is dispatched once, by the
design; where a kernel needs the kind's data it reads the one property that tells them
apart: ``structure`` (strata, PSUs, fpc) is ``None`` exactly for a replicate design, whose
``replicate_weights`` are then the source of its variances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from typing import Self

    import polars as pl

    from barometer.core._frame import Coding
    from barometer.core.design import Structure
    from barometer.core.estimators import RatioFamily
    from barometer.core.reduce import PsuPairs
    from barometer.core.variance.calibrated import Plan
    from barometer.core.variance.steps import CalibrationStep
    from barometer.core.weighting.spec import WeightingInfo

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: Any NumPy array (codes of any integer width, values of any dtype).
Array: TypeAlias = npt.NDArray[np.generic]
#: A table a user passes: polars (DataFrame or LazyFrame), pandas or pyarrow; converted once
#: at the door (``_frame.to_polars``), so the core asks nothing more of it.
TableLike: TypeAlias = object
#: Weighting targets: ``{variable: {level: target}}`` (keyed first by group with ``by=``),
#: or a long table of them; read and checked by ``weighting.margins``.
Targets: TypeAlias = object


class ColumnSource(Protocol):
    """Columns of a design's rows that its frame leaves out, read when first needed.

    ``Design(frame, ..., column_source=src)``: the design knows ``src.names`` as columns
    beside the frame's own and asks ``src.read`` for those an estimate uses, once each
    (several in one call where a caller asks for several, ``Design.load``), so a table
    held elsewhere is not read whole up front for an estimate that uses a few columns.
    """

    @property
    def names(self) -> Sequence[str]:
        """The columns it can give."""
        ...

    def read(self, names: Sequence[str]) -> pl.DataFrame:
        """Those columns (a subset of ``names``), one row per row of the design's frame, in
        the frame's row order; an error when it can no longer give the same rows."""
        ...


@dataclass(slots=True, eq=False)
class DesignCache:
    """What estimates learn about a design's data once and reuse on every later call.

    ``codings``: the integer codes of column combinations (``reduce.coding``);
    ``psu_pairs``: the (domain, PSU) pairs of a by-list (``reduce.psu_pairs``);
    ``calibration_plan``: the calibrated-variance plan of the design's calibration steps
    (``variance.calibrated.plan``), with the steps it was made for; ``level_family``: a
    family of a variable's shares by a by-list handed from one estimate to the next
    (``estimators.level_family``: a scale's quantiles to its mean and distribution);
    ``squared_weights``: the weights squared (each question's variance pass of an element
    design sums them). A reweighted copy of a design (``with_weights``) has the same rows
    and structure, so it shares the first two and starts its own plan, families and
    squares (:meth:`for_new_weights`).
    """

    codings: dict[tuple[str, ...], Coding] = field(default_factory=dict)
    psu_pairs: dict[tuple[str, ...], PsuPairs] = field(default_factory=dict)
    calibration_plan: tuple[tuple[CalibrationStep, ...], Plan | None] | None = None
    level_family: tuple[tuple[str, tuple[str, ...]], RatioFamily] | None = None
    squared_weights: FloatArray | None = None

    def for_new_weights(self) -> DesignCache:
        """The cache of a copy with new weights: codes and pairs shared, no plan or squares
        yet."""
        return DesignCache(self.codings, self.psu_pairs)


class SurveyDesign(Protocol):
    """A table bound to its weights and to the source of its variances."""

    @property
    def data(self) -> pl.DataFrame:
        """The respondents, converted once at the door and never modified."""
        ...

    def data_with(self, names: Sequence[str]) -> pl.DataFrame:
        """The respondents with at least the columns ``names`` the design knows (those of
        a column source read now): what an estimate reads of ``data``."""
        ...

    @property
    def weights(self) -> FloatArray:
        """The current (full-sample) weights, read-only."""
        ...

    @property
    def calibration(self) -> tuple[CalibrationStep, ...]:
        """The weighting steps the variances residualise on, in order."""
        ...

    @property
    def weighting(self) -> WeightingInfo | None:
        """What the last weighting run did (None for a design not weighted here)."""
        ...

    @property
    def cache(self) -> DesignCache:
        """The design's cache (codes, PSU pairs, calibrated-variance plan)."""
        ...

    @property
    def n(self) -> int:
        """Number of rows."""
        ...

    @property
    def degf(self) -> int:
        """Design degrees of freedom (R ``degf``)."""
        ...

    @property
    def structure(self) -> Structure | None:
        """The sampling structure of a linearisation design; None for a replicate design."""
        ...

    @property
    def replicate_weights(self) -> FloatArray | None:
        """The n x R replicate weights of a replicate design; None for a linearisation one."""
        ...

    def variance(self, family: RatioFamily, full: bool) -> FloatArray:
        """Variances (``full``: the covariance matrix) of a family of ratio estimates."""
        ...

    def with_weights(
        self,
        weights: FloatArray,
        step: CalibrationStep,
        info: WeightingInfo | None = None,
        replicate_weights: FloatArray | None = None,
    ) -> Self:
        """A design of the same kind and sample with new weights, ``step`` added to its
        calibration record (and, for a replicate design, re-weighted replicates)."""
        ...
