"""Charts of multiple-response questions and grids (Altair, rendered as the others are).

* :func:`ranked_bars` — a multiple-response question's options as horizontal bars,
  most chosen first, each with its interval: the shares do not sum to 100%, so they are
  not stacked.
* :func:`grid_bars` — a grid's items × levels: one 100% bar per item (each item's own
  base at its end), the levels in the grid's colours.

Both read the estimates as the publication holds them and do no statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from barometer.errors import EstimationError
from barometer.options import CONFIDENCE
from barometer.publish.charts import LevelStyle, stacked_bars
from barometer.publish.numbers import format_level, format_percent

__all__ = ["grid_bars", "ranked_bars"]

_BAR = "#1f4e8c"
_EXCLUSIVE = "#9a9a9a"
_FONT = "Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"


def ranked_bars(
    table: pl.DataFrame,
    labels: Mapping[str, str],
    exclusive: Sequence[str] = (),
    title: str | None = None,
    subtitle: str | None = None,
    width: int = 520,
    confidence: float = CONFIDENCE,
) -> Any:
    """Ranked bars of a multiple-response question's options in one scope and wave.

    ``table`` has one row per option: ``option`` (code), ``estimate``, ``ci_low``,
    ``ci_high`` and ``n``; ``labels`` maps codes to labels. Options are ranked by their
    share, an exclusive option ("None of these") last and grey; whiskers are the
    intervals, the percentage is written after each bar.
    """
    import altair as alt

    needed = {"option", "estimate", "ci_low", "ci_high", "n"}
    if not needed <= set(table.columns):
        raise EstimationError(f"ranked_bars needs columns {', '.join(sorted(needed))}")
    rows = table.filter(pl.col("estimate").is_not_null())
    ranked = sorted(
        rows.iter_rows(named=True),
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
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=240, ticks=False))
    top = max(0.1, float(data["ci_high"].max() or 0.0)) * 1.15
    x = alt.X(
        "estimate:Q",
        scale=alt.Scale(domain=[0, min(1.0, top)], nice=False),
        axis=alt.Axis(format=".0%", title=None),
    )
    tooltip = [
        alt.Tooltip("label:N", title="Option"),
        alt.Tooltip("estimate:Q", title="Share", format=".1%"),
        alt.Tooltip("ci_low:Q", title=f"{format_level(confidence)} interval from", format=".1%"),
        alt.Tooltip("ci_high:Q", title="to", format=".1%"),
        alt.Tooltip("n:Q", title="Base (unweighted)", format=","),
    ]
    base = alt.Chart(data)
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=x, y=y, color=alt.Color("colour:N", scale=None), tooltip=tooltip
    )
    whiskers = base.mark_rule(color="#333333").encode(x="ci_low:Q", x2="ci_high:Q", y=y)
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#222222").encode(
        x="ci_high:Q", y=y, text="text:N"
    )
    chart = alt.layer(bars, whiskers, text).properties(
        width=width, height=max(60, 28 * data.height)
    )
    if title is not None:
        chart.title = alt.TitleParams(
            title, subtitle=subtitle or "", anchor="start", fontSize=15, subtitleFontSize=12,
            subtitleColor="#444444",
        )  # fmt: skip
    chart.config = alt.Config(
        font=_FONT, background="white", view=alt.ViewConfig(stroke=None),
        axis=alt.AxisConfig(labelFontSize=12, labelColor="#222222"),
    )  # fmt: skip
    return chart


def grid_bars(
    table: pl.DataFrame,
    style: LevelStyle,
    items: Sequence[tuple[str, str]],
    title: str | None = None,
    width: int = 560,
    confidence: float = CONFIDENCE,
) -> Any:
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
