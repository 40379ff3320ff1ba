"""The door of a DuckDB design: Parquet paths and globs, clear errors, the data untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.backends import is_external
from barometer.core.backends.duck import connect
from tests.core.backends.conftest import assert_same


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_path_glob_and_list_equal_in_memory(frame: pl.DataFrame, tmp_path: Path) -> None:
    for wave, part in frame.partition_by("wave", as_dict=True).items():
        part.write_parquet(tmp_path / f"wave={wave[0]}.parquet")
    files = sorted(tmp_path.glob("*.parquet"))
    before = {f: _digest(f) for f in files}
    memory = bm.Design(frame, weights="w", strata="h", psu="psu")
    want = memory.proportion("q", by="g")
    for data in (
        str(tmp_path / "*.parquet"),
        files,
        connect("1GB").read_parquet([str(f) for f in files]),
    ):
        engine = bm.Design(data, weights="w", strata="h", psu="psu")
        assert_same(want, engine.proportion("q", by="g"))
    assert {f: _digest(f) for f in files} == before  # the user's files are never modified


def test_is_external_never_claims_an_in_memory_table(frame: pl.DataFrame) -> None:
    assert not is_external(frame)
    assert not is_external(frame.to_pandas())
    assert not is_external(frame.to_arrow())
    assert is_external("a/*.parquet") and is_external([Path("a.parquet")])
    assert type(bm.Design(frame, weights="w")) is bm.Design


def test_relation_left_as_it_was(frame: pl.DataFrame) -> None:
    con = duckdb.connect()
    con.register("answers", frame.to_arrow())
    rel = con.sql("SELECT * FROM answers")
    bm.Design(rel, weights="w", strata="h").proportion("q", by="g")
    assert con.sql("SELECT table_name FROM information_schema.tables").fetchall() == [("answers",)]
    assert rel.columns == frame.columns


def _rel(frame: pl.DataFrame) -> Any:
    return duckdb.connect().from_arrow(frame.to_arrow())


@pytest.mark.parametrize(
    ("change", "spec", "message"),
    [
        (
            {},
            {"weights": "wt"},
            r"weights column 'wt' is not in the DuckDB relation \(did you mean 'w'",
        ),
        (
            {"w": pl.lit(None, pl.Float64)},
            {"weights": "w"},
            "weights column 'w' has missing values in 3000 rows",
        ),
        ({"w": pl.lit(float("nan"))}, {"weights": "w"}, "has missing values in 3000 rows"),
        ({"w": pl.lit(-1.0)}, {"weights": "w"}, "must be positive; it is not in 3000 rows"),
        ({"w": pl.lit("x")}, {"weights": "w"}, "must be numeric, not VARCHAR"),
        ({"h": pl.lit(None, pl.Int64)}, {"strata": "h"}, "strata column 'h' has missing values"),
        (
            {"f": pl.col("h") + 0.5},
            {"strata": "h", "psu": "psu", "fpc": "f"},
            "mixes sampling fractions",
        ),
        (
            {"f": pl.col("psu") + 1.0},
            {"strata": "h", "psu": "psu", "fpc": "f"},
            "varies within a stratum",
        ),
    ],
)
def test_bad_designs_raise_one_clear_error(
    frame: pl.DataFrame, change: dict[str, Any], spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(bm.DesignError, match=message):
        bm.Design(_rel(frame.with_columns(**change)), **spec)


def test_lonely_psu_fail_names_the_stratum(frame: pl.DataFrame) -> None:
    lonely = frame.filter((pl.col("h") != 0) | (pl.col("psu") == 0))
    with pytest.raises(bm.DesignError, match="stratum 0 of 'h' has only one PSU"):
        bm.Design(_rel(lonely), weights="w", strata="h", psu="psu").mean("y")


def test_psu_in_two_strata_with_nest_false(frame: pl.DataFrame) -> None:
    clash = frame.with_columns(psu=pl.col("psu") % 10)
    with pytest.raises(bm.DesignError, match="lies in more than one stratum"):
        bm.Design(_rel(clash), weights="w", strata="h", psu="psu", nest=False)


def test_not_parquet_and_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(bm.DesignError, match="must name Parquet files"):
        bm.Design(str(tmp_path / "answers.csv"))
    with pytest.raises(bm.DesignError, match="cannot be read as Parquet"):
        bm.Design(str(tmp_path / "none-*.parquet"))


def test_estimation_errors(frame: pl.DataFrame) -> None:
    d = bm.Design(_rel(frame), weights="w")
    with pytest.raises(
        bm.EstimationError, match=r"variable column 'yy' is not in .*did you mean 'y'"
    ):
        d.mean("yy")
    with pytest.raises(bm.EstimationError, match="by column 'gg'"):
        d.mean("y", by="gg")
    with pytest.raises(bm.EstimationError, match="is VARCHAR, not numeric"):
        d.mean("q")
    with pytest.raises(bm.EstimationError, match="does not occur"):
        d.proportion("q", level="maybe")
    with pytest.raises(bm.EstimationError, match="proportion column 'qq' is not in"):
        d.proportion("qq", ci="likelihood")  # read into memory (duck_models), checked first
    with pytest.raises(bm.EstimationError, match=r"to_replicates\(\) is not yet available"):
        d.to_replicates()
    with pytest.raises(bm.EstimationError, match="stay in DuckDB"):
        d.weights  # noqa: B018


def test_sums_do_not_depend_on_row_order(frame: pl.DataFrame) -> None:
    # compensated sums: shuffling the rows (and so DuckDB's order of addition) changes nothing
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    a = bm.Design(_rel(frame), weights="w", strata="h").mean("y", by="g").to_polars()
    b = bm.Design(_rel(shuffled), weights="w", strata="h").mean("y", by="g").to_polars()
    np.testing.assert_allclose(b["estimate"].to_numpy(), a["estimate"].to_numpy(), rtol=1e-15)
