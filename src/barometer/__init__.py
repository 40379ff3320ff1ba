"""barometer: multi-country public-opinion polls, from respondent files to findings.

The public API is re-exported here. Names are loaded on first use, so that
``import barometer`` (and ``barometer --help``) stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from barometer.errors import (
    BarometerError,
    DesignError,
    EstimationError,
    IngestError,
    SpecError,
    WeightingError,
)

if TYPE_CHECKING:
    from barometer.chisq import ChisqTest
    from barometer.design import Design, ReplicateDesign
    from barometer.estimates import Contrast, Estimates
    from barometer.poll import Poll
    from barometer.significance import (
        Difference,
        adjust_pvalues,
        difference,
        level_difference,
        net,
        pairwise_differences,
        region,
    )

_LAZY = {
    "Design": "barometer.design",
    "ReplicateDesign": "barometer.design",
    "Contrast": "barometer.estimates",
    "Estimates": "barometer.estimates",
    "Poll": "barometer.poll",
    "ChisqTest": "barometer.chisq",
    "Difference": "barometer.significance",
    "adjust_pvalues": "barometer.significance",
    "difference": "barometer.significance",
    "level_difference": "barometer.significance",
    "net": "barometer.significance",
    "pairwise_differences": "barometer.significance",
    "region": "barometer.significance",
}

__all__ = [
    "BarometerError",
    "ChisqTest",
    "Contrast",
    "Design",
    "DesignError",
    "Difference",
    "Estimates",
    "EstimationError",
    "IngestError",
    "Poll",
    "ReplicateDesign",
    "SpecError",
    "WeightingError",
    "adjust_pvalues",
    "difference",
    "level_difference",
    "net",
    "pairwise_differences",
    "region",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'barometer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
