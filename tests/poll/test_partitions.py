"""A poll whose respondents are Parquet partitions (barometer.poll.partitions): estimated,
weighted and published through the core's DuckDB designs, equal to the in-memory poll."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.core.backends.duck_design import DuckDBDesign
from barometer.errors import BarometerError, EstimationError, WeightingError
from barometer.poll.partitions import GROUP, KEY, PSU, STRATUM
from barometer.poll.poll import Poll
from barometer.poll.publication import Publication
from barometer.poll.store import Store
from barometer.poll.weighting import design_frame
from tests.support.pollkit import edit_spec, make_poll

#: Relative tolerance between the DuckDB and the in-memory path: the same statistics on
#: the same sums, added in another order (DuckDB's fsum against NumPy's pairwise sums).
RTOL = 1e-10
#: Absolute floor of the comparison, for figures that are zero in exact arithmetic.
ATOL = 1e-13

runner = CliRunner()


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _same_table(a: pl.DataFrame, b: pl.DataFrame, where: str) -> None:
    """Equal columns and rows; floats to RTOL, everything else exactly (as text)."""
    assert a.columns == b.columns, where
    assert a.height == b.height, where
    for col in a.columns:
        x, y = a.get_column(col), b.get_column(col)
        if x.dtype.is_float():
            gap = (x - y).abs() - (RTOL * x.abs() + ATOL)
            assert x.is_null().equals(y.is_null()), f"{where}: nulls of {col}"
            assert not (gap.fill_null(0.0).fill_nan(0.0) > 0).any(), f"{where}: {col}"
        else:
            assert x.dtype == y.dtype and x.equals(y), f"{where}: {col}"


def _same_publication(a: Publication, b: Publication) -> int:
    """Every table of ``a`` equals ``b``'s; returns the number of tables compared."""
    assert a.questions == b.questions and a.breakdowns == b.breakdowns
    assert a.notes == b.notes and set(a.by_question) == set(b.by_question)
    compared = 0
    for key, cells in a.by_question.items():
        other = b.by_question[key]
        for part in ("estimates", "total", "quantiles", "distribution"):
            x, y = getattr(cells, part), getattr(other, part)
            assert (x is None) == (y is None), (key, part)
            if x is not None:
                _same_table(x.to_polars(), y.to_polars(), f"{key} {part}")
                if part in ("estimates", "total"):  # (quantiles carry no covariance)
                    # a covariance zero in exact arithmetic is noise of the variances' size
                    v, w = x.vcov(), y.vcov()
                    floor = RTOL * float(np.abs(np.diag(v)).max())
                    assert np.allclose(v, w, rtol=RTOL, atol=floor), (key, part)
                compared += 1
    for qid, view in a.sets.items():
        if view.gaps is not None:
            _same_table(view.gaps, b.sets[qid].gaps, f"{qid} gaps")
            compared += 1
    _same_table(a.facts.diagnostics, b.facts.diagnostics, "diagnostics")
    _same_table(a.facts.bases, b.facts.bases, "bases")
    return compared


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The demo poll twice: in memory, and as Parquet partitions; both weighted."""
    from barometer.demo.build import build_demo

    root = tmp_path_factory.mktemp("partitioned_demo")
    spec = build_demo(root / "demo")
    sources = _digests(root / "demo")
    memory, _ = Poll.ingest(spec, root / "memory.duckdb")
    parts, _ = Poll.ingest(spec, root / "parts.duckdb", partitions=root / "parts")
    written = _digests(root / "parts")
    memory.weight()
    parts.weight()
    return {
        "root": root,
        "memory": memory,
        "parts": parts,
        "sources": sources,
        "written": written,
    }


@pytest.mark.slow
def test_a_partitioned_demo_publishes_the_in_memory_publication(demo: dict) -> None:
    memory, parts = demo["memory"], demo["parts"]
    assert isinstance(parts.design(), DuckDBDesign)  # nothing read into memory
    a = memory.publication(breakdowns=["age"])
    b = parts.publication(breakdowns=["age"])
    assert _same_publication(a, b) > 40
    assert b.set_of("allies__us") is not None  # the demo's sets and grid are in it
    # and what is published from it says the same, in the same words
    from barometer.publish.findings import find

    said, found = find(a).to_polars(), find(b).to_polars()
    assert found.height > 10 and said["sentence"].equals(found["sentence"])
    # the inputs are untouched: the demo's files, and the partitions by weighting
    root = demo["root"]
    assert _digests(root / "demo") == demo["sources"]
    assert _digests(root / "parts") == demo["written"]


@pytest.mark.slow
def test_the_weights_are_a_file_beside_the_store_keyed_by_respondent(demo: dict) -> None:
    memory, parts = demo["memory"], demo["parts"]
    file = parts.weights_file
    assert file is not None and memory.weights_file is None
    assert file.parent == parts.path.with_name("parts.duckdb.weights") and file.is_file()
    assert parts.weighted and parts.store.query("SELECT count(*) AS n FROM weights").item() == 0
    written = pl.read_parquet(file)
    assert written.columns == [KEY, "weight"] and written.get_column(KEY).is_unique().all()
    mine = memory.store.query("SELECT source_id, respondent_id, weight FROM weights")
    keyed = mine.select((pl.col("source_id") + "/" + pl.col("respondent_id")).alias(KEY), "weight")
    both = keyed.join(written, on=KEY, how="full", suffix="_parts")
    assert both.height == written.height == memory.store.respondent_count()
    gap = (both["weight"] - both["weight_parts"]).abs() / both["weight"]
    assert gap.max() < RTOL
    # the settings (which the report and the explorer print) name no file
    settings, mine = parts.weight_settings(), memory.weight_settings()
    assert set(settings) == set(mine) and "weights_file" not in settings
    assert settings["iterations"] == mine["iterations"] and settings["tol"] == mine["tol"]
    _same_table(memory.diagnostics(), parts.diagnostics(), "diagnostics")


@pytest.mark.slow
def test_estimates_of_a_scope_and_base_weights_equal_in_memory(demo: dict) -> None:
    memory, parts = demo["memory"], demo["parts"]
    for kwargs in (
        {"region": "EU", "waves": ["2025-11"]},
        {"countries": ["DE", "FR"], "by": ["country", "wave", "gender"]},
        {"weights": "base", "ci": "logit"},
    ):
        a = memory.estimate("us_relationship", **kwargs)
        b = parts.estimate("us_relationship", **kwargs)
        _same_table(a.to_polars(), b.to_polars(), str(kwargs))
    a, b = memory.quantiles("trust_eu"), parts.quantiles("trust_eu")
    _same_table(a.to_polars(), b.to_polars(), "quantiles")


@pytest.mark.slow
def test_models_read_only_their_columns_and_a_cap_is_refused(demo: dict) -> None:
    memory, parts = demo["memory"], demo["parts"]
    formula = "trust_eu ~ C(country) + C(gender)"
    a = memory.glm(formula, waves=["2025-11"]).to_polars()
    b = parts.glm(formula, waves=["2025-11"]).to_polars()
    _same_table(a, b, "glm")
    a = memory.estimate("us_relationship", countries=["DE"], ci="likelihood").to_polars()
    b = parts.estimate("us_relationship", countries=["DE"], ci="likelihood").to_polars()
    _same_table(a, b, "likelihood")
    with pytest.raises(WeightingError, match=r"cap=2\.0 is not available .* Parquet partitions"):
        parts.weight(cap=2.0)
    assert parts.weighted  # the refused weighting changed nothing


@pytest.fixture
def small(tmp_path: Path) -> Path:
    make_poll(tmp_path, n=60)
    return tmp_path


def test_a_small_partitioned_poll_publishes_the_in_memory_publication(small: Path) -> None:
    """The quick check (the demo's is slow): regions by mean and by population, the
    pooled total, breakdowns, marks and bases, on raked and on base weights."""
    memory, _ = Poll.ingest(small / "spec.yaml", small / "memory.duckdb")
    parts, _ = Poll.ingest(small / "spec.yaml", small / "poll.duckdb", partitions=small / "p")
    memory.weight()
    parts.weight()
    for weights in ("raked", "base"):
        a = memory.publication(breakdowns=["gender"], weights=weights)
        b = parts.publication(breakdowns=["gender"], weights=weights)
        assert _same_publication(a, b) == 4


def test_the_cli_ingests_partitions_weights_and_estimates(small: Path) -> None:
    store, folder = small / "poll.duckdb", small / "parts"
    result = runner.invoke(
        app,
        ["ingest", str(small / "spec.yaml"), "--store", str(store), "--partitions", str(folder)],
    )
    assert result.exit_code == 0, result.output
    assert "partitioned by country × wave" in result.output
    assert len(list(folder.glob("*/*/respondents.parquet"))) == 7
    assert runner.invoke(app, ["weight", "--store", str(store)]).exit_code == 0
    result = runner.invoke(
        app, ["estimate", "us_relationship", "--store", str(store), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    memory, _ = Poll.ingest(small / "spec.yaml", small / "memory.duckdb")
    memory.weight()
    expected = memory.estimate("us_relationship").to_polars()
    assert len(rows) == expected.height
    for got, want in zip(rows, expected.iter_rows(named=True), strict=True):
        assert got["level"] == want["level"]
        assert got["estimate"] == pytest.approx(want["estimate"], rel=RTOL)


def test_partitions_follow_the_store_and_stale_ones_are_refused(small: Path) -> None:
    spec, store, folder = small / "spec.yaml", small / "poll.duckdb", small / "parts"
    poll, _ = Poll.ingest(spec, store, partitions=folder)
    assert Store(store).meta()["partitions"]
    poll.weight()
    assert poll.weighted and poll.weights_file is not None
    # a change of data rewrites the recorded partitions, with or without the argument,
    # and clears the weights (as in memory)
    edit_spec(spec, lambda s: s["sources"].pop())
    Poll.ingest(spec, store)
    assert not Poll.open(store).weighted and Poll.open(store).weights_file is None
    assert len(list(folder.glob("*/*/respondents.parquet"))) == 6
    assert Poll.open(store).bases().height == 6
    assert Poll.open(store).design("base").n == 6 * 60
    # partitions older than the store, or removed: one message saying how to redo them
    record = json.loads(Store(store).meta()["partitions"])
    Store(store).record_partitions(record | {"ingested_at": "2020-01-01T00:00:00"})
    with pytest.raises(EstimationError, match=r"hold an older ingest .* --partitions"):
        Poll.open(store).estimate("us_relationship", weights="base")
    Store(store).record_partitions(record)
    (folder / "_barometer").unlink()
    with pytest.raises(EstimationError, match=r"holds none .* --partitions"):
        Poll.open(store).estimate("us_relationship", weights="base")


def test_a_foreign_folder_or_the_stores_own_is_refused(small: Path) -> None:
    (small / "mine").mkdir()
    (small / "mine" / "keep.txt").write_text("mine")
    with pytest.raises(BarometerError, match="was not written by barometer"):
        Poll.ingest(small / "spec.yaml", small / "poll.duckdb", partitions=small / "mine")
    assert (small / "mine" / "keep.txt").read_text() == "mine"
    with pytest.raises(BarometerError, match="holds the store"):
        Poll.ingest(small / "spec.yaml", small / "poll.duckdb", partitions=small)
    result = runner.invoke(
        app, ["ingest", str(small / "spec.yaml"), "--partitions", str(small / "mine")]
    )
    assert result.exit_code == 1 and "was not written by barometer" in result.output
    assert "Traceback" not in result.output


def test_a_write_cut_short_can_be_ingested_again(
    small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills during the partitions leaves a folder the next ingest replaces,
    and that is not read meanwhile."""
    store, folder = small / "poll.duckdb", small / "parts"
    written = pl.DataFrame.write_parquet
    calls = []

    def fail_second(frame: pl.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        written(frame, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail_second)
    with pytest.raises(BarometerError, match="No space left on device"):
        Poll.ingest(small / "spec.yaml", store, partitions=folder)
    monkeypatch.undo()
    assert (folder / "_barometer").is_file()
    Poll.ingest(small / "spec.yaml", store, partitions=folder)
    got = Poll.open(store).estimate("us_relationship", weights="base")
    assert got.to_polars().height > 0


def test_missing_weighting_data_and_imputation_are_refused(small: Path) -> None:
    def blank_age(s: dict) -> None:
        s["sources"][1]["variables"]["age"]["codes"] = {"young": "young", "old": None}
        s["weighting"] = {"missing": "fail"}

    spec = edit_spec(small / "spec.yaml", blank_age)
    poll, _ = Poll.ingest(spec, small / "poll.duckdb", partitions=small / "parts")
    with pytest.raises(WeightingError, match=r"FR 2024-11: \d+ respondent\(s\) have no age"):
        poll.weight()
    edit_spec(spec, lambda s: s.update(weighting={"missing": "impute"}))
    poll, _ = Poll.ingest(spec, small / "poll.duckdb")
    with pytest.raises(WeightingError, match=r"missing: impute\} is not available"):
        poll.weight()
    assert not poll.weighted


def test_design_frame_is_row_by_row() -> None:
    """The partitions are written one country × wave at a time with
    ``weighting.design_frame``'s columns: they must not depend on the other rows."""
    frame = pl.DataFrame(
        {
            "source_id": ["a", "a", "b", "b"],
            "respondent_id": ["1", "2", "1", "2"],
            "country": ["DE", "DE", "FR", "FR"],
            "wave": ["w1"] * 4,
            "strata": [None, "n", None, None],
            "psu": ["p1", None, None, None],
        }
    )
    whole, _ = design_frame(frame)
    pieces = pl.concat([design_frame(frame.slice(i, 1))[0] for i in range(frame.height)])
    assert whole.equals(pieces)
    assert {GROUP, STRATUM, PSU} <= set(whole.columns)


def test_a_scope_not_polled_is_the_in_memory_error(small: Path) -> None:
    memory, _ = Poll.ingest(small / "spec.yaml", small / "memory.duckdb")
    parts, _ = Poll.ingest(small / "spec.yaml", small / "poll.duckdb", partitions=small / "p")
    said = []
    for poll in (memory, parts):
        with pytest.raises(EstimationError, match="no respondents in") as err:
            poll.estimate("us_relationship", countries=["PL"], waves=["2025-11"], weights="base")
        said.append(str(err.value).replace(str(poll.path), "STORE"))
    assert said[0] == said[1] and "polled: waves 2024-11, 2025-11; countries" in said[0]
