"""Raking and post-stratification of a DuckDB table: weights written beside the data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm

MARGINS = {
    "g": {"north": 0.4, "south": 0.35, "east": 0.25},
    "wave": {1: 0.5, 2: 0.5},
    "flag": {True: 0.25, False: 0.75},
}


@pytest.fixture(scope="module")
def complete(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("g").is_not_null())


def _written(path: Path, name: str = "weight") -> pl.DataFrame:
    return pl.read_parquet(path).sort("id").select("id", name)


def test_raked_weights_equal_in_memory(complete: pl.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "answers.parquet"
    complete.write_parquet(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    want = bm.Design(complete, weights="w").rake(MARGINS).weights
    got = bm.Design(str(source), weights="w").rake(MARGINS, id="id", to=tmp_path / "raked.parquet")
    assert got.target.endswith("raked.parquet") and got.iterations and got.max_error < 1e-10
    weights = _written(tmp_path / "raked.parquet")
    assert weights["id"].to_list() == complete["id"].to_list()
    np.testing.assert_allclose(weights["weight"].to_numpy(), want, rtol=1e-12)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    assert got.cells.columns == ["g", "wave", "flag", "n", "before", "after", "factor"]
    assert got.cells["n"].sum() == complete.height


def test_raking_by_group_into_a_table(complete: pl.DataFrame) -> None:
    margins = {
        1: {"g": {"north": 0.5, "south": 0.3, "east": 0.2}},
        2: {"g": {"north": 0.2, "south": 0.3, "east": 0.5}, "flag": {True: 0.5, False: 0.5}},
    }
    want = bm.Design(complete, weights="w").rake(margins, by="wave").weights
    con = duckdb.connect()
    con.register("answers", complete.to_arrow())
    bm.Design(con.sql("SELECT * FROM answers"), weights="w").rake(
        margins, by="wave", id="id", to="raked", name="rw"
    )
    got = con.sql("SELECT id, rw FROM raked ORDER BY id").pl()
    np.testing.assert_allclose(got["rw"].to_numpy(), want, rtol=1e-12)


def test_poststratified_weights_equal_in_memory(complete: pl.DataFrame, tmp_path: Path) -> None:
    table = {("north", 1): 100, ("north", 2): 120, ("south", 1): 90, ("south", 2): 80}
    table |= {("east", 1): 60, ("east", 2): 50}
    want = bm.Design(complete, weights="w").poststratify(["g", "wave"], table).weights
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    bm.Design(rel, weights="w").poststratify(
        ["g", "wave"], table, id="id", to=tmp_path / "ps.parquet"
    )
    np.testing.assert_allclose(
        _written(tmp_path / "ps.parquet")["weight"].to_numpy(), want, rtol=1e-12
    )


def test_weighting_errors(complete: pl.DataFrame, frame: pl.DataFrame, tmp_path: Path) -> None:
    d = bm.Design(duckdb.connect().from_arrow(complete.to_arrow()), weights="w")
    (tmp_path / "old.parquet").write_bytes(b"")
    with pytest.raises(bm.WeightingError, match="exists; the weights go to a new file"):
        d.rake(MARGINS, id="id", to=tmp_path / "old.parquet")
    with pytest.raises(bm.WeightingError, match="id column 'wave' must identify every respondent"):
        d.rake(MARGINS, id="wave", to=tmp_path / "new.parquet")
    with pytest.raises(bm.WeightingError, match="cap="):
        d.rake(MARGINS, cap=5, id="id", to=tmp_path / "new.parquet")
    with pytest.raises(bm.WeightingError, match="weighting column 'gg'"):
        d.rake({"gg": {"a": 1.0}}, id="id", to=tmp_path / "new.parquet")
    with pytest.raises(bm.WeightingError):  # a missing g: the in-memory rule refuses it
        bm.Design(duckdb.connect().from_arrow(frame.to_arrow()), weights="w").rake(
            MARGINS, id="id", to=tmp_path / "new.parquet"
        )
    assert not (tmp_path / "new.parquet").exists()


@pytest.mark.parametrize(
    ("method", "bounds"), [("linear", None), ("raking", None), ("logit", (0.3, 3.0))]
)
def test_calibrated_weights_equal_in_memory(
    complete: pl.DataFrame, tmp_path: Path, method: str, bounds: tuple[float, float] | None
) -> None:
    total = float(complete["w"].sum())  # targets near the sample's own: a modest calibration
    margins = {
        "g": {"north": 0.4 * total, "south": 0.35 * total, "east": 0.25 * total},
        "wave": {1: 0.52 * total, 2: 0.48 * total},
    }
    want = bm.Design(complete, weights="w").calibrate(margins, method=method, bounds=bounds)
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    bm.Design(rel, weights="w").calibrate(
        margins, method, bounds, id="id", to=tmp_path / "cal.parquet"
    )
    got = _written(tmp_path / "cal.parquet")["weight"].to_numpy()
    np.testing.assert_allclose(got, want.weights, rtol=1e-12)


def test_numeric_calibration_is_refused(complete: pl.DataFrame, tmp_path: Path) -> None:
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    with pytest.raises(bm.WeightingError, match="numeric totals \\('y'\\)"):
        bm.Design(rel, weights="w").calibrate({"y": 1e5}, id="id", to=tmp_path / "c.parquet")
