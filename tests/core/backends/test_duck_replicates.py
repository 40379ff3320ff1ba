"""DuckDB replicate designs equal in-memory ones (issue 20)."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.backends.duck_replicate import DuckDBReplicateDesign
from tests.core.backends.conftest import REL, assert_same

N_REP = 12


@pytest.fixture(scope="module")
def with_replicates(frame: pl.DataFrame) -> pl.DataFrame:
    rng = np.random.default_rng(11)
    factors = rng.choice([0.0, 2.0], size=(frame.height, N_REP))  # BRR-like half samples
    reps = {f"rw{i:02d}": frame["w"].to_numpy() * factors[:, i] for i in range(N_REP)}
    return frame.with_columns(**reps)


def _both(frame: pl.DataFrame, spec: dict[str, Any]) -> tuple[Any, Any]:
    """The replicate design in memory and over DuckDB."""
    rel = duckdb.connect().from_arrow(frame.to_arrow())
    memory = bm.ReplicateDesign(frame, weights="w", replicates="rw", **spec)
    return memory, bm.ReplicateDesign(rel, weights="w", replicates="rw", **spec)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "brr"},
        {"type": "jk1", "mse": True},
        {"type": "bootstrap"},
        {"type": "fay", "rho": 0.5},
        {"type": "jkn", "rscales": 0.5},
    ],
    ids=lambda s: s["type"],
)
def test_replicate_estimates_equal_in_memory(
    with_replicates: pl.DataFrame, spec: dict[str, Any]
) -> None:
    memory, engine = _both(with_replicates, spec)
    assert isinstance(engine, DuckDBReplicateDesign) and isinstance(engine, bm.ReplicateDesign)
    assert engine.scale == memory.scale and np.array_equal(engine.rscales, memory.rscales)
    assert_same(memory.mean(["y", "flag"], by="g"), engine.mean(["y", "flag"], by="g"))
    assert_same(memory.total("q", by=["g", "wave"]), engine.total("q", by=["g", "wave"]))
    assert_same(memory.proportion("q", by="g"), engine.proportion("q", by="g"))
    a = memory.proportion("q", by="wave").vcov()
    b = engine.proportion("q", by="wave").vcov()
    np.testing.assert_allclose(b, a, rtol=0, atol=REL * np.abs(a).max())


def test_bad_replicate_weights(with_replicates: pl.DataFrame) -> None:
    bad = with_replicates.with_columns(
        rw03=pl.when(pl.col("id") == 5).then(None).otherwise(pl.col("rw03"))
    )
    with pytest.raises(
        bm.DesignError, match="replicate weight column 'rw03' has missing values in 1 rows"
    ):
        bm.ReplicateDesign(duckdb.connect().from_arrow(bad.to_arrow()), "w", "rw", "brr")
    neg = with_replicates.with_columns(rw04=-pl.col("rw04"))
    with pytest.raises(bm.DesignError, match="'rw04' has negative weights"):
        bm.ReplicateDesign(duckdb.connect().from_arrow(neg.to_arrow()), "w", "rw", "brr")
    with pytest.raises(bm.DesignError, match="replicate weight column 'zz'"):
        bm.ReplicateDesign(duckdb.connect().from_arrow(neg.to_arrow()), "w", ["zz"], "brr")


def test_the_weights_stay_in_duckdb(with_replicates: pl.DataFrame) -> None:
    d = bm.ReplicateDesign(
        duckdb.connect().from_arrow(with_replicates.to_arrow()), "w", "rw", "brr"
    )
    for attribute in ("replicate_frame", "replicate_weights", "weights", "data"):
        with pytest.raises(bm.EstimationError, match="stay in DuckDB"):
            getattr(d, attribute)
    assert d.n == with_replicates.height
    assert repr(d).startswith(f"DuckDBReplicateDesign({d.n} rows of the DuckDB relation, 12 brr")


def test_replicate_degf_is_the_rank_minus_one(with_replicates: pl.DataFrame) -> None:
    """Full rank (12 - 1), and with two replicate columns repeating others (10 - 1)."""
    repeated = with_replicates.with_columns(rw10=pl.col("rw01"), rw11=pl.col("rw02") * 3.0)
    for frame, want in ((with_replicates, N_REP - 1), (repeated, N_REP - 3)):
        rel = duckdb.connect().from_arrow(frame.to_arrow())
        memory = bm.ReplicateDesign(frame, weights="w", replicates="rw", type="bootstrap")
        engine = bm.ReplicateDesign(rel, weights="w", replicates="rw", type="bootstrap")
        assert engine.degf == memory.degf == want


@pytest.mark.parametrize("spec", [{"type": "brr"}, {"type": "jk1", "mse": True}], ids=str)
def test_replicate_ratio_equals_in_memory(
    with_replicates: pl.DataFrame, spec: dict[str, Any]
) -> None:
    memory, engine = _both(with_replicates, spec)
    a = memory.ratio(["y", "score"], "wave", by="g")
    b = engine.ratio(["y", "score"], "wave", by="g")
    assert_same(a, b)
    np.testing.assert_allclose(b.vcov(), a.vcov(), rtol=0, atol=REL * np.abs(a.vcov()).max())
