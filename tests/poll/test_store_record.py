"""An ingest or weighting repeated on an unchanged poll does no work, and anything
changed — a source file, the spec, the store itself, the weighting's settings — makes
it do the full work again (barometer.poll.store_record)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from barometer.poll import ingest as ingest_module
from barometer.poll import poll as poll_module
from barometer.poll import store_record
from barometer.poll.poll import Poll
from barometer.poll.store import Store
from tests.support.pollkit import make_poll


class Work:
    """Counts what ran: the full ingest (it reads the store's fingerprints), the raking
    and the weights written."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ingests = self.rakings = self.writes = 0
        fingerprints, raked, write = (
            Store.source_fingerprints,
            poll_module.raked_design,
            Store.write_weights,
        )

        def counted_fingerprints(store: Store) -> Any:
            self.ingests += 1
            return fingerprints(store)

        def counted_raking(*args: Any, **kwargs: Any) -> Any:
            self.rakings += 1
            return raked(*args, **kwargs)

        def counted_write(store: Store, *args: Any, **kwargs: Any) -> None:
            self.writes += 1
            write(store, *args, **kwargs)

        monkeypatch.setattr(Store, "source_fingerprints", counted_fingerprints)
        monkeypatch.setattr(poll_module, "raked_design", counted_raking)
        monkeypatch.setattr(Store, "write_weights", counted_write)

    def run(self, root: Path, **weighting: Any) -> tuple[Any, pl.DataFrame]:
        """``barometer demo``'s steps: ingest the spec, then weight."""
        p, report = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
        return report, p.weight(tol=1e-10, **weighting)

    def counts(self) -> tuple[int, int, int]:
        return self.ingests, self.rakings, self.writes


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(store_record.RECORDS_ENV, str(tmp_path / "records"))
    make_poll(tmp_path / "poll", n=120, seed=3)
    return tmp_path / "poll"


def test_an_unchanged_poll_is_neither_ingested_nor_weighted_again(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    first, diagnostics = work.run(root)
    assert work.counts() == (1, 1, 1) and first.added
    again, kept = work.run(root)
    assert work.counts() == (1, 1, 1)  # nothing ran the second time
    assert again.unchanged == [s["id"] for s in _spec(root)["sources"]]
    assert not again.changed and again.respondents == first.respondents == 7 * 120
    assert_frame_equal(kept, Poll.open(root / "poll.duckdb").diagnostics())
    assert_frame_equal(kept, diagnostics, check_dtypes=False)
    # estimates are those of the weighted poll (raked again from the base weights)
    est = Poll.open(root / "poll.duckdb").estimate("us_relationship")
    assert work.rakings == 2 and est.to_polars().height > 0


def test_a_changed_source_file_is_ingested_and_weighted_again(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    csv = root / "data" / "fr_202411.csv"
    csv.write_text(csv.read_text().replace("ally", "partner", 3))
    report, _ = work.run(root)
    assert report.replaced == ["fr-2024-11"] and work.counts() == (2, 2, 2)


def test_a_changed_spec_is_ingested_and_weighted_again(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    spec = _spec(root)
    spec["targets"][0]["margins"]["gender"] = {"female": 0.5, "male": 0.5}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    report, _ = work.run(root)
    assert report.metadata_changed and work.counts() == (2, 2, 2)


def test_a_store_changed_after_barometer_wrote_it_is_not_trusted(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    con = duckdb.connect(str(root / "poll.duckdb"))
    con.execute("UPDATE weights SET weight = weight * 2")  # the record still says weighted
    con.close()
    report, _ = work.run(root)
    assert not report.changed and work.counts() == (2, 2, 2)
    store = Poll.open(root / "poll.duckdb").store
    stored = store.respondents(["source_id", "respondent_id"], with_weights=True)
    assert stored["weight"].to_list() == pytest.approx(
        list(Poll.open(root / "poll.duckdb").design("raked").weights), rel=1e-12
    )


def test_a_store_planted_in_place_of_the_one_written_is_not_trusted(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_poll(tmp_path / "other", n=120, seed=4)
    Poll.ingest(tmp_path / "other" / "spec.yaml", tmp_path / "other" / "poll.duckdb")
    work = Work(monkeypatch)
    work.run(root)
    shutil.copyfile(tmp_path / "other" / "poll.duckdb", root / "poll.duckdb")
    report, _ = work.run(root)
    assert report.replaced and work.counts() == (2, 2, 2)


def test_other_weighting_settings_weight_again(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = Work(monkeypatch)
    work.run(root)
    work.run(root, cap=2.0)
    assert work.counts() == (1, 2, 2)  # the ingest skipped, the weighting not
    assert Poll.open(root / "poll.duckdb").weight_settings()["cap"] == 2.0


@pytest.mark.parametrize("planted", ["{", "[]", '{"state": 1, "entries": []}', "\0\xff"])
def test_a_malformed_record_only_costs_the_full_work(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    for record in (tmp_path / "records").iterdir():
        record.write_text(planted)
    report, _ = work.run(root)
    assert not report.changed and work.counts() == (2, 2, 2)


def test_a_record_for_another_state_of_the_store_is_ignored(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    (record,) = (tmp_path / "records").iterdir()
    kept = record.read_text()
    work.run(root, cap=3.0)  # a new state of the store
    record.write_text(kept)  # the record of the state before, put back
    work.run(root, cap=3.0)
    assert work.counts() == (2, 3, 3)


def test_with_records_off_every_run_does_the_full_work(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(store_record.RECORDS_ENV, "off")
    work = Work(monkeypatch)
    work.run(root)
    work.run(root)
    assert work.counts() == (2, 2, 2)


def test_ingesting_with_partitions_is_never_skipped(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Work(monkeypatch)
    work.run(root)
    calls: list[object] = []
    monkeypatch.setattr(ingest_module, "_write_partitions", lambda *a: calls.append(a))
    ingest_module.ingest(root / "spec.yaml", root / "poll.duckdb", partitions=tmp_path / "p")
    assert work.ingests == 2 and calls


def _spec(root: Path) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((root / "spec.yaml").read_text())
    return spec
