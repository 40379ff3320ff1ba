"""The demo's numeric answers (issue 14): the trust scale's population means meet their
targets, the firms deliver the scale and the ages in their own layouts, and the round
trip from files to estimates recovers them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat
import pytest

import barometer as bm
from barometer.demo import population as popn
from barometer.demo.build import build_demo
from barometer.demo.scales import SCALE, population_mean, scale_targets
from barometer.poll.spec import PollSpec, load_spec


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "out")


@pytest.fixture(scope="module")
def spec(demo: Path) -> PollSpec:
    return load_spec(demo)


@pytest.mark.parametrize("wave", list(popn.WAVES))
def test_population_means_meet_the_targets(wave: str) -> None:
    targets = scale_targets(wave)
    for country, target in targets.items():
        assert population_mean(country, wave) == pytest.approx(target, abs=1e-9)
    eu = [population_mean(c, wave) for c in targets if c in popn.EU_MEMBERS]
    assert np.mean(eu) == pytest.approx(SCALE.eu[wave], abs=1e-9)


def test_each_firm_delivers_the_scale_and_ages_in_its_layout(spec: PollSpec) -> None:
    by_firm = {s.firm: s for s in spec.sources}
    norstat = by_firm["Norstat"].variables["age"]
    assert norstat.codes is None and norstat.recode is not None
    assert [r.level for r in norstat.recode] == ["18-29", "30-44", "45-59", "60+"]
    yougov_csv = next(s for s in spec.sources if s.file_format == "csv")
    assert yougov_csv.variables["age"].codes == {lv: lv for lv in popn.DEMOGRAPHICS["age"]}
    assert by_firm["Datapraxis"].variables["age"].codes is not None  # banded codes
    columns = {s.variables["trust_eu"].column for s in spec.sources}
    assert len(columns) == 4
    de = next(s for s in spec.sources if s.country == "DE")
    frame, meta = pyreadstat.read_sav(str(spec.source_path(de)), user_missing=True)
    column = de.variables["trust_eu"].column
    assert meta.variable_value_labels[column][98] == "Don't know"
    assert (frame[column] == 98).any() and frame[column].dropna().isin(range(11)).mean() < 1


def test_round_trip_recovers_the_scale(demo: Path, tmp_path: Path) -> None:
    poll, _ = bm.Poll.ingest(demo, tmp_path / "poll.duckdb")
    poll.weight()
    est = poll.estimate("trust_eu", waves=["2025-11"]).to_polars()
    assert est["level"].null_count() == est.height
    covered = [
        lo <= population_mean(c, "2025-11") <= hi
        for c, lo, hi in est.select("country", "ci_low", "ci_high").iter_rows()
    ]
    assert sum(covered) >= len(covered) - 1  # 95% intervals: at most one of 13 may miss
    # Norstat's ages in years band like everyone else's
    ages = poll.estimate("age", countries=["EE", "PT"], weights="base").to_polars()
    assert set(ages["level"]) == set(popn.DEMOGRAPHICS["age"])
    net = poll.estimate("us_relationship", countries=["KR"]).to_polars()
    kr = net.filter(pl.col("wave") == "2025-11")
    by = dict(zip(kr["level"], kr["estimate"], strict=True))
    assert by["ally_or_partner"] == pytest.approx(by["ally"] + by["partner"])
