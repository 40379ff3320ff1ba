"""A Spark DataFrame as a design's data: the DuckDB backend's queries, run by Spark SQL.

The queries of ``core.backends`` are plain grouped SQL; Spark runs them with two
rewrites: identifiers in backquotes, and DuckDB's compensated ``fsum``, which Spark SQL
lacks, as sums of exact integers (``exact_sum``). Spark aggregates each partition where it
lies and combines the partial sums, so what crosses the network, and what reaches Python,
are the grouped sums only.

Why integers: Spark's ``sum`` of doubles adds the partial sums in the order the tasks
finish, so its last digits change from run to run and with the partitioning. A sum of
``DECIMAL`` integers is exact, hence the same in any order. Each term ``x`` is split into
four pieces ``x = sum_k p_k 2^L_k`` (``L = 50, 0, -50, -100``) with integer ``|p_k| <=
2^51``: the top piece rounds ``x`` to a multiple of ``2^50``, each next one the remainder to
a multiple ``2^50`` times finer (``(r + 1.5 2^(52+L)) - 1.5 2^(52+L)`` rounds ``r`` to a
multiple of ``2^L``, exactly in IEEE arithmetic, while ``|r| <= 2^(51+L)``). The pieces
are summed as ``DECIMAL``, exactly, and the four exact sums combined in double once. The
result does not depend on the order of the rows; it is exact but for that combination (an
error below ``1e-16 sum |x|``, as a compensated sum's) and for the parts of terms below
``2^-101`` (4e-31), which are dropped. Terms must be below ``2^101`` (2.5e30) in size:
weights times squared values of up to 1e30.
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


_FILTER = re.compile(r"\s*FILTER\s*\(")

#: The pieces' lowest bits: a term is summed as integers times 2^L for each L.
_LOWS = (50, 0, -50, -100)


def _double(value: float) -> str:
    return f"CAST('{value!r}' AS DOUBLE)"


def _rounded(value: str, low: int) -> str:
    """SQL: ``value`` rounded to a multiple of ``2^low`` (exact while ``|value| <=
    2^(51+low)``): adding and taking away ``1.5 2^(52+low)`` drops the lower bits."""
    c = _double(1.5 * 2.0 ** (52 + low))
    return f"(({value} + {c}) - {c})"


def _piece(value: str, band: int, depth: int = 0) -> str:
    """SQL: piece ``band`` of ``value`` — the remainder after the higher pieces, rounded to
    a multiple of ``2^_LOWS[band]``. Each remainder is a lambda's variable, so that the
    term is written out once per piece rather than exponentially often."""
    if depth == band:
        return _rounded(value, _LOWS[band])
    name = f"_r{depth + 1}"
    rest = f"({value} - {_rounded(value, _LOWS[depth])})"
    return f"transform(array({rest}), {name} -> {_piece(name, band, depth + 1)})[0]"


def exact_sum(term: str, where: str = "") -> str:
    """Spark SQL summing ``term`` (``where``: its ``FILTER`` clause, or empty) exactly as
    integer pieces (see the module doc): the same double whatever the order of the rows."""
    parts, wrapped = [], f"({term})"
    for band, low in enumerate(_LOWS):
        scaled = f"CAST({_piece(wrapped, band)} * {_double(2.0**-low)} AS DECIMAL(16, 0))"
        parts.append(f"CAST(sum({scaled}){where} AS DOUBLE) * {_double(2.0**low)}")
    return "(" + " + ".join(parts) + ")"


def _exact_sums(query: str) -> str:
    """``query`` with each ``fsum(term) [FILTER (WHERE ...)]`` an ``exact_sum``."""
    out, i = [], 0
    for found in re.finditer(r"\bfsum\(", query):
        start = found.start()
        if start < i:  # inside a term already rewritten
            continue
        end = _closing(query, found.end())
        term, where, after = query[found.end() : end], "", end + 1
        clause = _FILTER.match(query, after)
        if clause:
            close = _closing(query, clause.end())
            where, after = " " + query[after : close + 1].strip(), close + 1
        out += [query[i:start], exact_sum(_exact_sums(term), where)]
        i = after
    out.append(query[i:])
    return "".join(out)


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one opened just before ``start``."""
    depth, i = 1, start
    while depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return i - 1


def to_spark_sql(query: str, view: str) -> str:
    """A backend query in Spark SQL's dialect, reading the table as ``view``."""
    query = _QUOTED.sub(
        lambda m: "`" + m.group(1).replace('""', '"').replace("`", "``") + "`", query
    )
    return _exact_sums(query).replace(SRC, view)


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

    def joined(self, target: str, id: str, weight: str) -> Any:
        """The DataFrame with the column ``weight`` of the Parquet ``target`` joined by
        ``id`` (replacing a column of that name): lazy, as every DataFrame."""
        frame = self.relation
        weights = frame.sparkSession.read.parquet(target).select(id, weight)
        return frame.drop(weight).join(weights, on=id, how="inner")

    def write(self, query: str, target: str) -> None:
        """Write the result of ``query`` as Parquet (a directory of part files) to ``target``."""
        frame = self.relation
        frame.createOrReplaceTempView(self._view)
        try:
            frame.sparkSession.sql(to_spark_sql(query, self._view)).write.parquet(target)
        except Exception as exc:  # pragma: no cover
            raise BarometerError(str(exc)) from None


__all__ = ["SparkSource", "to_spark_sql"]
