"""vl-convert's rendering of Vega-Lite specs: what :func:`charts_vega.render_ahead`'s worker
processes run, so a worker imports vl-convert alone (not polars: a start-up of ~1 s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def render_specs(specs: Sequence[Mapping[str, object]]) -> list[str]:
    """vl-convert's SVG of each spec, in order. The dicts, not their JSON text: vl-convert
    parses JSON numbers inexactly (the last digits of a coordinate would change), while a
    Python float goes over exactly."""
    import vl_convert as vlc

    return [str(vlc.vegalite_to_svg(dict(spec))) for spec in specs]
