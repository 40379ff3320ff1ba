"""Quantiles of a DuckDB design equal the in-memory ones (R ``svyquantile``)."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.core.backends.conftest import assert_same, both

SPECS: dict[str, dict[str, Any]] = {
    "srs": {"weights": "w"},
    "unweighted": {},
    "strata": {"weights": "w", "strata": "h"},
    "strata-clusters": {"weights": "w", "strata": "h", "psu": "psu"},
}


@pytest.mark.parametrize("spec", SPECS, ids=list(SPECS))
@pytest.mark.parametrize(
    ("variable", "by"), [("y", None), ("y", "g"), ("score", ["g", "wave"]), ("wave", "g")]
)
def test_quantiles_equal_in_memory(
    frame: pl.DataFrame, relation: Any, spec: str, variable: str, by: Any
) -> None:
    memory, engine = both(frame, relation, **SPECS[spec])
    probs = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]
    assert_same(memory.quantile(variable, probs, by=by), engine.quantile(variable, probs, by=by))


def test_ties_and_the_second_row_rule() -> None:
    # equal weights hit p W exactly; a smallest value with one row or with two (R's quirk)
    frame = pl.DataFrame(
        {
            "g": ["a"] * 6 + ["b"] * 6,
            "x": [1.0, 2, 2, 3, 3, 3, 5, 5, 6, 7, 7, 9],
            "w": [1.0] * 12,
        }
    )
    rel = duckdb.connect().from_arrow(frame.to_arrow())
    memory, engine = both(frame, rel, weights="w")
    probs = [0.01, 1 / 6, 0.2, 0.5, 2 / 3, 0.99]
    a, b = memory.quantile("x", probs, by="g"), engine.quantile("x", probs, by="g")
    assert_same(a, b)
    assert np.isfinite(b.to_polars()["estimate"].to_numpy()).all()


def test_quantile_errors(relation: Any) -> None:
    d = bm.Design(relation, weights="w")
    with pytest.raises(bm.EstimationError, match="not numeric"):
        d.quantile("q", 0.5)
    with pytest.raises(bm.EstimationError, match=r"must lie in \[0, 1\]"):
        d.quantile("y", 1.5)
