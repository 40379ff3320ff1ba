"""The corpus of hostile inputs to ingest (issue 13): every case gives one clear
IngestError/SpecError naming what is wrong, and the store's tables hash the same
before and after.

Bad files are made in ``tmp_path`` from the pollkit poll: a spec reaching outside its
folder, one file under two source ids, respondents shared by two sources, NaN and inf
weights, non-finite targets, values crafted to flood a message, garbage and truncated
files of every format, and Hypothesis-mutated files.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from barometer.errors import BarometerError, IngestError, SpecError
from barometer.poll.ingest import harmonise, ingest
from barometer.poll.spec import load_spec
from tests.support.pollkit import edit_spec, make_poll, snapshot

WAVE = "2024-11"


def store_hash(store: Path) -> str:
    """SHA-256 of every table's sorted rows (what must not change on error)."""
    if not store.exists():
        return "absent"
    return hashlib.sha256(repr(snapshot(store)).encode()).hexdigest()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small poll, ingested once; each test copies it."""
    root = tmp_path_factory.mktemp("hostile-template")
    make_poll(root, n=60)
    ingest(root / "spec.yaml", root / "poll.duckdb")
    return root


@pytest.fixture
def poll_dir(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "poll"
    shutil.copytree(template, root)
    return root


def refused(root: Path, match: str, error: type[BarometerError] = IngestError, **kw: Any) -> str:
    """Ingest ``root``'s spec, expecting ``error`` matching ``match``; the store must be
    unchanged.  Returns the message."""
    store = root / "poll.duckdb"
    before = store_hash(store)
    with pytest.raises(error, match=match) as err:
        ingest(root / "spec.yaml", store, **kw)
    assert store_hash(store) == before
    return str(err.value)


def _source(root: Path, sid: str) -> dict[str, Any]:
    spec = load_spec(root / "spec.yaml")
    return next(s for s in spec.sources if s.id == sid).model_dump(exclude_none=True)


def add_source(root: Path, **fields: Any) -> None:
    base = _source(root, f"fr-{WAVE}") | fields
    edit_spec(root / "spec.yaml", lambda s: s["sources"].append(base))


# -- file access ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["relative", "absolute", "symlink"])
def test_files_outside_the_spec_folder_refused(poll_dir: Path, tmp_path: Path, where: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "secret.csv"
    shutil.copy(poll_dir / "data/fr_202411.csv", secret)
    file = {
        "relative": "../elsewhere/secret.csv",
        "absolute": str(secret),
        "symlink": "data/link.csv",
    }[where]
    if where == "symlink":
        os.symlink(secret, poll_dir / "data/link.csv")
    edit_spec(poll_dir / "spec.yaml", lambda s: s["sources"][1].update(file=file))
    message = refused(poll_dir, "resolves outside the spec's folder")
    assert "--data-dir" in message
    # Only the caller can widen it.
    ingest(poll_dir / "spec.yaml", poll_dir / "poll.duckdb", data_dirs=[outside])


def test_etc_passwd_is_never_read(poll_dir: Path) -> None:
    edit_spec(
        poll_dir / "spec.yaml",
        lambda s: s["sources"][1].update(file="../../../../../../etc/passwd", format="csv"),
    )
    message = refused(poll_dir, "resolves outside")
    assert "root:" not in message


def test_message_quotes_at_most_three_short_clean_values(poll_dir: Path) -> None:
    path = poll_dir / "data/fr_202411.csv"
    frame = pl.read_csv(path)
    lines = [f"\x1b[31mline {i} of a stolen file " + "x" * 200 for i in range(frame.height)]
    frame.with_columns(pl.Series("answer", lines)).write_csv(path)
    message = refused(poll_dir, "not in the mapping")
    assert "\x1b" not in message
    shown = re.findall(r"\[31mline \d+ of a stolen file x*…?", message)
    assert 1 <= len(shown) <= 3, message
    assert all(len(value) <= 80 for value in shown), shown
    assert "and 57 more" in message


# -- respondents twice ----------------------------------------------------------------


def test_same_file_under_two_sources_refused(poll_dir: Path) -> None:
    add_source(poll_dir, id="fr-again")
    message = refused(poll_dir, "are the same file")
    assert f"'fr-{WAVE}'" in message and "'fr-again'" in message


def test_partial_overlap_of_respondents_refused(poll_dir: Path) -> None:
    frame = pl.read_csv(poll_dir / "data/fr_202411.csv")
    part = frame.head(7).vstack(
        frame.tail(3).with_columns(pl.lit("new").alias("id") + pl.col("id"))
    )
    part.write_csv(poll_dir / "data/fr_extra.csv")
    add_source(poll_dir, id="fr-extra", file="data/fr_extra.csv")
    message = refused(poll_dir, "share 7 respondent id")
    assert f"'fr-{WAVE}' and 'fr-extra'" in message
    assert "'fr0', 'fr1', 'fr2', 'fr3', 'fr4')" in message
    assert "'fr5'" not in message


def test_same_ids_in_two_waves_are_a_panel(poll_dir: Path) -> None:
    # make_poll's DE files use ids 1..n in both waves: ingest accepted them.
    spec = load_spec(poll_dir / "spec.yaml")
    assert {s.respondent_id for s in spec.sources if s.country == "DE"} == {"resp_id"}


# -- weights and targets --------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_base_weights_refused(poll_dir: Path, bad: float) -> None:
    path = poll_dir / "data/fr_202411.csv"
    frame = pl.read_csv(path)
    weights = [bad if i in (3, 8) else 1.0 for i in range(frame.height)]
    frame.with_columns(pl.Series("w", weights)).write_csv(path)
    edit_spec(poll_dir / "spec.yaml", lambda s: s["sources"][1].update(weight="w"))
    message = refused(poll_dir, "NaN or infinite")
    assert "weight column 'w'" in message and "fr_202411.csv" in message
    assert "'fr3', 'fr8'" in message


@pytest.mark.parametrize("bad", [".nan", ".inf"])
def test_non_finite_targets_refused_as_such(poll_dir: Path, bad: str) -> None:
    path = poll_dir / "spec.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("female: 0.52", f"female: {bad}", 1), encoding="utf-8")
    message = refused(poll_dir, "finite number", error=SpecError)
    assert "mixes shares and totals" not in message
    assert "greater than or equal" not in message


def test_all_missing_column_is_all_missing(poll_dir: Path) -> None:
    path = poll_dir / "data/fr_202411.csv"
    pl.read_csv(path).with_columns(pl.lit(None).alias("answer")).write_csv(path)
    spec = load_spec(poll_dir / "spec.yaml")
    h = harmonise(spec, spec.sources[1], 1)
    assert h.frame["us_relationship"].null_count() == h.frame.height


# -- damaged files --------------------------------------------------------------------

FILES = {
    "sav": "data/de_202411.sav",
    "csv": "data/fr_202411.csv",
    "dta": "data/it_202411.dta",
    "parquet": "data/pl_202411.parquet",
}
SOURCES = {"sav": 0, "csv": 1, "dta": 2, "parquet": 3}


@pytest.mark.parametrize("fmt", list(FILES))
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_files_refused(poll_dir: Path, fmt: str, keep: float) -> None:
    path = poll_dir / FILES[fmt]
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    if fmt == "csv" and keep > 0:
        # A CSV cut inside its rows is a shorter CSV: read, or refused, never half-stored.
        store = poll_dir / "poll.duckdb"
        before = store_hash(store)
        try:
            ingest(poll_dir / "spec.yaml", store)
        except IngestError:
            assert store_hash(store) == before
        return
    refused(poll_dir, str(Path(FILES[fmt]).name))


def test_garbage_in_sav_data_section(poll_dir: Path) -> None:
    path = poll_dir / FILES["sav"]
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    data[start : start + 400] = bytes((i * 37 + 11) % 256 for i in range(400))
    path.write_bytes(bytes(data))
    refused(poll_dir, "de_202411.sav")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(list(FILES)),
    edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16)), max_size=6),
)
def test_fuzzed_files_never_escape_as_other_errors(
    template: Path, tmp_path_factory: pytest.TempPathFactory, fmt: str, edits: list
) -> None:
    """Random bytes written over a valid file: the reader either reads it or raises
    an IngestError — never another exception."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(template / "data", root / "data")
    shutil.copy(template / "spec.yaml", root / "spec.yaml")
    path = root / FILES[fmt]
    data = bytearray(path.read_bytes())
    for where, blob in edits:
        at = int(where * (len(data) - 1))
        data[at : at + len(blob)] = blob
    path.write_bytes(bytes(data))
    spec = load_spec(root / "spec.yaml")
    try:
        harmonise(spec, spec.sources[SOURCES[fmt]], SOURCES[fmt])
    except IngestError:
        pass
