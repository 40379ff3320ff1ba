"""Typed options, declared once and validated once at the public boundary."""

from __future__ import annotations

from typing import Literal, get_args

from barometer.errors import BarometerError

LonelyPSU = Literal["fail", "adjust", "average", "certainty", "remove"]
CIMethod = Literal["wald", "logit", "likelihood", "beta", "mean", "xlogit", "wilson", "asin"]
ReplicateType = Literal["jk1", "jkn", "brr", "fay", "bootstrap", "sdr"]
CalibrationMethod = Literal["linear", "raking", "logit"]
ChisqStatistic = Literal["F", "Chisq", "Wald", "adjWald"]
PAdjustMethod = Literal["holm", "bh", "bonferroni", "none"]
#: How a banner's Total / "all countries" figure combines the countries.
TotalRule = Literal["mean", "population"]


def check_option(value: object, kind: object, name: str, error: type[BarometerError]) -> str:
    """Return ``value`` if it is one of the ``Literal`` ``kind``'s values, else raise ``error``."""
    allowed = get_args(kind)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise error(f"{name}={value!r} is not one of {choices}")
    return value  # type: ignore[return-value]
