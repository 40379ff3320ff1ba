"""Ingest: read respondent files, harmonise them to the spec, write them to the store.

Every source is read and checked in memory first; only when *all* of them are clean is
the store written, in one transaction (see :mod:`barometer.poll.store`).  A problem — a
code the mapping does not cover, a duplicate respondent id, a missing column, a country
not in the spec, a truncated file, a column of the wrong type — raises one
:class:`~barometer.errors.IngestError` that names the file, column, code(s) and counts,
and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from barometer.errors import IngestError, did_you_mean
from barometer.poll import store_record
from barometer.poll.ranges import NumericResult, read_numeric, recode_by_range
from barometer.poll.spec import PollSpec, Question, Source, load_spec
from barometer.untrusted import MAX_QUOTED, printable, quote_value, quote_values, shorten

__all__ = [
    "ColumnInfo",
    "Harmonised",
    "IngestReport",
    "RawFile",
    "code_text",
    "contained_path",
    "file_sha256",
    "harmonise",
    "ingest",
    "listing",
    "map_column",
    "read_file",
    "source_digest",
]

#: progress(step, done, total): called as each source is read.
Progress = Callable[[str, int, int], None]

#: Values read from a file that one message lists (barometer.untrusted's bound).
_MAX_LISTED = MAX_QUOTED
#: Respondent ids named when two sources share respondents.
_MAX_IDS = 5


@dataclass(frozen=True)
class ColumnInfo:
    """What the file says about one mapped column (kept in the store for the codebook)."""

    question: str
    column: str
    variable_label: str | None
    value_labels: dict[str, str]
    n_missing: int
    n_user_missing: int


@dataclass(frozen=True)
class Harmonised:
    """One source, read and mapped: ``frame`` has the store's respondent columns."""

    source: Source
    path: Path
    sha256: str
    digest: str
    frame: pl.DataFrame
    columns: list[ColumnInfo] = field(default_factory=list)


@dataclass
class IngestReport:
    """What an ingest did: source ids added, replaced, unchanged and removed."""

    store: Path
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    respondents: int = 0
    metadata_changed: bool = False

    @property
    def changed(self) -> bool:
        """True when the store was written."""
        return bool(self.added or self.replaced or self.removed or self.metadata_changed)


# ---------------------------------------------------------------------------------------
# Hashes


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_digest(spec: PollSpec, source: Source) -> str:
    """SHA-256 of what decides a source's rows besides its bytes: its spec entry."""
    entry = source.model_dump(mode="json")
    if entry.get("lonely_psu") is None:  # a field added later: unset keeps old digests
        entry.pop("lonely_psu", None)
    for variable in entry.get("variables", {}).values():
        for added in ("recode", "missing"):  # likewise (issue 14)
            if variable.get(added) is None:
                variable.pop(added, None)
    levels = {q: spec.question(q).level_codes for q in source.variables}
    content: dict[str, Any] = {"source": entry, "levels": levels}
    sets = {
        q.id: q.model_dump(mode="json")
        for q in map(spec.question, source.variables)
        if q.kind in ("multiple", "grid")
    }
    if sets:  # a set's rows depend on its options or items (kept out of other digests)
        content["sets"] = sets
    numeric = {
        qid: [q.range, q.missing_in(vmap)]
        for qid, vmap in source.variables.items()
        if (q := spec.question(qid)).is_numeric
    }
    if numeric:  # a numeric question's rows depend on its range and missing codes
        content["numeric"] = numeric
    blob = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Where files may be read from


def contained_path(spec: PollSpec, source: Source, data_dirs: Sequence[str | Path] = ()) -> Path:
    """The resolved path of a source's file, which must lie under the spec's folder or
    one of ``data_dirs`` (symbolic links followed).

    A spec is a file someone may send: ``file: ../../../../etc/shadow`` or an absolute
    path must not read whatever the person running it can read.  Only the caller —
    ``barometer ingest --data-dir`` or the Python ``data_dirs=`` argument — can widen
    where files come from, never the spec itself.

    Raises
    ------
    IngestError
        The file resolves outside every allowed folder.
    """
    path = spec.source_path(source).resolve()
    roots = [spec.base_dir.resolve(), *(Path(d).resolve() for d in data_dirs)]
    if any(path.is_relative_to(root) for root in roots):
        return path
    allowed = ", ".join(repr(str(r)) for r in roots)
    raise IngestError(
        f"source {source.id!r}: file {quote_value(source.file)} resolves outside the "
        f"spec's folder ({allowed}); a spec may only read files under its own folder — "
        "move the file there, or allow its folder with `barometer ingest --data-dir DIR` "
        "(Python: data_dirs=[...])"
    )


# ---------------------------------------------------------------------------------------
# Reading files


@dataclass(frozen=True)
class RawFile:
    """A respondent file as read, before any mapping: what ingest and ``inspect`` share.

    ``frame`` holds the columns read (SPSS user-missing codes kept as their values);
    ``value_labels`` and ``variable_labels`` are the file's labels (empty for CSV and
    Parquet); ``user_missing`` lists each column's SPSS user-missing codes as closed
    ranges ``(lo, hi)`` (a discrete code ``c`` is ``(c, c)``); ``file_types`` is each
    column's type as the file declares it (SPSS ``F8.2``/``A20``, Stata ``%10.0g``).
    """

    frame: pl.DataFrame
    value_labels: dict[str, dict[Any, str]]
    variable_labels: dict[str, str | None]
    user_missing: dict[str, list[tuple[float, float]]]
    file_types: dict[str, str] = field(default_factory=dict)


def _needed_columns(source: Source) -> list[str]:
    cols = [source.respondent_id]
    cols += [c for c in (source.country_column, source.weight, source.strata, source.psu) if c]
    cols += [c for v in source.variables.values() for c in v.source_columns()]
    return list(dict.fromkeys(cols))


def _check_columns(path: Path, needed: Sequence[str] | None, present: list[str]) -> None:
    missing = [c for c in needed or () if c not in present]
    if missing:
        shown = [shorten(p) for p in present]
        lines = [f"column {c!r} is not in the file{did_you_mean(c, shown)}" for c in missing]
        raise IngestError(f"{path.name}: " + "; ".join(lines))


def _dta_cut(path: Path) -> bool:
    """True when a Stata 13+ file (``<stata_dta>`` … ``</stata_dta>``) lacks its end:
    readstat reads the data of a file cut in its value labels without a word."""
    with path.open("rb") as fh:
        head = fh.read(11)
        if head != b"<stata_dta>":
            return False
        fh.seek(max(0, path.stat().st_size - 12))
        return not fh.read().endswith(b"</stata_dta>")


def _read_readstat(path: Path, file_format: str, columns: Sequence[str] | None) -> RawFile:
    import pyreadstat

    reader = pyreadstat.read_sav if file_format == "sav" else pyreadstat.read_dta
    # SPSS user-missing codes are kept (Stata has none: read_dta's default, False)
    user_missing = file_format == "sav"
    usecols = list(columns) if columns is not None else None
    try:
        _, meta = reader(str(path), metadataonly=True)
        _check_columns(path, columns, list(meta.column_names))
        frame, meta = reader(
            str(path), usecols=usecols, output_format="polars", user_missing=user_missing
        )
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeError) as err:
        raise IngestError(
            f"{path.name}: cannot read this {file_format} file "
            f"({printable(err)[:200]}); "
            "it may be truncated or corrupt — export it again"
        ) from None
    if file_format == "dta" and _dta_cut(path):
        raise IngestError(
            f"{path.name}: the Stata file does not end with its closing tag; it is "
            "truncated — export it again"
        )
    expected = getattr(meta, "number_rows", None)
    if expected is not None and expected >= 0 and frame.height != expected:
        raise IngestError(
            f"{path.name}: the file says it holds {expected} rows but {frame.height} could be "
            "read; it is truncated or corrupt — export it again"
        )
    ranges: dict[str, list[tuple[float, float]]] = {}
    for col, spans in (getattr(meta, "missing_ranges", None) or {}).items():
        ranges[col] = [(float(s["lo"]), float(s["hi"])) for s in spans]
    for col, values in (getattr(meta, "missing_user_values", None) or {}).items():
        ranges.setdefault(col, []).extend(
            (float(v), float(v)) for v in values if isinstance(v, int | float)
        )
    return RawFile(
        frame=frame,
        value_labels=dict(meta.variable_value_labels or {}),
        variable_labels=dict(meta.column_names_to_labels or {}),
        user_missing=ranges,
        file_types=dict(getattr(meta, "original_variable_types", None) or {}),
    )


def _read_polars(path: Path, file_format: str, columns: Sequence[str] | None) -> RawFile:
    usecols = list(columns) if columns is not None else None
    try:
        if file_format == "csv":
            present = pl.read_csv(path, n_rows=0).columns
            _check_columns(path, columns, present)
            frame = pl.read_csv(path, columns=usecols, infer_schema_length=None)
        else:
            present = list(pl.read_parquet_schema(path))
            _check_columns(path, columns, present)
            frame = pl.read_parquet(path, columns=usecols)
    except (pl.exceptions.PolarsError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = printable(first)[:200]
        raise IngestError(
            f"{path.name}: cannot read this {file_format} file ({first}); "
            "it may be truncated or corrupt — export it again"
        ) from None
    return RawFile(frame=frame, value_labels={}, variable_labels={}, user_missing={})


def read_file(path: Path, file_format: str, columns: Sequence[str] | None = None) -> RawFile:
    """Read a respondent file (``sav``, ``dta``, ``csv`` or ``parquet``) as ingest reads it.

    SPSS files are read with their user-missing codes kept as values (pyreadstat
    ``user_missing=True``) and listed in :attr:`RawFile.user_missing`; Stata's missing
    values (``.``, ``.a``–``.z``) arrive as null.  ``columns`` (default: all) are the
    columns to read; one not in the file is an :class:`IngestError` naming the closest.

    Raises
    ------
    IngestError
        The file does not exist, lacks a column, or cannot be read (truncated, corrupt).
    """
    if not path.is_file():
        raise IngestError(f"file {str(path)!r} does not exist")
    if file_format in ("sav", "dta"):
        return _read_readstat(path, file_format, columns)
    return _read_polars(path, file_format, columns)


def _read(path: Path, source: Source) -> RawFile:
    if not path.is_file():
        raise IngestError(f"source {source.id!r}: file {str(path)!r} does not exist")
    return read_file(path, source.file_format, _needed_columns(source))


# ---------------------------------------------------------------------------------------
# Harmonising columns


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def code_text(value: Any) -> str:
    """A code as it prints: ``1.0`` as ``1``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def listing(counts: list[tuple[Any, int]], labels: dict[Any, str]) -> str:
    """``code "label" (n respondents), …`` for the most frequent codes (bounded)."""
    parts = []
    for value, n in sorted(counts, key=lambda vc: (-vc[1], str(vc[0])))[:_MAX_LISTED]:
        label = labels.get(value)
        lab = f" {quote_value(str(label))}" if label else ""
        parts.append(f"{shorten(code_text(value))}{lab} ({n} respondent{'s' if n != 1 else ''})")
    more = len(counts) - _MAX_LISTED
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def map_column(
    series: pl.Series,
    codes: Mapping[Any, str | None] | None,
    allowed: list[str],
    user_missing: list[tuple[float, float]],
) -> tuple[pl.Series, list[tuple[Any, int]], int]:
    """Map source codes to level codes.

    Returns the mapped column, the (code, count) pairs the mapping does not cover, and
    the number of user-missing values set to missing.
    """
    if series.dtype == pl.Null:  # every value missing: an empty text column
        series = series.cast(pl.String)
    numeric = series.dtype.is_numeric()
    if not numeric and series.dtype != pl.String:
        raise TypeError(str(series.dtype))
    if codes is None:
        keymap: dict[Any, str | None] = {lv: lv for lv in allowed}
        values = series.cast(pl.String) if numeric else series
    elif numeric:
        keymap = {f: lv for k, lv in codes.items() if (f := _as_float(k)) is not None}
        values = series.cast(pl.Float64)
    else:
        keymap = {code_text(k): lv for k, lv in codes.items()}
        values = series
    counts = values.drop_nulls().value_counts()
    uncovered: list[tuple[Any, int]] = []
    n_user_missing = 0
    old, new = [], []
    for value, n in counts.iter_rows():
        if value in keymap:
            old.append(value)
            new.append(keymap[value])
        elif numeric and any(lo <= value <= hi for lo, hi in user_missing):
            n_user_missing += n
        else:
            uncovered.append((value, n))
    mapped = values.replace_strict(old, new, default=None, return_dtype=pl.String)
    return mapped, uncovered, n_user_missing


def _map_by_range(
    raw: RawFile, source: Source, index: int, qid: str, question: Question, ids: pl.Series
) -> NumericResult:
    """A numeric question's values, or a column recoded by range (see barometer.poll.ranges)."""
    vmap = source.variables[qid]
    column = str(vmap.column)  # (as _map_question, its caller: a one-column mapping)
    series = raw.frame.get_column(column)
    spans = raw.user_missing.get(column, [])
    labels = raw.value_labels.get(column, {})
    where = f"column {column!r} ({qid})"
    fix = f"sources[{index}].variables.{qid}"
    if question.is_numeric:
        # the hint names where this file's don't-know codes are declared
        hint = f"{fix}.missing"
        if vmap.missing is None:
            hint = f"questions[{question.id}].missing (or, for this file only, {hint})"
        missing = question.missing_in(vmap)
        return read_numeric(series, ids, question, missing, spans, where, hint, labels)
    return recode_by_range(series, ids, vmap.recode or [], spans, where, fix, labels)


def _map_question(
    raw: RawFile,
    source: Source,
    index: int,
    qid: str,
    question: Question,
    problems: list[str],
    ids: pl.Series,
) -> tuple[pl.Series | None, ColumnInfo | None]:
    vmap = source.variables[qid]
    col = str(vmap.column)
    series = raw.frame.get_column(col)
    labels = raw.value_labels.get(col, {})
    where = f"column {col!r} ({qid})"
    uncovered: list[tuple[Any, int]]
    if question.is_numeric or vmap.recode is not None:
        result = _map_by_range(raw, source, index, qid, question, ids)
        if result.values is None:
            problems.append(str(result.problem))
            return None, None
        mapped, uncovered, n_um = result.values, [], result.n_user_missing
    else:
        try:
            mapped, uncovered, n_um = map_column(
                series, vmap.codes, question.level_codes, raw.user_missing.get(col, [])
            )
        except TypeError as err:
            problems.append(f"{where} has type {err}; expected numeric codes or text")
            return None, None
    if uncovered:
        n = sum(c for _, c in uncovered)
        hint = ""
        if vmap.codes and not series.dtype.is_numeric() and all(map(_is_number, vmap.codes)):
            hint = " (the column holds text but the mapping's codes are numbers)"
        elif series.dtype.is_numeric() and not any(
            _as_float(k) is not None for k in (vmap.codes or {})
        ):
            hint = " (the column holds numbers but the mapping's codes are text)"
        problems.append(
            f"{where}: {len(uncovered)} code(s) not in the mapping, {n} respondent(s): "
            f"{listing(uncovered, labels)}{hint}; add them to "
            f"sources[{index}].variables.{qid}.codes (map a code to null for missing)"
        )
        return None, None
    info = ColumnInfo(
        question=qid,
        column=col,
        variable_label=raw.variable_labels.get(col),
        value_labels={code_text(k): str(v) for k, v in labels.items()},
        n_missing=int(mapped.null_count()),
        n_user_missing=n_um,
    )
    return mapped.alias(qid), info


def _respondent_ids(series: pl.Series, problems: list[str]) -> pl.Series:
    if series.null_count():
        problems.append(f"{series.null_count()} respondent(s) have no id")
    if series.dtype == pl.Null:
        series = series.cast(pl.String)
    if series.dtype.is_float():
        whole = series.drop_nulls()
        if not whole.is_finite().all():
            problems.append(f"{int((~whole.is_finite()).sum())} respondent id(s) are NaN or inf")
            whole = whole.filter(whole.is_finite())
        # Ids beyond 2**53 are not whole numbers a float can hold (garbage bytes give
        # values like -3.09e306): keep such ids as they print.
        if (whole == whole.round(0)).all() and (whole.abs() < 2.0**53).all():
            series = series.cast(pl.Int64, strict=False)
    ids = series.cast(pl.String)
    counts = ids.drop_nulls().value_counts()
    dupes = counts.filter(pl.col("count") > 1)
    if dupes.height:
        n = int(dupes.get_column("count").sum())
        examples = quote_values(dupes.get_column(ids.name).to_list(), dupes.height)
        problems.append(
            f"{dupes.height} duplicate respondent id(s) shared by {n} rows: {examples}; "
            "respondent ids must be unique within a file"
        )
    return ids


def _countries(
    raw: RawFile, source: Source, spec: PollSpec, index: int, problems: list[str]
) -> pl.Series:
    n = raw.frame.height
    if source.country is not None:
        return pl.Series("country", [source.country] * n, dtype=pl.String)
    col = str(source.country_column)
    known = [c.code for c in spec.countries]
    codes = source.country_codes or {c: c for c in known}
    try:
        mapped, uncovered, _ = map_column(raw.frame.get_column(col), codes, known, [])
    except TypeError as err:
        problems.append(f"country column {col!r} has type {err}")
        return pl.Series("country", [None] * n, dtype=pl.String)
    if uncovered:
        problems.append(
            f"country column {col!r}: {len(uncovered)} value(s) are not countries of the spec: "
            f"{listing(uncovered, raw.value_labels.get(col, {}))}; add them to "
            f"sources[{index}].country_codes or to countries"
        )
    elif mapped.null_count():
        problems.append(f"country column {col!r}: {mapped.null_count()} respondent(s) have none")
    return mapped.alias("country")


def _design_column(
    raw: RawFile, column: str | None, name: str, problems: list[str], ids: pl.Series
) -> pl.Series:
    n = raw.frame.height
    if column is None:
        if name == "base_weight":
            return pl.Series(name, [1.0] * n, dtype=pl.Float64)
        return pl.Series(name, [None] * n, dtype=pl.String)
    series = raw.frame.get_column(column)
    if series.null_count():
        problems.append(f"{name} column {column!r}: {series.null_count()} value(s) missing")
    if name != "base_weight":
        return series.cast(pl.String).alias(name)
    if not series.dtype.is_numeric():
        problems.append(f"weight column {column!r} has type {series.dtype}; expected numbers")
        return pl.Series(name, [1.0] * n, dtype=pl.Float64)
    weights = series.cast(pl.Float64)
    for bad, what in (
        (~weights.is_finite() & weights.is_not_null(), "are NaN or infinite"),
        (weights <= 0, "are zero or negative"),
    ):
        count = int(bad.sum())
        if count:
            who = quote_values(ids.filter(bad).to_list(), count)
            problems.append(
                f"weight column {column!r}: {count} weight(s) {what} "
                f"(respondent id(s) {who}); base weights must be positive numbers"
            )
    return weights.alias(name)


def harmonise(
    spec: PollSpec, source: Source, index: int = 0, data_dirs: Sequence[str | Path] = ()
) -> Harmonised:
    """Read one source and map it to the spec's questions and levels.

    Returns a :class:`Harmonised` whose frame has the columns ``respondent_id, country,
    wave, base_weight, strata, psu`` and one column of level codes per mapped question.

    Raises
    ------
    IngestError
        Listing every problem found in this file (or the file lies outside the spec's
        folder and ``data_dirs``: see :func:`contained_path`).
    """
    path = contained_path(spec, source, data_dirs)
    raw = _read(path, source)
    problems: list[str] = []
    if raw.frame.height == 0:
        raise IngestError(f"{path.name}: the file holds no respondents")
    ids = _respondent_ids(raw.frame.get_column(source.respondent_id), problems)
    columns = [
        ids.alias("respondent_id"),
        _countries(raw, source, spec, index, problems),
        pl.Series("wave", [source.wave] * raw.frame.height, dtype=pl.String),
        _design_column(raw, source.weight, "base_weight", problems, ids),
        _design_column(raw, source.strata, "strata", problems, ids),
        _design_column(raw, source.psu, "psu", problems, ids),
    ]
    infos = []
    for qid in source.variables:
        question = spec.question(qid)
        if question.kind in ("multiple", "grid"):
            from barometer.poll.ingest_sets import map_set

            found = map_set(raw, source, index, question, ids, problems)
            columns += [series for series, _ in found]
            infos += [info for _, info in found]
            continue
        mapped, info = _map_question(raw, source, index, qid, question, problems, ids)
        if mapped is not None and info is not None:
            columns.append(mapped)
            infos.append(info)
    if problems:
        listing = "\n".join(f"    - {p}" for p in problems)
        raise IngestError(f"{path.name} (source {source.id!r}):\n{listing}")
    return Harmonised(
        source=source,
        path=path,
        sha256=file_sha256(path),
        digest=source_digest(spec, source),
        frame=pl.DataFrame(columns),
        columns=infos,
    )


# ---------------------------------------------------------------------------------------
# The whole spec


def _harmonise_one(
    spec: PollSpec, source: Source, index: int, data_dirs: Sequence[str | Path]
) -> Harmonised:
    """:func:`harmonise`, with anything a malformed file makes a reader library raise
    (polars, pyarrow, numpy, readstat) turned into an :class:`IngestError` naming the file."""
    try:
        return harmonise(spec, source, index, data_dirs)
    except IngestError:
        raise
    except (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError, OSError) as err:
        first = printable(str(err).strip().splitlines()[0] if str(err).strip() else "")[:200]
        raise IngestError(
            f"{Path(source.file).name} (source {source.id!r}): cannot read or harmonise this "
            f"file ({type(err).__name__}: {first}); it may be corrupt — export it again"
        ) from None


def _same_files(
    todo: list[tuple[int, Source, str, str]], known: dict[str, tuple[str, str]], keep: set[str]
) -> list[str]:
    """Problems: two sources of the spec with the same file bytes (SHA-256)."""
    by_sha: dict[str, list[str]] = {}
    for sid, (sha, _) in known.items():
        if sid in keep:
            by_sha.setdefault(sha, []).append(sid)
    for _, source, sha, _ in todo:
        by_sha.setdefault(sha, []).append(source.id)
    return [
        f"sources {', '.join(repr(s) for s in dict.fromkeys(ids))} are the same file "
        f"(SHA-256 {sha[:12]}…); its respondents would be counted twice — keep one source"
        for sha, ids in by_sha.items()
        if len(set(ids)) > 1
    ]


def _shared_respondents(keys: pl.DataFrame) -> list[str]:
    """Problems: respondent ids found in two sources of the same country × wave.

    ``keys`` has ``source_id, country, wave, respondent_id`` for every source the store
    will hold.  The same ids in different waves (a panel) are allowed.
    """
    cell = ["country", "wave", "respondent_id"]
    shared = (
        keys.unique()
        .group_by(cell)
        .agg(pl.col("source_id").unique().sort())
        .filter(pl.col("source_id").list.len() > 1)
    )
    problems = []
    pairs = shared.group_by("source_id", "country", "wave", maintain_order=True).agg(
        pl.col("respondent_id").sort()
    )
    for sources, country, wave, ids in pairs.sort("country", "wave").iter_rows():
        problems.append(
            f"sources {' and '.join(repr(s) for s in sources)} share {len(ids)} respondent "
            f"id(s) in country {country!r}, wave {wave!r} (first: "
            f"{', '.join(quote_value(i) for i in ids[:_MAX_IDS])}); a respondent may be in "
            "one source of a country and wave — remove the overlap or fix the ids"
        )
    return problems


def ingest(
    spec: PollSpec | str | Path,
    store: str | Path,
    progress: Progress | None = None,
    data_dirs: Sequence[str | Path] = (),
    partitions: str | Path | None = None,
) -> IngestReport:
    """Ingest every source of a spec into a store, in one transaction.

    The store mirrors the spec: sources whose file and spec entry are unchanged (same
    SHA-256) are left alone, new ones are added, changed ones have their rows replaced,
    and sources no longer in the spec are removed.  Running it twice changes nothing.
    Weights are cleared whenever respondents or targets change (weight again).

    Parameters
    ----------
    spec : PollSpec or path to a YAML spec
    store : path of the DuckDB store (created when missing)
    progress : callable(step, done, total), optional
    data_dirs : folders, optional
        Folders besides the spec's own that source files may be read from (a spec
        cannot widen this itself; see :func:`contained_path`).
    partitions : folder, optional
        Also write the respondents as Parquet partitions by country × wave there
        (``folder/<country>/<wave>/respondents.parquet``; the folder must be new or one
        barometer wrote) and record it in the store: the ``Poll`` then estimates,
        weights and publishes from them through DuckDB, out of core
        (:mod:`barometer.poll.partitions`). A store that records partitions has them
        rewritten whenever its respondents change, with or without this argument.

    Raises
    ------
    IngestError
        Listing the problems of every file; nothing is written.  Besides each file's
        own problems: two sources with the same bytes, or respondent ids present in two
        sources of the same country × wave.

    Examples
    --------
    >>> report = ingest("spec.yaml", "poll.duckdb")  # doctest: +SKIP
    >>> report.added  # doctest: +SKIP
    ['de-2025-11', 'kr-2025-11']
    """
    from barometer.poll.store import Store

    if not isinstance(spec, PollSpec):
        spec = load_spec(spec)
    db = Store(store)
    report = IngestReport(store=db.path)
    found: list[tuple[Path, tuple[str, str]]] = []
    for i, source in enumerate(spec.sources):
        path = contained_path(spec, source, data_dirs)
        if not path.is_file():
            raise IngestError(f"sources[{i}] ({source.id!r}): file {str(path)!r} does not exist")
        found.append((path, (file_sha256(path), source_digest(spec, source))))
    key = _ingest_key(spec, found)
    if partitions is None and _ingested_already(db.path, key, spec, report):
        return report
    known = db.source_fingerprints()
    todo: list[tuple[int, Source, str, str]] = []
    for i, (source, (_, fingerprint)) in enumerate(zip(spec.sources, found, strict=True)):
        if known.get(source.id) == fingerprint:
            report.unchanged.append(source.id)
        else:
            todo.append((i, source, *fingerprint))
    problems: list[str] = []
    loaded: list[Harmonised] = []
    for done, (i, source, _, _) in enumerate(todo):
        if progress is not None:
            progress(f"reading {Path(source.file).name}", done, len(todo))
        try:
            loaded.append(_harmonise_one(spec, source, i, data_dirs))
        except IngestError as err:
            problems.append(str(err))
    if not problems:
        unchanged = set(report.unchanged)
        problems += _same_files(todo, known, unchanged)
        keys = [
            h.frame.select(
                pl.lit(h.source.id).alias("source_id"), "country", "wave", "respondent_id"
            )
            for h in loaded
        ]
        keys.append(db.respondent_keys(sorted(unchanged)))
        problems += _shared_respondents(pl.concat(keys, how="vertical_relaxed"))
    if progress is not None:
        progress("writing the store", len(todo), len(todo))
    if problems:
        raise IngestError(
            f"nothing was ingested; {len(problems)} file(s) have problems:\n" + "\n".join(problems)
        )
    for h in loaded:
        (report.replaced if h.source.id in known else report.added).append(h.source.id)
    report.removed = sorted(set(known) - {s.id for s in spec.sources})
    report.metadata_changed = db.write(spec, loaded, report.removed)
    report.respondents = db.respondent_count()
    _write_partitions(db, partitions, report.changed)
    # the store as this ingest left it (a weighting recorded before no longer applies)
    store_record.remember(db.path, {"ingest": key, "respondents": report.respondents})
    return report


def _ingest_key(spec: PollSpec, found: Sequence[tuple[Path, tuple[str, str]]]) -> str:
    """What an ingest's store depends on: the whole spec (and its folder), each source's
    file (the path read, its SHA-256, the digest of its spec entry) and the store's
    schema and barometer's version."""
    from barometer import __version__
    from barometer.poll.store import SCHEMA_VERSION

    return store_record.content_key(
        {
            "spec": spec.model_dump(mode="json"),
            "spec_dir": str(spec.base_dir),
            "sources": [[str(path), sha, digest] for path, (sha, digest) in found],
            "schema": SCHEMA_VERSION,
            "barometer": __version__,
        }
    )


def _ingested_already(store: Path, key: str, spec: PollSpec, report: IngestReport) -> bool:
    """True (``report`` filled in: every source unchanged) when the store's record says
    an ingest with ``key`` left it as its files are now (:mod:`barometer.poll.store_record`):
    there is nothing to read, check or write, and the store is not connected to."""
    entries = store_record.kept(store)
    respondents = entries.get("respondents")
    if entries.get("ingest") != key or type(respondents) is not int:
        return False
    report.unchanged = [s.id for s in spec.sources]
    report.respondents = respondents
    return True


def _write_partitions(db: Any, partitions: str | Path | None, changed: bool) -> None:
    """Write the Parquet partitions when asked, or when the respondents changed in a
    store that keeps them (so they never lag behind it)."""
    from barometer.poll import partitions as parquet

    folder = Path(partitions) if partitions is not None else None
    if folder is None and changed:
        folder = parquet.recorded(db.meta())
    if folder is not None:
        parquet.write(db, folder)
