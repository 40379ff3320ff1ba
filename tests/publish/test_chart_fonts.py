"""Charts are measured with vl-convert's own Liberation Sans, whatever fonts the machine
has (:mod:`barometer.publish.charts_render`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from barometer.publish.charts_render import FONTCONFIG_ENV, converter, render_specs

#: A chart whose text is laid out in DejaVu Sans when the machine's fonts are used
#: (DejaVu is much wider than Liberation Sans: the SVG's sizes would differ).
_SPEC = {
    "config": {"font": "DejaVu Sans"},
    "data": {"values": [{"label": "Somewhat satisfied with democracy", "v": 1.0}]},
    "mark": "bar",
    "encoding": {
        "y": {"field": "label", "type": "nominal"},
        "x": {"field": "v", "type": "quantitative"},
    },
    "title": "Satisfaction with the way democracy works",
}

_RENDER = """
import json, sys
from barometer.publish.charts_render import render_specs
print(json.dumps(render_specs([json.loads(sys.argv[1])])[0]))
"""


def _dejavu() -> Path:
    found = sorted(Path("/usr/share/fonts").rglob("DejaVuSans.ttf"))
    if not found:
        pytest.skip("DejaVu Sans is not installed")
    return found[0]


def test_the_svg_does_not_depend_on_the_fonts_installed(tmp_path: Path) -> None:
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "DejaVuSans.ttf").write_bytes(_dejavu().read_bytes())
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?>\n<fontconfig><dir>{fonts}</dir></fontconfig>\n")
    # a process whose fontconfig file offers DejaVu Sans (and nothing else)
    env = {**os.environ, FONTCONFIG_ENV: str(conf)}
    with_dejavu = subprocess.run(
        [sys.executable, "-c", _RENDER, json.dumps(_SPEC)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(with_dejavu) == render_specs([_SPEC])[0]


def test_the_fontconfig_variable_is_put_back() -> None:
    before = os.environ.get(FONTCONFIG_ENV)
    converter()
    assert os.environ.get(FONTCONFIG_ENV) == before


def test_threads_asking_at_once_build_the_font_database_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    import vl_convert

    from barometer.publish import charts_render

    seen: list[str | None] = []
    real = vl_convert.vegalite_to_svg

    def slow(spec: object, *args: object, **kwargs: object) -> str:
        seen.append(os.environ.get(FONTCONFIG_ENV))
        time.sleep(0.05)  # long enough for every thread to arrive while it is built
        return str(real(spec, *args, **kwargs))

    monkeypatch.setattr(charts_render, "_READY", [])  # as in a process that has not built it
    monkeypatch.setattr(vl_convert, "vegalite_to_svg", slow)
    before = os.environ.get(FONTCONFIG_ENV)
    start = threading.Barrier(4)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(converter())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 1 and seen[0] != before  # one build, under the empty font folder
    assert got == [vl_convert] * 4
    assert os.environ.get(FONTCONFIG_ENV) == before
