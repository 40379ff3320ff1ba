"""How a ``Poll`` reads its store: one connection per opening and design, the ids only
where a rule reads them (barometer.poll.poll, barometer.poll.store)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import barometer as bm
from barometer.errors import BarometerError, WeightingError
from barometer.poll import store as store_module
from barometer.poll.poll import Poll
from tests.support.pollkit import edit_spec, make_poll


@pytest.fixture
def poll(tmp_path: Path) -> Poll:
    make_poll(tmp_path, n=120, seed=3)
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    p.weight(tol=1e-10)
    return p


def _calls(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, note: Callable[..., Any]
) -> list[Any]:
    """Wrap ``owner.name``: each call appends ``note(*args)`` to the list returned."""
    seen: list[Any] = []
    real = getattr(owner, name)

    def wrapped(*args: object, **kwargs: object) -> object:
        seen.append(note(*args, **kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
    return seen


def _count_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    def database(database: str = ":memory:", *args: object, **kwargs: object) -> str:
        return str(database)

    return _calls(monkeypatch, store_module.duckdb, "connect", database)


def test_an_unchanged_store_is_opened_again_without_a_connection(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _count_connections(monkeypatch)
    again = Poll.open(poll.path)
    assert opened == [] and again.weighted and again.spec is poll.spec
    again.design("raked")
    assert len(opened) == 1  # the respondents' read


def test_a_changed_store_is_read_again_and_a_planted_macro_refused(poll: Poll) -> None:
    Poll.open(poll.path)
    con = duckdb.connect(str(poll.path))
    con.execute("CREATE MACRO planted(x) AS x + 1")
    con.close()
    with pytest.raises(BarometerError, match="macro planted"):
        Poll.open(poll.path)


def test_the_design_holds_no_ids_and_the_weights_are_keyed_by_them(poll: Poll) -> None:
    assert "respondent_id" not in poll.design("raked").columns
    stored = poll.store.respondents(["source_id", "respondent_id"], with_weights=True)
    assert stored.height == 7 * 120 and stored["weight"].null_count() == 0
    raked = poll.design("raked").weights
    assert stored["weight"].to_list() == pytest.approx(list(raked), rel=1e-12)


def test_weighting_a_store_changed_under_it_is_refused(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = poll.store.respondents

    def other_rows(columns: list[str], *args: object, **kwargs: object) -> pl.DataFrame:
        frame = real(columns, *args, **kwargs)  # type: ignore[arg-type]
        return frame.reverse() if columns == ["source_id", "respondent_id"] else frame

    monkeypatch.setattr(poll.store, "respondents", other_rows)
    with pytest.raises(WeightingError, match="changed while it was being weighted"):
        poll.weight(tol=1e-10)


def test_the_facts_are_read_once_per_state_of_the_store(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = Poll.open(poll.path).facts()
    opened = _count_connections(monkeypatch)
    again = Poll.open(poll.path).facts()
    assert opened == [] and again.diagnostics is before.diagnostics
    poll.weight(tol=1e-10, cap=3.0)  # a new state of the store: every fact read again
    after = Poll.open(poll.path).facts()
    assert opened and after.weight_settings["cap"] == 3.0
    assert after.diagnostics is not before.diagnostics and after.bases is not before.bases


def _forming(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the columns each call makes into polars from the store's one read."""
    return _calls(monkeypatch, store_module.Rows, "frame", lambda rows, names: list(names))


def test_a_design_forms_a_question_column_when_an_estimate_first_needs_it(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _forming(monkeypatch)
    opened = _count_connections(monkeypatch)
    again = Poll.open(poll.path)
    raked = again.design("raked")
    assert raked.columns[-1] == "us_relationship"  # known before it is formed
    assert len(made) == 1 and "us_relationship" not in made[0]  # the design's own columns
    assert {"age", "gender"} <= set(made[0])  # raking's variables
    opened.clear()
    first = raked.proportion("us_relationship", by=["country", "wave"])
    base = again.design("base", countries=["DE"])
    base.proportion("us_relationship", by="wave")
    assert made[1:] == [["us_relationship"]] and opened == []  # formed once, no new read
    whole = Poll.open(poll.path)
    whole_est = whole.design("raked").proportion("us_relationship", by=["country", "wave"])
    assert first.to_polars().equals(whole_est.to_polars())


def test_a_store_changed_after_the_design_does_not_mix_into_its_columns(
    tmp_path: Path,
) -> None:
    make_poll(tmp_path, n=120, seed=3)
    store = tmp_path / "poll.duckdb"
    poll, _ = Poll.ingest(tmp_path / "spec.yaml", store)
    design = poll.design("base")
    q = "us_relationship"
    codes = {q: poll.spec.question(q).level_codes}
    rows = poll.store.respondents(["country", "wave", "base_weight", q], levels=codes)
    before = bm.Design(rows, weights="base_weight").proportion(q, by=["country", "wave"])
    make_poll(tmp_path, n=150, seed=4)  # other respondents, ingested into the same store
    Poll.ingest(tmp_path / "spec.yaml", store)
    after = Poll.open(store).design("base").proportion(q, by="country")
    assert after.to_polars()["n"].sum() != before.to_polars()["n"].sum()
    # the design made before reads the column of its own rows, never the new ones
    got = design.proportion(q, by=["country", "wave"]).to_polars()
    cols = ["country", "wave", "level", "estimate", "n"]
    assert got.select(cols).equals(before.to_polars().select(cols))


def test_a_raked_estimate_imports_neither_pandas_nor_pyarrow_compute_nor_scipy_linalg(
    poll: Poll,
) -> None:
    """A real process (the modules imported are the process's): a pyarrow column's own
    ``to_numpy`` imports pandas, ~0.4 s of a short command such as a second demo run;
    scipy.linalg (~0.05 s) is for GREG steps only."""
    code = (
        "import sys\n"
        "from barometer.poll.poll import Poll\n"
        "Poll.open(sys.argv[1]).estimate('us_relationship', region='EU')\n"
        "heavy = ('pandas', 'pyarrow.compute', 'scipy.linalg')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(poll.path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_the_poll_facts_are_formed_once_per_state_of_the_store(poll: Poll) -> None:
    first = poll.facts()
    design = poll.design()
    assert poll.facts() is first and poll.design() is design
    # weighted again within the same second as the fixture's weighting, often: the
    # store's times are to the second, its files' stamp is not
    poll.weight(tol=1e-10, cap=3.0)
    after = poll.facts()
    assert after is not first and after.weight_settings["cap"] == 3.0
    assert poll.design() is not design


def test_a_store_replaced_by_a_copy_of_the_same_size_and_times_is_read_again(
    poll: Poll, tmp_path: Path
) -> None:
    # the poll's stamp is the store record's (store.file_state): a file put in the
    # store's place is another inode even when its size and modification time match
    first = poll.facts()
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(poll.path.read_bytes())
    st = poll.path.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, poll.path)
    again = poll.facts()
    assert again is not first and again.weight_settings == first.weight_settings


def test_the_small_facts_are_read_with_the_snapshot(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in a new process: nothing of the store read yet
    monkeypatch.setattr(store_module, "_SNAPSHOTS", {})
    monkeypatch.setattr(store_module, "_FACTS", {})
    opened = _count_connections(monkeypatch)
    again = Poll.open(poll.path)
    assert len(opened) == 1 and again.weighted
    sources, targets, diagnostics = again.sources(), again.targets(), again.diagnostics()
    assert len(opened) == 1  # read on the snapshot's connection
    assert sources.height == 7 and targets.height and diagnostics.height == 7


def _read_columns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the columns each read of the respondents table asks for."""
    return _calls(
        monkeypatch, store_module.Store, "_respondents_table", lambda _, cols, *a, **k: list(cols)
    )


def test_strata_and_psus_no_source_has_are_not_read_but_are_in_the_design(
    poll: Poll, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _read_columns(monkeypatch)
    data = Poll.open(poll.path).design("base").data
    assert len(read) == 1 and not {"strata", "psu"} & set(read[0])
    assert data.columns[:6] == ["source_id", "country", "wave", "base_weight", "strata", "psu"]
    for name in ("strata", "psu"):
        assert data.schema[name] == pl.String and data[name].null_count() == data.height


def test_strata_and_psus_one_source_has_are_read_for_every_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_poll(tmp_path, n=40, waves=["2024-11"])
    for csv in (tmp_path / "data").glob("fr_*.csv"):
        frame = pl.read_csv(csv)
        frame.with_columns(
            pl.Series("st", ["a", "b"] * (frame.height // 2)),
            pl.Series("cl", [f"c{i % 6}" for i in range(frame.height)]),
        ).write_csv(csv)
    edit_spec(path, lambda s: s["sources"][1].update(strata="st"))
    poll, _ = Poll.ingest(path, tmp_path / "poll.duckdb")
    read = _read_columns(monkeypatch)
    data = poll.design("base").data
    assert "strata" in read[0] and "psu" not in read[0]
    fr = data.filter(pl.col("country") == "FR")
    assert fr["strata"].value_counts().sort("strata")["count"].to_list() == [20, 20]
    assert data.filter(pl.col("country") != "FR")["strata"].null_count() == data.height - 40
    edit_spec(path, lambda s: s["sources"][1].update(strata=None, psu="cl"))
    poll, report = Poll.ingest(path, tmp_path / "poll.duckdb")  # its entry changed: read again
    assert report.replaced == ["fr-2024-11"]
    data = poll.design("base").data
    assert data["strata"].null_count() == data.height
    assert data.filter(pl.col("country") == "FR")["psu"].n_unique() == 6
