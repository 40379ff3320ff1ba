"""Charts of multiple-response questions and grids (Vega-Lite, rendered as the others are).

* :func:`ranked_bars` — a multiple-response question's options as horizontal bars,
  most chosen first, each with its interval: the shares do not sum to 100%, so they are
  not stacked.
* :func:`grid_bars` — a grid's items × levels: one 100% bar per item (each item's own
  base at its end), the levels in the grid's colours.

Both read the estimates as the publication holds them and do no statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import polars as pl

from barometer.errors import EstimationError
from barometer.options import CONFIDENCE
from barometer.publish.charts import (
    LevelStyle,
    estimate_tooltip,
    rows_axis,
    stacked_bars,
    with_data,
)
from barometer.publish.charts_vega import (
    VegaLite,
    channel,
    encoding,
    house_style,
    layer,
    layers,
    mark,
    rows,
    styled,
    tooltip,
)
from barometer.publish.numbers import format_percent

__all__ = ["grid_bars", "ranked_bars"]

_BAR = "#1f4e8c"
_EXCLUSIVE = "#9a9a9a"


def ranked_bars(
    table: pl.DataFrame,
    labels: Mapping[str, str],
    exclusive: Sequence[str] = (),
    title: str | None = None,
    subtitle: str | None = None,
    width: int = 520,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """Ranked bars of a multiple-response question's options in one scope and wave.

    ``table`` has one row per option: ``option`` (code), ``estimate``, ``ci_low``,
    ``ci_high`` and ``n``; ``labels`` maps codes to labels. Options are ranked by their
    share, an exclusive option ("None of these") last and grey; whiskers are the
    intervals, the percentage is written after each bar.
    """
    needed = {"option", "estimate", "ci_low", "ci_high", "n"}
    if not needed <= set(table.columns):
        raise EstimationError(f"ranked_bars needs columns {', '.join(sorted(needed))}")
    kept = table.filter(pl.col("estimate").is_not_null())
    ranked = sorted(
        kept.iter_rows(named=True),
        key=lambda r: (r["option"] in exclusive, -float(r["estimate"])),
    )
    order = [labels.get(r["option"], r["option"]) for r in ranked]
    data = pl.DataFrame(
        {
            "label": order,
            "estimate": [float(r["estimate"]) for r in ranked],
            "ci_low": [float(r["ci_low"]) for r in ranked],
            "ci_high": [float(r["ci_high"]) for r in ranked],
            "n": [int(r["n"]) for r in ranked],
            "text": [format_percent(r["estimate"]) + "%" for r in ranked],
            "colour": [_EXCLUSIVE if r["option"] in exclusive else _BAR for r in ranked],
        }
    )
    y = rows_axis("label", order, limit=240)
    highest = cast(float | None, data["ci_high"].max())  # (a float column, or no rows)
    top = max(0.1, float(highest or 0.0)) * 1.15
    x = channel("estimate", "quantitative", scale={"domain": [0, min(1.0, top)], "nice": False},
                axis={"format": ".0%", "title": None})  # fmt: skip
    tip = tooltip(
        ("label", "nominal", "Option", None), *estimate_tooltip("Share", ".1%", confidence)
    )
    parts = [
        layer(mark("bar", height={"band": 0.7}),
              encoding(x=x, y=y, color=channel("colour", "nominal", scale=None), tooltip=tip)),
        layer(mark("rule", color="#333333"),
              encoding(x=channel("ci_low", "quantitative"), x2=channel("ci_high"), y=y)),
        layer(mark("text", align="left", dx=4, fontSize=11, color="#222222"),
              encoding(x=channel("ci_high", "quantitative"), y=y, text=channel("text", "nominal"))),
    ]  # fmt: skip
    body = {**layers(with_data(parts, "options")), "width": width,
            "height": max(60, 28 * data.height)}  # fmt: skip
    return styled(body, title, subtitle, {"options": rows(data)},
                  config=house_style(legend=False, axis_titles=False))  # fmt: skip


def grid_bars(
    table: pl.DataFrame,
    style: LevelStyle,
    items: Sequence[tuple[str, str]],
    title: str | None = None,
    width: int = 560,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """A grid's items × levels in one scope and wave: one 100% bar per item.

    ``table`` has ``item`` (code), ``level``, ``estimate``, ``ci_low``, ``ci_high`` and
    ``n`` (the item's own base); ``items`` gives the items' order and labels. Drawn by
    :func:`barometer.publish.charts.stacked_bars` with the items as its rows.
    """
    rows = table.rename({"item": "country"}).drop("wave", strict=False)
    return stacked_bars(
        rows,
        style,
        order=[c for c, _ in items],
        names=dict(items),
        title=title,
        width=width,
        confidence=confidence,
    )
