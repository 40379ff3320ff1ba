"""The store: one DuckDB file that holds a harmonised poll.

Tables
------
``meta``                key/value: schema version, the spec (JSON), ingest and weighting times,
                        where the respondents' Parquet partitions lie (``partitions``)
``countries``, ``regions``, ``region_members``, ``waves``
``questions``, ``levels``  the questionnaire (order, labels, non-substantive levels)
``sources``             one row per file: sha256 of its bytes and of its spec entry, rows, time
``source_columns``      per source and question: the file's column, its variable and value labels
``targets``             weighting targets, one row per country × wave × variable × level
``respondents``         wide: source_id, _row, respondent_id, country, wave, base_weight, strata,
                        psu, then one column per question id: its level codes as text,
                        or its values as DOUBLE for a numeric question
``weights``             after weighting: source_id, respondent_id, weight (empty for a poll of
                        Parquet partitions: its weights are a file beside the store, named by
                        ``meta.weights_file``)
``weight_diagnostics``  per country × wave: n, weight range, Kish design effect, effective n

Every write is one transaction: a failure (or a killed process) part-way leaves the
store as it was, since DuckDB replays only committed transactions from its WAL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from barometer.errors import BarometerError
from barometer.poll.spec import PollSpec, parse_spec
from barometer.untrusted import MAX_QUOTED, printable, quote_value

if TYPE_CHECKING:
    from barometer.poll.ingest import Harmonised

__all__ = [
    "SCHEMA_VERSION",
    "Rows",
    "Store",
    "StoreState",
    "file_state",
    "partition_relation",
    "spec_of",
]

SCHEMA_VERSION = "1"

_T = TypeVar("_T")

#: Test hook: called inside the ingest transaction after the first source's rows are
#: inserted, so tests can fail or kill an ingest midway.  Always ``None`` in use.
_after_partial_write: Callable[[], None] | None = None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS countries (
    code VARCHAR, name VARCHAR, population DOUBLE, position INTEGER);
CREATE TABLE IF NOT EXISTS regions (id VARCHAR, name VARCHAR, rule VARCHAR, position INTEGER);
CREATE TABLE IF NOT EXISTS region_members (region VARCHAR, country VARCHAR, position INTEGER);
CREATE TABLE IF NOT EXISTS waves (
    id VARCHAR, start_date DATE, end_date DATE, position INTEGER);
CREATE TABLE IF NOT EXISTS questions (
    id VARCHAR, wording VARCHAR, kind VARCHAR, position INTEGER);
CREATE TABLE IF NOT EXISTS levels (
    question VARCHAR, code VARCHAR, label VARCHAR, position INTEGER, non_substantive BOOLEAN);
CREATE TABLE IF NOT EXISTS sources (
    id VARCHAR, file VARCHAR, format VARCHAR, sha256 VARCHAR, spec_sha256 VARCHAR,
    n_rows BIGINT, ingested_at TIMESTAMP, firm VARCHAR, mode VARCHAR, wave VARCHAR,
    country VARCHAR, position INTEGER);
CREATE TABLE IF NOT EXISTS source_columns (
    source_id VARCHAR, question VARCHAR, column_name VARCHAR, variable_label VARCHAR,
    value_labels VARCHAR, n_missing BIGINT, n_user_missing BIGINT);
CREATE TABLE IF NOT EXISTS targets (
    country VARCHAR, wave VARCHAR, variable VARCHAR, level VARCHAR, value DOUBLE,
    kind VARCHAR);
CREATE TABLE IF NOT EXISTS respondents (
    source_id VARCHAR, _row BIGINT, respondent_id VARCHAR, country VARCHAR, wave VARCHAR,
    base_weight DOUBLE, strata VARCHAR, psu VARCHAR);
CREATE TABLE IF NOT EXISTS weights (source_id VARCHAR, respondent_id VARCHAR, weight DOUBLE);
CREATE TABLE IF NOT EXISTS weight_diagnostics (
    country VARCHAR, wave VARCHAR, n BIGINT, sum_weights DOUBLE, min_weight DOUBLE,
    max_weight DOUBLE, ratio DOUBLE, deff_kish DOUBLE, n_effective DOUBLE);
"""

_META_TABLES = (
    "countries",
    "regions",
    "region_members",
    "waves",
    "questions",
    "levels",
    "targets",
)


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


#: How every connection is opened: a store may come from someone else, so SQL run on it
#: can read no file and reach no network (``read_text('/etc/passwd')`` in a view fails),
#: loads no extension, and cannot switch either back on (the configuration is locked).
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,
}
#: The tables a barometer store holds (see _SCHEMA); anything else makes it foreign.
_TABLES = frozenset(
    {"meta", "countries", "regions", "region_members", "waves", "questions", "levels"}
    | {"sources", "source_columns", "targets", "respondents", "weights", "weight_diagnostics"}
)


#: Stores this process found clean (``Store._check_contents``), with the state of their
#: files then (:func:`file_state`): a store whose files have not changed since is not
#: checked again (the check lists DuckDB's thousands of functions: ~25 ms per opening).
_CLEAN: dict[Path, tuple[object, ...]] = {}
#: The last :meth:`Store.snapshot` of each store, with the state of its files while it
#: was read: a store opened again whose files have not changed since is not connected to
#: for it (each DuckDB connection to a file not already open costs ~15-20 ms).
_SNAPSHOTS: dict[Path, tuple[tuple[object, ...], StoreState]] = {}
#: The poll's facts (:meth:`Store.bases`, ``sources`` ...: small tables) as last read,
#: per store, with the state of the files then, on the same terms.
_FACTS: dict[Path, tuple[tuple[object, ...], dict[str, pl.DataFrame]]] = {}
#: The queries of the facts.  Those that scan the respondents are read when asked for;
#: the others, small tables, are read with whichever fact is first asked for.
_FACT_SQL = {
    "columns": "SELECT * FROM respondents LIMIT 0",
    "sources": "SELECT id, file, format, wave, country, firm, mode, n_rows, sha256, ingested_at "
    "FROM sources ORDER BY position",
    "diagnostics": "SELECT d.* FROM weight_diagnostics d JOIN countries c ON c.code = d.country "
    "JOIN waves w ON w.id = d.wave ORDER BY c.position, w.position",
    "targets": "SELECT * FROM targets",
    "bases": "SELECT r.country::VARCHAR AS country, r.wave::VARCHAR AS wave, count(*) AS n "
    "FROM respondents r "
    "JOIN countries c ON c.code = r.country JOIN waves w ON w.id = r.wave "
    "GROUP BY r.country, r.wave, c.position, w.position ORDER BY c.position, w.position",
    "source_cells": "SELECT DISTINCT r.source_id::VARCHAR AS source_id, r.country::VARCHAR "
    "AS country, r.wave::VARCHAR AS wave, s.position, "
    "c.position AS cp FROM respondents r JOIN sources s ON s.id = r.source_id "
    "LEFT JOIN countries c ON c.code = r.country ORDER BY s.position, cp",
    "fieldwork": "SELECT r.country::VARCHAR AS country, r.wave::VARCHAR AS wave, "
    "string_agg(DISTINCT s.firm, ', ') AS firm, "
    "string_agg(DISTINCT s.mode, ', ') AS mode, count(*) AS n "
    "FROM respondents r JOIN sources s ON s.id = r.source_id "
    "JOIN countries c ON c.code = r.country JOIN waves w ON w.id = r.wave "
    "GROUP BY r.country, r.wave, c.position, w.position ORDER BY c.position, w.position",
}
_SCANS = frozenset({"bases", "source_cells", "fieldwork"})
#: Entries kept in ``_SNAPSHOTS`` and ``_FACTS`` (the oldest go first).
_KEPT = 64


def _keep(cache: dict[Any, Any], key: object, value: object) -> None:
    cache.pop(key, None)
    while len(cache) >= _KEPT:
        cache.pop(next(iter(cache)))
    cache[key] = value


def file_state(path: Path) -> tuple[object, ...]:
    """Device, inode, size and modification and change times of the store's file and of
    its write-ahead log: any write changes them (the change time cannot be set back)."""
    out: list[object] = []
    for f in (path, path.with_name(path.name + ".wal")):
        try:
            st = f.stat()
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _store_error(path: Path, err: Exception) -> BarometerError:
    """One message for a failure of the store file: a full disk, or a damaged file."""
    text = str(err)
    if "No space left" in text or "disk is full" in text.lower():
        return BarometerError(
            f"cannot write store {str(path)!r}: no space left on the device; the store is "
            "as it was before this command — free some space and run it again"
        )
    first = printable(text.splitlines()[0] if text else type(err).__name__)[:200]
    return BarometerError(
        f"store {str(path)!r} cannot be read or written ({first}); it may be damaged or "
        "truncated — ingest the spec again into a new store"
    )


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT on ``con``; ROLLBACK on any error; the connection is closed.

    A failed COMMIT (a full disk) has already ended the transaction, so the ROLLBACK
    that follows may itself fail ("no transaction is active"): the first error is the
    one reported, as a :class:`BarometerError` naming the store."""
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException as err:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if isinstance(err, duckdb.Error):
            raise _store_error(path, err) from None
        raise
    finally:
        with suppress(duckdb.Error):
            con.close()


class StoreState(NamedTuple):
    """What :meth:`Store.snapshot` reads at once."""

    meta: dict[str, str]
    columns: frozenset[str]
    weighted: bool


#: Specs parsed from stores' ``meta`` (the spec's JSON and folder -> the frozen spec): a
#: poll opened again, or another store of the same spec, is not validated again.
_SPECS: dict[tuple[str, str | None], PollSpec] = {}
_SPECS_KEPT = 8


def spec_of(meta: dict[str, str], path: Path) -> PollSpec:
    """The spec held in a store's ``meta`` table (read from the store at ``path``)."""
    if "spec" not in meta:
        raise BarometerError(f"store {str(path)!r} holds no spec; ingest one first")
    key = (meta["spec"], meta.get("spec_dir"))
    spec = _SPECS.get(key)
    if spec is None:
        spec = parse_spec(json.loads(meta["spec"]), base_dir=meta.get("spec_dir"))
        while len(_SPECS) >= _SPECS_KEPT:
            _SPECS.pop(next(iter(_SPECS)))
        _SPECS[key] = spec
    return spec


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    found = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def _column_type(codes: Sequence[str]) -> str:
    """The DuckDB type of a single-choice column: an ENUM of its level codes in spec
    order, rendered as DuckDB's ``information_schema`` renders it."""
    return "ENUM(" + ", ".join("'" + c.replace("'", "''") + "'" for c in codes) + ")"


def _respondent_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each column of the respondents table and its type, as DuckDB renders it."""
    return dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'respondents'"
        ).fetchall()
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Rows:
    """Respondents read as Arrow, in (``source_id``, ``_row``) order (:func:`_source_order`),
    made into polars a few columns at a time (:meth:`frame`): the columns named in
    ``levels`` as enums of those codes, the other categorical ones as text.

    DuckDB hands an ENUM column over as Arrow dictionary arrays whose dictionary is the
    ENUM's levels: when those are the spec's, the dictionary's indices are the enum's own
    codes and become its values without a string being looked at.  Any other column (a
    TEXT column of a store written before single-choice columns were ENUMs) is cast by
    its text.  The other ENUMs (source ids, countries, waves) become text by looking up
    their codes in their dictionary of a dozen strings.  The rows are put in order while
    the codes are still Arrow arrays, in one copy that also joins each column's chunks, so
    polars makes each column once — when it is asked for: forming a million enum values
    costs a few milliseconds per column, which columns no estimate reads need not cost.
    """

    def __init__(self, table: pa.Table, levels: Mapping[str, Sequence[str]]) -> None:
        self._coded: dict[str, pl.Enum] = {}
        made: dict[tuple[str, ...], pl.Enum] = {}  # (forming a polars Enum is not free)
        for name, codes in levels.items():
            col = table.column(name)
            want = list(codes)
            if pa.types.is_dictionary(col.type) and all(
                chunk.dictionary.to_pylist() == want for chunk in col.chunks
            ):
                indices = pa.chunked_array([c.indices for c in col.chunks], col.type.index_type)
                table = table.set_column(table.schema.get_field_index(name), name, indices)
                self._coded[name] = made.setdefault(tuple(want), pl.Enum(want))
        self._cast = {
            c: made.setdefault(tuple(v), pl.Enum(v))
            for c, v in levels.items()
            if c not in self._coded
        }
        table = _source_order(table)
        # the other dictionary columns (source_id, country, wave: ENUMs of the spec's ids)
        # are text: made from their codes by looking up a dozen strings, ~1 ms a column
        # at 1,000,000 respondents, where Arrow's text or a categorical cast takes 6-12
        self._text: dict[str, pl.Series] = {}
        for i, name in enumerate(table.column_names):
            col = table.column(i)
            if (
                name not in levels
                and pa.types.is_dictionary(col.type)
                and _is_text(col.type.value_type)
                and col.num_chunks == 1
            ):
                chunk = col.chunk(0)
                self._text[name] = pl.Series(name, chunk.dictionary.to_pylist(), pl.String)
                table = table.set_column(i, name, chunk.indices)
            elif name not in levels and _is_text(col.type) and col.null_count == len(col) > 0:
                # a text column without a value (strata, PSUs: none in most online polls)
                # is made as nulls, where converting its rows costs ~2 ms per 1,000,000
                table = table.set_column(i, name, pa.nulls(len(col)))
        self._table = table

    @property
    def height(self) -> int:
        """The number of respondents."""
        return int(self._table.num_rows)

    def frame(self, names: Sequence[str]) -> pl.DataFrame:
        """The columns ``names`` as polars, in the fixed order."""
        names = list(dict.fromkeys(names))
        cast = {c: t for c, t in self._cast.items() if c in names}
        frame = pl.from_arrow(self._table.select(names), schema_overrides=cast)
        assert isinstance(frame, pl.DataFrame)
        return frame.with_columns(
            *(self._text[c].gather(frame.get_column(c)) for c in names if c in self._text),
            *(pl.col(c).cat.to(t) for c, t in self._coded.items() if c in names),
            *(pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null),
            *(
                pl.col(c).cast(pl.String)
                for c, t in frame.schema.items()
                if c not in self._coded and c not in cast and isinstance(t, pl.Categorical)
            ),
        )


def _is_text(kind: pa.DataType) -> bool:
    """True for any of Arrow's text types."""
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _source_order(table: pa.Table) -> pa.Table:
    """``table`` sorted by (``source_id``, ``_row``), in one contiguous chunk per column.

    Ingest inserts each source's rows at once, in file order, so the table holds one run
    per source with ``_row`` increasing: putting the runs in order of their ids is all
    the sort takes (slices of the table, then one copy of each column that joins its
    chunks, not a gather of every row); a table in any other order (never written by
    barometer) is sorted.
    """
    if table.num_rows == 0:
        return table.combine_chunks()
    # through a polars frame of the two columns: a pyarrow column's own to_numpy imports
    # pandas, and pl.Series of one pyarrow.compute (~0.4 s and ~0.05 s of a short command)
    keys = pl.from_arrow(table.select(["source_id", "_row"]))
    assert isinstance(keys, pl.DataFrame)
    source = keys.get_column("source_id")
    starts = np.flatnonzero((source != source.shift(1)).fill_null(True).to_numpy())
    ids = source.gather(starts).to_list()
    rows = keys.get_column("_row").to_numpy()
    # positions where _row fails to increase must each start a new source
    breaks = np.flatnonzero(rows[1:] <= rows[:-1]) + 1
    if len(set(ids)) < len(ids) or not np.isin(breaks, starts).all():
        # (sorted by polars: Arrow sorts no dictionary column, and source_id may be one)
        indexed = keys.with_columns(pl.col("source_id").cast(pl.String)).with_row_index()
        sorted_rows = indexed.sort("source_id", "_row").get_column("index")
        return table.take(sorted_rows.to_numpy()).combine_chunks()
    order = sorted(range(len(ids)), key=ids.__getitem__)
    if order != list(range(len(ids))):
        ends = [*starts[1:].tolist(), table.num_rows]
        runs = [table.slice(int(starts[i]), ends[i] - int(starts[i])) for i in order]
        table = pa.concat_tables(runs)
    return table.combine_chunks()


class Store:
    """A poll store on disk (a DuckDB file); connections are opened per operation.

    Parameters
    ----------
    path : path of the DuckDB file; created on the first write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._checked = False

    # -- connections ---------------------------------------------------------------------

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection with external access off (see ``_CONFIG``); the first one of
        this object also checks the file holds only a barometer store's tables, unless
        this process found it clean and its files have not changed since."""
        try:
            con = duckdb.connect(str(self.path), read_only=read_only, config=_CONFIG)
        except duckdb.Error as err:
            first = printable(str(err).splitlines()[0] if str(err) else "")[:200]
            raise BarometerError(
                f"cannot open store {str(self.path)!r}: {first}. Is it a barometer store "
                "(a DuckDB file), and is no other program writing to it?"
            ) from None
        if not self._checked:
            # stat after opening: what the connection sees was written no later than this
            seen = file_state(self.path)
            if _CLEAN.get(self.path) != seen:
                try:
                    self._check_contents(con)
                except BaseException:
                    con.close()
                    raise
                _CLEAN[self.path] = seen
            self._checked = True
        return con

    def _check_contents(self, con: duckdb.DuckDBPyConnection) -> None:
        """Refuse a store that holds anything a barometer store does not: views, macros,
        sequences, types or unknown tables — SQL someone may have planted to run when
        barometer reads the store."""
        try:
            found = con.execute(
                "SELECT 'table ' || table_name FROM duckdb_tables() "
                "WHERE NOT internal AND table_name NOT IN (SELECT unnest(?)) "
                "UNION ALL SELECT 'table ' || table_name FROM duckdb_tables() "
                "WHERE NOT internal AND schema_name <> 'main' "
                "UNION ALL SELECT 'view ' || view_name FROM duckdb_views() WHERE NOT internal "
                "UNION ALL SELECT 'macro ' || function_name FROM duckdb_functions() "
                "WHERE NOT internal "
                "UNION ALL SELECT 'sequence ' || sequence_name FROM duckdb_sequences() "
                "UNION ALL SELECT 'type ' || type_name FROM duckdb_types() WHERE NOT internal",
                [sorted(_TABLES)],
            ).fetchall()
        except duckdb.Error as err:
            raise _store_error(self.path, err) from None
        if found:
            listing = ", ".join(quote_value(f[0]) for f in found[:MAX_QUOTED])
            raise BarometerError(
                f"{str(self.path)!r} is not a plain barometer store: it also holds "
                f"{listing}{' and more' if len(found) > MAX_QUOTED else ''}; barometer "
                "refuses to read it (it could run SQL planted in it)"
            )

    def exists(self) -> bool:
        """True when the file exists and holds a barometer store (known without a connection
        when this process read the store's snapshot from the files as they are)."""
        kept = _SNAPSHOTS.get(self.path)
        if kept is not None and kept[0] == file_state(self.path):
            return True
        return self._read(lambda con: True) is not None

    def _read(self, read: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T | None:
        """``read(con)`` on one read-only connection, or None when the path holds no store
        (one connection per read: each opening of the file costs more than a small query)."""
        if not self.path.is_file():
            return None
        con = self._connect(read_only=True)
        try:
            found = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
            ).fetchone()
            return read(con) if found and found[0] else None
        except duckdb.Error as err:  # a damaged file shows when its blocks are read
            raise _store_error(self.path, err) from None
        finally:
            con.close()

    def require(self) -> None:
        """Raise a clear error unless the store exists."""
        if not self.exists():
            raise BarometerError(
                f"{str(self.path)!r} is not a barometer store; create one with "
                "`barometer ingest SPEC --store PATH`"
            )

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a read-only SQL query and return a polars frame."""
        con = self._connect(read_only=True)
        try:
            frame: pl.DataFrame = con.sql(sql, params=list(params) if params else None).pl()
            return frame
        except duckdb.Error as err:  # a damaged file shows when its blocks are read
            raise _store_error(self.path, err) from None
        finally:
            con.close()

    # -- reading ---------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict ({} for a new store)."""
        rows = self._read(lambda con: con.execute("SELECT key, value FROM meta").fetchall())
        return dict(rows or ())

    def spec(self) -> PollSpec:
        """The spec the store was last ingested from."""
        meta = self.meta()
        if "spec" not in meta:
            self.require()
        return spec_of(meta, self.path)

    def source_fingerprints(self) -> dict[str, tuple[str, str]]:
        """{source id: (file sha256, spec-entry sha256)} of the sources in the store."""
        if not self.exists():
            return {}
        rows = self.query("SELECT id, sha256, spec_sha256 FROM sources").iter_rows()
        return {sid: (sha, dig) for sid, sha, dig in rows}

    def respondent_count(self) -> int:
        """Number of respondents in the store."""
        return int(self._read(lambda con: _count(con, "respondents")) or 0)

    def snapshot(self) -> StoreState | None:
        """The meta table, the respondents' columns and whether weights are held, read on one
        connection (None when the path holds no store), with the small facts (``_FACTS``:
        sources, diagnostics, targets; a few milliseconds, where a connection of their own
        would cost ~15-20)."""

        kept = _SNAPSHOTS.get(self.path)
        if kept is not None and kept[0] == file_state(self.path):
            return kept[1]

        def read(
            con: duckdb.DuckDBPyConnection,
        ) -> tuple[tuple[object, ...], StoreState, dict[str, pl.DataFrame]]:
            # stat while connected: no writer can run beside a read-only connection (the
            # file is locked), so these are the files the snapshot was read from
            seen = file_state(self.path)
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            columns = frozenset(con.sql("SELECT * FROM respondents LIMIT 0").columns)
            # a poll of Parquet partitions keeps its weights in a file beside the store
            beside = "weights_file" in meta
            small: dict[str, pl.DataFrame] = {
                k: con.sql(sql).pl() for k, sql in _FACT_SQL.items() if k not in _SCANS
            }
            state = StoreState(meta, columns, beside or bool(_count(con, "weights")))
            return seen, state, small

        found = self._read(read)
        if found is None:
            return None
        seen, state, small = found
        _keep(_SNAPSHOTS, self.path, (seen, state))
        facts = _FACTS.get(self.path)
        if facts is None or facts[0] != seen:
            _keep(_FACTS, self.path, (seen, small))
        return state

    def respondent_keys(self, source_ids: Sequence[str]) -> pl.DataFrame:
        """``source_id, country, wave, respondent_id`` of the given sources' respondents
        (what ingest checks for respondents stored twice)."""
        empty = pl.DataFrame(
            schema={c: pl.String for c in ("source_id", "country", "wave", "respondent_id")}
        )
        if not source_ids or not self.exists():
            return empty
        return self.query(
            "SELECT source_id::VARCHAR AS source_id, country::VARCHAR AS country, "
            "wave::VARCHAR AS wave, respondent_id FROM respondents "
            "WHERE source_id IN (SELECT unnest(?))",
            [list(source_ids)],
        )

    def has_weights(self) -> bool:
        """True when the store holds weights for its respondents."""
        return bool(self._read(lambda con: _count(con, "weights")))

    def respondents(
        self,
        columns: Sequence[str],
        countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        with_weights: bool = False,
        levels: Mapping[str, Sequence[str]] | None = None,
    ) -> pl.DataFrame:
        """Respondents (in a fixed order: source, row), optionally with their weights and a
        filter.

        ``columns`` are taken from the respondents table; ``weight`` is added when
        ``with_weights``; the columns named in ``levels`` become ordered enums of those
        level codes (:class:`Rows`).  The rows are read in the table's order and put
        in the fixed one by :func:`_source_order` (a DuckDB ``ORDER BY`` costs as much as
        the read itself).
        """
        rows = Rows(self._respondents_table(columns, countries, waves, with_weights), levels or {})
        return rows.frame([*columns, *(["weight"] if with_weights else [])])

    def respondent_rows(
        self, columns: Sequence[str], levels: Mapping[str, Sequence[str]] | None = None
    ) -> Rows:
        """Every respondent's ``columns`` as :meth:`respondents` gives them, read in one
        query but made into polars a few columns at a time, when asked for
        (:meth:`Rows.frame`)."""
        return Rows(self._respondents_table(columns), levels or {})

    def _respondents_table(
        self, columns: Sequence[str], countries: Sequence[str] | None = None,
        waves: Sequence[str] | None = None, with_weights: bool = False,
    ) -> pa.Table:  # fmt: skip
        """The query of :meth:`respondents`, as Arrow in the table's order."""
        cols = ", ".join(f"r.{_quote(c)}" for c in dict.fromkeys(("source_id", "_row", *columns)))
        sql = f"SELECT {cols}"
        if with_weights:
            sql += ", w.weight"
        sql += " FROM respondents r"
        if with_weights:
            sql += " LEFT JOIN weights w USING (source_id, respondent_id)"
        where, params = [], []
        if countries is not None:
            where.append("r.country IN (SELECT unnest(?))")
            params.append(list(countries))
        if waves is not None:
            where.append("r.wave IN (SELECT unnest(?))")
            params.append(list(waves))
        if where:
            sql += " WHERE " + " AND ".join(where)
        con = self._connect(read_only=True)
        try:
            table = con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as err:  # a damaged file shows when its blocks are read
            raise _store_error(self.path, err) from None
        finally:
            con.close()
        return table

    # -- the poll's facts (what Poll and the Publication expose) ---------------------------

    def _fact(self, name: str) -> pl.DataFrame:
        """The fact ``name`` of ``_FACT_SQL``, read once per state of the store's files (see
        ``_FACTS``; a publication asks for the same small tables from several places), with
        the small tables not read yet on the same connection."""
        kept = _FACTS.get(self.path)
        if kept is None or kept[0] != file_state(self.path):
            kept = None
        elif name in kept[1]:
            return kept[1][name]
        held = {} if kept is None else kept[1]
        wanted = [k for k in _FACT_SQL if k == name or (k not in _SCANS and k not in held)]
        con = self._connect(read_only=True)
        try:
            seen = file_state(self.path)  # (while connected: see snapshot)
            found: dict[str, pl.DataFrame] = {k: con.sql(_FACT_SQL[k]).pl() for k in wanted}
        except duckdb.Error as err:  # a damaged file shows when its blocks are read
            raise _store_error(self.path, err) from None
        finally:
            con.close()
        if kept is not None and kept[0] == seen:
            found = {**held, **found}
        _keep(_FACTS, self.path, (seen, found))
        return found[name]

    def columns(self) -> frozenset[str]:
        """The columns of the respondents table."""
        return frozenset(self._fact("columns").columns)

    def bases(self) -> pl.DataFrame:
        """Unweighted respondents per country × wave, in spec order."""
        return self._fact("bases")

    def sources(self) -> pl.DataFrame:
        """The sources ingested: id, file, format, wave, country, firm, mode, rows, sha256,
        time, in spec order."""
        return self._fact("sources")

    def source_cells(self) -> pl.DataFrame:
        """``source_id, country, wave``: the country × wave cells each source's respondents
        fall in (one source may hold several countries), in spec order."""
        return self._fact("source_cells").select("source_id", "country", "wave")

    def diagnostics(self) -> pl.DataFrame:
        """Weighting diagnostics per country × wave, in spec order (empty before weighting)."""
        return self._fact("diagnostics")

    def fieldwork(self) -> pl.DataFrame:
        """Per country × wave, in spec order: fieldwork firm(s), mode(s) and respondents."""
        return self._fact("fieldwork")

    def targets(self) -> pl.DataFrame:
        """The weighting targets: country, wave, variable, level, value, kind (share|total)."""
        return self._fact("targets")

    # -- writing ---------------------------------------------------------------------------

    def _write_metadata(self, con: duckdb.DuckDBPyConnection, spec: PollSpec) -> None:
        for table in _META_TABLES:
            con.execute(f"DELETE FROM {table}")
        con.executemany(
            "INSERT INTO countries VALUES (?, ?, ?, ?)",
            [(c.code, c.name, c.population_in(), i) for i, c in enumerate(spec.countries)],
        )
        regions = [(r.id, r.name, r.rule, i) for i, r in enumerate(spec.regions)]
        members = [(r.id, m, j) for r in spec.regions for j, m in enumerate(r.members)]
        waves = [(w.id, w.start, w.end, i) for i, w in enumerate(spec.waves)]
        stored = spec.stored_questions()
        questions = [(q.id, q.wording, q.kind, i) for i, q in enumerate(stored)]
        levels = [
            (q.id, lv.code, lv.label, j, lv.code in q.non_substantive)
            for q in stored
            for j, lv in enumerate(q.levels)
        ]
        targets = [
            (t.country, t.wave, var, level, value, "share" if t.are_shares else "total")
            for t in spec.targets
            for var, margin in t.margins.items()
            for level, value in margin.items()
        ]
        for table, rows, width in (
            ("regions", regions, 4),
            ("region_members", members, 3),
            ("waves", waves, 4),
            ("questions", questions, 4),
            ("levels", levels, 5),
            ("targets", targets, 6),
        ):
            if rows:
                marks = ", ".join("?" * width)
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        types = _respondent_types(con)
        for q in stored:
            kind = _column_type(q.level_codes) if not q.is_numeric else "DOUBLE"
            held = types.get(q.id, kind)
            if held != kind and "DOUBLE" in (held, kind):
                # The question changed kind: every source holding it is re-read (its
                # digest names the question's levels), so the old column can go.
                con.execute(f"ALTER TABLE respondents DROP COLUMN {_quote(q.id)}")
            elif held != kind:
                # Text codes of a store written before single-choice columns were enums,
                # or the levels changed (then the sources holding the question are re-read,
                # so the codes no longer listed can go): kept codes carry over.
                col = _quote(q.id)
                con.execute(
                    f"ALTER TABLE respondents ALTER COLUMN {col} SET DATA TYPE {kind} "
                    f"USING TRY_CAST({col} AS {kind})"
                )
            con.execute(f"ALTER TABLE respondents ADD COLUMN IF NOT EXISTS {_quote(q.id)} {kind}")

    def _write_design_types(self, con: duckdb.DuckDBPyConnection, spec: PollSpec) -> None:
        """Store ``source_id``, ``country`` and ``wave`` as ENUMs of the spec's ids.

        Every design reads these three columns for every respondent: as ENUMs DuckDB
        hands them over as codes and a dozen strings (Arrow dictionaries) where a text
        column makes a million strings (~20 ms of CPU per column at 1,000,000
        respondents, and ~6 ms more to make each a polars column; see :class:`Rows`).
        Run after the removed sources' rows are deleted: a value the new ENUM lacks
        (only theirs) would be cast to null.  A column already of the type is left; one of
        another (text, in a store an older barometer wrote; ids the spec added or
        dropped) is rewritten, keeping every value.
        """
        types = _respondent_types(con)
        for name, ids in (
            ("source_id", [s.id for s in spec.sources]),
            ("country", [c.code for c in spec.countries]),
            ("wave", [w.id for w in spec.waves]),
        ):
            kind = _column_type(ids) if ids else "VARCHAR"
            if types.get(name) != kind:
                col = _quote(name)
                con.execute(
                    f"ALTER TABLE respondents ALTER COLUMN {col} SET DATA TYPE {kind} "
                    f"USING TRY_CAST({col} AS {kind})"
                )

    def _write_source(self, con: duckdb.DuckDBPyConnection, h: Harmonised, position: int) -> None:
        sid = h.source.id
        for table, key in (("respondents", "source_id"), ("source_columns", "source_id")):
            con.execute(f"DELETE FROM {table} WHERE {key} = ?", [sid])
        con.execute("DELETE FROM sources WHERE id = ?", [sid])
        frame = h.frame.with_columns(
            pl.lit(sid).alias("source_id"), pl.int_range(h.frame.height).alias("_row")
        )
        incoming = frame.to_arrow()
        con.register("incoming", incoming)
        try:
            con.execute("INSERT INTO respondents BY NAME SELECT * FROM incoming")
        finally:
            con.unregister("incoming")
        src = h.source
        con.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                src.file,
                src.file_format,
                h.sha256,
                h.digest,
                h.frame.height,
                _now(),
                src.firm,
                src.mode,
                src.wave,
                src.country,
                position,
            ],
        )
        if h.columns:
            con.executemany(
                "INSERT INTO source_columns VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        sid,
                        c.question,
                        c.column,
                        c.variable_label,
                        json.dumps(c.value_labels),
                        c.n_missing,
                        c.n_user_missing,
                    )
                    for c in h.columns
                ],
            )

    def write(self, spec: PollSpec, loaded: Sequence[Harmonised], removed: Sequence[str]) -> bool:
        """Write a spec's metadata and harmonised sources in ONE transaction.

        Sources in ``loaded`` replace any rows they had; sources in ``removed`` are
        deleted.  Weights are cleared when respondents or targets change.

        Returns
        -------
        bool
            True when the spec's metadata changed.
        """
        meta = self.meta()
        spec_json = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        spec_sha = _sha(spec_json)
        targets_sha = _sha([t.model_dump(mode="json") for t in spec.targets])
        meta_changed = meta.get("spec_sha256") != spec_sha
        if not (meta_changed or loaded or removed):
            return False
        clear_weights = bool(loaded or removed) or meta.get("targets_sha256") != targets_sha
        positions = {s.id: i for i, s in enumerate(spec.sources)}
        with _transaction(self._connect(), self.path) as con:
            con.execute(_SCHEMA)
            self._write_metadata(con, spec)
            for sid in removed:
                con.execute("DELETE FROM respondents WHERE source_id = ?", [sid])
                con.execute("DELETE FROM source_columns WHERE source_id = ?", [sid])
                con.execute("DELETE FROM sources WHERE id = ?", [sid])
            self._write_design_types(con, spec)
            # in order of source id, the order reads put them in (_source_order): the rows
            # of a new store need no reordering
            for i, h in enumerate(sorted(loaded, key=lambda h: h.source.id)):
                self._write_source(con, h, positions[h.source.id])
                if i == 0 and _after_partial_write is not None:
                    _after_partial_write()
            for sid, pos in positions.items():
                con.execute("UPDATE sources SET position = ? WHERE id = ?", [pos, sid])
            if clear_weights:
                con.execute("DELETE FROM weights")
                con.execute("DELETE FROM weight_diagnostics")
                con.execute(
                    "DELETE FROM meta WHERE key IN ('weighted_at', 'weight_settings', "
                    "'weights_file')"
                )
            new_meta = {
                "schema_version": SCHEMA_VERSION,
                "spec": spec_json,
                "spec_dir": str(spec.base_dir),
                "spec_sha256": spec_sha,
                "targets_sha256": targets_sha,
                "ingested_at": _now().isoformat(timespec="seconds"),
            }
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(new_meta.items()))
        return meta_changed

    def record_partitions(self, record: Mapping[str, object]) -> None:
        """Record in ``meta`` where the respondents' Parquet partitions lie and which
        ingest they hold (written by :mod:`barometer.poll.partitions`)."""
        with _transaction(self._connect(), self.path) as con:
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('partitions', ?)",
                [json.dumps(record, sort_keys=True)],
            )

    def write_weights(
        self,
        weights: pl.DataFrame,
        diagnostics: pl.DataFrame,
        settings: dict[str, Any],
        file: Path | None = None,
    ) -> None:
        """Replace the weights and their diagnostics in one transaction.

        ``weights`` has columns ``source_id, respondent_id, weight``; ``diagnostics``
        the columns of the ``weight_diagnostics`` table. ``file``: the weights are that
        Parquet file beside the store instead (a poll of Parquet partitions; ``weights``
        is then empty), named in ``meta`` as ``weights_file``.
        """
        with _transaction(self._connect(), self.path) as con:
            con.execute("DELETE FROM weights")
            con.execute("DELETE FROM weight_diagnostics")
            con.register("w_in", weights.select("source_id", "respondent_id", "weight").to_arrow())
            con.register("d_in", diagnostics.to_arrow())
            try:
                con.execute("INSERT INTO weights SELECT * FROM w_in")
                con.execute("INSERT INTO weight_diagnostics BY NAME SELECT * FROM d_in")
            finally:
                con.unregister("w_in")
                con.unregister("d_in")
            rows = [
                ("weighted_at", _now().isoformat(timespec="seconds")),
                ("weight_settings", json.dumps(settings, sort_keys=True)),
            ]
            con.execute("DELETE FROM meta WHERE key = 'weights_file'")
            if file is not None:
                rows.append(("weights_file", str(file)))
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)

    # -- data quality ------------------------------------------------------------------------

    def column_quality(self, sources: Sequence[str] | None = None) -> pl.DataFrame:
        """Missing and user-missing answers per source and question (sources in spec order,
        questions in questionnaire order), as counted at ingest.

        Columns ``source_id, question, column_name, n_rows, n_missing, n_user_missing``:
        ``n_missing`` counts the respondents left without a level (empty in the file, a
        code mapped to null, or an SPSS user-missing code not mapped), ``n_user_missing``
        those of them that held a user-missing code.  ``sources`` keeps only those ids.
        """
        if not self.exists():
            return pl.DataFrame(
                schema={
                    "source_id": pl.String,
                    "question": pl.String,
                    "column_name": pl.String,
                    "n_rows": pl.Int64,
                    "n_missing": pl.Int64,
                    "n_user_missing": pl.Int64,
                }
            )
        sql = (
            "SELECT c.source_id, c.question, c.column_name, s.n_rows, c.n_missing, "
            "c.n_user_missing FROM source_columns c JOIN sources s ON s.id = c.source_id "
            "LEFT JOIN questions q ON q.id = c.question"
        )
        params: list[Any] = []
        if sources is not None:
            sql += " WHERE c.source_id IN (SELECT unnest(?))"
            params.append(list(sources))
        return self.query(sql + " ORDER BY s.position, q.position", params)


def partition_relation(
    con: duckdb.DuckDBPyConnection,
    files: str,
    levels: Mapping[str, Sequence[str]],
    countries: Sequence[str] | None = None,
    waves: Sequence[str] | None = None,
) -> duckdb.DuckDBPyRelation:
    """The respondents held as Parquet partitions (``files``: their glob) as a relation on
    ``con`` — a connection that may read files, unlike a store's — with the columns in
    ``levels`` as ENUMs of their level codes in spec order, as the store holds them (so
    levels and breakdowns sort in questionnaire order), and only the respondents of
    ``countries`` and ``waves`` when given."""
    rel = con.read_parquet(files)
    held = set(rel.columns)
    casts = [
        f"CAST({_quote(c)} AS {_column_type(codes)}) AS {_quote(c)}"
        for c, codes in levels.items()
        if c in held
    ]
    where = [
        f"{column} IN ({', '.join(_literal(v) for v in values)})"
        for column, values in (("country", countries), ("wave", waves))
        if values is not None
    ]
    select = "*" + (f" REPLACE ({', '.join(casts)})" if casts else "")
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    result = rel.query("partitions", f"SELECT {select} FROM partitions{condition}")
    assert result is not None  # a SELECT always has a result relation
    return result


def _literal(text: str) -> str:
    """A string as a SQL literal."""
    return "'" + str(text).replace("'", "''") + "'"
