"""Errors and warnings by kind: every error barometer raises on bad input is one of these.

Errors are grouped by the layer that finds them (``DesignError``, ``EstimationError``,
``WeightingError``, ``IngestError``, ``SpecError``) under one root, ``BarometerError``;
kinds a caller may want to catch on their own (a missing column) subclass the layer's
error, so ``except DesignError`` still catches them. Every warning barometer gives is a
``BarometerWarning`` (or a subclass), issued through :func:`warn`, which finds the
caller's frame itself: the warning points at the user's line, however deep it was found.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from types import FrameType

__all__ = [
    "BarometerDeprecationWarning",
    "BarometerError",
    "BarometerWarning",
    "ColumnNotFoundError",
    "DesignError",
    "EstimationError",
    "IngestError",
    "SpecError",
    "WeightingError",
    "column_not_found",
    "did_you_mean",
    "warn",
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


class ColumnNotFoundError(DesignError):
    """A column named in a call is not in the data.

    ``column`` is the name asked for and ``candidates`` the data's columns, closest first.
    Raised at the core's door (``core._frame.check_columns``). It is a ``DesignError``;
    raised for an estimate or a weighting run it is also that layer's error
    (:func:`column_not_found`), so ``except EstimationError`` keeps catching it.
    """

    def __init__(self, message: str, column: str, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.column = column
        self.candidates = tuple(candidates)


_COLUMN_ERRORS: dict[type[BarometerError], type[ColumnNotFoundError]] = {}


def column_not_found(layer: type[BarometerError]) -> type[ColumnNotFoundError]:
    """``ColumnNotFoundError`` as an error of ``layer`` too (one class per layer), so that
    ``except layer`` catches it as before."""
    if issubclass(ColumnNotFoundError, layer):
        return ColumnNotFoundError
    if layer not in _COLUMN_ERRORS:
        _COLUMN_ERRORS[layer] = type(
            f"ColumnNotFound{layer.__name__}",
            (ColumnNotFoundError, layer),
            {"__module__": __name__, "__doc__": f"A missing column, as a {layer.__name__}."},
        )
    return _COLUMN_ERRORS[layer]


class BarometerWarning(UserWarning):
    """Category of every warning barometer gives (filter them with this class)."""


class BarometerDeprecationWarning(BarometerWarning, DeprecationWarning):
    """A spelling that still works but will go: the warning names its replacement."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt name, or ''."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _stacklevel() -> int:
    """``warnings.warn``'s stack level of the first frame outside barometer, as seen from
    ``warn`` (level 1 is ``warn`` itself)."""
    frame: FrameType | None = sys._getframe(1)  # warn's frame
    level = 0
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level + 1


def warn(message: str, category: type[BarometerWarning] = BarometerWarning) -> None:
    """Issue a barometer warning attributed to the user's code: the first frame outside
    the package, found here once for every warning (no hand-counted ``stacklevel``)."""
    warnings.warn(message, category, stacklevel=_stacklevel())
