"""barometer: multi-country public-opinion polls, from respondent files to findings."""

from __future__ import annotations

from barometer.errors import (
    BarometerError,
    DesignError,
    EstimationError,
    IngestError,
    SpecError,
    WeightingError,
)

__all__ = [
    "BarometerError",
    "DesignError",
    "EstimationError",
    "IngestError",
    "SpecError",
    "WeightingError",
]
__version__ = "0.1.0"
