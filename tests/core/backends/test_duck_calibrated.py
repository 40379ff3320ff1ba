"""Calibrated variances of a DuckDB design (raked, post-stratified, calibrated on categorical
margins) from sums by cell: equal to the in-memory calibrated design's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.options import CIMethod
from tests.core.backends.conftest import assert_same

MARGINS = {
    "g": {"north": 0.4, "south": 0.35, "east": 0.25},
    "wave": {1: 0.5, 2: 0.5},
    "flag": {True: 0.25, False: 0.75},
}
CELLS = {("north", 1): 100, ("north", 2): 120, ("south", 1): 90, ("south", 2): 80}
CELLS |= {("east", 1): 60, ("east", 2): 50}
LAYOUTS = {
    "element": {"weights": "w"},
    "stratified": {"weights": "w", "strata": "h"},
    "clustered": {"weights": "w", "strata": "h", "psu": "psu"},
}


def _totals(frame: pl.DataFrame) -> dict[str, dict[Any, float]]:
    total = float(frame["w"].sum())  # targets near the sample's own: a modest calibration
    return {
        "g": {"north": 0.4 * total, "south": 0.35 * total, "east": 0.25 * total},
        "wave": {1: 0.52 * total, 2: 0.48 * total},
    }


Weigh = Callable[[Any, dict[str, Any]], Any]


def _weighings(frame: pl.DataFrame) -> dict[str, tuple[Weigh, Weigh]]:
    """Each weighting as (in memory, in DuckDB writing to ``to``)."""
    totals = _totals(frame)
    by_wave = {
        1: {"g": {"north": 0.5, "south": 0.3, "east": 0.2}},
        2: {"g": {"north": 0.2, "south": 0.3, "east": 0.5}, "flag": {True: 0.5, False: 0.5}},
    }
    return {
        "rake": (lambda d, k: d.rake(MARGINS, **k), lambda d, k: d.rake(MARGINS, **k)),
        "rake_by": (
            lambda d, k: d.rake(by_wave, by="wave", **k),
            lambda d, k: d.rake(by_wave, by="wave", **k),
        ),
        "poststratify": (
            lambda d, k: d.poststratify(["g", "wave"], CELLS, **k),
            lambda d, k: d.poststratify(["g", "wave"], CELLS, **k),
        ),
        "linear": (lambda d, k: d.calibrate(totals, **k), lambda d, k: d.calibrate(totals, **k)),
        "logit": (
            lambda d, k: d.calibrate(totals, method="logit", bounds=(0.3, 3.0), **k),
            lambda d, k: d.calibrate(totals, method="logit", bounds=(0.3, 3.0), **k),
        ),
    }


ESTIMATES: dict[str, Callable[[Any], bm.Estimates]] = {
    "mean": lambda d: d.mean("y"),
    "mean_by": lambda d: d.mean(["y", "score"], by=["wave", "g"]),
    "total_by": lambda d: d.total("y", by="score"),
    "proportion_by": lambda d: d.proportion("q", by="wave"),
    "count": lambda d: d.total("q", by="g"),
}


@pytest.fixture(scope="module")
def complete(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("g").is_not_null())


@pytest.fixture(scope="module")
def weighted(
    complete: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], tuple[Any, Any]]:
    """Every (layout, weighting): the in-memory design and the DuckDB one."""
    out = {}
    folder = tmp_path_factory.mktemp("weights")
    rel = duckdb.connect().from_arrow(complete.to_arrow())
    for layout, spec in LAYOUTS.items():
        for kind, (memory, engine) in _weighings(complete).items():
            mem = memory(bm.Design(complete, **spec), {})
            to = folder / f"{layout}-{kind}.parquet"
            written = engine(bm.Design(rel, **spec), {"id": "id", "to": to})
            out[layout, kind] = (mem, written.design)
    return out


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", ["rake", "rake_by", "poststratify", "linear", "logit"])
@pytest.mark.parametrize("estimate", list(ESTIMATES))
def test_calibrated_estimates_equal_in_memory(
    weighted: dict[tuple[str, str], tuple[Any, Any]], layout: str, kind: str, estimate: str
) -> None:
    mem, duck = weighted[layout, kind]
    assert_same(ESTIMATES[estimate](mem), ESTIMATES[estimate](duck))


def test_calibration_changes_the_standard_errors(
    weighted: dict[tuple[str, str], tuple[Any, Any]], complete: pl.DataFrame
) -> None:
    """The equivalence is not that of base weights: with the written weights taken as
    base weights the SEs differ, and a raked margin's own shares have (almost) none."""
    _, duck = weighted["clustered", "rake"]
    raked = duck.mean("y", by="wave").to_polars()["se"].to_numpy()
    plain = bm.Design(
        duckdb.connect().from_arrow(
            complete.join(
                pl.read_parquet(duck.source.label.split(" with the weights of ")[1]), on="id"
            ).to_arrow()
        ),
        weights="weight",
        strata="h",
        psu="psu",
    )
    base = plain.mean("y", by="wave").to_polars()["se"].to_numpy()
    assert np.all(np.abs(raked / base - 1) > 1e-4)
    margin = duck.proportion("wave").to_polars()["se"].to_numpy()
    assert np.all(margin < 1e-8 * plain.proportion("wave").to_polars()["se"].to_numpy())


def test_calibrated_chisq_and_quantiles_equal_in_memory(
    weighted: dict[tuple[str, str], tuple[Any, Any]],
) -> None:
    for layout in ("element", "clustered"):
        mem, duck = weighted[layout, "rake"]
        for statistic in ("F", "Wald"):
            a, b = mem.chisq("q", "score", statistic), duck.chisq("q", "score", statistic)
            np.testing.assert_allclose(b.statistic, a.statistic, rtol=1e-10)
            np.testing.assert_allclose(b.p_value, a.p_value, rtol=1e-10)
        assert_same(
            mem.quantile("y", [0.25, 0.5], by="wave"), duck.quantile("y", [0.25, 0.5], by="wave")
        )


def test_the_data_and_the_weights_are_read_not_copied(
    complete: pl.DataFrame, tmp_path: Path
) -> None:
    rel = duckdb.connect().from_arrow(complete.rename({"w": "weight"}).to_arrow())
    written = bm.Design(rel, weights="weight").rake(MARGINS, id="id", to=tmp_path / "r.parquet")
    design = written.design
    assert design is not None and design.n == complete.height
    assert "with the weights of" in design.source.label
    mem = bm.Design(complete, weights="w").rake(MARGINS)
    assert_same(mem.mean("y", by="g"), design.mean("y", by="g"))
    with pytest.raises(bm.WeightingError, match="already weighted"):
        design.rake(MARGINS, id="id", to=tmp_path / "again.parquet")


@pytest.mark.parametrize("ci", ["logit", "beta", "wilson"])
def test_calibrated_proportion_intervals_equal_in_memory(
    weighted: dict[tuple[str, str], tuple[Any, Any]], ci: CIMethod
) -> None:
    mem, duck = weighted["clustered", "poststratify"]
    assert_same(mem.proportion("q", by="wave", ci=ci), duck.proportion("q", by="wave", ci=ci))


@pytest.mark.parametrize("layout", ["element", "clustered"])
def test_calibrated_ttest_equals_in_memory(
    weighted: dict[tuple[str, str], tuple[Any, Any]], layout: str
) -> None:
    mem, duck = weighted[layout, "rake"]
    a, b = mem.ttest("y", "flag").to_polars(), duck.ttest("y", "flag").to_polars()
    assert a["df"].equals(b["df"])
    for col in ("estimate", "se", "p_value", "ci_low", "ci_high"):
        np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=1e-10)
