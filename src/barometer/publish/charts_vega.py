"""Vega-Lite specs as plain dicts, and their offline rendering with vl-convert.

The charts of :mod:`barometer.publish.charts` and its siblings write their Vega-Lite
specs directly as JSON-ready dicts: a spec is data (rows) plus encodings, and building
it through Altair's object model cost half of what rendering it does (every ``encode``
call validated its channels against the schema, every ``layer`` and ``properties`` call
deep-copied the chart, data included: about 50 ms CPU per chart of the report). The
specs are the ones Altair wrote (same keys, same order, same ``$schema``), so the
rendered SVGs are byte-identical; :meth:`VegaLite.to_dict` validates a spec against the
Vega-Lite JSON schema (the tests do, for every chart kind) instead of every render.

Rendering: vl-convert (1.9) runs Vega in one embedded JavaScript worker, so threads do
not render in parallel; most of a chart's cost is Vega measuring each text item (axis
labels, segment labels, titles) through vl-convert's font layout, about 1 ms apiece (a third
less with the fonts held in memory: :mod:`barometer.publish.charts_render`).
What is cut here is rendering the same chart twice: :func:`to_svg` keeps the SVG of
each distinct spec of this process and, between runs, in a folder of rendered charts
(:func:`chart_cache`, keyed by the spec and the vl-convert version), and :func:`to_png`
rasterises that SVG (``svg_to_png``, the step ``vegalite_to_png`` ends with) instead of
running Vega again. A report's new charts are rendered in parallel processes
(:func:`render_ahead`, one per CPU), since they are most of its cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from barometer.atomic import write_bytes, write_text
from barometer.errors import BarometerError
from barometer.publish.charts_render import FONTS, converter, render_specs
from barometer.user_cache import cache_folder

__all__ = [
    "CACHE_ENV",
    "CACHE_FILES",
    "JSON",
    "SCHEMA",
    "VegaLite",
    "channel",
    "chart_cache",
    "encoding",
    "facet",
    "house_style",
    "layer",
    "layers",
    "mark",
    "props",
    "render_ahead",
    "rows",
    "save_png",
    "save_svg",
    "styled",
    "to_png",
    "to_svg",
    "tooltip",
]

#: The Vega-Lite version of the specs (vl-convert compiles with the version it names);
#: the one Altair 6.3 wrote, so that the SVGs did not change when Altair left.
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
FONT = "Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"

JSON = dict[str, object]


@dataclass(frozen=True, eq=False)
class VegaLite:
    """A complete Vega-Lite spec (a JSON-ready dict), ready to render.

    Build one with the chart functions (:func:`barometer.publish.charts.stacked_bars`,
    ...); :func:`to_svg` and :func:`to_png` render it offline.
    """

    spec: Mapping[str, object]

    def to_dict(self, validate: bool = True) -> JSON:
        """A copy of the spec; with ``validate``, checked against the Vega-Lite JSON
        schema first (``jsonschema.ValidationError`` names the offending path)."""
        spec: JSON = json.loads(self.to_json())
        if validate:
            import jsonschema

            jsonschema.validate(spec, _schema(), cls=jsonschema.Draft7Validator)
        return spec

    def to_json(self) -> str:
        """The spec as JSON text (what vl-convert reads)."""
        return json.dumps(self.spec, ensure_ascii=False)


@lru_cache(maxsize=1)
def _schema() -> JSON:
    from importlib.resources import files

    # the schema Altair ships (its version is SCHEMA's): read, not imported through Altair
    text = (files("altair") / "vegalite" / "v6" / "schema" / "vega-lite-schema.json").read_text(
        encoding="utf-8"
    )
    schema: JSON = json.loads(text)
    return schema


# ---------------------------------------------------------------------------------------
# Spec pieces. Keys are written in the order Altair wrote them (a mark's or a title's
# ``type``/``text`` first, everything else sorted), so that the compiled Vega — and the
# SVG — is the same as before.


def _sorted(props: Mapping[str, object]) -> JSON:
    return {k: props[k] for k in sorted(props)}


def mark(kind: str, **props: object) -> JSON:
    """A mark definition: ``{"type": kind, **props}``."""
    return {"type": kind, **_sorted(props)}


def channel(field: str, kind: str | None = None, **props: object) -> JSON:
    """An encoding channel on ``field`` (``kind``: quantitative, nominal, ordinal)."""
    return _sorted({"field": field, **({"type": kind} if kind else {}), **props})


def encoding(**channels: object) -> JSON:
    """An ``encoding`` block (channels in name order)."""
    return _sorted(channels)


def props(**given: object) -> JSON:
    """A definition (axis, legend, scale, header) with its keys in order."""
    return _sorted(given)


def layer(
    kind: str | JSON,
    enc: JSON,
    data: str | None = None,
    transform: Sequence[JSON] = (),
) -> JSON:
    """One layer: a mark (a type, or a :func:`mark`), its encodings, the named dataset
    it reads (``None``: its parent's) and its transforms."""
    out: JSON = {} if data is None else {"data": {"name": data}}
    out["mark"] = {"type": kind} if isinstance(kind, str) else kind
    out["encoding"] = enc
    if transform:
        out["transform"] = list(transform)
    return out


def layers(parts: Sequence[JSON]) -> JSON:
    """A layer chart's body: when every layer reads the same dataset it is named once,
    on the chart (as Altair lifted it)."""
    names = {json.dumps(p.get("data")) for p in parts}
    if len(names) == 1 and "data" in parts[0]:
        return {"layer": [{k: v for k, v in p.items() if k != "data"} for p in parts],
                "data": parts[0]["data"]}  # fmt: skip
    return {"layer": list(parts)}


def rows(frame: pl.DataFrame) -> list[JSON]:
    """A frame's rows as the JSON records of a dataset."""
    return frame.to_dicts()


def tooltip(*fields: tuple[str, str, str, str | None]) -> list[JSON]:
    """Tooltip channels from ``(field, type, title, format)`` tuples."""
    return [
        channel(f, kind, title=title, **({"format": fmt} if fmt else {}))
        for f, kind, title, fmt in fields
    ]


def facet(field: str, sort: Sequence[str]) -> JSON:
    """The facet of small multiples, one panel per ``field`` value in ``sort`` order,
    each headed by its name in bold."""
    return channel(field, "nominal", sort=list(sort), title=None,
                   header={"labelFontSize": 12, "labelFontWeight": "bold"})  # fmt: skip


def styled(
    body: JSON,
    title: str | None,
    subtitle: str | None,
    datasets: Mapping[str, list[JSON]] | None = None,
    config: JSON | None = None,
) -> VegaLite:
    """The complete spec: ``body`` (layers or facet, size) with the house style (font,
    white background, label sizes), the title and subtitle, and the named datasets."""
    spec: JSON = {"config": config if config is not None else house_style(), **body}
    if title is not None:
        spec["title"] = {
            "text": title,
            "anchor": "start",
            "fontSize": 15,
            "subtitle": subtitle or "",
            "subtitleColor": "#444444",
            "subtitleFontSize": 12,
        }
    spec = _sorted_top(spec)
    spec["$schema"] = SCHEMA
    if datasets:
        spec["datasets"] = dict(datasets)
    return VegaLite(spec)


def _sorted_top(spec: JSON) -> JSON:
    # Altair wrote the config, the chart's own keys, then its properties sorted
    lead = ("config", "data", "facet", "spec") if "facet" in spec else ("config", "layer")
    first = {k: spec[k] for k in lead if k in spec}
    return {**first, **_sorted({k: v for k, v in spec.items() if k not in first})}


def house_style(legend: bool = True, axis_titles: bool = True) -> JSON:
    """The charts' configuration: font, background, axis (and legend) label sizes."""
    axis_config: JSON = {"labelColor": "#222222", "labelFontSize": 12}
    if axis_titles:
        axis_config["titleFontSize"] = 12
    out: JSON = {
        "view": {"continuousWidth": 300, "continuousHeight": 300, "stroke": None},
        "axis": axis_config,
        "background": "white",
        "font": FONT,
    }
    if legend:
        out["legend"] = {"labelFontSize": 12, "labelLimit": 520, "titleFontSize": 12}
    return out


# ---------------------------------------------------------------------------------------
# Rendering (offline: vl-convert embeds the Vega engine, no browser, no network).


def _spec(chart: object) -> JSON:
    if isinstance(chart, VegaLite):
        return dict(chart.spec)
    to_dict = getattr(chart, "to_dict", None)
    if callable(to_dict):  # an Altair chart built by a caller
        spec: JSON = to_dict(validate=False)
        return spec
    if isinstance(chart, Mapping):
        return {str(k): v for k, v in chart.items()}
    raise TypeError(f"not a chart: {type(chart).__name__} (pass a VegaLite spec or a dict)")


#: SVGs of the specs rendered in this process, by the spec's JSON text (bounded: a
#: report renders each chart once; the cache serves a second output of the same chart).
_RENDERED: dict[str, str] = {}
_KEEP = 512
#: The environment variable naming the folder of rendered charts kept between runs;
#: ``off`` keeps none (default: ``$XDG_CACHE_HOME/barometer/charts``).
CACHE_ENV = "BAROMETER_CHART_CACHE"
#: At most this many files in that folder; the oldest beyond it are removed.
CACHE_FILES = 4000


def chart_cache() -> Path | None:
    """The folder where rendered SVGs are kept between runs, or ``None`` (``off``).

    Rendering is a pure function of the spec and the vl-convert version, both in the
    file's name (a SHA-256), so a kept SVG is the one vl-convert would render again: the
    second ``barometer demo`` or report of an unchanged poll renders nothing."""
    return cache_folder(CACHE_ENV, "charts")


def _cached_svg(key: str, render: Callable[[], str]) -> str:
    kept = _kept_svg(key)
    if kept is not None:
        return kept
    svg = render()
    _keep_svg(key, svg)
    return svg


def _kept_svg(key: str) -> str | None:
    """The SVG kept in :func:`chart_cache` under ``key``, if it is one (and plain)."""
    folder = chart_cache()
    if folder is None:
        return None
    try:
        kept = (folder / f"{key}.svg").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # not kept yet (or unreadable): render it
    return kept if _plain_svg(kept) else None


def _keep_svg(key: str, svg: str) -> None:
    folder = chart_cache()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / f"{key}.svg", svg)
        _prune(folder)
    except (OSError, BarometerError):
        pass  # the cache is an optimisation: a read-only or full disk only costs time


#: What vl-convert's SVG never holds but a planted file could: script, an event handler,
#: a javascript: link, embedded HTML.
_ACTIVE = re.compile(r"<script|<foreignobject|javascript:|\son[a-z]+\s*=", re.IGNORECASE)


def _plain_svg(text: str) -> bool:
    """Whether a kept file is one whole SVG document with nothing that could run: the
    folder is only as trusted as the user's home, and the report and ``charts_dir`` pass
    its text on, so anything else is rendered again instead."""
    body = text.strip()
    return body.startswith("<svg") and body.endswith("</svg>") and not _ACTIVE.search(body)


_PRUNED: set[Path] = set()


def _prune(folder: Path) -> None:
    # once per process and folder: a listing per chart would cost what the cache saves
    if folder in _PRUNED:
        return
    _PRUNED.add(folder)
    files = sorted(folder.glob("*.svg"), key=lambda f: f.stat().st_mtime)
    for old in files[: max(0, len(files) - CACHE_FILES)]:
        old.unlink(missing_ok=True)


def _cache_key(text: str) -> str:
    import vl_convert as vlc

    # (vl-convert's stubs leave out its __version__, which the module has)
    kind = f"vl-convert {vlc.__version__}, {FONTS}"  # type: ignore[attr-defined]
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()


def _remember(text: str, svg: str) -> None:
    if len(_RENDERED) >= _KEEP:
        _RENDERED.pop(next(iter(_RENDERED)))
    _RENDERED[text] = svg


def to_svg(chart: VegaLite | Mapping[str, object]) -> str:
    """The chart rendered to an SVG document (a string), offline with vl-convert; a
    spec rendered before in this process (or by :func:`render_ahead`), or kept in
    :func:`chart_cache`, is not rendered again."""
    spec = _spec(chart)
    text = json.dumps(spec, ensure_ascii=False)
    svg = _RENDERED.get(text)
    if svg is None:
        svg = _cached_svg(_cache_key(text), lambda: render_specs([spec])[0])
        _remember(text, svg)
    return svg


#: :func:`render_ahead` starts worker processes only for at least this many new charts
#: per process: a worker's start-up (Python, vl-convert's JavaScript runtime: ~0.5 s)
#: costs what rendering about five charts does.
AHEAD_CHARTS = 8


def render_ahead(charts: Sequence[VegaLite | Mapping[str, object]], processes: int = 0) -> int:
    """Render the charts not rendered yet — in this process or kept in
    :func:`chart_cache` — in parallel, so that :func:`to_svg` then reads each from memory;
    returns how many were rendered here. vl-convert runs one JavaScript worker per process
    (threads do not help), so the new charts are split between this process and
    ``processes - 1`` spawned ones (``0``: one per CPU, fewer when there are fewer than
    :data:`AHEAD_CHARTS` new charts for each). Rendering is a pure function of the spec,
    so the SVGs are byte for byte the ones :func:`to_svg` renders alone; if worker
    processes cannot start, nothing is rendered ahead and :func:`to_svg` renders as it
    goes."""
    todo: dict[str, tuple[JSON, str]] = {}
    for chart in charts:
        spec = _spec(chart)
        text = json.dumps(spec, ensure_ascii=False)
        if text in _RENDERED or text in todo:
            continue
        key = _cache_key(text)
        kept = _kept_svg(key)
        if kept is not None:
            _remember(text, kept)
        else:
            todo[text] = (spec, key)
    items = list(todo.items())[:_KEEP]  # more would push the first out before they are read
    workers = min(processes or os.cpu_count() or 1, len(items) // AHEAD_CHARTS)
    if workers < 2:
        return 0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # interleaved, so each process gets charts of every kind (their costs differ by 3x)
    shares = [items[i::workers] for i in range(workers)]
    specs = [[spec for _, (spec, _) in share] for share in shares]
    # spawn: a fork would copy the caller's memory (a publication's data) per worker
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
            theirs = [pool.submit(render_specs, part) for part in specs[1:]]
            svgs = [render_specs(specs[0]), *(future.result() for future in theirs)]
    except (OSError, RuntimeError):  # (BrokenProcessPool is a RuntimeError)
        return 0
    for share, rendered in zip(shares, svgs, strict=True):
        for (text, (_, key)), svg in zip(share, rendered, strict=True):
            _keep_svg(key, svg)
            _remember(text, svg)
    return len(items)


def to_png(chart: VegaLite | Mapping[str, object], scale: float = 2.0) -> bytes:
    """The chart rendered to PNG bytes (``scale`` × its CSS pixel size), offline: its
    SVG (:func:`to_svg`) rasterised."""
    svg = to_svg(chart)  # (its fonts, once rasterised: vl-convert's, see `converter`)
    return bytes(converter().svg_to_png(svg, scale=scale))


def save_svg(chart: VegaLite | Mapping[str, object], path: str | Path) -> Path:
    """Write the chart as an SVG file; returns the path."""
    path = Path(path)
    write_text(path, to_svg(chart))
    return path


def save_png(chart: VegaLite | Mapping[str, object], path: str | Path, scale: float = 2.0) -> Path:
    """Write the chart as a PNG file (``scale`` × pixel density); returns the path."""
    path = Path(path)
    write_bytes(path, to_png(chart, scale=scale))
    return path
