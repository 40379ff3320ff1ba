"""Charts of poll estimates: Vega-Lite specs rendered offline with vl-convert.

Why Vega-Lite + vl-convert rather than matplotlib: a chart is a declarative Vega-Lite
spec (data + encodings), so the same object renders to PNG and SVG *offline* (vl-convert
bundles the Vega engine and fonts in one wheel, no browser or network), embeds in the
HTML report as a vector image and could later drive an interactive explorer unchanged.
The specs are written as plain dicts (:mod:`barometer.publish.charts_vega`: the pieces
and the rendering), the shapes shared by the other chart modules here: the dot layers
of an estimate with its interval, the row and percentage axes, the tooltips.

Every chart reads the columns of an :class:`~barometer.core.estimates.Estimates` table —
``estimate``, ``ci_low``, ``ci_high``, ``n`` and the by-columns — and does no statistics
of its own: the bars, bands and whiskers are the estimates and the intervals the core
computed.  Answer levels keep their questionnaire order and one colour per level across
every chart (:class:`LevelStyle`): substantive levels on a diverging blue-to-red
palette in questionnaire order, non-substantive levels (e.g. ``dont_know``) in greys.

Examples
--------
>>> from barometer.publish.charts import LevelStyle, stacked_bars, save_png
>>> style = LevelStyle.from_question(poll.spec.question("us_relationship"))  # doctest: +SKIP
>>> est = poll.estimate("us_relationship", waves=["2025-11"])  # doctest: +SKIP
>>> save_png(stacked_bars(est, style), "us_relationship.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from barometer.errors import EstimationError, did_you_mean
from barometer.options import CONFIDENCE
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
    render_ahead,
    rows,
    save_png,
    save_svg,
    styled,
    to_png,
    to_svg,
    tooltip,
)
from barometer.publish.numbers import format_level, format_percent

__all__ = [
    "LevelStyle",
    "VegaLite",
    "coefficient_dots",
    "dot_layers",
    "estimate_tooltip",
    "format_percent",
    "gap_dots",
    "percent_axis",
    "render_ahead",
    "rows_axis",
    "save_png",
    "save_svg",
    "share_tooltip",
    "split_reference",
    "stacked_bars",
    "styled",
    "text_column",
    "to_png",
    "to_svg",
    "trend",
    "with_data",
    "with_reference",
]

#: Diverging anchors, first substantive level (dark blue) to last (dark red); a light
#: sand centre so that a middle level stays visible on white.  Levels are sampled along
#: this path at equal steps, so 2 levels are blue/red and 4 levels skip the centre.
_DIVERGING = ("#1f4e8c", "#4f86c6", "#a6c8e6", "#efe1a8", "#f0a35e", "#d5602c", "#a3311c")
#: Greys for non-substantive levels (don't know, refused, ...), darker first.
_GREYS = ("#9a9a9a", "#bdbdbd", "#d9d9d9", "#7a7a7a")
_REFERENCE = "#555555"
#: Segment labels are shown on stacked bars only for shares at least this large.
MIN_LABELLED_SHARE = 0.05


def _interpolate(anchors: Sequence[str], t: float) -> str:
    pos = t * (len(anchors) - 1)
    i = min(int(pos), len(anchors) - 2)
    frac = pos - i
    a = [int(anchors[i][k : k + 2], 16) for k in (1, 3, 5)]
    b = [int(anchors[i + 1][k : k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b, strict=True))


def _is_dark(color: str) -> bool:
    r, g, b = (int(color[k : k + 2], 16) / 255 for k in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5


@dataclass(frozen=True)
class LevelStyle:
    """Answer levels of one question in questionnaire order, with labels and colours.

    Build one with :meth:`from_question` (a spec question) or :meth:`from_levels`.
    """

    codes: tuple[str, ...]
    labels: tuple[str, ...]
    colors: tuple[str, ...]

    @classmethod
    def from_levels(
        cls,
        codes: Sequence[str],
        labels: Sequence[str] | None = None,
        non_substantive: Sequence[str] = (),
    ) -> LevelStyle:
        """Colours from the questionnaire: substantive levels spread over the diverging
        palette in order; non-substantive levels grey."""
        codes = tuple(str(c) for c in codes)
        labels = tuple(labels) if labels is not None else codes
        if len(labels) != len(codes):
            raise EstimationError(f"{len(codes)} level codes but {len(labels)} labels")
        substantive = [c for c in codes if c not in set(non_substantive)]
        colors: dict[str, str] = {}
        for i, code in enumerate(substantive):
            t = 0.5 if len(substantive) == 1 else i / (len(substantive) - 1)
            colors[code] = _interpolate(_DIVERGING, t)
        others = [c for c in codes if c not in colors]
        for i, code in enumerate(others):
            colors[code] = _GREYS[i % len(_GREYS)]
        return cls(codes, labels, tuple(colors[c] for c in codes))

    @classmethod
    def from_question(cls, question: Any) -> LevelStyle:
        """From a spec question (``levels`` with ``code``/``label``, ``non_substantive``)."""
        return cls.from_levels(
            [lv.code for lv in question.levels],
            [lv.label for lv in question.levels],
            list(getattr(question, "non_substantive", ())),
        )

    def label(self, code: str) -> str:
        """The published label of level ``code``."""
        return self.labels[self._index(code)]

    def color(self, code: str) -> str:
        """The colour of level ``code`` (the same in every chart)."""
        return self.colors[self._index(code)]

    def dark(self, code: str) -> bool:
        """True when level ``code``'s colour is dark (a label on it is printed white)."""
        return _is_dark(self.color(code))

    def _index(self, code: str) -> int:
        try:
            return self.codes.index(code)
        except ValueError:
            raise EstimationError(
                f"level {code!r} is not a level of this question "
                f"({', '.join(self.codes)}){did_you_mean(code, self.codes)}"
            ) from None


# ---------------------------------------------------------------------------------------
# Data preparation: select and label rows; no statistics.


def _table(est: Any, style: LevelStyle, names: Mapping[str, str] | None) -> pl.DataFrame:
    table = est.to_polars() if hasattr(est, "to_polars") else pl.DataFrame(est)
    needed = ["level", "estimate", "ci_low", "ci_high", "n"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise EstimationError(
            f"charts need Estimates with columns {', '.join(needed)}; missing "
            f"{', '.join(missing)} (pass the result of poll.estimate or Design.proportion)"
        )
    subject = "country" if "country" in table.columns else None
    if subject is None:
        table = table.with_columns(pl.lit("All").alias("country"))
    unknown = sorted(set(table.get_column("level").drop_nulls()) - set(style.codes))
    if unknown:
        raise EstimationError(
            f"level(s) {', '.join(map(repr, unknown))} of the estimates are not levels of "
            f"the question style ({', '.join(style.codes)}); build the LevelStyle from the "
            "same question"
        )
    names = names or {}
    return table.with_columns(
        pl.col("country").replace_strict(names, default=pl.col("country")).alias("who"),
        pl.col("level")
        .replace_strict(dict(zip(style.codes, style.labels, strict=True)))
        .alias("level_label"),
        pl.col("level")
        .replace_strict({c: i for i, c in enumerate(style.codes)}, return_dtype=pl.Int64)
        .alias("level_pos"),
    )


def _one_wave(table: pl.DataFrame, wave: str | None) -> tuple[pl.DataFrame, str | None]:
    if "wave" not in table.columns:
        return table, wave
    waves = table.get_column("wave").unique(maintain_order=True).to_list()
    if wave is None:
        if len(waves) > 1:
            raise EstimationError(
                f"the estimates hold waves {', '.join(waves)}; pass wave= to chart one"
            )
        return table, waves[0] if waves else None
    if wave not in waves:
        raise EstimationError(
            f"no estimates for wave {wave!r} (have {', '.join(waves)}){did_you_mean(wave, waves)}"
        )
    return table.filter(pl.col("wave") == wave), wave


def _order(table: pl.DataFrame, order: Sequence[str] | None) -> list[str]:
    """Display names of the subjects in the given order (codes), else table order."""
    pairs = dict(table.select("country", "who").unique(maintain_order=True).iter_rows())
    codes = [c for c in order if c in pairs] if order is not None else list(pairs)
    return [pairs[c] for c in codes]


def text_column(values: pl.Series, fmt: Any, name: str = "text") -> pl.Series:
    """A text column formatted from ``values`` (labels only; no arithmetic)."""
    return pl.Series(name, [fmt(v) for v in values.to_list()], dtype=pl.String)


def split_reference(
    table: pl.DataFrame, reference: str | None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``table``'s rows drawn as dots, and the ``reference`` row (a region, e.g.
    ``"EU"``) drawn as a line instead — ``None`` when there is no reference."""
    if reference is None:
        return table, None
    ref = table.filter(pl.col("country") == reference)
    if ref.height == 0:
        codes = table.get_column("country").to_list()
        raise EstimationError(
            f"no row for reference {reference!r} in the estimates{did_you_mean(reference, codes)}"
        )
    return table.filter(pl.col("country") != reference), ref


def with_reference(
    parts: list[JSON],
    ref: pl.DataFrame | None,
    fmt: Callable[[Any], str],
    datasets: dict[str, list[JSON]],
) -> list[JSON]:
    """``parts`` (layers) with the reference row drawn across them: its interval
    shaded and a dashed line at its figure behind, its name and figure (``fmt``) at the
    top; its row is added to ``datasets`` as ``"reference"``."""
    if ref is None:
        return parts
    name = "reference"
    datasets[name] = rows(
        ref.select("who", "estimate", "ci_low", "ci_high").with_columns(
            text_column(ref["estimate"], lambda v: f"{ref['who'][0]}: {fmt(v)}")
        )
    )
    return [
        layer(mark("rect", color=_REFERENCE, opacity=0.12),
              encoding(x=channel("ci_low", "quantitative"), x2=channel("ci_high")), name),
        layer(mark("rule", color=_REFERENCE, strokeDash=[5, 4], strokeWidth=1.5),
              encoding(x=channel("estimate", "quantitative")), name),
        *parts,
        layer(
            mark("text", align="left", baseline="bottom", dx=4, dy=-4, fontSize=11,
                 color=_REFERENCE, fontWeight="bold"),
            encoding(x=channel("estimate", "quantitative"), y={"value": 0},
                     text=channel("text", "nominal")),
            name,
        ),
    ]  # fmt: skip


def share_tooltip(*extra: tuple[str, str], confidence: float = CONFIDENCE) -> list[JSON]:
    """Tooltip fields of a share: who, ``extra`` (field, title) pairs, share, interval
    (at ``confidence``) and base."""
    return tooltip(("who", "nominal", "Country", None),
                   *((name, "nominal", title, None) for name, title in extra),
                   *estimate_tooltip("Share", ".1%", confidence))  # fmt: skip


def estimate_tooltip(
    what: str, fmt: str, confidence: float | None = CONFIDENCE
) -> list[tuple[str, str, str, str | None]]:
    """The tooltip fields of an estimate (``what``, in ``fmt``), its interval (at
    ``confidence``; ``None``: not named) and its unweighted base."""
    level = "Interval" if confidence is None else f"{format_level(confidence)} interval"
    return [
        ("estimate", "quantitative", what, fmt),
        ("ci_low", "quantitative", f"{level} from", fmt),
        ("ci_high", "quantitative", "to", fmt),
        ("n", "quantitative", "Base (unweighted)", ","),
    ]


def percent_axis(**extra: object) -> JSON:
    """A percentage axis (``.0%``) in the house label size."""
    return props(format=".0%", title=None, labelFontSize=12, titleFontSize=12, **extra)


def rows_axis(field: str, sort: object, limit: int = 220, grid: bool = False) -> JSON:
    """The y channel naming each row (country, option, term) at the left, no ticks;
    with ``grid``, a faint line along each row."""
    given: dict[str, object] = {"labelLimit": limit, "ticks": False}
    if grid:
        given |= {"grid": True, "gridColor": "#eeeeee"}
    return channel(field, "nominal", sort=sort, title=None, axis=props(**given))


def dot_layers(
    x: JSON,
    colour: str,
    tip: list[JSON],
    y: JSON | None = None,
    size: int = 70,
    label: bool = True,
    value: str = "estimate",
) -> list[JSON]:
    """An estimate with its interval: a whisker (``ci_low`` to ``ci_high`` on the
    ``x`` channel given), a dot at ``value`` and (with ``label``) its figure after the
    whisker — each layer encoded on ``y`` (default: the countries, largest first)."""
    y = y if y is not None else rows_axis("who", {"field": "estimate", "order": "descending"},
                                          grid=True)  # fmt: skip
    parts = [
        layer(mark("rule", color=colour, strokeWidth=2), encoding(x=x, x2=channel("ci_high"), y=y)),
        layer(mark("point", color=colour, filled=True, size=size, opacity=1),
              encoding(x=channel(value, "quantitative"), tooltip=tip, y=y)),
    ]  # fmt: skip
    if label:
        parts.append(
            layer(mark("text", align="left", dx=6, fontSize=11, color="#1a1a1a"),
                  encoding(x=channel("ci_high", "quantitative"), text=channel("text", "nominal"),
                           y=y))
        )  # fmt: skip
    return parts


def with_data(parts: list[JSON], name: str) -> list[JSON]:
    """``parts`` reading the dataset ``name``."""
    return [{"data": {"name": name}, **p} for p in parts]


# ---------------------------------------------------------------------------------------
# The three charts.


def stacked_bars(
    est: Any,
    style: LevelStyle,
    wave: str | None = None,
    order: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    width: int = 560,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """Stacked 100% bars of every level of a question, one bar per country (or region).

    Segments follow the questionnaire order left to right in the level's colour, with
    the rounded percentage inside segments of at least 5%; the unweighted base ``n`` is
    written at the end of each bar.

    Parameters
    ----------
    est : Estimates
        Shares of one question by ``country`` (and ``wave``), e.g. ``poll.estimate(q)``.
    style : LevelStyle
        Levels, labels and colours of the question.
    wave : str, optional
        The wave to chart when the estimates hold several.
    order : list of str, optional
        Country (or region) codes top to bottom; default: their order in ``est``.
    names : dict, optional
        Display names of the codes (e.g. ``{"DE": "Germany"}``).
    title : str, optional
        Chart title; the subtitle names the wave and the base.

    Returns
    -------
    VegaLite
    """
    table, wave = _one_wave(_table(est, style, names), wave)
    order_ = _order(table, order)
    data = table.select(
        "who", "level", "level_label", "level_pos", "estimate", "ci_low", "ci_high", "n"
    ).with_columns(
        text_column(
            table["estimate"], lambda v: format_percent(v) if v >= MIN_LABELLED_SHARE else ""
        ),
        pl.col("level")
        .replace_strict({c: _is_dark(style.color(c)) for c in style.codes}, return_dtype=pl.Boolean)
        .alias("dark"),
    )
    bases = data.group_by("who", maintain_order=True).agg(pl.col("n").first())
    bases = bases.with_columns(text_column(bases["n"], lambda v: f"n = {v:,}", "base"))
    height = max(60, 26 * len(order_))
    y = rows_axis("who", order_)
    stack: list[JSON] = [
        {"groupby": ["who"], "stack": "estimate", "sort": [{"field": "level_pos"}],
         "as": ["x0", "x1"]},
        {"calculate": "(datum.x0 + datum.x1) / 2", "as": "xm"},
    ]  # fmt: skip
    labels = list(style.labels)
    colour = channel(
        "level_label", "nominal", sort=labels,
        scale={"domain": labels, "range": list(style.colors)},
        legend=props(title=None, orient="bottom", direction="vertical", columns=2),
    )  # fmt: skip
    bars = layer(
        mark("bar", height={"band": 0.78}),
        encoding(
            x=channel("x0", "quantitative", scale={"domain": [0, 1], "nice": False},
                      axis=percent_axis()),
            x2=channel("x1"), y=y, color=colour,
            tooltip=share_tooltip(("level_label", "Answer"), confidence=confidence),
        ),
        "bars", stack,
    )  # fmt: skip
    text = layer(
        mark("text", fontSize=11, fontWeight="bold"),
        encoding(
            x=channel("xm", "quantitative"), y=y, text=channel("text", "nominal"),
            color={"condition": {"test": "datum.dark", "value": "white"}, "value": "#1a1a1a"},
        ),
        "bars", stack,
    )  # fmt: skip
    base = layer(
        mark("text", align="left", dx=6, fontSize=11, color="#444444"),
        encoding(x={"datum": 1.0}, y=y, text=channel("base", "nominal")),
        "bases",
    )
    subtitle = f"Weighted shares{f', {wave}' if wave else ''}; n = unweighted base."
    return styled(
        {**layers([bars, text, base]), "width": width, "height": height},
        title, subtitle, {"bars": rows(data), "bases": rows(bases)},
    )  # fmt: skip


def trend(
    est: Any,
    style: LevelStyle,
    level: str,
    waves: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    columns: int = 5,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """The share giving one answer across waves, one small panel per country or region,
    with its interval as a shaded band (``ci_low`` to ``ci_high``).

    Parameters
    ----------
    est : Estimates
        Shares by ``country`` and ``wave`` (regions included as rows, e.g. like-for-like).
    style : LevelStyle
        The question's levels; the line takes the level's colour.
    level : str
        The answer level to follow.
    waves : list of str, optional
        Wave order on the x axis (default: order in ``est``).
    order : list of str, optional
        Country / region codes in panel order (default: order in ``est``).
    columns : int
        Panels per row.
    confidence : float
        The confidence level of the bands, for the words (the publication's).
    """
    table = _table(est, style, names)
    if "wave" not in table.columns:
        raise EstimationError(
            "a trend needs estimates by wave: estimate with by=['country', 'wave']"
        )
    style.color(level)
    table = table.filter(pl.col("level") == level)
    if table.height == 0:
        raise EstimationError(f"no estimates for level {level!r}")
    wave_order = list(waves) if waves is not None else table["wave"].unique(maintain_order=True)
    table = table.filter(pl.col("wave").is_in(list(wave_order)))
    panels = _order(table, order)
    data = table.select("who", "wave", "estimate", "ci_low", "ci_high", "n").with_columns(
        text_column(table["estimate"], format_percent)
    )
    colour = style.color(level)
    x = channel("wave", "ordinal", sort=list(wave_order), title=None,
                axis=props(labelAngle=0), scale={"padding": 0.3})  # fmt: skip
    estimate = channel("estimate", "quantitative")
    parts = [
        layer(mark("area", opacity=0.22, color=colour),
              encoding(x=x, y=channel("ci_low", "quantitative", scale={"zero": True, "nice": True},
                                      axis=percent_axis(tickCount=5)),
                       y2=channel("ci_high"))),
        layer(mark("line", color=colour, strokeWidth=2), encoding(x=x, y=estimate)),
        layer(mark("point", color=colour, filled=True, size=45, opacity=1),
              encoding(x=x, y=estimate,
                       tooltip=share_tooltip(("wave", "Wave"), confidence=confidence))),
        layer(mark("text", dy=-11, fontSize=11, fontWeight="bold", color="#1a1a1a"),
              encoding(x=x, y=estimate, text=channel("text", "nominal"))),
    ]  # fmt: skip
    body = {
        "data": {"name": "trend"},
        "facet": facet("who", panels),
        "spec": {"layer": parts, "height": 130, "width": 120},
        "columns": columns,
    }
    band = format_level(confidence)
    subtitle = f"“{style.label(level)}”: weighted share by wave; band = {band} interval."
    return styled(body, title, subtitle, {"trend": rows(data)})


def gap_dots(
    est: Any,
    style: LevelStyle,
    level: str,
    wave: str | None = None,
    reference: str | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    width: int = 520,
    confidence: float = CONFIDENCE,
) -> VegaLite:
    """A dot plot of one answer's share by country with interval whiskers, largest first,
    and a dashed reference line (with its interval shaded) at a region's figure.

    Parameters
    ----------
    est : Estimates
        Shares by ``country`` (and ``wave``); the reference region's row, if any, is one
        of its rows (``country == reference``).
    level : str
        The answer level to compare.
    wave : str, optional
        The wave to chart when the estimates hold several.
    reference : str, optional
        The code of the row drawn as the reference line (e.g. ``"EU"``) instead of a dot.
    confidence : float
        The confidence level of the whiskers, for the words (the publication's).
    """
    table, wave = _one_wave(_table(est, style, names), wave)
    style.color(level)
    table = table.filter(pl.col("level") == level)
    if table.height == 0:
        raise EstimationError(f"no estimates for level {level!r}")
    dots, ref = split_reference(table, reference)
    data = dots.select("who", "estimate", "ci_low", "ci_high", "n").with_columns(
        text_column(dots["estimate"], format_percent)
    )
    x = channel("ci_low", "quantitative", scale={"zero": True, "nice": True},
                axis=percent_axis(tickCount=8))  # fmt: skip
    datasets = {"dots": rows(data)}
    parts = with_data(dot_layers(x, style.color(level), share_tooltip(confidence=confidence)),
                      "dots")  # fmt: skip
    parts = with_reference(parts, ref, lambda v: f"{format_percent(v)}%", datasets)
    height = max(60, 24 * data.height)
    when = f", {wave}" if wave else ""
    subtitle = (
        f"“{style.label(level)}”{when}: weighted share with {format_level(confidence)} interval"
    )
    if ref is not None:
        subtitle += f"; dashed line: {ref.get_column('who')[0]} (shaded: its interval)"
    return styled(
        {**layers(parts), "width": width, "height": height}, title, subtitle + ".", datasets
    )


def coefficient_dots(
    table: pl.DataFrame,
    title: str | None = None,
    odds_ratios: bool = False,
    width: int = 520,
) -> VegaLite:
    """A model's coefficients (``term, estimate, ci_low, ci_high``: a coefficient table, or
    with ``odds_ratios`` the odds-ratio table's ``odds_ratio`` column) as dots with their
    interval whiskers, in the model's order, and a dashed line at no effect (0, or 1 for
    odds ratios on a log axis). The intercept is left out: it is on another scale."""
    value = "odds_ratio" if odds_ratios else "estimate"
    data = table.filter(pl.col("term") != "Intercept").select(
        "term", pl.col(value).alias("value"), "ci_low", "ci_high"
    )
    if data.height == 0:
        raise EstimationError("the model has no coefficient besides the intercept to chart")
    scale = {"type": "log", "nice": False, "zero": False} if odds_ratios else {"zero": False}
    axis_title = "odds ratio (log scale)" if odds_ratios else "coefficient (link scale)"
    y = rows_axis("term", data.get_column("term").to_list(), limit=260, grid=True)
    tip = tooltip(
        ("term", "nominal", "term", None),
        ("value", "quantitative", value.replace("_", " "), ".3f"),
        ("ci_low", "quantitative", "interval from", ".3f"),
        ("ci_high", "quantitative", "to", ".3f"),
    )
    x = channel("ci_low", "quantitative", scale=props(**scale), title=axis_title)
    null = layer(
        mark("rule", color=_REFERENCE, strokeDash=[5, 4], strokeWidth=1.5),
        encoding(x=channel("x", "quantitative")),
        "null",
    )
    dots = dot_layers(x, _DIVERGING[0], tip, y, size=60, label=False, value="value")
    parts = [null, *with_data(dots, "coef")]
    what = "odds ratio" if odds_ratios else "coefficient"
    return styled(
        {**layers(parts), "width": width, "height": max(60, 22 * data.height)},
        title, f"Each {what} with its interval; dashed line: no effect.",
        {"null": [{"x": 1.0 if odds_ratios else 0.0}], "coef": rows(data)},
    )  # fmt: skip
