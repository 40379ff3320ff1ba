"""The exception hierarchy: every error barometer raises on bad input is one of these."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BarometerError",
    "DesignError",
    "EstimationError",
    "IngestError",
    "SpecError",
    "WeightingError",
]


class BarometerError(Exception):
    """Root of every error barometer raises on purpose."""


class DesignError(BarometerError, ValueError):
    """The data cannot be bound to the survey design as given."""


class EstimationError(BarometerError, ValueError):
    """An estimate was asked for that the design or data cannot give."""


class WeightingError(BarometerError, ValueError):
    """Raking, calibration or post-stratification cannot be carried out."""


class IngestError(BarometerError, ValueError):
    """A respondent file cannot be read or harmonised."""


class SpecError(BarometerError, ValueError):
    """A poll specification is invalid."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt name, or ''."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
