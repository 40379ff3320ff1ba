"""Where the grouped sums are computed: in memory (NumPy, ``core.reduce``) or in DuckDB.

Every estimate of the core reduces the respondents to weighted sums by (domain, level,
stratum, PSU) before any variance algebra runs (``core.reduce``). That reduction is the one
seam between the statistics and the engine that holds the rows:

- a polars, pandas or pyarrow table is reduced in memory, by ``np.bincount`` over integer
  codes (``core.reduce``, unchanged);
- a DuckDB relation, or a path or glob of Parquet files, is reduced where it lives by
  grouped SQL sums (``core.backends.duck``): only the sums — one row per (domain, PSU[,
  level]) pair or per (domain, stratum[, level]) cell — cross into Python.

Both produce the same :class:`~barometer.core.estimators.RatioFamily` (point estimates and
the pair sums ``PsuPairs``/``PairSums`` of ``core.reduce``), so the variance, the design
effect and the result table are computed once, by ``core.estimators`` and
``core.variance.linearisation``, whatever the engine.

narwhals (its lazy DuckDB and PySpark backends) was evaluated as this seam: it expresses the
group-by and the plain sums, but not the compensated sums (``fsum``) every weighted sum here
must use so that the result does not depend on the engine's summation order; its ``sum``
becomes DuckDB's and Spark's plain ``sum``. Every aggregate of the reduction is such a sum,
so the backend writes its few queries by hand and narwhals is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def is_external(data: Any) -> bool:
    """True for a table the core reduces in a query engine rather than in memory: a DuckDB
    relation, a path, glob or list of paths of Parquet files, or a Spark DataFrame. Never
    imports DuckDB or Spark for an in-memory table."""
    if type(data).__module__.split(".")[0] in ("duckdb", "_duckdb", "pyspark"):
        return True
    if isinstance(data, str | Path):
        return True
    return (
        isinstance(data, list | tuple)
        and len(data) > 0
        and all(isinstance(p, str | Path) for p in data)
    )


__all__ = ["is_external"]
