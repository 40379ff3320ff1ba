"""Typed options, declared once and validated once at the public boundary.

Every ``Literal`` option of barometer lives here, whichever band reads it; the one
validator, :func:`check_option`, turns a wrong value into the caller's layer error listing
the allowed values. :func:`confidence_level` reads the confidence level of an interval
(``confidence=``), and the deprecated ``level_ci=`` spelling with a warning.
"""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

from barometer.errors import BarometerDeprecationWarning, BarometerError, warn

# --- the core ---------------------------------------------------------------------------
LonelyPSU = Literal["fail", "adjust", "average", "certainty", "remove"]
CIMethod = Literal["wald", "logit", "likelihood", "beta", "mean", "xlogit", "wilson", "asin"]
ReplicateType = Literal["jk1", "jkn", "brr", "fay", "bootstrap", "sdr"]
CalibrationMethod = Literal["linear", "raking", "logit"]
ChisqStatistic = Literal["F", "Chisq", "Wald", "adjWald"]
PAdjustMethod = Literal["holm", "bh", "bonferroni", "none"]
#: How ``Estimates.combine`` pools members: their mean, a population-weighted mean, the median.
CombineRule = Literal["mean", "population", "median"]
#: The rules ``comparisons.region`` accepts (a linear combination that keeps the members).
RegionCombineRule = Literal["mean", "population"]
WeightingMethod = Literal["rake", "calibrate", "poststratify"]
#: GLM families (R ``svyglm``'s, canonical links), and what ``Model.predict`` returns.
ModelFamily = Literal["gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson"]
PredictType = Literal["link", "response"]

# --- the poll and publish bands ---------------------------------------------------------
#: How a banner's Total / "all countries" figure combines the countries.
TotalRule = Literal["mean", "population"]
#: How a region of the spec pools its member countries (as ``CombineRule``).
RegionRule = CombineRule
#: Which weights an estimate uses: the poll's raked weights or the base weights.
WeightsChoice = Literal["raked", "base"]
SourceFormat = Literal["sav", "dta", "csv", "parquet"]
#: What a question is: single-choice, a weighting demographic, a number (a 0–10 scale, an
#: age), multiple response (select all that apply) or a grid (one scale, several items).
QuestionKind = Literal["question", "weighting", "numeric", "multiple", "grid"]
FindingKind = Literal["change", "gap"]
ScopeKind = Literal["country", "region"]
#: Over which p-values a findings scan adjusts: the whole scan, or each kind of finding.
AdjustFamily = Literal["scan", "kind"]
#: How a source's respondents were selected (the report's disclosure follows it).
SamplingKind = Literal["probability", "opt-in", "mixed"]
#: What weighting does with a respondent lacking a weighting variable of its scheme.
MissingWeighting = Literal["fail", "impute"]

#: The default confidence level of every interval.
CONFIDENCE = 0.95

T = TypeVar("T")


def check_option(value: T, kind: object, name: str, error: type[BarometerError]) -> T:
    """Return ``value`` if it is one of the ``Literal`` ``kind``'s values, else raise ``error``
    naming ``name`` and the allowed values."""
    allowed = get_args(kind)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise error(f"{name}={value!r} is not one of {choices}")
    return value


def confidence_level(
    confidence: float,
    deprecated: float | None,
    error: type[BarometerError],
    where: str,
    old: str = "level_ci",
) -> float:
    """The confidence level of an interval from ``confidence=``, or from its deprecated
    spelling ``old=`` (``deprecated``, used when given, with a warning), checked to lie
    strictly between 0 and 1."""
    if deprecated is not None:
        warn(
            f"{where}({old}=...) is deprecated; use confidence={deprecated!r} "
            "(level names an answer level)",
            BarometerDeprecationWarning,
        )
        confidence = deprecated
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise error(f"confidence={confidence!r} must be a number between 0 and 1")
    if not 0.0 < float(confidence) < 1.0:
        raise error(f"confidence={confidence!r} must lie strictly between 0 and 1")
    return float(confidence)
