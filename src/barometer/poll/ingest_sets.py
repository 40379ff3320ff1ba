"""Ingest of multiple-response questions and grids: a source's option or item columns
mapped to the store's single-choice parts (``allies__us``: ``selected`` /
``not_selected``; ``views__us``: the grid's levels).

The rules (bases, exclusive options, "none") are stated in
:mod:`barometer.poll.spec_sets`; every problem is added to the file's list with the
column, the question and — for a broken rule — the respondents, as single-choice
questions' problems are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from barometer.poll.ingest import ColumnInfo, RawFile, code_text, listing, map_column
from barometer.poll.spec import Question, Source, VariableMap
from barometer.poll.spec_sets import NOT_SELECTED, SELECTED, part_id
from barometer.untrusted import quote_value, quote_values

__all__ = ["map_set"]

#: Values of a ``shown:`` column that mean "asked" (text compared case-insensitively).
_ASKED_TEXT = ("1", "yes", "true", "y")

#: One stored part: its column of level codes and what the file said about it.
Part = tuple[pl.Series, ColumnInfo]


def map_set(
    raw: RawFile,
    source: Source,
    index: int,
    question: Question,
    ids: pl.Series,
    problems: list[str],
) -> list[Part]:
    """The stored parts of a multiple-response question or grid in one source (none when
    the source has problems with it, which are added to ``problems``)."""
    vmap = source.variables[question.id]
    shown = _shown(raw, vmap.shown, problems) if vmap.shown is not None else None
    if question.kind == "grid":
        return _grid(raw, index, question, vmap, shown, ids, problems)
    return _multiple(raw, index, question, vmap, shown, ids, problems)


def _info(raw: RawFile, stored: str, col: str, mapped: pl.Series, n_um: int) -> ColumnInfo:
    labels = raw.value_labels.get(col, {})
    return ColumnInfo(
        question=stored,
        column=col,
        variable_label=raw.variable_labels.get(col),
        value_labels={code_text(k): str(v) for k, v in labels.items()},
        n_missing=int(mapped.null_count()),
        n_user_missing=n_um,
    )


def _respondents(ids: pl.Series, mask: np.ndarray) -> str:
    n = int(mask.sum())
    return f"{n} respondent(s) (id(s) {quote_values(ids.filter(pl.Series(mask)).to_list(), n)})"


def _shown(raw: RawFile, column: str, problems: list[str]) -> np.ndarray | None:
    """Who was asked, from a ``shown:`` column (1, true or yes: asked)."""
    series = raw.frame.get_column(column)
    if series.dtype == pl.Boolean:
        return series.fill_null(False).to_numpy()
    if series.dtype.is_numeric():
        return (series.cast(pl.Float64) == 1.0).fill_null(False).to_numpy()
    if series.dtype in (pl.String, pl.Null):
        text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
        return text.is_in(list(_ASKED_TEXT)).fill_null(False).to_numpy()
    problems.append(f"shown column {column!r} has type {series.dtype}; expected 1/0 or yes/no")
    return None


# ---------------------------------------------------------------------------------------
# Multiple response


def _multiple(
    raw: RawFile,
    index: int,
    question: Question,
    vmap: VariableMap,
    shown: np.ndarray | None,
    ids: pl.Series,
    problems: list[str],
) -> list[Part]:
    qid = question.id
    n = raw.frame.height
    found = (
        _delimited(raw, index, question, vmap, problems)
        if vmap.delimited is not None
        else _option_columns(raw, index, question, vmap, problems)
    )
    if found is None:
        return []
    chosen, answered, user_missing = found
    asked = np.logical_or.reduce(list(answered.values())) if answered else np.zeros(n, bool)
    where = f"question {qid!r}"
    if shown is not None:
        stray = asked & ~shown
        if stray.any():
            problems.append(
                f"{where}: {_respondents(ids, stray)} answer it but column {vmap.shown!r} "
                "says it was not shown to them; fix the shown column or the answers"
            )
            return []
        asked = shown
    any_chosen = np.logical_or.reduce(list(chosen.values()))
    for opt in question.options:
        if not opt.exclusive:
            continue
        others = np.logical_or.reduce(
            [chosen[o.code] for o in question.options if o.code != opt.code]
        )
        both = chosen[opt.code] & others
        if both.any():
            problems.append(
                f"{where}: {_respondents(ids, both)} select the exclusive option "
                f"{opt.code!r} ({quote_value(opt.label)}) together with another option; "
                "fix the answers, or drop 'exclusive: true' from the option"
            )
    if problems:
        return []
    has_exclusive = any(o.exclusive for o in question.options)
    # Selecting nothing is "none" only where there is no box for it (spec_sets).
    in_base = asked & any_chosen if has_exclusive else asked
    out = []
    for opt in question.options:
        stored = part_id(qid, opt.code)
        label = pl.when(pl.Series(chosen[opt.code])).then(pl.lit(SELECTED))
        series = pl.select(
            pl.when(pl.Series(in_base)).then(label.otherwise(pl.lit(NOT_SELECTED))).alias(stored)
        ).to_series()
        col = vmap.delimited or (vmap.columns or {})[opt.code]
        out.append((series, _info(raw, stored, col, series, user_missing.get(opt.code, 0))))
    return out


#: Per option code: who selected it, who has a non-missing value; user-missing counts.
Found = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]


def _option_columns(
    raw: RawFile, index: int, question: Question, vmap: VariableMap, problems: list[str]
) -> Found | None:
    chosen: dict[str, np.ndarray] = {}
    answered: dict[str, np.ndarray] = {}
    user_missing: dict[str, int] = {}
    ok = True
    for opt in question.options:
        col = (vmap.columns or {})[opt.code]
        series = raw.frame.get_column(col)
        where = f"column {col!r} ({question.id}, option {opt.code!r})"
        if series.dtype == pl.Null:
            series = series.cast(pl.String)
        if series.dtype.is_float():  # a NaN is a system-missing value
            series = series.fill_nan(None)
        if not (series.dtype.is_numeric() or series.dtype in (pl.String, pl.Boolean)):
            problems.append(f"{where} has type {series.dtype}; expected numeric codes or text")
            ok = False
            continue
        if vmap.selected == "label":
            got = _labelled(raw, index, question.id, opt.code, opt.label, col, series, problems)
            if got is None:
                ok = False
                continue
            chosen[opt.code] = got
            answered[opt.code] = np.ones(series.len(), bool)
            continue
        missing = series.is_null().to_numpy()
        n_um = 0
        if series.dtype.is_numeric():
            values = series.cast(pl.Float64)
            spans = raw.user_missing.get(col, [])
            um = np.zeros(series.len(), bool)
            for lo, hi in spans:
                um |= ((values >= lo) & (values <= hi)).fill_null(False).to_numpy()
            n_um = int((um & ~missing).sum())
            missing = missing | um
            wanted = [f for c in vmap.selected or [] if (f := _number(c)) is not None]
            hit = values.is_in(wanted).fill_null(False).to_numpy()
        else:
            text = series.cast(pl.String)
            selected = text.is_in([code_text(c) for c in vmap.selected or []]).fill_null(False)
            hit = selected.to_numpy()
        chosen[opt.code] = hit & ~missing
        answered[opt.code] = ~missing
        user_missing[opt.code] = n_um
    return (chosen, answered, user_missing) if ok else None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _labelled(
    raw: RawFile,
    index: int,
    qid: str,
    code: str,
    label: str,
    col: str,
    series: pl.Series,
    problems: list[str],
) -> np.ndarray | None:
    """Who selected an option whose column holds its label (or a code labelled so)."""
    wanted = label.strip().casefold()
    labels = raw.value_labels.get(col, {})
    text = series.cast(pl.String)
    if series.dtype.is_numeric() and labels:
        lookup = {code_text(k): str(v) for k, v in labels.items()}
        text = text.map_elements(
            lambda v: lookup.get(code_text(float(v)), v), return_dtype=pl.String
        )
    norm = text.str.strip_chars().str.to_lowercase()
    blank = norm.is_null() | (norm == "")
    hit = norm == wanted.lower()
    other = (~blank & ~hit.fill_null(False)).to_numpy()
    if other.any():
        counts = series.filter(pl.Series(other)).value_counts()
        pairs = [(v, int(c)) for v, c in counts.iter_rows()]
        problems.append(
            f"column {col!r} ({qid}, option {code!r}): {len(pairs)} value(s) are neither "
            f"blank nor the option's label {quote_value(label)}: {listing(pairs, labels)}; "
            f"map them with sources[{index}].variables.{qid}.selected: [codes]"
        )
        return None
    chosen: np.ndarray = hit.fill_null(False).to_numpy()
    return chosen


def _delimited(
    raw: RawFile, index: int, question: Question, vmap: VariableMap, problems: list[str]
) -> Found | None:
    col = str(vmap.delimited)
    series = raw.frame.get_column(col)
    qid = question.id
    n = series.len()
    if series.dtype == pl.Null:
        series = series.cast(pl.String)
    if series.dtype.is_numeric():  # a file whose every cell holds one choice
        text = pl.Series([None if v is None else code_text(v) for v in series.to_list()])
    elif series.dtype == pl.String:
        text = series
    else:
        problems.append(f"column {col!r} ({qid}) has type {series.dtype}; expected text")
        return None
    options = [o.code for o in question.options]
    keymap: dict[str, str | None] = (
        {code_text(k): v for k, v in vmap.codes.items()}
        if vmap.codes is not None
        else {o: o for o in options}
    )
    tokens = (
        pl.DataFrame({"row": np.arange(n), "tok": text.str.split(vmap.separator)})
        .explode("tok")
        .with_columns(pl.col("tok").str.strip_chars())
        .filter(pl.col("tok").is_not_null() & (pl.col("tok") != ""))
    )
    unknown = tokens.filter(~pl.col("tok").is_in(list(keymap)))
    if unknown.height:
        counts = unknown.get_column("tok").value_counts()
        pairs = [(v, int(c)) for v, c in counts.iter_rows()]
        problems.append(
            f"column {col!r} ({qid}): {len(pairs)} token(s) are not options of the question: "
            f"{listing(pairs, {})}; map them in sources[{index}].variables.{qid}.codes "
            "(to null to ignore one), or check the separator "
            f"({quote_value(vmap.separator)})"
        )
        return None
    mapped = tokens.with_columns(
        opt=pl.col("tok").replace_strict(
            list(keymap), list(keymap.values()), default=None, return_dtype=pl.String
        )
    ).filter(pl.col("opt").is_not_null())
    chosen = {o: np.zeros(n, bool) for o in options}
    for opt, rows in mapped.group_by("opt").agg(pl.col("row")).iter_rows():
        chosen[opt][np.asarray(rows, dtype=np.int64)] = True
    any_row = np.zeros(n, bool)
    any_row[mapped.get_column("row").to_numpy()] = True
    return chosen, {o: any_row for o in options}, {}


# ---------------------------------------------------------------------------------------
# Grids


def _grid(
    raw: RawFile,
    index: int,
    question: Question,
    vmap: VariableMap,
    shown: np.ndarray | None,
    ids: pl.Series,
    problems: list[str],
) -> list[Part]:
    qid = question.id
    out = []
    for item, col in (vmap.columns or {}).items():
        series = raw.frame.get_column(col)
        labels = raw.value_labels.get(col, {})
        where = f"column {col!r} ({qid}, item {item!r})"
        try:
            mapped, uncovered, n_um = map_column(
                series, vmap.codes, question.level_codes, raw.user_missing.get(col, [])
            )
        except TypeError as err:
            problems.append(f"{where} has type {err}; expected numeric codes or text")
            continue
        if uncovered:
            n = sum(c for _, c in uncovered)
            problems.append(
                f"{where}: {len(uncovered)} code(s) not in the mapping, {n} respondent(s): "
                f"{listing(uncovered, labels)}; add them to "
                f"sources[{index}].variables.{qid}.codes (map a code to null for missing)"
            )
            continue
        if shown is not None:
            stray = mapped.is_not_null().to_numpy() & ~shown
            if stray.any():
                problems.append(
                    f"{where}: {_respondents(ids, stray)} answer it but column "
                    f"{vmap.shown!r} says the grid was not shown to them; fix the shown "
                    "column or the answers"
                )
                continue
        stored = part_id(qid, item)
        mapped = mapped.alias(stored)
        out.append((mapped, _info(raw, stored, col, mapped, n_um)))
    return out
