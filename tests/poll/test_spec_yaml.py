"""The strict spec reader: duplicate keys name both lines, aliases and merges are
refused (an alias bomb fails at once), the file is bounded, and loading is linear."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from barometer.errors import SpecError
from barometer.poll.spec import load_spec
from barometer.poll.spec_yaml import MAX_SPEC_BYTES, dump_yaml, read_yaml
from tests.support.pollkit import base_spec, write_spec


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_duplicate_code_names_both_lines(tmp_path: Path) -> None:
    text = "name: x\ncodes:\n  1: ally\n  2: partner\n  1: rival\n"
    with pytest.raises(SpecError, match=r"line 5: key '1' is given twice \(first on line 3\)"):
        read_yaml(_write(tmp_path, text))


def test_duplicate_in_flow_mapping_and_int_float(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="given twice"):
        read_yaml(_write(tmp_path, "codes: {1: ally, 1.0: rival}\n"))


def test_duplicate_in_real_spec_is_refused(tmp_path: Path) -> None:
    path = write_spec(tmp_path, base_spec())
    text = path.read_text(encoding="utf-8").replace("name: Test poll\n", "name: A\nname: B\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r"line 2: key 'name' is given twice \(first on line 1\)"):
        load_spec(path)


def test_alias_bomb_refused_at_once(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="aliases"):
        load_spec(path)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "text", ["a: &x 1\nb: *x\n", "base: &b {x: 1}\nother:\n  <<: *b\n", "m: {<<: {x: 1}}\n"]
)
def test_aliases_and_merges_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError, match="not allowed in a spec"):
        read_yaml(_write(tmp_path, text))


def test_python_tags_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        read_yaml(_write(tmp_path, "x: !!python/object/apply:os.system ['true']\n"))


def test_oversized_spec_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("name: x\nwording: '")
        fh.write("a" * (MAX_SPEC_BYTES + 10))
        fh.write("'\n")
    with pytest.raises(SpecError, match="larger than 10 MB"):
        load_spec(path)


def test_not_utf8_and_nesting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(bad)
    deep = _write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpecError):
        load_spec(deep)


def test_yaml_12_booleans_and_dates_kept(tmp_path: Path) -> None:
    data = read_yaml(_write(tmp_path, "a: NO\nb: yes\nc: true\nd: 2025-11-01\ne: .5\n"))
    assert data["a"] == "NO" and data["b"] == "yes" and data["c"] is True
    assert str(data["d"]) == "2025-11-01" and data["e"] == 0.5


def test_loading_is_linear() -> None:
    """A small version of benchmarks/bench_spec.py: 4,000 questions take at most 3.5× the
    time of 2,000 — quadratic loading would take 4× (the benchmark's bound is 2.5× at
    10,000 and 20,000; the margin here absorbs a shared, loaded test machine)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import tempfile

    import bench_spec

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (2000, 4000):
            path = Path(tmp) / f"s{n}.yaml"
            text = dump_yaml(bench_spec.spec_dict(n), sort_keys=False, default_flow_style=None)
            path.write_text(text, encoding="utf-8")
            times[n] = bench_spec.time_load(path, repeat=5)
    assert times[4000] <= 3.5 * times[2000], times
