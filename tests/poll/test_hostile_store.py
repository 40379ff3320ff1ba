"""Hostile stores and full disks (issue 13): a store with planted SQL is refused before
anything reads it, a damaged one gives one message, and a full disk says so — for the
store and for every output — leaving what was there before."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from barometer.errors import BarometerError
from barometer.poll.ingest import ingest
from barometer.poll.poll import Poll
from barometer.poll.store import Store
from barometer.publish.findings.find import find
from tests.poll.test_hostile_ingest import store_hash
from tests.support.pollkit import make_poll


@pytest.fixture(scope="module")
def weighted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-store")
    make_poll(root, n=60)
    poll, _ = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
    poll.weight()
    return root


PLANTED = {
    "view reading a file": "CREATE VIEW leak AS SELECT * FROM read_text('/etc/passwd')",
    "macro": "CREATE MACRO countries_n() AS 1",
    "extra table": "CREATE TABLE stolen AS SELECT 1 AS x",
    "sequence": "CREATE SEQUENCE s",
    "enum type": "CREATE TYPE mood AS ENUM ('a', 'b')",
    "other schema": "CREATE SCHEMA x; CREATE TABLE x.meta (key VARCHAR, value VARCHAR)",
}


@pytest.mark.parametrize("sql", list(PLANTED.values()), ids=list(PLANTED))
def test_booby_trapped_store_refused(weighted: Path, tmp_path: Path, sql: str) -> None:
    trap = tmp_path / "poll.duckdb"
    shutil.copy(weighted / "poll.duckdb", trap)
    con = duckdb.connect(str(trap))
    con.execute(sql)
    con.close()
    before = store_hash(trap)
    for action in (lambda: Poll.open(trap).bases(), lambda: Store(trap).meta()):
        with pytest.raises(BarometerError, match="not a plain barometer store"):
            action()
    assert store_hash(trap) == before


def test_external_access_is_off(weighted: Path) -> None:
    with pytest.raises(BarometerError):
        Store(weighted / "poll.duckdb").query("SELECT * FROM read_text('/etc/passwd')")


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.3, 0.7, 0.999])
def test_truncated_store_one_message(weighted: Path, tmp_path: Path, keep: float) -> None:
    """Cut anywhere, the store gives one BarometerError naming it — or, cut only in its
    unused tail blocks, still reads."""
    data = (weighted / "poll.duckdb").read_bytes()
    cut = tmp_path / "poll.duckdb"
    cut.write_bytes(data[: int(len(data) * keep)])
    try:
        poll = Poll.open(cut)
        poll.bases()
        poll.estimate("us_relationship", by=["country"])
    except BarometerError as err:
        assert "poll.duckdb" in str(err)
    else:
        assert keep > 0.9, "a store cut at its start must be refused"


# -- full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs root and mount; skipped otherwise)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system to fill")
    run = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({run.stderr.decode().strip()[:120]})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until at most ``leave`` bytes are free."""
    with (disk / "filler").open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    if leave:
        size = (disk / "filler").stat().st_size
        with (disk / "filler").open("r+b") as fh:
            fh.truncate(max(0, size - leave))


def test_full_disk_store(weighted: Path, small_disk: Path) -> None:
    spec_dir = small_disk / "poll"
    shutil.copytree(weighted, spec_dir, ignore=shutil.ignore_patterns("*.duckdb*"))
    _fill(small_disk, leave=20_000)
    with pytest.raises(BarometerError, match="no space left") as err:
        ingest(spec_dir / "spec.yaml", spec_dir / "poll.duckdb")
    assert "rollback" not in str(err.value)


@pytest.mark.parametrize("output", ["report", "findings", "banners", "csv"])
def test_full_disk_outputs(weighted: Path, small_disk: Path, output: str) -> None:
    from barometer.publish import write_report
    from barometer.publish.banner.tables import banner_tables, write_csv, write_xlsx

    pub = Poll.open(weighted / "poll.duckdb").publication()
    found = find(pub)
    tables = banner_tables(pub, banners=["country"])
    previous = small_disk / "previous.txt"
    targets = {
        "report": small_disk / "report.html",
        "findings": small_disk / "findings.md",
        "banners": small_disk / "banners.xlsx",
        "csv": small_disk / "banners.csv",
    }
    target = targets[output]
    target.write_text("the previous file", encoding="utf-8")
    previous.write_text("x", encoding="utf-8")
    _fill(small_disk)
    write = {
        "report": lambda: write_report(pub, target, findings=found.headlines(8)),
        "findings": lambda: found.write(small_disk),
        "banners": lambda: write_xlsx(tables, target),
        "csv": lambda: write_csv(tables, target),
    }[output]
    with pytest.raises(BarometerError, match="no space left") as err:
        write()
    assert target.name in str(err.value)
    assert target.read_text(encoding="utf-8") == "the previous file"
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".tmp")]


def test_a_store_found_clean_is_checked_again_once_changed(weighted: Path, tmp_path: Path) -> None:
    """A store this process found clean is not checked on every opening, but SQL planted
    in it afterwards is still refused: any write changes the file the check remembers."""
    trap = tmp_path / "poll.duckdb"
    shutil.copy(weighted / "poll.duckdb", trap)
    assert Poll.open(trap).bases().height
    con = duckdb.connect(str(trap))
    con.execute(PLANTED["macro"])
    con.close()
    with pytest.raises(BarometerError, match="not a plain barometer store"):
        Poll.open(trap)
