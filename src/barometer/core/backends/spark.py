"""A Spark DataFrame as a design's data: the DuckDB backend's queries, run by Spark SQL.

The queries of ``core.backends`` are plain grouped SQL; Spark runs them with two
rewrites (identifiers in backquotes, ``sum`` for DuckDB's compensated ``fsum``, which Spark
SQL lacks). Spark aggregates each partition where it lies and combines the partial
sums, so what crosses the network, and what reaches Python, are the grouped sums only.
Spark's double sums are not compensated: a result can differ in its last digits
(around 1e-13 relative) with the partitioning; the equivalence tests hold to 1e-10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from barometer.core.backends.duck import SRC, Source
from barometer.errors import BarometerError

#: Spark's type names -> DuckDB's, which the query builders read.
_TYPES = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
}
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def to_spark_sql(query: str, view: str) -> str:
    """A backend query in Spark SQL's dialect, reading the table as ``view``."""
    query = _QUOTED.sub(
        lambda m: "`" + m.group(1).replace('""', '"').replace("`", "``") + "`", query
    )
    query = re.sub(r"\bfsum\(", "sum(", query)
    return query.replace(SRC, view)


@dataclass(frozen=True, eq=False)
class SparkSource(Source):
    """The user's Spark DataFrame; queries run on it as a temporary view of its session
    (the DataFrame itself, and any table, are never written)."""

    @property
    def writes_tables(self) -> bool:
        return False

    @classmethod
    def of_frame(cls, frame: Any) -> SparkSource:
        types = {}
        for name, kind in frame.dtypes:
            types[name] = "DECIMAL" if kind.startswith("decimal") else _TYPES.get(kind, kind)
        return cls(frame, types, "the Spark DataFrame")

    @property
    def _view(self) -> str:
        return f"barometer_src_{id(self.relation):x}"

    def sql(self, query: str) -> pl.DataFrame:
        frame = self.relation
        frame.createOrReplaceTempView(self._view)
        try:
            result = frame.sparkSession.sql(to_spark_sql(query, self._view))
            out = pl.from_arrow(result.toArrow())
        except Exception as exc:  # pragma: no cover - Spark's errors have many classes
            raise BarometerError(f"Spark failed on {self.label}: {exc}") from None
        assert isinstance(out, pl.DataFrame)
        return out

    def write(self, query: str, target: str) -> None:
        """Write the result of ``query`` as Parquet (a directory of part files) to ``target``."""
        frame = self.relation
        frame.createOrReplaceTempView(self._view)
        try:
            frame.sparkSession.sql(to_spark_sql(query, self._view)).write.parquet(target)
        except Exception as exc:  # pragma: no cover
            raise BarometerError(str(exc)) from None


__all__ = ["SparkSource", "to_spark_sql"]
