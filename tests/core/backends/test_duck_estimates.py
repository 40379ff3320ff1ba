"""DuckDB designs equal in-memory ones: mean, total, proportion by domains (issue 20)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.backends.duck_design import DuckDBDesign
from barometer.options import CIMethod
from tests.core.backends.conftest import REL, assert_same, both

DESIGNS: dict[str, dict[str, Any]] = {
    "srs": {"weights": "w"},
    "unweighted": {},
    "strata": {"weights": "w", "strata": "h"},
    "clusters": {"weights": "w", "psu": "psu"},
    "strata-clusters": {"weights": "w", "strata": "h", "psu": "psu"},
    "not-nested": {"weights": "w", "strata": "h", "psu": "psu", "nest": False},
}

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("mean", {"variables": "y"}),
    ("mean", {"variables": ["y", "score"], "by": "g"}),
    ("mean", {"variables": "flag", "by": ["g", "wave"]}),
    ("mean", {"variables": "y", "by": ["g", "wave"]}),  # a domain where y is always missing
    ("total", {"variables": "y", "by": ["g", "wave"]}),
    ("total", {"variables": "q", "by": "g"}),
    ("total", {"variables": "flag"}),
    ("proportion", {"variable": "q"}),
    ("proportion", {"variable": "q", "by": ["g", "wave"]}),
    ("proportion", {"variable": "score", "by": "wave"}),
    ("proportion", {"variable": "q", "by": "g", "level": "agree"}),
]


@pytest.mark.parametrize("design", DESIGNS, ids=list(DESIGNS))
@pytest.mark.parametrize("call", CALLS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CALLS)])
def test_estimates_equal_in_memory(
    frame: Any, relation: Any, design: str, call: tuple[str, dict[str, Any]]
) -> None:
    memory, engine = both(frame, relation, **DESIGNS[design])
    assert isinstance(engine, DuckDBDesign) and isinstance(engine, bm.Design)
    method, args = call
    assert_same(getattr(memory, method)(**args), getattr(engine, method)(**args))


@pytest.mark.parametrize("design", ["srs", "strata", "strata-clusters"])
def test_covariance_equals_in_memory(frame: Any, relation: Any, design: str) -> None:
    memory, engine = both(frame, relation, **DESIGNS[design])
    for method, args in [
        ("proportion", {"variable": "q", "by": "g"}),
        ("mean", {"variables": "y", "by": "g"}),
    ]:
        a, b = getattr(memory, method)(**args).vcov(), getattr(engine, method)(**args).vcov()
        scale = np.abs(a).max()
        np.testing.assert_allclose(b, a, rtol=0, atol=REL * scale)


@pytest.mark.parametrize("rule", ["adjust", "average", "certainty", "remove"])
@pytest.mark.parametrize("clustered", [True, False])
def test_lonely_psus_equal_in_memory(frame: Any, relation: Any, rule: str, clustered: bool) -> None:
    # stratum 0 keeps one PSU (or one row): a lonely PSU under every rule
    lonely = frame.filter((frame["h"] != 0) | (frame["psu"] == 0))
    if not clustered:
        lonely = lonely.filter(
            (lonely["h"] != 0) | (lonely["id"] == lonely.filter(lonely["h"] == 0)["id"].min())
        )
    import duckdb

    rel = duckdb.connect().from_arrow(lonely.to_arrow())
    spec = {"weights": "w", "strata": "h", "lonely_psu": rule}
    if clustered:
        spec["psu"] = "psu"
    memory, engine = both(lonely, rel, **spec)
    assert_same(memory.proportion("q", by="g"), engine.proportion("q", by="g"))
    assert_same(memory.mean("y", by="wave"), engine.mean("y", by="wave"))
    assert_same(memory.total("y"), engine.total("y"))


@pytest.mark.parametrize("fpc", ["fraction", "size"])
def test_fpc_equals_in_memory(frame: Any, fpc: str) -> None:
    import duckdb
    import polars as pl

    n_h = frame.group_by("h").agg(pl.col("psu").n_unique().alias("n_h"))
    value = pl.col("n_h") / 40 if fpc == "fraction" else pl.col("n_h") * 8
    with_fpc = frame.join(n_h, on="h").with_columns(f=value).drop("n_h")
    rel = duckdb.connect().from_arrow(with_fpc.to_arrow())
    memory, engine = both(with_fpc, rel, weights="w", strata="h", psu="psu", fpc="f")
    assert_same(memory.proportion("q", by="g"), engine.proportion("q", by="g"))
    assert_same(memory.mean("y"), engine.mean("y"))


def test_large_mean_is_centred_in_the_query(frame: Any) -> None:
    # y = 1e6 + noise: an element design's variance from raw moments would lose ~12 digits
    import duckdb
    import polars as pl

    shifted = frame.with_columns(y=pl.col("y") + 1e6)
    rel = duckdb.connect().from_arrow(shifted.to_arrow())
    memory, engine = both(shifted, rel, weights="w", strata="h")
    # (the design effect's shared formula, E[y^2] - E[y]^2, loses those digits on both paths)
    numbers = ("estimate", "se", "ci_low", "ci_high")
    assert_same(memory.mean("y", by="g"), engine.mean("y", by="g"), numbers=numbers)


def test_derived_estimates_work_from_the_engine_covariance(frame: Any, relation: Any) -> None:
    memory, engine = both(frame, relation, weights="w", strata="h", psu="psu")
    a = memory.proportion("q", by="g").contrast({0: 1.0, 3: -1.0})
    b = engine.proportion("q", by="g").contrast({0: 1.0, 3: -1.0})
    assert b.estimate == pytest.approx(a.estimate, rel=REL)
    assert b.se == pytest.approx(a.se, rel=REL)


def test_design_properties(frame: Any, relation: Any) -> None:
    for spec in DESIGNS.values():
        memory, engine = both(frame, relation, **spec)
        assert engine.n == memory.n
        assert engine.degf == memory.degf
    assert "DuckDBDesign(3000 rows of the DuckDB relation" in repr(engine)


@pytest.mark.parametrize(
    "spec",
    [
        {"weights": "w"},
        {"weights": "w", "strata": "h"},
        {"weights": "w", "strata": "h", "psu": "psu"},
        {"weights": "w", "strata": "h", "psu": "psu", "lonely_psu": "average"},
    ],
    ids=["srs", "strata", "clusters", "average"],
)
def test_ratio_equals_in_memory(frame: pl.DataFrame, relation: Any, spec: dict[str, Any]) -> None:
    memory, engine = both(frame, relation, **spec)
    assert_same(memory.ratio("y", "score"), engine.ratio("y", "score"))
    assert_same(memory.ratio("y", "score", by="g"), engine.ratio("y", "score", by="g"))
    if "psu" in spec:  # several ratios: their covariance across numerators and domains
        a = memory.ratio(["y", "score"], ["score", "wave"], by=["g"])
        b = engine.ratio(["y", "score"], ["score", "wave"], by=["g"])
        assert_same(a, b)
        np.testing.assert_allclose(b.vcov(), a.vcov(), rtol=1e-10, atol=1e-14 * abs(a.vcov()).max())
    else:
        with pytest.raises(bm.EstimationError, match="one numerator and one denominator"):
            engine.ratio(["y", "score"], "wave")


@pytest.mark.parametrize("ci", ["logit", "xlogit", "beta", "wilson", "asin", "mean"])
@pytest.mark.parametrize(
    "spec",
    [{"weights": "w", "strata": "h"}, {"weights": "w", "strata": "h", "psu": "psu"}],
    ids=["strata", "clusters"],
)
def test_proportion_intervals_equal_in_memory(
    frame: pl.DataFrame, relation: Any, spec: dict[str, Any], ci: CIMethod
) -> None:
    memory, engine = both(frame, relation, **spec)
    for by in (None, ["g", "wave"]):
        a = memory.proportion("q", by=by, ci=ci, confidence=0.9)
        b = engine.proportion("q", by=by, ci=ci, confidence=0.9)
        assert_same(a, b)


@pytest.mark.parametrize(
    "spec",
    [{"weights": "w"}, {"weights": "w", "strata": "h", "psu": "psu"}],
    ids=["srs", "clusters"],
)
def test_ttest_equals_in_memory(frame: pl.DataFrame, relation: Any, spec: dict[str, Any]) -> None:
    memory, engine = both(frame, relation, **spec)
    for group in ("wave", "flag", None):
        a, b = memory.ttest("y", group).to_polars(), engine.ttest("y", group).to_polars()
        assert a.select("variable", "group", "contrast", "df").equals(
            b.select("variable", "group", "contrast", "df")
        )
        for col in ("estimate", "se", "statistic", "p_value", "ci_low", "ci_high"):
            np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=REL)
    with pytest.raises(bm.EstimationError, match="must have two levels"):
        engine.ttest("y", "g")
