"""Multiple-response questions and grids in the spec: their shape, their source
mappings and the single-choice parts the store holds.

A **multiple-response** question (``kind: multiple``, "select all that apply") has
``options``; each option is stored as its own column ``<question>__<option>`` with the
levels ``selected`` / ``not_selected``, so its share is the weighted share of
respondents selecting it (an indicator's mean, R ``svymean(~I(x == 1), na.rm = TRUE)``)
with its own standard error — the shares of the options do not sum to 100%.

A **grid** (``kind: grid``, a battery) has ``items`` that share the ``levels``; each
item is stored as a single-choice column ``<question>__<item>`` with its own base.

The rules of a source's mapping (stated once here, applied in
:mod:`barometer.poll.ingest_sets`):

* ``columns: {option: COL}`` with ``selected: [codes]`` — a code listed is "selected",
  any other value "not selected", a missing value missing; ``selected: label`` — the
  column holds the option's label (or a code whose value label is the option's label)
  when selected and is blank when not; ``delimited: COL`` — one text column listing the
  options selected, split by ``separator`` (``codes`` maps each token to an option, or
  to null to ignore it; without ``codes`` the tokens are the option codes).
* A respondent is in a multiple-response question's base when at least one of its
  option columns is non-missing (a ``selected: label`` column is never missing: blank is
  "not selected"), or when the source's ``shown:`` column says the question was asked
  (1, true or yes); within the base an option left missing is "not selected".
* An exclusive option selected together with another is an ingest error naming the
  respondents.  A respondent selecting nothing counts as selecting "none" only where the
  question has no exclusive option; where it has one, selecting nothing is no answer
  (out of the base), as SPSS and Q count a set with a "None of these" box.
* Grid ``columns: {item: COL}`` with ``codes`` as a single-choice question's; an item a
  source does not map is missing there.  ``shown:`` (when given) blanks every item of
  the respondents not asked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from barometer.errors import did_you_mean

if TYPE_CHECKING:
    from barometer.poll.spec import Level, PollSpec, Question, VariableMap

__all__ = [
    "NOT_SELECTED",
    "PART_SEPARATOR",
    "SELECTED",
    "check_parts",
    "check_question_shape",
    "check_set_variables",
    "part_code",
    "part_id",
    "parts",
]

#: The levels of a multiple-response option's stored column.
SELECTED = "selected"
NOT_SELECTED = "not_selected"
#: Between a question's id and an option's or item's code in a stored column's name.
PART_SEPARATOR = "__"
_PART_CODE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def part_id(question: str, code: str) -> str:
    """The stored column of option or item ``code`` of ``question``: ``allies__us``."""
    return f"{question}{PART_SEPARATOR}{code}"


def part_code(question: Question, stored: str) -> str | None:
    """The option or item code of the stored column ``stored`` of ``question`` (None when
    it is not one of its parts)."""
    for code in _codes(question):
        if part_id(question.id, code) == stored:
            return code
    return None


def _codes(question: Question) -> list[str]:
    if question.kind == "multiple":
        return [o.code for o in question.options]
    if question.kind == "grid":
        return [i.code for i in question.items]
    return []


def check_question_shape(question: Question) -> None:
    """Raise ``ValueError`` (pydantic reports it at the question's location) when a
    question's fields do not fit its kind."""
    kind, qid = question.kind, question.id
    if kind == "multiple":
        if question.levels or question.items:
            raise ValueError(
                f"question {qid!r} is kind: multiple; give its 'options' (code, label, "
                "exclusive), not 'levels' or 'items'"
            )
        if len(question.options) < 2:
            raise ValueError(f"question {qid!r} (kind: multiple) needs at least two options")
    elif kind == "grid":
        if question.options:
            raise ValueError(f"question {qid!r} is kind: grid; give 'items', not 'options'")
        if len(question.items) < 2 or not question.levels:
            raise ValueError(
                f"question {qid!r} (kind: grid) needs at least two 'items' and the 'levels' "
                "they share"
            )
    else:
        if question.options or question.items:
            raise ValueError(
                f"question {qid!r} has 'options' or 'items'; set kind: multiple or kind: grid"
            )
        return
    codes = _codes(question)
    seen: set[str] = set()
    for code in codes:
        if not _PART_CODE.match(code):
            raise ValueError(
                f"question {qid!r}: code {code!r} must be lower case letters, digits and '_'"
            )
        if code in seen:
            what = "option" if kind == "multiple" else "item"
            raise ValueError(f"question {qid!r} lists {what} {code!r} twice")
        seen.add(code)


def parts(question: Question) -> list[Question]:
    """The single-choice questions the store holds for ``question``: itself when it is
    single-choice, else one per option (levels ``selected`` / ``not_selected``, the
    latter non-substantive) or per grid item (the grid's levels)."""
    if question.kind == "multiple":
        from barometer.poll.spec import Level

        out = []
        for opt in question.options:
            phrase = opt.finding_label or f"choose '{opt.label}'"
            levels = [
                Level(code=SELECTED, label=opt.label, finding_label=phrase),
                Level(code=NOT_SELECTED, label=f"Not {opt.label}"),
            ]
            out.append(
                question.model_copy(
                    update={
                        "id": part_id(question.id, opt.code),
                        "wording": f"{question.wording} — {opt.label}".strip(" —"),
                        "kind": "question",
                        "levels": levels,
                        "non_substantive": [NOT_SELECTED],
                        "options": [],
                    }
                )
            )
        return out
    if question.kind == "grid":
        return [
            question.model_copy(
                update={
                    "id": part_id(question.id, item.code),
                    "wording": f"{question.wording} — {item.label}".strip(" —"),
                    "kind": "question",
                    "levels": [
                        lv.model_copy(update={"finding_label": _item_phrase(lv, item)})
                        for lv in question.levels
                    ],
                    "items": [],
                }
            )
            for item in question.items
        ]
    return [question]


def _item_phrase(level: Level, item: Level) -> str | None:
    """A grid level's finding label for one item: ``{item}`` replaced by the item's
    label ("see {item} as an ally"), else the item's label in brackets after it."""
    phrase = level.finding_label
    if not phrase:
        return None
    if "{item}" in phrase:
        return phrase.replace("{item}", item.label)
    return f"{phrase} ({item.label})"


def check_parts(spec: PollSpec, problems: list[str]) -> None:
    """Problems: a stored part's column name that is another question's id."""
    ids = {q.id: i for i, q in enumerate(spec.questions)}
    for i, q in enumerate(spec.questions):
        if q.kind not in ("multiple", "grid"):
            continue
        for code in _codes(q):
            stored = part_id(q.id, code)
            if stored in ids:
                problems.append(
                    f"questions[{i}]: its part {code!r} is stored as {stored!r}, which is the "
                    f"id of questions[{ids[stored]}]; rename one of them"
                )


def check_set_variables(
    loc: str, qid: str, vmap: VariableMap, question: Question, problems: list[str]
) -> None:
    """Problems of a source's mapping of a multiple-response question or grid."""
    from barometer.poll.spec import check_codes

    codes = _codes(question)
    what = "option" if question.kind == "multiple" else "item"
    if vmap.recode is not None:
        problems.append(f"{loc}.recode: a recode by range is for single-choice questions")
    if vmap.column is not None:
        problems.append(
            f"{loc}: question {qid!r} is kind: {question.kind}; map it with 'columns' "
            f"(one per {what})" + (" or 'delimited'" if question.kind == "multiple" else "")
        )
        return
    for code in vmap.columns or {}:
        if code not in codes:
            problems.append(
                f"{loc}.columns.{code}: {code!r} is not an {what} of question {qid}"
                f"{did_you_mean(code, codes)}"
            )
    if question.kind == "grid":
        if vmap.delimited is not None or vmap.selected is not None:
            problems.append(
                f"{loc}: question {qid!r} is a grid; map each item's column with 'columns' "
                "and its answers with 'codes' ('delimited' and 'selected' are for kind: "
                "multiple)"
            )
            return
        check_codes(loc, qid, vmap, question, problems)
        return
    if vmap.columns is not None:
        absent = [c for c in codes if c not in vmap.columns]
        if absent:
            problems.append(
                f"{loc}.columns: no column for option(s) {', '.join(absent)} of question "
                f"{qid}; give one column per option"
            )
        if vmap.selected is None:
            problems.append(
                f"{loc}: say which codes mean 'selected' (selected: [1]) or that the "
                "columns hold the options' labels (selected: label)"
            )
        if vmap.codes is not None:
            problems.append(f"{loc}.codes: option columns take 'selected', not 'codes'")
        return
    if vmap.selected is not None:
        problems.append(f"{loc}.selected: a delimited column lists the options; drop 'selected'")
    for token, option in (vmap.codes or {}).items():
        if option is not None and option not in codes:
            problems.append(
                f"{loc}.codes: {option!r} (for {token!r}) is not an option of question {qid}"
                f"{did_you_mean(option, codes)}"
            )
