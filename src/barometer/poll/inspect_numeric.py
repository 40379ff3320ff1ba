"""Which columns ``barometer inspect`` drafts as numeric questions, and why it leaves others out.

A column of numbers with many distinct values and no value labels on its answers — an age
in years, a 0–10 scale, a count — is a numeric question (``kind: numeric``, docs/spec.md),
as is one labelled only at the two ends of its scale (0 "Extremely dissatisfied"):
its draft gives the range of the answers in the file and, as ``missing``, its no-answer
codes: the SPSS user-missing codes the file declares, and the codes whose value label
reads as no answer (98 "Don't know", 99 "Refused" in a Stata file that declares none).
Stata's extended missing values (``.a``–``.z``) are read as missing already; their labels
are noted in a comment.  A column with labels on its answers keeps its levels; an id
(every value distinct, or a name like ``caseid``), a weight (positive fractions under a
name like ``wgt`` or ``pond``), free text and dates are left out, each with its reason.

:func:`plan` decides for one column; :func:`numeric_yaml` writes a numeric question's
draft.  The drafted range is the file's, so the draft ingests the file it was drawn from;
widen it to the question's scale before other files come in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from barometer.poll.inspect_yaml import Code, code_text, code_yaml, comment, yaml_text

if TYPE_CHECKING:
    from barometer.poll.inspect import ColumnSummary

__all__ = [
    "LEVELS",
    "MIN_NUMERIC_VALUES",
    "WEIGHT_NAME",
    "MissingCode",
    "Numeric",
    "Plan",
    "Skip",
    "extended_comment",
    "extended_missing",
    "missing_listing",
    "no_answer_codes",
    "numeric_yaml",
    "plan",
    "user_missing_codes",
]

#: An unlabelled column with at least this many distinct answers is drafted as a numeric
#: question: a 1–10 scale and anything longer; fewer (a 1–5 scale, codes 1–4 without
#: labels) keep one level per value, which the analyst can still read as a number.
MIN_NUMERIC_VALUES = 10

#: The draft keeps the column's levels.
LEVELS: Literal["levels"] = "levels"

# Labels that mark a code as no answer rather than an answer (matched anywhere, any case).
_NO_ANSWER = re.compile(
    r"don['\u2019]?t know|\bdk\b|refus|no answer|not answered|prefer not|not sure|"
    r"can['\u2019]?t say|no opinion|"
    r"not applicable|inapplicable|\bn/?a\b|not asked|skipped|^missing|no response|not stated",
    re.IGNORECASE,
)
# Names of ids and of weights (lower-cased): hhid, caseid, pers_id, snum, serial; wgt, pond.
_ID_NAME = re.compile(
    r"^(id|idno|rid|pid|uid|hhid|respid|persid|caseid|caseno|seqn)$|[_.]id$|^id[_.]"
    r"|^[a-z]?num$|[_.](num|nr|no)$|serial"
)
#: Names of weights (lower-cased), also used to guess a file's weight column; "pond" for
#: the French "pondération", not inside "respondent".
WEIGHT_NAME = re.compile(r"weight|wght|wgt|^wt|_wt$|^pw$|^w$|(^|[_.])pond")
_TEMPORAL = ("Date", "Datetime", "Time", "Duration")


@dataclass(frozen=True)
class MissingCode:
    """A code that means no answer: how many respondents hold it (0: only labelled), and
    its label."""

    value: float
    count: int
    label: str | None


@dataclass(frozen=True)
class Numeric:
    """A column drafted as a numeric question.

    ``low`` and ``high`` bound the answers in the file; ``missing`` are the no-answer
    codes written under ``missing:``; ``inside`` the SPSS user-missing codes that lie
    within the range (ingest reads them as missing, but ``missing:`` takes only codes
    outside it); ``letters`` Stata's labelled extended missing values (``.a``: label); ``ends``
    the labels of a scale labelled only at its ends (``0``: "Extremely dissatisfied"),
    whose range reaches both even when no respondent chose one.
    """

    low: float
    high: float
    missing: tuple[MissingCode, ...]
    inside: tuple[MissingCode, ...]
    letters: tuple[tuple[str, str], ...]
    ends: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Skip:
    """A column left out of the draft, and why (printed in the closing comment)."""

    why: str


#: What the draft does with a column.
Plan = Literal["levels"] | Numeric | Skip


def no_answer_codes(
    labels: Mapping[Code, str], user_missing: tuple[tuple[float, float], ...]
) -> list[float]:
    """The numeric codes whose value label reads as no answer ("Don't know", "Refused"),
    besides those the file declares user-missing, in order of value."""
    return sorted(
        code
        for code, label in labels.items()
        if isinstance(code, float)
        and not any(lo <= code <= hi for lo, hi in user_missing)
        and _NO_ANSWER.search(label)
    )


def user_missing_codes(col: ColumnSummary) -> list[MissingCode]:
    """The column's SPSS user-missing codes found in the file or labelled, in order of value."""
    found = {v.value: v for v in col.values if v.user_missing}
    codes = [MissingCode(float(v.value), v.count, v.label) for v in found.values()]
    codes += [
        MissingCode(float(value), 0, label)
        for value, label in col.value_labels
        if col.is_user_missing(value) and value not in found
    ]
    return sorted(codes, key=lambda c: c.value)


def extended_missing(col: ColumnSummary) -> tuple[tuple[str, str], ...]:
    """A Stata column's labelled extended missing values (``("a", "Not asked")``): ingest
    reads ``.a``–``.z`` as null, so they are neither levels nor ``missing`` codes."""
    if col.kind != "numeric":
        return ()
    return tuple((k, v) for k, v in col.value_labels if isinstance(k, str))


def extended_comment(letters: Sequence[tuple[str, str]]) -> str:
    """The comment line that lists a column's labelled Stata missing values."""
    listed = ", ".join(f".{k} {comment(repr(v))}" for k, v in letters)
    return f"# Stata missing values, read as missing: {listed}"


def _answer_labels(col: ColumnSummary) -> list[float]:
    """The numeric codes labelled as answers: neither user-missing nor no-answer codes."""
    no_answer = {v.value for v in col.no_answer}
    return [
        float(value)
        for value, _ in col.value_labels
        if isinstance(value, float) and not col.is_user_missing(value) and value not in no_answer
    ]


def _scale_ends(
    col: ColumnSummary, answers: Sequence[float]
) -> tuple[tuple[float, str], ...] | None:
    """The labels of a scale labelled only at its ends (ESS's 0 "Extremely dissatisfied"
    ... 10 "Extremely satisfied"), in order of value; None when an answer between the
    ends is labelled, or when there is no range to have ends."""
    if col.answer_range is None:
        return None
    low, high = min([col.answer_range[0], *answers]), max([col.answer_range[1], *answers])
    if any(low < a < high for a in answers):
        return None
    labels = dict(col.value_labels)
    return tuple((a, labels[a]) for a in sorted(answers))


def _not_a_number(col: ColumnSummary, n_rows: int) -> Skip | None:
    """Why a column of many numbers is not a numeric question (an id, a weight), or None."""
    name = col.name.lower()
    if col.whole_numbers and col.n_distinct == n_rows:
        return Skip("every value distinct: an id")
    if _ID_NAME.search(name):
        return Skip("named like an id")
    if WEIGHT_NAME.search(name) and not col.whole_numbers and (col.minimum or 0.0) > 0:
        return Skip("positive fractions named like a weight: a weight")
    return None


def plan(col: ColumnSummary, n_rows: int) -> Plan:
    """What the draft does with ``col`` (not a design column) of a file of ``n_rows`` rows.

    Levels for a column whose values all fit in the draft (``complete``) and that is
    text, labelled on its answers, or has fewer than :data:`MIN_NUMERIC_VALUES` distinct
    answers; a numeric question for a column of numbers unlabelled on its answers (or
    labelled only at the two ends of its scale) with at least that many, unless it is an
    id or a weight; otherwise left out, with why.
    """
    if col.kind == "other":
        return Skip("a date or time" if col.dtype.startswith(_TEMPORAL) else f"type {col.dtype}")
    if col.n_distinct == 0:
        return Skip("no values")
    if col.kind == "text":
        if col.complete:
            return LEVELS
        if col.n_distinct == n_rows:
            return Skip("every value distinct: an id or free text")
        return Skip("free text, or too many levels to draft")
    answers = _answer_labels(col)
    ends = _scale_ends(col, answers)
    if (answers and ends is None) or col.n_answers < MIN_NUMERIC_VALUES:
        return LEVELS if col.complete else Skip("labelled: map or band its codes")
    skip = _not_a_number(col, n_rows)
    if skip is not None:
        return skip
    if not col.finite:
        return Skip("NaN or infinite values, which ingest refuses: export them as missing")
    assert col.answer_range is not None  # numbers with answers have a range
    low, high = col.answer_range
    if answers:
        # a labelled end is a valid answer even when no respondent chose it
        low, high = min([low, *answers]), max([high, *answers])
    labelled = [MissingCode(float(v.value), v.count, v.label) for v in col.no_answer]
    amid = [c for c in labelled if low <= c.value <= high]
    if amid:
        # 5 "Don't know" amid answers 0-10 cannot be a missing code: keep the levels
        if col.complete:
            return LEVELS
        return Skip(f"{code_text(amid[0].value)} {amid[0].label!r} lies amid the answers")
    declared = user_missing_codes(col)
    outside = [c for c in declared + labelled if not low <= c.value <= high]
    return Numeric(
        low=low,
        high=high,
        missing=tuple(sorted(outside, key=lambda c: c.value)),
        inside=tuple(c for c in declared if low <= c.value <= high),
        letters=extended_missing(col),
        ends=ends or (),
    )


def missing_listing(codes: Sequence[MissingCode]) -> str:
    """Codes for a comment: ``98 'Don\'t know' (12), 99 'Refused' (3)``."""
    return ", ".join(
        f"{code_text(c.value)}{' ' + comment(repr(c.label)) if c.label else ''} ({c.count:,})"
        for c in codes
    )


def numeric_yaml(qid: str, col: ColumnSummary, num: Numeric) -> tuple[list[str], list[str]]:
    """A numeric question's draft: its ``questions`` entry and its ``variables`` entry."""
    question = [f"  - id: {qid}", "    kind: numeric"]
    if col.label:
        question.append(f"    wording: {yaml_text(col.label)}")
    question.append(
        f"    range: [{code_yaml(num.low)}, {code_yaml(num.high)}]"
        "      # as found in this file; widen it to all valid values"
    )
    if num.ends:
        ends = ", ".join(f"{code_text(v)} {comment(repr(label))}" for v, label in num.ends)
        question.append(f"    # a scale labelled at its ends: {ends}")
    if num.missing:
        codes = ", ".join(code_yaml(c.value) for c in num.missing)
        listed = missing_listing(num.missing)
        question.append(f"    missing: [{codes}]      # no answer: {listed}")
    variable = [f"      {qid}: {{column: {yaml_text(col.name)}}}"]
    if num.inside:
        listed = missing_listing(num.inside)
        variable.append(f"        # user-missing in the file, read as missing: {listed}")
    if num.letters:
        variable.append(f"        {extended_comment(num.letters)}")
    return question, variable
