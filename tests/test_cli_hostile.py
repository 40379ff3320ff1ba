"""Every command over the corpus of bad inputs (issue 13): exit code 1, one message on
stderr starting "error:", no traceback; ``--debug`` shows the traceback; data printed
to the terminal carries no markup or escape sequences."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.untrusted import printable
from tests.support.hostile import COUNTRY_NAMES, hostile_spec
from tests.support.pollkit import edit_spec, make_poll

runner = CliRunner()


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-hostile")
    make_poll(root, n=60)
    assert runner.invoke(app, ["ingest", str(root / "spec.yaml")]).exit_code == 0
    assert runner.invoke(app, ["weight", "--store", str(root / "poll.duckdb")]).exit_code == 0
    return root


def _copy(good: Path, tmp: Path) -> Path:
    root = tmp / "poll"
    shutil.copytree(good, root)
    return root


def _spec_edit(fn: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda root: edit_spec(root / "spec.yaml", fn) and None


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def cut(root: Path) -> None:
        path = root / name
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return cut


def _trap(root: Path) -> None:
    con = duckdb.connect(str(root / "poll.duckdb"))
    con.execute("CREATE VIEW leak AS SELECT * FROM read_text('/etc/passwd')")
    con.close()


def _text(name: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / name).write_text(text, encoding="utf-8") and None


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda root: (root / name).write_bytes(data) and None


#: Bad inputs: each damages a copy of a good, weighted poll.
CORPUS: dict[str, Callable[[Path], None]] = {
    "spec reads /etc/passwd": _spec_edit(
        lambda s: s["sources"][1].update(file="/etc/passwd", format="csv")
    ),
    "spec duplicate key": _text("spec.yaml", "name: a\nname: b\n"),
    "spec alias bomb": _text("spec.yaml", "a: &a [1, 1]\nb: [*a, *a]\n"),
    "spec not yaml": _bytes("spec.yaml", b"\xff\xfe{{{"),
    "spec missing": lambda root: (root / "spec.yaml").unlink(),
    "sav truncated": _truncate("data/de_202411.sav", 0.5),
    "dta truncated": _truncate("data/it_202411.dta", 0.3),
    "parquet truncated": _truncate("data/pl_202411.parquet", 0.6),
    "same file twice": _spec_edit(
        lambda s: s["sources"].append(dict(s["sources"][1], id="fr-twice"))
    ),
    "store truncated": _truncate("poll.duckdb", 0.3),
    "store booby-trapped": _trap,
    "store is garbage": _bytes("poll.duckdb", b"\x00garbage" * 4096),
    "store is a folder": lambda root: (
        (
            (root / "poll.duckdb").unlink(),
            (root / "poll.duckdb").mkdir(),
        )
        and None
    ),
}

SPEC_CASES = {k for k in CORPUS if not k.startswith("store")}
COMMANDS: dict[str, list[str]] = {
    "ingest": ["ingest", "{spec}", "--store", "{store}"],
    "weight": ["weight", "--store", "{store}"],
    "estimate": ["estimate", "us_relationship", "--store", "{store}"],
    "info": ["info", "--store", "{store}"],
    "report": ["report", "--store", "{store}", "--out", "{out}/report.html"],
    "findings": ["findings", "--store", "{store}", "--out", "{out}"],
    "banners": ["banners", "--store", "{store}", "--out", "{out}/banners.xlsx"],
}


def _cases() -> list[tuple[str, str]]:
    out = []
    for case in CORPUS:
        for command in COMMANDS:
            # A bad spec or respondent file matters to ingest; a bad store to every command.
            if (case in SPEC_CASES) == (command == "ingest"):
                out.append((case, command))
    return out


@pytest.mark.parametrize(("case", "command"), _cases())
def test_every_command_one_message_no_traceback(
    good: Path, tmp_path: Path, case: str, command: str
) -> None:
    root = _copy(good, tmp_path)
    if case in SPEC_CASES and command == "ingest":
        (root / "poll.duckdb").unlink()  # ingest afresh: every file is read
    CORPUS[case](root)
    args = [
        a.format(spec=root / "spec.yaml", store=root / "poll.duckdb", out=tmp_path)
        for a in COMMANDS[command]
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("error: ") == 1
    assert "root:x:0" not in result.output  # /etc/passwd never shown
    assert "unexpected" not in result.stderr, result.stderr  # a BarometerError, not a bug


def test_debug_prints_the_traceback(good: Path, tmp_path: Path) -> None:
    root = _copy(good, tmp_path)
    CORPUS["store booby-trapped"](root)
    result = runner.invoke(app, ["--debug", "info", "--store", str(root / "poll.duckdb")])
    assert result.exit_code != 0
    assert result.exception is not None and "not a plain barometer store" in str(result.exception)


def test_terminal_shows_markup_and_escapes_as_text(tmp_path: Path) -> None:
    spec = hostile_spec(tmp_path, n=200)
    assert runner.invoke(app, ["ingest", str(spec)]).exit_code == 0
    store = str(tmp_path / "poll.duckdb")
    assert runner.invoke(app, ["weight", "--store", store]).exit_code == 0
    result = runner.invoke(app, ["info", "--store", store])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    # Rich markup in data is printed literally, not interpreted.
    result = runner.invoke(
        app,
        [
            "findings",
            "--store",
            store,
            "--out",
            str(tmp_path),
            "--min-base",
            "30",
            "--alpha",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = result.output.replace("\n", "")
    assert "\x1b" not in shown and "\x07" not in shown
    names = [printable(n) for n in COUNTRY_NAMES.values()]
    assert any(name in shown for name in names), shown  # printed as typed
    # Rich would render "[link=…]Italy[/link]" as a bare "Italy": it must show as typed.
    assert "Italy" not in shown.replace("[link=http://evil.example]Italy[/link]", "")
