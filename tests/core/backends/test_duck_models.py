"""Models on DuckDB designs (glm, olr, the likelihood interval): the model's columns read
into memory, weighted as the design is, equal to the in-memory design's fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.core.backends.conftest import REL, assert_same

LAYOUT = {"weights": "w", "strata": "h", "psu": "psu"}
MARGINS = {"g": {"north": 0.4, "south": 0.35, "east": 0.25}, "wave": {1: 0.5, 2: 0.5}}


@pytest.fixture(scope="module")
def complete(frame: pl.DataFrame) -> pl.DataFrame:
    # the weights tamed: the conftest's 1e8 weights make a model a few rows' fit
    return frame.filter(pl.col("g").is_not_null()).with_columns(
        w=pl.col("w").clip(0.1, 10.0), up=(pl.col("score") >= 3)
    )


@pytest.fixture(scope="module")
def designs(complete: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """(in memory, DuckDB) for base weights, raked and linearly calibrated designs."""
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    folder = tmp_path_factory.mktemp("model-weights")
    total = float(complete["w"].sum())
    totals = {"g": {"north": 0.4 * total, "south": 0.35 * total, "east": 0.25 * total}}
    mem, duck = bm.Design(complete, **LAYOUT), bm.Design(rel, **LAYOUT)
    return {
        "base": (mem, duck),
        "raked": (mem.rake(MARGINS), duck.rake(MARGINS, id="id", to=folder / "r.parquet").design),
        "linear": (
            mem.calibrate(totals),
            duck.calibrate(totals, id="id", to=folder / "c.parquet").design,
        ),
    }


def _same_table(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a["term"].to_list() == b["term"].to_list()
    for col in ("estimate", "se", "p_value", "ci_low", "ci_high"):
        np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=REL, err_msg=col)


@pytest.mark.parametrize("kind", ["base", "raked", "linear"])
@pytest.mark.parametrize(
    ("formula", "family"),
    [("y ~ score + g", "gaussian"), ("up ~ y + C(wave)", "quasibinomial")],
)
def test_glm_equals_in_memory(
    designs: dict[str, Any], kind: str, formula: str, family: Any
) -> None:
    mem, duck = designs[kind]
    _same_table(mem.glm(formula, family).to_polars(), duck.glm(formula, family).to_polars())


def test_glm_where_and_by_equal_in_memory(designs: dict[str, Any]) -> None:
    mem, duck = designs["raked"]
    where = {"wave": 2}
    _same_table(
        mem.glm("y ~ score", where=where).to_polars(),
        duck.glm("y ~ score", where=where).to_polars(),
    )
    a, b = mem.glm("y ~ score", by="g"), duck.glm("y ~ score", by="g")
    _same_table(a.to_polars(), b.to_polars())


def test_the_calibration_reaches_the_model(designs: dict[str, Any], complete: pl.DataFrame) -> None:
    """The raked model's SEs are the calibrated ones, not those of the written weights taken
    as base weights (which differ)."""
    _, duck = designs["raked"]
    target = duck.source.label.split(" with the weights of ")[1]
    plain = bm.Design(complete.join(pl.read_parquet(target), on="id"), "weight", "h", "psu")
    raked = duck.glm("y ~ score + g").to_polars()["se"].to_numpy()
    base = plain.glm("y ~ score + g").to_polars()["se"].to_numpy()
    assert np.all(np.abs(raked / base - 1) > 1e-6)


def test_olr_equals_in_memory(designs: dict[str, Any]) -> None:
    mem, duck = designs["raked"]
    _same_table(mem.olr("score ~ y + g").to_polars(), duck.olr("score ~ y + g").to_polars())


@pytest.mark.parametrize("kind", ["base", "raked"])
def test_likelihood_interval_equals_in_memory(designs: dict[str, Any], kind: str) -> None:
    mem, duck = designs[kind]
    assert_same(
        mem.proportion("q", by="wave", ci="likelihood"),
        duck.proportion("q", by="wave", ci="likelihood"),
        rel=1e-8,
    )


def test_glm_over_parquet_reads_only_the_model_columns(
    complete: pl.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "poll.parquet"
    complete.with_columns(extra=pl.lit("x" * 50)).write_parquet(path)
    duck = bm.Design(str(path), **LAYOUT)
    from barometer.core.backends.duck_models import materialise, model_columns

    columns = model_columns(duck, "y ~ score + C(wave)", [None])
    assert columns == ["y", "score", "wave"]
    assert set(materialise(duck, columns).data.columns) == {"y", "score", "wave", "w", "h", "psu"}
    _same_table(
        bm.Design(complete, **LAYOUT).glm("y ~ score").to_polars(),
        duck.glm("y ~ score").to_polars(),
    )


def test_unknown_model_variables_are_named(designs: dict[str, Any]) -> None:
    _, duck = designs["base"]
    with pytest.raises(bm.EstimationError, match=r"'scor' is not in .*did you mean 'score'"):
        duck.glm("y ~ scor")
    with pytest.raises(bm.EstimationError, match="'wav'"):
        duck.glm("y ~ score", where={"wav": 1})
