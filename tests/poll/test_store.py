"""The DuckDB store: atomic writes, killed ingests, idempotence (barometer.poll.store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from barometer.errors import BarometerError
from barometer.poll import store as store_module
from barometer.poll.ingest import ingest
from barometer.poll.store import Store
from tests.support.pollkit import make_poll, sample, snapshot, write_sav

TESTS = Path(__file__).parent


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    make_poll(tmp_path, n=80)
    ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    # a corrected file, so the next ingest has rows to replace
    write_sav(sample("DE", "2024-11", 60, seed=42), tmp_path / "data/de_202411.sav")
    write_sav(sample("DE", "2025-11", 60, seed=43), tmp_path / "data/de_202511.sav")
    return tmp_path


def test_failure_midway_rolls_back(ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(ingested / "poll.duckdb")

    def fail() -> None:
        raise RuntimeError("injected failure after a partial insert")

    monkeypatch.setattr(store_module, "_after_partial_write", fail)
    with pytest.raises(RuntimeError, match="injected"):
        ingest(ingested / "spec.yaml", ingested / "poll.duckdb")
    assert snapshot(ingested / "poll.duckdb") == before
    monkeypatch.setattr(store_module, "_after_partial_write", None)
    report = ingest(ingested / "spec.yaml", ingested / "poll.duckdb")
    assert sorted(report.replaced) == ["de-2024-11", "de-2025-11"]


def test_killed_ingest_leaves_the_store_intact(ingested: Path) -> None:
    before = snapshot(ingested / "poll.duckdb")
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from barometer.poll import store
        from barometer.poll.ingest import ingest

        def hang():
            print("partial", flush=True)
            time.sleep(60)

        store._after_partial_write = hang
        ingest({str(ingested / "spec.yaml")!r}, {str(ingested / "poll.duckdb")!r})
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.strip() == "partial", proc.stderr.read()
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(ingested / "poll.duckdb") == before
    report = ingest(ingested / "spec.yaml", ingested / "poll.duckdb")
    assert sorted(report.replaced) == ["de-2024-11", "de-2025-11"]


def test_store_tables_and_metadata(ingested: Path) -> None:
    store = Store(ingested / "poll.duckdb")
    assert store.exists()
    meta = store.meta()
    assert meta["schema_version"] == "1" and "spec" in meta
    spec = store.spec()
    assert [c.code for c in spec.countries] == ["DE", "FR", "IT", "PL"]
    levels = store.query("SELECT code, non_substantive FROM levels ORDER BY question, position")
    assert ("dont_know", True) in levels.rows()
    src = store.query("SELECT * FROM sources WHERE id = 'pl-2024-11'").row(0, named=True)
    assert src["format"] == "parquet" and src["n_rows"] == 80 and len(src["sha256"]) == 64
    assert src["firm"] == "Norstat" and src["ingested_at"] is not None
    targets = store.query("SELECT * FROM targets WHERE country = 'DE' AND variable = 'gender'")
    assert sorted(targets["level"]) == ["female", "male"] and set(targets["kind"]) == {"share"}


def test_not_a_store(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("hello")
    with pytest.raises(BarometerError, match="cannot open store"):
        Store(bogus).exists()
    with pytest.raises(BarometerError, match="is not a barometer store"):
        Store(tmp_path / "missing.duckdb").require()


def test_store_with_text_codes_opens_and_is_upgraded(tmp_path: Path) -> None:
    """A store written when single-choice columns (and source ids, countries and waves)
    were TEXT reads the same, and the next ingest turns them into ENUMs of the spec's
    levels (and ids) without losing an answer."""
    import duckdb

    from barometer.poll.poll import Poll

    make_poll(tmp_path, n=80)
    path = tmp_path / "poll.duckdb"
    ingest(tmp_path / "spec.yaml", path)
    Poll.open(path).weight()

    def column_types() -> dict[str, str]:
        rows = Store(path).query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'respondents'"
        )
        return dict(rows.iter_rows())

    enums = [c for c, t in column_types().items() if t.startswith("ENUM(")]
    assert enums, "single-choice questions are stored as ENUMs"
    assert {"source_id", "country", "wave"} <= set(enums), "so are the design's ids"
    question = Poll.open(path).spec.questions[0].id
    assert question in enums
    frame_before = Poll.open(path).estimate(question, by=["country"]).to_polars()
    rows_before = snapshot(path)["respondents"]
    con = duckdb.connect(str(path))
    for c in enums:  # what an older barometer wrote
        con.execute(f'ALTER TABLE respondents ALTER COLUMN "{c}" SET DATA TYPE VARCHAR')
    con.close()
    assert all(column_types()[c] == "VARCHAR" for c in enums)
    assert snapshot(path)["respondents"] == rows_before
    assert Poll.open(path).estimate(question, by=["country"]).to_polars().equals(frame_before)

    # an ingest that writes (here: a corrected German file) converts the columns; the
    # answers of the sources it does not re-read are kept
    def others() -> list[tuple[object, ...]]:
        cols = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in enums)
        return (
            Store(path)
            .query(
                f"SELECT source_id, _row, {cols} FROM respondents "
                "WHERE country <> 'DE' ORDER BY CAST(source_id AS VARCHAR), _row"
            )
            .rows()
        )

    kept = others()
    write_sav(sample("DE", "2024-11", 60, seed=42), tmp_path / "data/de_202411.sav")
    ingest(tmp_path / "spec.yaml", path)
    assert all(column_types()[c].startswith("ENUM(") for c in enums)
    assert others() == kept and kept


def test_source_ids_countries_and_waves_are_enums_of_the_spec_read_as_text(
    ingested: Path,
) -> None:
    """The store holds source_id, country and wave as ENUMs of the spec's ids in spec
    order (a design reads them for every respondent: codes cost less to hand over than
    text); every reader gets them back as the text they stand for."""
    import polars as pl

    store = Store(ingested / "poll.duckdb")
    spec = store.spec()
    types = dict(
        store.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'respondents'"
        ).iter_rows()
    )

    def enum(ids: list[str]) -> str:
        return "ENUM(" + ", ".join(f"'{i}'" for i in ids) + ")"

    assert types["source_id"] == enum([s.id for s in spec.sources])
    assert types["country"] == enum([c.code for c in spec.countries])
    assert types["wave"] == enum([w.id for w in spec.waves])
    design = ["source_id", "country", "wave"]
    frame = store.respondents([*design, "_row"])
    assert all(frame.schema[c] == pl.String for c in design)
    text = store.query(
        "SELECT CAST(source_id AS VARCHAR) AS source_id, CAST(country AS VARCHAR) AS country, "
        "CAST(wave AS VARCHAR) AS wave, _row FROM respondents "
        "ORDER BY CAST(source_id AS VARCHAR), _row"
    )
    assert frame.equals(text)
    for fact in (store.bases(), store.fieldwork(), store.source_cells()):
        assert all(fact.schema[c] == pl.String for c in design if c in fact.columns)
    keys = store.respondent_keys(["de-2024-11"])
    assert all(keys.schema[c] == pl.String for c in design) and keys.height == 80


def test_respondents_come_in_source_then_row_order(ingested: Path) -> None:
    """The read puts each source's run of rows in order of source id (a re-ingested source
    is written at the end of the table), and a table in any other order is sorted; the
    single-choice columns arrive as enums equal to the text they store."""
    import duckdb
    import polars as pl

    path = ingested / "poll.duckdb"
    ingest(ingested / "spec.yaml", path)  # the corrected DE files: their rows go last
    store = Store(path)
    spec = store.spec()
    question = next(q for q in spec.stored_questions() if not q.is_numeric)
    levels = {question.id: question.level_codes}

    def read(s: Store) -> pl.DataFrame:
        return s.respondents(["source_id", "_row", "respondent_id", question.id], levels=levels)

    stored = store.query("SELECT source_id FROM respondents").get_column("source_id")
    assert stored.to_list() != sorted(stored.to_list())  # the table is not in the order
    frame = read(store)
    assert frame.equals(frame.sort("source_id", "_row"))
    assert frame.schema[question.id] == pl.Enum(question.level_codes)
    assert frame.height == stored.len()
    text = store.query(
        f'SELECT source_id, _row, CAST("{question.id}" AS VARCHAR) AS q FROM respondents '
        "ORDER BY CAST(source_id AS VARCHAR), _row"
    )
    assert (
        frame.get_column(question.id)
        .cast(pl.String)
        .equals(text.get_column("q").alias(question.id))
    )
    # rows shuffled within sources (not how ingest writes them): sorted all the same
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT * FROM respondents ORDER BY hash(respondent_id)")
    con.execute("DROP TABLE respondents")
    con.execute("ALTER TABLE t RENAME TO respondents")
    con.close()
    assert read(Store(path)).equals(frame)


def test_rows_make_text_of_codes_and_of_columns_without_a_value() -> None:
    """``Rows`` hands over an ENUM-like dictionary column as its text and a text column
    with no value at all as text nulls, in the fixed (source id, row) order."""
    import polars as pl
    import pyarrow as pa

    from barometer.poll.store import Rows

    ids = pa.array(["b-1", "b-1", "a-1"]).dictionary_encode()
    table = pa.table(
        {
            "source_id": ids,
            "_row": [0, 1, 0],
            "strata": pa.nulls(3, pa.string()),
            "psu": pa.array([None, "p2", None], pa.string()),
        }
    )
    frame = Rows(table, {}).frame(["source_id", "_row", "strata", "psu"])
    assert frame.schema == pl.Schema(
        {"source_id": pl.String, "_row": pl.Int64, "strata": pl.String, "psu": pl.String}
    )
    assert frame.rows() == [("a-1", 0, None, None), ("b-1", 0, None, None), ("b-1", 1, None, "p2")]
