"""Weighting: raking, GREG calibration and post-stratification, with diagnostics.

Each function takes a design and returns a new one whose weights meet the targets and
whose calibration record lets variances account for the weighting (as R ``survey`` does).
"""

from __future__ import annotations

from barometer.core.weighting.calibration import calibrate
from barometer.core.weighting.diagnostics import WeightStats, WeightSummary, weight_summary
from barometer.core.weighting.poststratify import poststratify
from barometer.core.weighting.raking import rake
from barometer.core.weighting.spec import (
    CalibrationSpec,
    PostStratSpec,
    RakeSpec,
    WeightingInfo,
)

__all__ = [
    "CalibrationSpec",
    "PostStratSpec",
    "RakeSpec",
    "WeightStats",
    "WeightSummary",
    "WeightingInfo",
    "calibrate",
    "poststratify",
    "rake",
    "weight_summary",
]
