"""Rao-Scott tests on a DuckDB design equal the in-memory ones (R ``svychisq``)."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import pytest

import barometer as bm
from tests.core.backends.conftest import REL, both

SPECS: dict[str, dict[str, Any]] = {
    "srs": {"weights": "w"},
    "strata": {"weights": "w", "strata": "h"},
    "strata-clusters": {"weights": "w", "strata": "h", "psu": "psu"},
}


@pytest.mark.parametrize("spec", SPECS, ids=list(SPECS))
@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald"])
@pytest.mark.parametrize(
    ("a", "b", "where"),
    [("q", "g", None), ("q", "flag", {"wave": 2}), ("score", "g", {"g": ["north", "east"]})],
)
def test_chisq_equals_in_memory(
    frame: pl.DataFrame, relation: Any, spec: str, statistic: str, a: str, b: str, where: Any
) -> None:
    memory, engine = both(frame, relation, **SPECS[spec])
    want = memory.chisq(a, b, statistic, where)
    got = engine.chisq(a, b, statistic, where)
    for field in ("statistic", "ndf", "ddf", "p_value", "pearson"):
        x, y = getattr(want, field), getattr(got, field)
        assert y == pytest.approx(x, rel=REL, nan_ok=True), field
    assert got.method == want.method
    assert got.table.drop("share", "total").equals(want.table.drop("share", "total"))
    assert got.table["total"].to_list() == pytest.approx(want.table["total"].to_list(), rel=REL)


def test_chisq_errors(frame: pl.DataFrame) -> None:
    d = bm.Design(duckdb.connect().from_arrow(frame.to_arrow()), weights="w")
    with pytest.raises(bm.EstimationError, match="two different variables"):
        d.chisq("q", "q")
    with pytest.raises(bm.EstimationError, match="selects no row"):
        d.chisq("q", "g", where={"wave": 9})
    with pytest.raises(bm.EstimationError, match="observed level"):
        d.chisq("q", "g", where={"g": "north"})
