"""A Spark DataFrame (local mode) gives the in-memory design's estimates (issue 20).

One shared SparkSession (conftest); every test here runs several estimators per design,
because each Spark query costs a fraction of a second.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.core.backends.conftest import REL, assert_same

pytestmark = [
    pytest.mark.spark,
    # pyspark 4 warns that it does not yet support pandas 3 (it is not used here)
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")
def sdf(spark: Any, frame: pl.DataFrame) -> Any:
    return spark.createDataFrame(frame.to_arrow())


@pytest.mark.parametrize(
    "spec",
    # an element design (every row its PSU: moments by stratum) and a clustered one (sums
    # by PSU), the two reductions; without strata is the DuckDB tests' (the same SQL)
    [{"weights": "w", "strata": "h"}, {"weights": "w", "strata": "h", "psu": "psu"}],
    ids=["strata", "strata-clusters"],
)
def test_spark_estimates_equal_in_memory(
    frame: pl.DataFrame, sdf: Any, spec: dict[str, Any]
) -> None:
    memory, engine = bm.Design(frame, **spec), bm.Design(sdf, **spec)
    assert "the Spark DataFrame" in repr(engine)
    assert_same(memory.proportion("q", by=["g", "wave"]), engine.proportion("q", by=["g", "wave"]))
    assert_same(memory.mean(["y", "flag"], by="g"), engine.mean(["y", "flag"], by="g"))
    assert_same(memory.total("score", by="wave"), engine.total("score", by="wave"))
    # several categorical variables from one query of GROUPING SETS
    engine.prefetch(["q", "flag", "score"], by=["g", "wave"])
    for name in ("q", "flag", "score"):
        want = memory.proportion(name, by=["g", "wave"])
        assert_same(want, engine.proportion(name, by=["g", "wave"]))


def test_spark_quantile_chisq_and_replicates(frame: pl.DataFrame, spark: Any, sdf: Any) -> None:
    memory, engine = (
        bm.Design(frame, weights="w", strata="h", psu="psu"),
        bm.Design(sdf, weights="w", strata="h", psu="psu"),
    )
    assert_same(
        memory.quantile("y", [0.25, 0.5], by="g"), engine.quantile("y", [0.25, 0.5], by="g")
    )
    a, b = memory.chisq("q", "g"), engine.chisq("q", "g")
    assert b.statistic == pytest.approx(a.statistic, rel=REL)
    assert b.p_value == pytest.approx(a.p_value, rel=REL)
    rng = np.random.default_rng(5)
    reps = frame.with_columns(
        **{f"rw{i}": frame["w"] * rng.choice([0.0, 2.0], frame.height) for i in range(8)}
    )
    want = bm.ReplicateDesign(reps, "w", "rw", "brr").mean("y", by="g")
    got = bm.ReplicateDesign(spark.createDataFrame(reps.to_arrow()), "w", "rw", "brr").mean(
        "y", by="g"
    )
    assert_same(want, got)


def test_spark_raking_writes_parquet(frame: pl.DataFrame, spark: Any, tmp_path: Path) -> None:
    complete = frame.filter(pl.col("g").is_not_null())
    margins = {"g": {"north": 0.4, "south": 0.35, "east": 0.25}, "wave": {1: 0.5, 2: 0.5}}
    want = bm.Design(complete, weights="w").rake(margins).weights
    engine = bm.Design(spark.createDataFrame(complete.to_arrow()), weights="w")
    engine.rake(margins, id="id", to=tmp_path / "raked.parquet")
    got = pl.read_parquet(tmp_path / "raked.parquet" / "*.parquet").sort("id")
    np.testing.assert_allclose(got["weight"].to_numpy(), want, rtol=1e-12)
    with pytest.raises(bm.WeightingError, match=r"new \*\.parquet file"):
        engine.rake(margins, id="id", to="raked_table")
    # the calibrated design over the DataFrame joined to its written weights
    written = bm.Design(spark.createDataFrame(complete.to_arrow()), weights="w", strata="h")
    raked = written.rake(margins, id="id", to=tmp_path / "again.parquet").design
    memory = bm.Design(complete, weights="w", strata="h").rake(margins)
    assert_same(memory.mean("y", by="g"), raked.mean("y", by="g"))
    # a model reads its own columns into memory and refits the raking there (duck_models)
    a, b = memory.glm("y ~ score + g").to_polars(), raked.glm("y ~ score + g").to_polars()
    np.testing.assert_allclose(b["se"].to_numpy(), a["se"].to_numpy(), rtol=1e-8)


def test_spark_sums_do_not_depend_on_the_order_of_the_rows(frame: pl.DataFrame, spark: Any) -> None:
    """Exact integer sums: the same bits from one partition as from five, rows reversed
    (Spark's own double sums differ in their last digits)."""
    from barometer.core.backends.spark import exact_sum

    one = spark.createDataFrame(frame.to_arrow()).coalesce(1)
    five = spark.createDataFrame(frame.reverse().to_arrow()).repartition(5)
    a = bm.Design(one, weights="w", strata="h", psu="psu").mean("y", by="g").to_polars()
    b = bm.Design(five, weights="w", strata="h", psu="psu").mean("y", by="g").to_polars()
    assert a.equals(b)
    x = np.random.default_rng(3).lognormal(0.0, 4.0, 5000) * np.repeat(
        [-1e-20, 1.0, 1e20], [1000, 2000, 2000]
    )
    values = spark.createDataFrame(pl.DataFrame({"x": x}).to_arrow()).repartition(3)
    values.createOrReplaceTempView("barometer_exact")
    got = spark.sql(f"SELECT {exact_sum('x')} AS s FROM barometer_exact").collect()[0][0]
    assert got == pytest.approx(math.fsum(x), rel=1e-15)
