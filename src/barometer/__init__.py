"""barometer: multi-country public-opinion polls, from respondent files to findings.

The public API is re-exported here. Names are loaded on first use, so that
``import barometer`` (and ``barometer --help``) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from barometer._lazy import lazy_exports
from barometer.errors import (
    BarometerDeprecationWarning,
    BarometerError,
    BarometerWarning,
    ColumnNotFoundError,
    DesignError,
    EstimationError,
    IngestError,
    SpecError,
    WeightingError,
)

if TYPE_CHECKING:
    from barometer.core import weighting
    from barometer.core._protocols import ColumnSource
    from barometer.core.chisq import ChisqTest
    from barometer.core.comparisons import (
        Difference,
        adjust_pvalues,
        difference,
        level_difference,
        net,
        pairwise_differences,
        region,
    )
    from barometer.core.design import Design, ReplicateDesign
    from barometer.core.estimates import Contrast, Estimates
    from barometer.core.models import Margins, Model, Models, OrdinalModel, WaldTest
    from barometer.core.ttest import TTest
    from barometer.poll import Poll

_LAZY = {
    "Design": "barometer.core.design",
    "ReplicateDesign": "barometer.core.design",
    "Contrast": "barometer.core.estimates",
    "Estimates": "barometer.core.estimates",
    "Poll": "barometer.poll",
    "ChisqTest": "barometer.core.chisq",
    "ColumnSource": "barometer.core._protocols",
    "Difference": "barometer.core.comparisons",
    "adjust_pvalues": "barometer.core.comparisons",
    "difference": "barometer.core.comparisons",
    "level_difference": "barometer.core.comparisons",
    "net": "barometer.core.comparisons",
    "pairwise_differences": "barometer.core.comparisons",
    "region": "barometer.core.comparisons",
    "weighting": "barometer.core.weighting",
    "Margins": "barometer.core.models",
    "Model": "barometer.core.models",
    "Models": "barometer.core.models",
    "OrdinalModel": "barometer.core.models",
    "WaldTest": "barometer.core.models",
    "TTest": "barometer.core.ttest",
}

__all__ = [
    "BarometerDeprecationWarning",
    "BarometerError",
    "BarometerWarning",
    "ChisqTest",
    "ColumnNotFoundError",
    "ColumnSource",
    "Contrast",
    "Design",
    "DesignError",
    "Difference",
    "Estimates",
    "EstimationError",
    "IngestError",
    "Margins",
    "Model",
    "Models",
    "OrdinalModel",
    "Poll",
    "ReplicateDesign",
    "SpecError",
    "TTest",
    "WaldTest",
    "WeightingError",
    "adjust_pvalues",
    "difference",
    "level_difference",
    "net",
    "pairwise_differences",
    "region",
    "weighting",
]
__version__ = "0.1.0"


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
