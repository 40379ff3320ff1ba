"""Numeric columns at ingest: a numeric question's values, and recodes by range.

A numeric question (``kind: numeric``) is stored as numbers: its ``missing`` codes (or
the source's own, which replace them for that file) and the file's SPSS user-missing
codes become missing, and a value outside its ``range`` is an ingest error naming the
respondents.  A ``recode`` bands a numeric column into a question's levels by inclusive
ranges (an age in years into age groups); a value that no range covers is an error
unless an ``else`` rule catches it.  Both refuse a text column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from barometer.poll.spec import Question, RecodeRule
from barometer.untrusted import MAX_QUOTED, quote_value, quote_values

__all__ = ["NumericResult", "read_numeric", "recode_by_range"]


@dataclass(frozen=True)
class NumericResult:
    """A numeric column as harmonised: ``values`` (None when ``problem`` says why), and how
    many respondents held an SPSS user-missing code that became missing."""

    values: pl.Series | None
    n_user_missing: int = 0
    problem: str | None = None


def _numbers(series: pl.Series, where: str, what: str) -> pl.Series | str:
    """The column as Float64, or the problem of a column that does not hold numbers."""
    if series.dtype == pl.Null:
        return series.cast(pl.Float64)
    if series.dtype.is_numeric():
        return series.cast(pl.Float64)
    if series.dtype == pl.String:
        texts = series.drop_nulls().unique(maintain_order=True)
        sample = quote_values(texts.to_list(), texts.len())
        return (
            f"{where} holds text ({sample}); {what} needs a column of numbers — export "
            "the column as numbers, or map its text with codes"
        )
    return f"{where} has type {series.dtype}; {what} needs a column of numbers"


def _who(ids: pl.Series, mask: pl.Series) -> str:
    count = int(mask.sum())
    return f"respondent id(s) {quote_values(ids.filter(mask).to_list(), count)}"


def _values_listing(values: pl.Series, labels: Mapping[float, str]) -> str:
    """The values, most frequent first, each with its value label from the file (a
    labelled 99 "Refused" is then seen for the don't-know code it is)."""
    counts = values.value_counts(sort=True)
    parts = []
    for value, n in counts.head(MAX_QUOTED).iter_rows():
        label = labels.get(value)
        named = f" {quote_value(str(label))}" if label else ""
        parts.append(f"{value:g}{named} ({n} respondent{'s' if n != 1 else ''})")
    more = counts.height - MAX_QUOTED
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _user_missing(values: pl.Series, spans: list[tuple[float, float]]) -> pl.Series:
    mask = pl.Series([False] * values.len())
    for lo, hi in spans:
        mask = mask | values.is_between(lo, hi).fill_null(False)
    return mask


def _not_finite(values: pl.Series, ids: pl.Series, where: str) -> str | None:
    bad = (~values.is_finite()).fill_null(False)
    if not bad.any():
        return None
    return f"{where}: {int(bad.sum())} value(s) are NaN or infinite ({_who(ids, bad)})"


def read_numeric(
    series: pl.Series,
    ids: pl.Series,
    question: Question,
    missing: list[float],
    user_missing: list[tuple[float, float]],
    where: str,
    fix: str,
    labels: Mapping[float, str] | None = None,
) -> NumericResult:
    """A numeric question's column as numbers (Float64), missing codes set to missing.

    ``missing`` are the don't-know codes in force for this file (the question's, or the
    source's own: :meth:`~barometer.poll.spec.Question.missing_in`). ``where`` names the
    column in messages, ``fix`` the spec path(s) where a don't-know code is listed.  An
    SPSS user-missing code is missing; a value outside ``question.range`` (both ends
    included) is a problem naming the respondents who gave it, and the value's label
    in the file (``labels``: value -> label) when it has one.
    """
    values = _numbers(series, where, f"numeric question {question.id}")
    if isinstance(values, str):
        return NumericResult(None, problem=values)
    problem = _not_finite(values, ids, where)
    if problem:
        return NumericResult(None, problem=problem)
    declared = values.is_in([float(m) for m in missing]).fill_null(False)
    spss = _user_missing(values, user_missing) & ~declared
    values = values.set(declared | spss, None)
    if question.range is not None:
        low, high = question.range
        outside = (~values.is_between(low, high)).fill_null(False)
        if outside.any():
            return NumericResult(
                None,
                problem=(
                    f"{where}: {int(outside.sum())} value(s) outside the range "
                    f"[{low:g}, {high:g}]: {_values_listing(values.filter(outside), labels or {})} "
                    f"({_who(ids, outside)}); correct the file, or list a don't-know code "
                    f"under {fix}"
                ),
            )
    return NumericResult(values, n_user_missing=int(spss.sum()))


def recode_by_range(
    series: pl.Series,
    ids: pl.Series,
    rules: list[RecodeRule],
    user_missing: list[tuple[float, float]],
    where: str,
    fix: str,
    labels: Mapping[float, str] | None = None,
) -> NumericResult:
    """A numeric column banded into level codes (String) by the inclusive ranges of
    ``rules``.

    A value takes the level of the range that holds it; else an SPSS user-missing code
    is missing (as with ``codes``); else the ``else`` rule's level when there is one;
    else it is a problem listing the values (with their ``labels`` in the file) and
    naming the respondents.
    """
    values = _numbers(series, where, "a recode by range")
    if isinstance(values, str):
        return NumericResult(None, problem=values)
    problem = _not_finite(values, ids, where)
    if problem:
        return NumericResult(None, problem=problem)
    level = pl.Series(values.name, [None] * values.len(), dtype=pl.String)
    placed = values.is_null()
    fallback = next((rule for rule in rules if rule.range is None), None)
    for rule in rules:
        if rule.range is None:
            continue
        inside = values.is_between(*rule.range).fill_null(False) & ~placed
        level = level.set(inside, rule.level)
        placed = placed | inside
    spss = _user_missing(values, user_missing) & ~placed
    placed = placed | spss
    if fallback is not None:
        level = level.set(~placed, fallback.level)
    elif (~placed).any():
        return NumericResult(
            None,
            problem=(
                f"{where}: {int((~placed).sum())} value(s) in no range of the recode: "
                f"{_values_listing(values.filter(~placed), labels or {})} "
                f"({_who(ids, ~placed)}); widen a range or add a last {{else: level}} rule "
                f"to {fix}.recode"
            ),
        )
    return NumericResult(level, n_user_missing=int(spss.sum()))
