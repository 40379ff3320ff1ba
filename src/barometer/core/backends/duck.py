"""A DuckDB table as a design's data: its columns, the checks at the door, and the queries.

The table is a DuckDB relation or Parquet files (a path, a glob or a list of them). It is
only ever read: every query runs on the relation as a virtual table (``relation.query``),
so nothing is created in, or written to, the user's database. Every weighted sum is
DuckDB's compensated ``fsum`` (Kahan-Babuska), so a result does not depend on the order in
which the engine's threads add the rows up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from barometer.errors import BarometerError, DesignError, did_you_mean

#: The name a query gives the user's relation (``relation.query``'s virtual table).
SRC = "barometer_src"

_FLOATS = ("FLOAT", "DOUBLE", "REAL")
_INTEGERS = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


#: SQL for infinity, read alike by DuckDB and Spark.
INF = "CAST('inf' AS DOUBLE)"


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal_text(text: str) -> str:
    """A string as a SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def literal(value: float) -> str:
    """A float as a SQL literal that reads back as the same double."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def value_literal(value: Any) -> str:
    """A level or cell value as a SQL literal (text, integer, float or boolean)."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return literal(float(value))
    if isinstance(value, str):
        return literal_text(value)
    raise BarometerError(
        f"a {type(value).__name__} value cannot be matched in DuckDB here; use text, "
        "integer, float or boolean values"
    )


def connect(
    memory_limit: str | None = None, temp_directory: str | Path | None = None, threads: int = 0
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for tables larger than memory: ``memory_limit`` (e.g. ``"3GB"``)
    caps DuckDB's buffers and ``temp_directory`` is where its grouped sums spill.

    Pass ``connection.read_parquet(glob)`` to ``bm.Design``; a bare path uses a default
    connection (DuckDB's own limits: 80% of memory, spilling to ``.tmp``).
    """
    config: dict[str, Any] = {}
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    if threads:
        config["threads"] = threads
    return duckdb.connect(config=config)


def _with_enums(table: Any) -> pl.DataFrame:
    """A query's Arrow result as polars, an ENUM column as a polars ``Enum`` of its
    levels in the ENUM's order (DuckDB hands it over as a dictionary holding every
    level): its levels and domains then sort in that order, as an ``Enum`` column's do
    in memory, not alphabetically as a ``Categorical``'s."""
    import pyarrow as pa

    enums = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(column.type) and column.num_chunks:
            enums[name] = pl.Enum(column.chunk(0).dictionary.to_pylist())
    frame = pl.from_arrow(table, schema_overrides=enums)
    assert isinstance(frame, pl.DataFrame)
    return frame


@dataclass(frozen=True, eq=False)
class Source:
    """The user's table as DuckDB sees it: the relation, its column types and a label for
    messages (the path, or "the DuckDB relation")."""

    relation: Any  # a DuckDBPyRelation (a Spark DataFrame for SparkSource)
    types: dict[str, str]  # DuckDB's type names
    label: str

    @property
    def writes_tables(self) -> bool:
        """Whether ``write`` can create a table (a relation's database has one to hold it)."""
        return self.label == "the DuckDB relation"

    @classmethod
    def of(cls, data: Any) -> Source:
        """Open a relation, or Parquet files by path, glob or list of paths (a Spark
        DataFrame: ``backends.spark.SparkSource``)."""
        if type(data).__module__.startswith("pyspark"):
            from barometer.core.backends.spark import SparkSource

            return SparkSource.of_frame(data)
        if isinstance(data, duckdb.DuckDBPyRelation):
            rel, label = data, "the DuckDB relation"
        else:
            paths = [str(p) for p in data] if isinstance(data, list | tuple) else [str(data)]
            bad = [p for p in paths if not p.endswith(".parquet")]
            if bad:
                raise DesignError(
                    f"data {bad[0]!r}: a path must name Parquet files (*.parquet, a glob or "
                    "a list of them); read other files into a table first"
                )
            label = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
            try:
                rel = duckdb.connect().read_parquet(paths if len(paths) > 1 else paths[0])
            except duckdb.Error as exc:
                raise DesignError(f"data {label!r} cannot be read as Parquet: {exc}") from None
        types = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True)}
        return cls(rel, types, label)

    def sql(self, query: str) -> pl.DataFrame:
        """Run ``query`` (which reads the table as ``barometer_src``) and return its result."""
        try:
            result = self.relation.query(SRC, query)
            assert result is not None  # a SELECT always has a result
            return _with_enums(result.arrow().read_all())
        except duckdb.Error as exc:  # pragma: no cover - the queries are built here
            raise BarometerError(f"DuckDB failed on {self.label}: {exc}") from None

    def write(self, query: str, target: str) -> None:
        """Write the result of ``query`` to a new Parquet file, or a new table of the
        relation's database."""
        result = self.relation.query(SRC, query)
        assert result is not None
        try:
            if target.endswith(".parquet"):
                result.write_parquet(target)
            else:
                result.create(target)
        except duckdb.Error as exc:
            raise BarometerError(str(exc)) from None

    def joined(self, target: str, id: str, weight: str) -> Any:
        """The relation with the column ``weight`` of ``target`` (written by ``write``)
        joined by ``id``, replacing a column of that name: a view, run inside each query."""
        parquet = target.endswith(".parquet")
        table = f"read_parquet({literal_text(target)})" if parquet else ident(target)
        key, new = ident(id), f"_bw.{ident(weight)}"
        columns = (
            f"{SRC}.* REPLACE ({new} AS {ident(weight)})"
            if weight in self.types
            else f"{SRC}.*, {new}"
        )
        return self.relation.query(
            SRC, f"SELECT {columns} FROM {SRC} JOIN {table} AS _bw ON {SRC}.{key} = _bw.{key}"
        )

    # -- columns ---------------------------------------------------------------------

    def check(self, names: Sequence[str], role: str, error: type[BarometerError]) -> None:
        """Raise ``error`` naming the first of ``names`` the table lacks."""
        for name in names:
            if name not in self.types:
                raise error(
                    f"{role} column {name!r} is not in {self.label}{did_you_mean(name, self.types)}"
                )

    def is_float(self, name: str) -> bool:
        return self.types[name] in _FLOATS

    def is_numeric(self, name: str) -> bool:
        t = self.types[name]
        return t in _FLOATS or t in _INTEGERS or t.startswith("DECIMAL")

    def missing(self, name: str) -> str:
        """SQL: the value of ``name`` is missing (null, or NaN in a float column)."""
        c = ident(name)
        return f"({c} IS NULL OR isnan({c}))" if self.is_float(name) else f"({c} IS NULL)"

    def present(self, names: Sequence[str]) -> str:
        """SQL: none of ``names`` is missing (``TRUE`` for none)."""
        return " AND ".join(f"NOT {self.missing(n)}" for n in names) or "TRUE"

    def count(self, condition: str = "TRUE") -> int:
        found = self.sql(f"SELECT count(*) AS n FROM {SRC} WHERE {condition}")
        return int(found.item())


__all__ = ["INF", "SRC", "Source", "connect", "ident", "literal", "literal_text", "value_literal"]
