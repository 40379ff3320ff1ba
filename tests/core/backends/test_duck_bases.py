"""What a poll asks of a DuckDB design besides estimates: its columns, the bases of a
variable, the weighting diagnostics, and ENUM levels in their order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from tests.core.backends.conftest import REL, assert_same

MARGINS = {
    1: {"g": {"north": 0.5, "south": 0.3, "east": 0.2}},
    2: {"g": {"north": 0.2, "south": 0.3, "east": 0.5}, "flag": {True: 0.5, False: 0.5}},
}


@pytest.mark.parametrize(
    ("variable", "by"), [("y", ["g", "wave"]), ("q", "g"), ("q", None), ("flag", ["wave"])]
)
def test_bases_equal_in_memory(
    frame: pl.DataFrame, relation: duckdb.DuckDBPyRelation, variable: str, by: object
) -> None:
    """Rows with the variable observed (a NaN is not) per domain, and their weights."""
    a = bm.Design(frame, weights="w").bases(variable, by)
    b = bm.Design(relation, weights="w").bases(variable, by)
    names = [by] if isinstance(by, str) else list(by or [])
    assert a.columns == b.columns == [*names, "variable", "n", "weight"]
    assert a.select(*names, "variable", "n").equals(b.select(*names, "variable", "n"))
    np.testing.assert_allclose(b["weight"].to_numpy(), a["weight"].to_numpy(), rtol=REL)
    observed = frame.filter(pl.col(variable).is_not_null())
    if frame.schema[variable].is_float():
        observed = observed.filter(pl.col(variable).is_not_nan())
    for name in names:
        observed = observed.filter(pl.col(name).is_not_null())
    assert int(a["n"].sum()) == observed.height


def test_bases_of_several_variables_in_one_pass(
    frame: pl.DataFrame, relation: duckdb.DuckDBPyRelation
) -> None:
    a = bm.Design(frame, weights="w").bases(["y", "q", "flag"], by="g")
    b = bm.Design(relation, weights="w").bases(["y", "q", "flag"], by="g")
    assert a.select("g", "variable", "n").equals(b.select("g", "variable", "n"))
    np.testing.assert_allclose(b["weight"].to_numpy(), a["weight"].to_numpy(), rtol=REL)
    one = bm.Design(frame, weights="w").bases("q", by="g")
    assert a.filter(pl.col("variable") == "q").equals(one)
    assert bm.Design(frame).bases([], by="g").height == 0


def test_columns_of_both_designs(frame: pl.DataFrame, relation: duckdb.DuckDBPyRelation) -> None:
    assert bm.Design(relation).columns == bm.Design(frame).columns == tuple(frame.columns)


def test_weight_summary_of_a_raked_duckdb_design(frame: pl.DataFrame, tmp_path: Path) -> None:
    """Kish's design effect, effective n, range per raking group and overall, from
    grouped sums; nothing capped or floored."""
    complete = frame.filter(pl.col("g").is_not_null())
    source = tmp_path / "answers.parquet"
    complete.write_parquet(source)
    want = bm.Design(complete, weights="w").rake(MARGINS, by="wave").weight_summary()
    raked = bm.Design(str(source), weights="w").rake(
        MARGINS, by="wave", id="id", to=tmp_path / "raked.parquet"
    )
    assert raked.design is not None
    got = raked.design.weight_summary()
    a, b = want.to_polars(), got.to_polars()
    assert a.select("group", "n", "n_capped", "n_floored").equals(
        b.select("group", "n", "n_capped", "n_floored")
    )
    for col in ("total", "mean", "min", "max", "ratio", "cv", "n_eff", "deff", "deff_before"):
        np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=1e-9, err_msg=col)
    assert got.method == "rake" and got.iterations == want.iterations
    unweighted = bm.Design(str(source), weights="w").weight_summary()
    assert unweighted.groups == () and unweighted.method is None
    assert unweighted.overall.deff == pytest.approx(want.overall.deff_before, rel=1e-12)


def test_enum_levels_and_domains_keep_their_order(tmp_path: Path) -> None:
    """An ENUM column's levels and domains come out in the ENUM's order, as an ``Enum``
    column's do in memory (not alphabetically)."""
    order = pl.Enum(["partner", "ally", "rival"])
    frame = pl.DataFrame(
        {
            "w": [1.0, 2.0, 1.5, 3.0, 1.0, 2.5],
            "q": pl.Series(["ally", "rival", "partner", "ally", None, "rival"], dtype=order),
            "b": pl.Series(["rival", "ally", "ally", "partner", "rival", "partner"], dtype=order),
        }
    )
    con = duckdb.connect()
    con.register("t", frame.with_columns(pl.col("q", "b").cast(pl.String)).to_arrow())
    levels = "ENUM('partner', 'ally', 'rival')"
    rel = con.sql(f"SELECT w, CAST(q AS {levels}) AS q, CAST(b AS {levels}) AS b FROM t")
    want = bm.Design(frame, weights="w").proportion("q", by="b")
    got = bm.Design(rel, weights="w").proportion("q", by="b")
    assert got.to_polars().schema["b"] == order
    levels = got.to_polars()["level"].unique(maintain_order=True).to_list()
    assert levels == order.categories.to_list()
    assert_same(want, got)
