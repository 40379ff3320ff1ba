"""barometer: multi-country public-opinion polls, from respondent files to findings."""

from __future__ import annotations

from barometer.design import Design, ReplicateDesign
from barometer.errors import (
    BarometerError,
    DesignError,
    EstimationError,
    IngestError,
    SpecError,
    WeightingError,
)
from barometer.estimates import Contrast, Estimates

__all__ = [
    "BarometerError",
    "Contrast",
    "Design",
    "DesignError",
    "Estimates",
    "EstimationError",
    "IngestError",
    "ReplicateDesign",
    "SpecError",
    "WeightingError",
]
__version__ = "0.1.0"
