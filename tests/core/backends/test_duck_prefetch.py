"""Several categorical variables' sums from one GROUPING SETS query (``prefetch``): the
same estimates as one query per variable, and as in memory, plain and calibrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import barometer as bm
from barometer.core.backends.duck import Source
from tests.core.backends.conftest import assert_same, both

LAYOUTS = {
    "element": {"weights": "w"},
    "stratified": {"weights": "w", "strata": "h"},
    "clustered": {"weights": "w", "strata": "h", "psu": "psu"},
}
#: text with nulls, a boolean, an integer coded as categories
VARIABLES = ["q", "flag", "score"]
MARGINS = {"g": {"north": 0.4, "south": 0.35, "east": 0.25}, "wave": {1: 0.5, 2: 0.5}}


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every query a backend runs from here on."""
    seen: list[str] = []
    run = Source.sql

    def counted(self: Source, query: str) -> pl.DataFrame:
        seen.append(query)
        return run(self, query)

    monkeypatch.setattr(Source, "sql", counted)
    return seen


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_prefetched_shares_equal_in_memory_from_one_query(
    frame: pl.DataFrame, relation: Any, layout: str, queries: list[str]
) -> None:
    memory, engine = both(frame, relation, **LAYOUTS[layout])
    by = ["g", "wave"]
    engine.proportion("q", by=by)  # the domains and the structure, queried once
    queries.clear()
    engine.prefetch(VARIABLES, by=by)
    assert len(queries) == 1 and "GROUPING SETS" in queries[0]
    for name in VARIABLES:
        assert_same(memory.proportion(name, by=by), engine.proportion(name, by=by))
    assert len(queries) == 1  # each share took its prefetched sums
    assert_same(memory.proportion("q", by=by), engine.proportion("q", by=by))
    assert len(queries) == 2  # ... once: asked again, it is queried again


def test_prefetched_calibrated_shares_equal_in_memory(
    frame: pl.DataFrame, tmp_path: Path, queries: list[str]
) -> None:
    complete = frame.filter(pl.col("g").is_not_null())
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    for layout, spec in LAYOUTS.items():
        memory = bm.Design(complete, **spec).rake(MARGINS)
        written = bm.Design(rel, **spec).rake(MARGINS, id="id", to=tmp_path / f"{layout}.parquet")
        engine = written.design
        engine.proportion("q", by="wave")
        queries.clear()
        engine.prefetch(VARIABLES, by="wave")
        assert len(queries) == 2  # the sums by (domain, PSU) and by (domain, cell)
        for name in VARIABLES:
            for ci in ("wald", "logit"):
                want = memory.proportion(name, by="wave", ci=ci)
                assert_same(want, engine.proportion(name, by="wave", ci=ci))


def test_prefetched_totals_equal_in_memory(
    frame: pl.DataFrame, relation: Any, queries: list[str]
) -> None:
    memory, engine = both(frame, relation, **LAYOUTS["clustered"])
    engine.total("q", by="g")
    queries.clear()
    engine.prefetch(["q", "flag"], by="g")
    assert_same(memory.total(["q", "flag"], by="g"), engine.total(["q", "flag"], by="g"))
    assert len(queries) == 1
    assert_same(memory.total(["q", "y"], by="g"), engine.total(["q", "y"], by="g"))
    assert len(queries) == 3  # q (taken already) and the numeric y each queried


def test_prefetch_names_a_missing_column(relation: Any) -> None:
    engine = bm.Design(relation, weights="w")
    with pytest.raises(bm.EstimationError, match="'qq' is not in the DuckDB relation"):
        engine.prefetch(["q", "qq"])
