"""Shared data for the backend equivalence tests: one poll-like table, in memory and in DuckDB."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm

#: The contract of issue 20: the engine's path equals the in-memory one to 1e-10 relative.
REL = 1e-10
NUMBERS = ("estimate", "se", "ci_low", "ci_high", "deff")


def poll_frame(n: int = 3000, seed: int = 7) -> pl.DataFrame:
    """Strata, clusters nested in them, weights over 16 orders of magnitude, domains with
    missing by-values, a numeric variable with nulls and NaNs, a categorical one with nulls."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 6, n)
    w = rng.lognormal(0.0, 0.5, n)
    w[rng.random(n) < 0.02] *= 1e8  # huge weights
    w[rng.random(n) < 0.02] *= 1e-8  # tiny weights
    y = rng.normal(50.0, 10.0, n) + 3 * h
    y[rng.random(n) < 0.08] = np.nan
    q = rng.choice(["agree", "neutral", "disagree"], n, p=[0.5, 0.2, 0.3]).astype(object)
    q[rng.random(n) < 0.1] = None
    g = rng.choice(["north", "south", "east"], n).astype(object)
    g[rng.random(n) < 0.03] = None
    frame = pl.DataFrame(
        {
            "id": np.arange(n),
            "w": w,
            "h": h,
            "psu": h * 10 + rng.integers(0, 5, n),
            "g": pl.Series(g, dtype=pl.String),
            "wave": rng.integers(1, 3, n),
            "y": y,
            "q": pl.Series(q, dtype=pl.String),
            "score": rng.integers(1, 6, n),
            "flag": rng.random(n) < 0.3,
        }
    )
    # a null (not NaN) in y too, and a domain whose y is always missing
    return frame.with_columns(
        y=pl.when(pl.col("id") % 97 == 0).then(None).otherwise(pl.col("y")),
    ).with_columns(
        y=pl.when((pl.col("g") == "east") & (pl.col("wave") == 2)).then(None).otherwise(pl.col("y"))
    )


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return poll_frame()


@pytest.fixture(scope="module")
def relation(frame: pl.DataFrame) -> duckdb.DuckDBPyRelation:
    return duckdb.connect().from_arrow(frame.to_arrow())


def assert_same(
    memory: bm.Estimates, engine: bm.Estimates, rel: float = REL, numbers: tuple[str, ...] = NUMBERS
) -> None:
    """Same rows, same labels, every number equal to ``rel`` relative (NaN where NaN)."""
    a, b = memory.to_polars(), engine.to_polars()
    assert a.columns == b.columns
    assert a.height == b.height
    labels = [c for c in a.columns if c not in NUMBERS]
    assert a.select(labels).cast(pl.String).equals(b.select(labels).cast(pl.String))
    for col in numbers:
        x, y = a.get_column(col).to_numpy(), b.get_column(col).to_numpy()
        assert np.array_equal(np.isnan(x), np.isnan(y)), col
        ok = ~np.isnan(x)
        np.testing.assert_allclose(y[ok], x[ok], rtol=rel, atol=0, err_msg=col)


def both(frame: pl.DataFrame, relation: Any, **design: Any) -> tuple[bm.Design, bm.Design]:
    return bm.Design(frame, **design), bm.Design(relation, **design)
