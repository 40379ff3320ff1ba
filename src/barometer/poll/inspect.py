"""``barometer inspect FILE``: what a respondent file holds, and a draft of its spec entry.

An analyst writing a spec needs each column's name, type, label, value labels, missing
and user-missing counts and a few of its values — and then the same facts again as YAML.
:func:`inspect_file` reads a file exactly as ingest does (:func:`barometer.poll.ingest.
read_file`: SPSS user-missing codes kept as values, Stata's missing values as null) and
returns a :class:`FileInspection`; :func:`draft` turns it into ``questions:`` and
``sources:`` entries to paste into the spec: ``codes:`` from the value labels (user-missing
codes left out, so ingest reads them as missing and counts them, and listed in a
comment), numeric questions for columns of many unlabelled numbers
(:mod:`barometer.poll.inspect_numeric`), the respondent id, weight, strata, PSU and
country columns guessed from their names and values. Nothing is written: inspecting
never opens a store.

The draft is meant to ingest the file as it is once a wave and a country are filled in:
every value present in a drafted column is covered by its ``codes``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

import polars as pl

from barometer.errors import IngestError
from barometer.options import SourceFormat, check_option
from barometer.poll.ingest import RawFile, read_file
from barometer.poll.inspect_numeric import (
    WEIGHT_NAME,
    Numeric,
    Skip,
    extended_comment,
    extended_missing,
    missing_listing,
    no_answer_codes,
    numeric_yaml,
    plan,
    user_missing_codes,
)
from barometer.poll.inspect_yaml import Code, code_text, code_yaml, comment, yaml_text
from barometer.poll.spec import RESERVED_COLUMNS, format_of

__all__ = [
    "ColumnSummary",
    "FileInspection",
    "ValueCount",
    "describe",
    "draft",
    "inspect_file",
    "table_rows",
]

#: Columns with more distinct values than this are not drafted as questions (an age in
#: years, an income, an id); their range is noted instead.
MAX_LEVELS = 30

ColumnKind = Literal["numeric", "text", "other"]
Role = Literal["respondent_id", "weight", "strata", "psu", "country_column"]

# Names that suggest a column's role in the design (matched on the lower-cased name).
_ROLE_NAMES: dict[Role, re.Pattern[str]] = {
    "respondent_id": re.compile(
        r"^(id|idno|rid|respid|resp_?id|respondent_?id|caseid|case_?id|serial|seqn)$|_id$"
    ),
    "weight": WEIGHT_NAME,
    "strata": re.compile(r"stratum|strata|stra$"),
    "psu": re.compile(r"psu|cluster|^clus"),
    "country_column": re.compile(r"^(country|cntry|country_?code|cntry_?code|nation|iso2?)$"),
}
_ROLE_TAGS: dict[Role, str] = {
    "respondent_id": "id",
    "weight": "weight",
    "strata": "strata",
    "psu": "psu",
    "country_column": "country",
}
_NON_SUBSTANTIVE = re.compile(
    r"don'?t know|^dk$|refus|no answer|prefer not|not sure|can'?t say", re.IGNORECASE
)
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]*$")


@dataclass(frozen=True)
class ValueCount:
    """One distinct value of a column: how many respondents hold it, and its label."""

    value: Code
    count: int
    label: str | None
    user_missing: bool


@dataclass(frozen=True)
class ColumnSummary:
    """What one column holds.

    ``n_missing`` counts null values (SPSS system-missing, Stata ``.``/``.a``–``.z``, empty
    CSV fields); ``n_user_missing`` the values declared user-missing in an SPSS file;
    ``n_distinct`` the distinct values that are neither.  ``values`` lists distinct values
    (user-missing ones flagged) in order of value — every one when ``complete``,
    else the ``MAX_LEVELS`` most frequent.  ``no_answer`` are the numeric codes labelled
    as no answer (98 "Don't know") that the file does not declare user-missing, each
    with its count (0 when only labelled); ``n_answers`` and ``answer_range`` count and
    bound the distinct values that are neither (what a numeric question's draft reads);
    ``finite`` is False when a number is NaN or infinite (which ingest refuses).
    """

    name: str
    kind: ColumnKind
    dtype: str
    file_type: str | None
    label: str | None
    value_labels: tuple[tuple[Code, str], ...]
    user_missing: tuple[tuple[float, float], ...]
    n_missing: int
    n_user_missing: int
    n_distinct: int
    values: tuple[ValueCount, ...]
    minimum: float | None
    maximum: float | None
    whole_numbers: bool
    no_answer: tuple[ValueCount, ...] = ()
    n_answers: int = 0
    answer_range: tuple[float, float] | None = None
    finite: bool = True

    @property
    def complete(self) -> bool:
        """True when :attr:`values` holds every valid distinct value."""
        return sum(not v.user_missing for v in self.values) == self.n_distinct

    def is_user_missing(self, value: Code) -> bool:
        """True when ``value`` is one of the column's SPSS user-missing codes."""
        return isinstance(value, float) and any(lo <= value <= hi for lo, hi in self.user_missing)

    def most_frequent(self, n: int) -> tuple[ValueCount, ...]:
        """The ``n`` most frequent values (ties in value order)."""
        return tuple(sorted(self.values, key=lambda v: -v.count)[:n])


@dataclass(frozen=True)
class FileInspection:
    """A respondent file's columns, and the columns guessed to play a role in the design.

    ``roles`` maps ``respondent_id``, ``weight``, ``strata``, ``psu`` and
    ``country_column`` to the column guessed for each (from its name and values:
    an id is unique and never missing, a weight positive); a role without a good
    candidate is absent.
    """

    path: Path
    format: SourceFormat
    n_rows: int
    columns: tuple[ColumnSummary, ...]
    roles: Mapping[Role, str] = field(default_factory=lambda: MappingProxyType({}))

    def column(self, name: str) -> ColumnSummary:
        """The summary of column ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


# ---------------------------------------------------------------------------------------
# Reading


def _as_code(value: object) -> Code:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return str(value)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _summarise(raw: RawFile, name: str, max_levels: int) -> ColumnSummary:
    series = raw.frame.get_column(name)
    dtype = series.dtype
    kind: ColumnKind = (
        "numeric" if dtype.is_numeric() else "text" if dtype == pl.String else "other"
    )
    labels = {_as_code(k): str(v) for k, v in (raw.value_labels.get(name) or {}).items()}
    spans = tuple(raw.user_missing.get(name, []))
    values = series.cast(pl.Float64) if kind == "numeric" else series.cast(pl.String)
    # one row per distinct value, most frequent first: the work is on the distinct values
    counts = values.alias("value").drop_nulls().value_counts(sort=True, name="count")
    distinct = counts.get_column("value")
    user = pl.zeros(counts.height, dtype=pl.Boolean, eager=True)
    if kind == "numeric":
        for lo, hi in spans:
            user = user | distinct.is_between(lo, hi)
    valid = distinct.filter(~user)
    flagged = counts.with_columns(user.alias("user_missing"))
    shown = pl.concat([flagged.filter(~user).head(max_levels), flagged.filter(user)])
    found = [
        ValueCount(_as_code(v), int(n), labels.get(_as_code(v)), um)
        for v, n, um in shown.iter_rows()
    ]
    found.sort(key=lambda v: (isinstance(v.value, str), v.value))
    numeric = kind == "numeric" and valid.len() > 0
    no_answer = no_answer_codes(labels, spans) if kind == "numeric" else []
    held = dict(counts.filter(pl.col("value").is_in(no_answer)).iter_rows()) if no_answer else {}
    answers = valid.filter(~valid.is_in(no_answer)) if no_answer else valid
    return ColumnSummary(
        name=name,
        kind=kind,
        dtype=str(dtype),
        file_type=raw.file_types.get(name),
        label=raw.variable_labels.get(name) or None,
        value_labels=tuple(labels.items()),
        user_missing=spans,
        n_missing=int(series.null_count()),
        n_user_missing=int(counts.filter(user).get_column("count").sum()),
        n_distinct=valid.len(),
        values=tuple(found),
        minimum=_number(valid.min()) if numeric else None,
        maximum=_number(valid.max()) if numeric else None,
        whole_numbers=numeric and bool((valid == valid.round(0)).all()),
        no_answer=tuple(ValueCount(c, int(held.get(c, 0)), labels[c], False) for c in no_answer),
        n_answers=answers.len(),
        answer_range=(
            (_number(answers.min()), _number(answers.max())) if numeric and answers.len() else None
        ),
        finite=not numeric or bool(valid.is_finite().all()),
    )


def _fits(role: Role, col: ColumnSummary, n_rows: int) -> bool:
    """Whether ``col``'s values allow it to play ``role`` (ingest's own checks)."""
    clean = col.n_missing == 0 and col.n_user_missing == 0
    if role == "respondent_id":
        return clean and col.n_distinct == n_rows and (col.kind == "text" or col.whole_numbers)
    if role == "weight":
        return clean and col.kind == "numeric" and (col.minimum or 0.0) > 0
    return clean and col.kind in ("numeric", "text")


def _guess_roles(columns: Sequence[ColumnSummary], n_rows: int) -> dict[Role, str]:
    roles: dict[Role, str] = {}
    taken: set[str] = set()
    for role, pattern in _ROLE_NAMES.items():
        for col in columns:
            if col.name not in taken and pattern.search(col.name.lower()):
                if _fits(role, col, n_rows):
                    roles[role] = col.name
                    taken.add(col.name)
                    break
    if "respondent_id" not in roles:
        # no id-like name: the first column whose values are unique and never missing
        for col in columns:
            if col.name not in taken and _fits("respondent_id", col, n_rows):
                roles["respondent_id"] = col.name
                break
    return roles


def inspect_file(
    path: str | Path, format: SourceFormat | str | None = None, max_levels: int = MAX_LEVELS
) -> FileInspection:
    """Summarise every column of a respondent file and guess its design columns.

    Parameters
    ----------
    path : the file (``.sav .zsav .dta .csv .parquet .pq``)
    format : ``sav``, ``dta``, ``csv`` or ``parquet``; default from the extension
    max_levels : columns with more distinct values are summarised by their range and
        not drafted as questions

    Raises
    ------
    IngestError
        The file does not exist, its format is unknown, or it cannot be read.

    Examples
    --------
    >>> found = inspect_file("de_2025-11.sav")  # doctest: +SKIP
    >>> found.column("Q7").n_user_missing  # doctest: +SKIP
    31
    >>> print(draft(found))  # doctest: +SKIP
    """
    path = Path(path)
    if format is not None:
        fmt = cast(SourceFormat, check_option(format, SourceFormat, "format", IngestError))
    else:
        found = format_of(path)
        if found is None:
            raise IngestError(
                f"{path.name}: cannot tell the format from its extension; "
                "give it as sav, dta, csv or parquet (--format)"
            )
        fmt = found
    raw = read_file(path, fmt)
    columns = tuple(_summarise(raw, name, max_levels) for name in raw.frame.columns)
    n_rows = raw.frame.height
    roles = MappingProxyType(_guess_roles(columns, n_rows))
    return FileInspection(path, fmt, n_rows, columns, roles)


# ---------------------------------------------------------------------------------------
# The draft


def _slug(text: str) -> str:
    # "Don't know" -> dont_know: an apostrophe joins, it does not separate
    text = re.sub(r"['\u2019]", "", text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:40].strip("_")


def _question_id(name: str, taken: set[str]) -> str:
    qid = _slug(name) or "q"
    if not qid[0].isalpha():
        qid = f"q_{qid}"
    if qid in RESERVED_COLUMNS:
        qid = f"{qid}_q"
    base, n = qid, 2
    while qid in taken:
        qid, n = f"{base}_{n}", n + 1
    taken.add(qid)
    return qid


@dataclass(frozen=True)
class _Level:
    source: Code
    code: str
    label: str


def _levels(col: ColumnSummary) -> tuple[list[_Level], bool]:
    """The levels drafted for a column, and whether it needs ``codes`` (a text column
    whose values are already plain level codes needs none)."""
    letters = {k for k, _ in extended_missing(col)}
    labels = {k: v for k, v in col.value_labels if k not in letters}
    sources: list[Code] = [v for v in labels if not col.is_user_missing(v)]
    sources += [v.value for v in col.values if not v.user_missing and v.value not in labels]
    if col.kind == "numeric":
        sources.sort(key=lambda v: float(v))
    plain = col.kind == "text" and not labels
    plain = plain and all(isinstance(v, str) and _PLAIN.match(v) for v in sources)
    levels: list[_Level] = []
    used: set[str] = set()
    for value in sources:
        if value == "":
            continue
        label = labels.get(value) or code_text(value)
        if value in labels:
            code = _slug(labels[value]) or code_text(value)
        elif isinstance(value, str) and not _PLAIN.match(value):
            code = _slug(value) or value
        else:
            code = code_text(value)
        # two codes with one label ("Other") get two levels, told apart by their codes
        base, n = code, 1
        while code in used:
            code, n = f"{base}_{_slug(code_text(value)) or n}" + ("" if n == 1 else f"_{n}"), n + 1
        used.add(code)
        levels.append(_Level(value, code, label))
    return levels, not plain


def _question_yaml(qid: str, col: ColumnSummary, levels: list[_Level]) -> list[str]:
    lines = [f"  - id: {qid}"]
    if col.label:
        lines.append(f"    wording: {yaml_text(col.label)}")
    lines.append("    levels:")
    for lv in levels:
        lines.append(f"      - {{code: {yaml_text(lv.code)}, label: {yaml_text(lv.label)}}}")
    dont_know = [lv.code for lv in levels if _NON_SUBSTANTIVE.search(lv.label)]
    if dont_know:
        lines.append(f"    non_substantive: [{', '.join(map(yaml_text, dont_know))}]")
    return lines


def _variable_yaml(qid: str, col: ColumnSummary, levels: list[_Level], coded: bool) -> list[str]:
    if not coded:
        return [f"      {qid}: {{column: {yaml_text(col.name)}}}"]
    lines = [f"      {qid}:", f"        column: {yaml_text(col.name)}", "        codes:"]
    lines += [f"          {code_yaml(lv.source)}: {yaml_text(lv.code)}" for lv in levels]
    if any(v.value == "" for v in col.values):
        lines.append('          "": null            # blank')
    missing = user_missing_codes(col)
    if missing:
        lines.append(
            "          # user-missing in the file, read as missing unless mapped: "
            + missing_listing(missing)
        )
    letters = extended_missing(col)
    if letters:
        lines.append(f"          {extended_comment(letters)}")
    return lines


def _range(col: ColumnSummary) -> str:
    if col.minimum is not None and col.maximum is not None:
        return f", {code_text(col.minimum)} to {code_text(col.maximum)}"
    return ""


def _source_yaml(found: FileInspection, file: str) -> list[str]:
    roles = found.roles
    stem = found.path.stem
    lines = [
        f"  - id: {yaml_text(_slug(stem).replace('_', '-') or 'source')}",
        f"    file: {yaml_text(file)}          # relative to the spec file",
    ]
    if found.format != format_of(file):
        lines.append(f"    format: {found.format}")
    lines.append('    wave: "?"                     # fill in: a wave id of the spec')
    country = roles.get("country_column")
    if country is None:
        lines.append('    country: "?"                  # fill in: a country code of the spec')
    else:
        col = found.column(country)
        lines.append(f"    country_column: {yaml_text(country)}     # guessed; check")
        codes = [v for v in col.values if not v.user_missing]
        if not all(isinstance(v.value, str) and re.fullmatch(r"[A-Z]{2}", v.value) for v in codes):
            lines.append("    country_codes:                # fill in each country's code")
            for v in codes:
                note = f"  # {comment(v.label)}" if v.label else ""
                lines.append(f'      {code_yaml(v.value)}: "?"{note}')
    rid = roles.get("respondent_id")
    if rid is None:
        lines.append('    respondent_id: "?"            # no column holds unique ids')
    else:
        lines.append(f"    respondent_id: {yaml_text(rid)}")
    for role in ("weight", "strata", "psu"):
        if role in roles:
            lines.append(f"    {role}: {yaml_text(roles[role])}  # guessed from its name; check")
    return lines


def draft(found: FileInspection, file: str | None = None) -> str:
    """Draft ``questions:`` and ``sources:`` entries for an inspected file (YAML text).

    A column with value labels on its answers, a text column, or one of fewer than
    :data:`~barometer.poll.inspect_numeric.MIN_NUMERIC_VALUES` distinct numbers (at most
    ``MAX_LEVELS`` values) becomes a question (id from the column name, wording from its
    label, levels from its value labels and values) and a ``variables`` entry whose
    ``codes`` cover every value in the file; user-missing codes are left out (ingest
    reads them as missing and counts them) and listed in a comment.  A column of more
    numbers unlabelled on its answers becomes a numeric question with the range found
    and its no-answer codes as ``missing`` (:func:`barometer.poll.inspect_numeric.plan`);
    the columns left out are listed with why.  ``file`` is the name written in ``file:``
    (default: the path inspected).  Fill in ``wave`` and ``country`` (and any ``"?"``),
    rename the question ids in both places, then paste into the spec.
    """
    roles = set(found.roles.values())
    taken: set[str] = set()
    questions: list[str] = []
    variables: list[str] = []
    skipped: list[str] = []
    for col in found.columns:
        if col.name in roles:
            continue
        decided = plan(col, found.n_rows)
        if isinstance(decided, Skip):
            many = f"{col.n_distinct} distinct values{_range(col)}: " if col.n_distinct else ""
            skipped.append(f"#   {col.name} ({col.kind}, {many}{decided.why})")
            continue
        qid = _question_id(col.name, taken)
        if isinstance(decided, Numeric):
            question, variable = numeric_yaml(qid, col, decided)
            questions += question
            variables += variable
            continue
        levels, coded = _levels(col)
        questions += _question_yaml(qid, col, levels)
        variables += _variable_yaml(qid, col, levels, coded)
    name = file if file is not None else str(found.path)
    head = [
        f"# Drafted by `barometer inspect` from {found.path.name} "
        f"({found.n_rows:,} rows, {len(found.columns)} columns).",
        '# Fill in every "?", check the guessed design columns, rename question ids',
        "# (taken from the column names) in both sections, and mark demographics used",
        "# for weighting with `kind: weighting`.",
    ]
    out = [*head, "questions:", *(questions or ["  []"]), "sources:"]
    out += _source_yaml(found, name)
    out += ["    variables:", *(variables or ["      {}"])]
    if skipped:
        out += ["# Not drafted (map or band them by hand, or leave them out):", *skipped]
    return "\n".join(out) + "\n"


def describe(col: ColumnSummary, shown: int = 5) -> str:
    """A few of a column's values with their labels and counts, most frequent first."""
    parts = []
    for v in col.most_frequent(shown):
        label = f" {v.label!r}" if v.label else ""
        flag = " user-missing" if v.user_missing else ""
        value = repr(v.value) if isinstance(v.value, str) else code_text(v.value)
        parts.append(f"{value}{label}{flag} ({v.count:,})")
    more = col.n_distinct + len([v for v in col.values if v.user_missing]) - len(parts)
    if more > 0:
        parts.append(f"… {more:,} more{_range(col)}")
    return ", ".join(parts)


def _labels_text(pairs: Iterable[tuple[Code, str]], shown: int = 6) -> str:
    items = list(pairs)
    text = ", ".join(f"{code_text(c)}={lab}" for c, lab in items[:shown])
    return text + (f", … ({len(items)})" if len(items) > shown else "")


def table_rows(found: FileInspection, shown: int = 5) -> list[dict[str, str | int]]:
    """One row per column, as ``barometer inspect`` prints them."""
    rows: list[dict[str, str | int]] = []
    for col in found.columns:
        role = next((r for r, c in found.roles.items() if c == col.name), None)
        rows.append(
            {
                "column": col.name + (f" ({_ROLE_TAGS[role]})" if role else ""),
                "type": col.file_type or col.dtype,
                "label": col.label or "",
                "value labels": _labels_text(col.value_labels),
                "missing": col.n_missing,
                "user-missing": col.n_user_missing,
                "distinct": col.n_distinct,
                "values": describe(col, shown),
            }
        )
    return rows
