"""The explorer's pages: served live by :mod:`.api`, or written as a static site.

The pages are the package's own files (``static/index.html``, ``explorer.js``,
``explorer.css``) plus the charting library — Vega, Vega-Lite and Vega-Embed — taken
from the installed vl-convert (:func:`vl_convert.javascript_bundle`) when the server
starts or the site is exported, so no third-party JavaScript lives in the repository
and nothing is fetched from the network.

``index.html`` carries one ``<script type="application/json" id="barometer-page">``
element: the page's settings (live: read the JSON API; static: the whole cube,
its catalogue and methodology, embedded). A browser never runs a JSON script element,
and :func:`~barometer.publish.explorer.escape.dumps` escapes ``<``, ``>`` and ``&``, so
no label can close the element. Embedding (rather than a ``cube.json`` the page would
fetch) is what lets the export work opened from ``file://``, where Chromium refuses
``fetch``; ``cube.json`` is written beside it for other readers.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from barometer.atomic import write_bytes
from barometer.publish.cells import FORMULA_START, PLAIN_NUMBER
from barometer.publish.charts import MIN_LABELLED_SHARE
from barometer.publish.explorer.cube import ROW_COLUMNS, Cube
from barometer.publish.explorer.escape import dumps

__all__ = ["PAGE_FILES", "PAGE_MARKER", "page_file", "render_index", "vega_bundle", "write_site"]

#: The package's own page files (under ``static/``), written by this project.
PAGE_FILES = ("explorer.css", "explorer.js")
#: Where ``index.html`` takes the page's settings.
PAGE_MARKER = "{{barometer-page}}"
#: The charting library's file name, beside the page files.
VEGA = "vega.js"


@lru_cache(maxsize=1)
def vega_bundle() -> bytes:
    """Vega, Vega-Lite and Vega-Embed in one classic script that sets ``window.vega``,
    ``window.vegaLite`` and ``window.vegaEmbed`` (vl-convert's bundle, built once per
    process: a few seconds)."""
    import vl_convert

    # (vl-convert's stubs make ``snippet`` required; it is optional: the default snippet
    # sets the globals)
    return vl_convert.javascript_bundle().encode("utf-8")  # type: ignore[call-arg]


def page_file(name: str) -> bytes:
    """One of the package's page files (:data:`PAGE_FILES` or ``index.html``)."""
    return (resources.files("barometer.publish.explorer") / "static" / name).read_bytes()


def _csv_rule() -> dict[str, str]:
    """The spreadsheet-formula rule of :func:`barometer.publish.cells.csv_text`, handed
    to the page so its CSV download neutralises cells by the same rule."""
    return {"formula_start": FORMULA_START, "plain_number": PLAIN_NUMBER}


def render_index(page: dict[str, Any], csp: str | None = None) -> bytes:
    """``index.html`` with ``page`` (the settings) embedded; with ``csp``, the policy as
    a ``<meta>`` element too (a static site has no headers of its own)."""
    html = page_file("index.html").decode("utf-8")
    chart = {"min_labelled_share": MIN_LABELLED_SHARE}
    body = dumps({**page, "csv": _csv_rule(), "chart": chart}).decode("utf-8")
    meta = ""
    if csp is not None:
        # frame-ancestors is ignored (and reported as an error) in a <meta> policy.
        policy = "; ".join(p for p in csp.split("; ") if not p.startswith("frame-ancestors"))
        meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
    html = html.replace("<!--{{csp}}-->\n", meta, 1)
    return html.replace(PAGE_MARKER, body, 1).encode("utf-8")


def live_page() -> dict[str, Any]:
    """The settings of the served pages: read the JSON API of the same origin."""
    return {"mode": "live"}


def _columns(cube: Cube) -> dict[str, Any]:
    """The cube's rows column by column (a third of the size of one object per row)."""
    table = cube.rows.select(ROW_COLUMNS)
    return {"columns": list(ROW_COLUMNS), "data": [list(r) for r in table.iter_rows()]}


def static_page(cube: Cube) -> dict[str, Any]:
    """The settings of the exported pages: the whole cube, embedded."""
    return {
        "mode": "static",
        "catalogue": cube.catalogue(),
        "methodology": dict(cube.methodology),
        "rows": _columns(cube),
    }


def write_site(cube: Cube, out: Path, csp: str) -> list[Path]:
    """Write the explorer of ``cube`` as static files under ``out``: ``index.html`` (the
    cube embedded), ``static/`` (the page files and the charting library) and
    ``cube.json``; any static web server can host the folder, and it opens from
    ``file://``. Returns the files written."""
    out = Path(out)
    page = static_page(cube)
    files = {
        "index.html": render_index(page, csp),
        "cube.json": dumps({k: v for k, v in page.items() if k != "mode"}),
        f"static/{VEGA}": vega_bundle(),
        **{f"static/{name}": page_file(name) for name in PAGE_FILES},
    }
    written = []
    for name, body in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, body)
        written.append(path)
    return written
