"""vl-convert's rendering of Vega-Lite specs: what :func:`charts_vega.render_ahead`'s worker
processes run, so a worker imports vl-convert alone (not polars: a start-up of ~1 s).

Fonts: Vega lays a chart out by measuring each text item, which vl-convert does by laying
the text out in a font database it builds once per process — the machine's fonts (found
through fontconfig's files) and a Liberation Sans it carries. Here that database holds only
vl-convert's Liberation Sans (:func:`converter`), for two reasons:

* the layout of a chart (its SVG, byte for byte) is the same on every machine, whatever
  fonts are installed: before, the first installed family of the chart's font list was
  measured (on a machine with Arial, Arial's outlines; here Liberation Sans 1.07, whose
  glyph boxes differ from vl-convert's 2.x by up to a pixel in a chart's width);
* a system font is a file, opened, mapped and unmapped for each glyph vl-convert lays out
  (about 25 times a text item), while the font it carries is in memory: rendering the
  report's charts costs about a third less CPU.

Liberation Sans is metric-compatible with Arial and Helvetica, the families the charts ask
for first (``charts_vega.FONT``), so the widths are the ones a reader's browser draws; the
SVG still names the whole font list, which the browser resolves on its own.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from html import escape  # (xml.sax.saxutils would import urllib: 70 ms)
from pathlib import Path
from types import ModuleType

#: The variable fontdb (vl-convert's font database) reads, once, for fontconfig's file.
FONTCONFIG_ENV = "FONTCONFIG_FILE"
#: Part of the key of a kept chart (``charts_vega.chart_cache``): SVGs measured with the
#: machine's fonts (before) are not served for ones measured with vl-convert's own.
FONTS = "fonts: vl-convert's Liberation Sans"

_READY: list[ModuleType] = []
#: Held while the font database is built: the explorer's server renders charts from several
#: threads, and two first conversions at once would each set and put back the variable
#: (the later one could put back the earlier one's value, a file about to be removed).
_BUILDING = threading.Lock()


def converter() -> ModuleType:
    """vl-convert, its font database built (once per process) from its own Liberation Sans
    alone: fontdb reads the fontconfig file that ``FONTCONFIG_FILE`` names when the first
    conversion needs a font, so for that conversion it names one whose only font folder
    is empty. The variable is put back right after, and threads asking at once wait for
    the one that builds it; barometer reads the variable nowhere else (another thread
    reading the environment during that one conversion would see it)."""
    if _READY:
        return _READY[0]
    with _BUILDING:
        if not _READY:
            _READY.append(_built())
    return _READY[0]


def _built() -> ModuleType:
    """vl-convert after its first conversion, measured with its own font alone."""
    import vl_convert as vlc

    with tempfile.TemporaryDirectory(prefix="barometer-fonts-") as folder:
        empty = Path(folder) / "none"
        empty.mkdir()
        conf = Path(folder) / "fonts.conf"
        folders = f"<dir>{escape(str(empty), quote=False)}</dir>"
        conf.write_text(f'<?xml version="1.0"?>\n<fontconfig>{folders}</fontconfig>\n', "utf-8")
        before = os.environ.get(FONTCONFIG_ENV)
        os.environ[FONTCONFIG_ENV] = str(conf)
        try:
            vlc.vegalite_to_svg(_MEASURED)  # a text item: the database is built here
        finally:
            if before is None:
                del os.environ[FONTCONFIG_ENV]
            else:
                os.environ[FONTCONFIG_ENV] = before
    return vlc


#: The smallest chart whose rendering measures a text (and so builds the font database).
_MEASURED: dict[str, object] = {
    "data": {"values": [{"t": "0"}]},
    "mark": "text",
    "encoding": {"text": {"field": "t"}},
}


def render_specs(specs: Sequence[Mapping[str, object]]) -> list[str]:
    """vl-convert's SVG of each spec, in order. The dicts, not their JSON text: vl-convert
    parses JSON numbers inexactly (the last digits of a coordinate would change), while a
    Python float goes over exactly."""
    vlc = converter()
    return [str(vlc.vegalite_to_svg(dict(spec))) for spec in specs]
