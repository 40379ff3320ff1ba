"""Charts of numeric questions: a mean with its interval by country, and the
distribution of a scale.

Like :mod:`barometer.publish.charts` (whose dot layers, reference line, tooltips,
rendering and styling they share), they
draw the columns of the publication's estimates — a numeric question's means
(``estimate``, ``ci_low``, ``ci_high``, ``n`` by country) and a scale's shares of each
value — and do no statistics of their own.

Examples
--------
>>> from barometer.publish.scale_charts import mean_dots, distribution_bars
>>> cells = pub.cells("trust_eu")  # doctest: +SKIP
>>> trust = pub.spec.question("trust_eu")  # doctest: +SKIP
>>> chart = mean_dots(cells.estimates, trust, wave="2025-11")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from barometer.errors import EstimationError, did_you_mean
from barometer.options import CONFIDENCE
from barometer.publish.charts import (
    dot_layers,
    estimate_tooltip,
    split_reference,
    text_column,
    with_data,
    with_reference,
)
from barometer.publish.charts_vega import (
    JSON,
    VegaLite,
    channel,
    encoding,
    facet,
    layer,
    layers,
    mark,
    props,
    rows,
    styled,
    tooltip,
)
from barometer.publish.numbers import format_level, format_mean

__all__ = ["distribution_bars", "mean_dots"]

_MEAN = "#1f4e8c"
_BAR = "#4f86c6"


def _rows(est: Any, wave: str | None, names: Mapping[str, str] | None) -> pl.DataFrame:
    """The rows of one wave, with display names (``who``)."""
    table = est.to_polars() if hasattr(est, "to_polars") else pl.DataFrame(est)
    needed = ["country", "estimate", "ci_low", "ci_high", "n"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise EstimationError(
            f"charts of a numeric question need columns {', '.join(needed)}; missing "
            f"{', '.join(missing)}"
        )
    if "wave" in table.columns:
        waves = table.get_column("wave").cast(pl.String).unique(maintain_order=True).to_list()
        if wave is None and len(waves) > 1:
            raise EstimationError(
                f"the estimates hold waves {', '.join(waves)}; pass wave= to chart one"
            )
        if wave is not None and wave not in waves:
            raise EstimationError(
                f"no estimates for wave {wave!r} (have {', '.join(waves)})"
                f"{did_you_mean(wave, waves)}"
            )
        if wave is not None:
            table = table.filter(pl.col("wave").cast(pl.String) == wave)
    if "suppressed" in table.columns:  # a suppressed cell is drawn nowhere
        table = table.filter(~pl.col("suppressed"))
    codes = table.get_column("country").cast(pl.String)
    shown = [(names or {}).get(c, c) for c in codes.to_list()]
    return table.with_columns(country=codes, who=pl.Series(shown, dtype=pl.String))


def _axis_scale(question: Any) -> JSON:
    if question.range is None:
        return props(zero=False, nice=True)
    return props(domain=list(question.range), nice=False)


def mean_dots(
    est: Any,
    question: Any,
    wave: str | None = None,
    reference: str | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    decimals: int = 0,
    width: int = 520,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """A numeric question's mean by country (or region) with its interval as whiskers,
    highest first, on the question's range (0 to 10 for a scale), and a dashed
    reference line (its interval shaded) at a region's mean.

    Parameters
    ----------
    est : Estimates
        Means by ``country`` (and ``wave``): the publication's cells of the question.
    question : spec Question
        The numeric question (its ``range`` sets the axis).
    wave : str, optional
        The wave to chart when the estimates hold several.
    reference : str, optional
        The row drawn as the reference line (e.g. ``"EU"``) instead of a dot.
    decimals : int
        The publication's percentage decimals (a mean prints one more).
    confidence : float
        The confidence level of the intervals, for the words (the publication's).
    """
    table = _rows(est, wave, names)
    if table.height == 0:
        raise EstimationError(f"no means of {question.id!r} to chart")
    table, ref = split_reference(table, reference)
    data = table.select("who", "estimate", "ci_low", "ci_high", "n").with_columns(
        text_column(table["estimate"], lambda v: format_mean(v, decimals))
    )
    tip = tooltip(("who", "nominal", "Country", None), *estimate_tooltip("Mean", ".2f", confidence))
    x = channel("ci_low", "quantitative", scale=_axis_scale(question), title="Mean")
    datasets = {"dots": rows(data)}
    parts = with_data(dot_layers(x, _MEAN, tip), "dots")
    parts = with_reference(parts, ref, lambda v: format_mean(v, decimals), datasets)
    body = {**layers(parts), "width": width, "height": max(60, 24 * data.height)}
    subtitle = (
        f"Weighted mean{f', {wave}' if wave else ''}, with its {format_level(confidence)} interval"
    )
    if ref is not None:
        subtitle += f"; dashed line: {ref.get_column('who')[0]} (shaded: its interval)"
    return styled(body, title, subtitle + ".", datasets)


def distribution_bars(
    est: Any,
    question: Any,
    wave: str | None = None,
    order: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    columns: int = 4,
) -> VegaLite:
    """The distribution of a scale: the weighted share giving each value (0, 1, …, 10),
    one small panel of columns per country, every value of the range on the axis.

    Parameters
    ----------
    est : Estimates
        A scale's shares of each value by ``country`` (and ``wave``): the publication's
        ``QuestionCells.distribution``.
    question : spec Question
        The numeric question (its ``range`` lists the values on the axis).
    order : list of str, optional
        Country codes in panel order (default: order in ``est``).
    """
    if "level" not in (est.to_polars().columns if hasattr(est, "to_polars") else est):
        raise EstimationError("a distribution chart needs the shares of each value (level)")
    table = _rows(est, wave, names)
    if table.height == 0:
        raise EstimationError(f"no distribution of {question.id!r} to chart")
    points = (
        [f"{v:g}" for v in range(int(question.range[0]), int(question.range[1]) + 1)]
        if question.range is not None
        else table.get_column("level").unique(maintain_order=True).to_list()
    )
    panels = table.get_column("who").unique(maintain_order=True).to_list()
    if order is not None:
        shown = dict(table.select("country", "who").unique().iter_rows())
        panels = [shown[c] for c in order if c in shown]
    data = table.select("who", "level", "estimate", "ci_low", "ci_high", "n")
    x = channel("level", "ordinal", sort=points, scale={"domain": points}, title=None,
                axis=props(labelAngle=0))  # fmt: skip
    y = channel("estimate", "quantitative", axis={"format": ".0%"}, title=None)
    tip = tooltip(("who", "nominal", "Country", None), ("level", "nominal", "Value", None),
                  *estimate_tooltip("Share", ".1%", None))  # fmt: skip
    spec = {**layer(mark("bar", color=_BAR), encoding(x=x, y=y, tooltip=tip)),
            "height": 110, "width": 150}  # fmt: skip
    body = {"data": {"name": "shares"}, "facet": facet("who", panels), "spec": spec,
            "columns": columns}  # fmt: skip
    subtitle = f"Weighted share giving each value{f', {wave}' if wave else ''}."
    return styled(body, title, subtitle, {"shares": rows(data)})
