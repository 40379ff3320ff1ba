"""Charts of poll estimates: Altair (Vega-Lite) specs rendered offline with vl-convert.

Why Altair + vl-convert rather than matplotlib: a chart is a declarative Vega-Lite spec
(data + encodings), so the same object renders to PNG and SVG *offline* (vl-convert
bundles the Vega engine and fonts in one wheel, no browser or network), embeds in the
HTML report as a vector image and could later drive an interactive explorer unchanged.

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
from pathlib import Path
from typing import Any

import polars as pl

from barometer.atomic import write_bytes, write_text
from barometer.errors import EstimationError, did_you_mean
from barometer.options import CONFIDENCE
from barometer.publish.numbers import format_level, format_percent

__all__ = [
    "LevelStyle",
    "coefficient_dots",
    "format_percent",
    "gap_dots",
    "save_png",
    "save_svg",
    "split_reference",
    "stacked_bars",
    "styled",
    "text_column",
    "to_png",
    "to_svg",
    "trend",
    "with_reference",
]

#: Diverging anchors, first substantive level (dark blue) to last (dark red); a light
#: sand centre so that a middle level stays visible on white.  Levels are sampled along
#: this path at equal steps, so 2 levels are blue/red and 4 levels skip the centre.
_DIVERGING = ("#1f4e8c", "#4f86c6", "#a6c8e6", "#efe1a8", "#f0a35e", "#d5602c", "#a3311c")
#: Greys for non-substantive levels (don't know, refused, ...), darker first.
_GREYS = ("#9a9a9a", "#bdbdbd", "#d9d9d9", "#7a7a7a")
_REFERENCE = "#555555"
_FONT = "Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"
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
    layers: list[Any], ref: pl.DataFrame | None, fmt: Callable[[Any], str]
) -> list[Any]:
    """``layers`` with the reference row drawn across them: its interval shaded and a
    dashed line at its figure behind, its name and figure (``fmt``) at the top."""
    import altair as alt

    if ref is None:
        return layers
    rdata = ref.select("who", "estimate", "ci_low", "ci_high").with_columns(
        text_column(ref["estimate"], lambda v: f"{ref['who'][0]}: {fmt(v)}")
    )
    rbase = alt.Chart(rdata)
    return [
        rbase.mark_rect(color=_REFERENCE, opacity=0.12).encode(x="ci_low:Q", x2="ci_high:Q"),
        rbase.mark_rule(color=_REFERENCE, strokeDash=[5, 4], strokeWidth=1.5).encode(
            x="estimate:Q"
        ),
        *layers,
        rbase.mark_text(
            align="left", baseline="bottom", dx=4, dy=-4, fontSize=11,
            color=_REFERENCE, fontWeight="bold",
        ).encode(x="estimate:Q", y=alt.value(0), text="text:N"),
    ]  # fmt: skip


def _tooltip(*extra: tuple[str, str], confidence: float = CONFIDENCE) -> list[Any]:
    """Tooltip fields: who, ``extra`` (field, title) pairs, share, interval (at
    ``confidence``) and base."""
    import altair as alt

    return [
        alt.Tooltip("who:N", title="Country"),
        *(alt.Tooltip(f"{name}:N", title=title) for name, title in extra),
        alt.Tooltip("estimate:Q", title="Share", format=".1%"),
        alt.Tooltip("ci_low:Q", title=f"{format_level(confidence)} interval from", format=".1%"),
        alt.Tooltip("ci_high:Q", title="to", format=".1%"),
        alt.Tooltip("n:Q", title="Base (unweighted)", format=","),
    ]


def _level_scale(style: LevelStyle) -> Any:
    import altair as alt

    return alt.Scale(domain=list(style.labels), range=list(style.colors))


def _percent_axis(title: str | None = None, **kw: Any) -> Any:
    import altair as alt

    return alt.Axis(format=".0%", title=title, labelFontSize=12, titleFontSize=12, **kw)


def styled(chart: Any, title: str | None, subtitle: str | None) -> Any:
    import altair as alt

    # set on the chart just built (no one else holds it): each of Altair's ``properties``
    # and ``configure_*`` methods deep-copies the whole spec, its data included
    if title is not None:
        chart.title = alt.TitleParams(
            title,
            subtitle=subtitle or "",
            anchor="start",
            fontSize=15,
            subtitleFontSize=12,
            subtitleColor="#444444",
        )
    chart.config = alt.Config(
        font=_FONT,
        background="white",
        view=alt.ViewConfig(stroke=None),
        axis=alt.AxisConfig(labelFontSize=12, titleFontSize=12, labelColor="#222222"),
        legend=alt.LegendConfig(labelFontSize=12, titleFontSize=12, labelLimit=520),
    )
    return chart


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
) -> Any:
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
    altair.LayerChart
    """
    import altair as alt

    table, wave = _one_wave(_table(est, style, names), wave)
    rows = _order(table, order)
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
    height = max(60, 26 * len(rows))
    y = alt.Y("who:N", sort=rows, title=None, axis=alt.Axis(labelLimit=220, ticks=False))
    stacked = (
        alt.Chart(data)
        .transform_stack(
            stack="estimate", groupby=["who"], as_=["x0", "x1"], sort=[{"field": "level_pos"}]
        )
        .transform_calculate(xm="(datum.x0 + datum.x1) / 2")
    )
    bars = stacked.mark_bar(height={"band": 0.78}).encode(
        x=alt.X("x0:Q", scale=alt.Scale(domain=[0, 1], nice=False), axis=_percent_axis()),
        x2="x1:Q",
        y=y,
        color=alt.Color(
            "level_label:N",
            scale=_level_scale(style),
            sort=list(style.labels),
            legend=alt.Legend(title=None, orient="bottom", direction="vertical", columns=2),
        ),
        tooltip=_tooltip(("level_label", "Answer"), confidence=confidence),
    )
    text = stacked.mark_text(fontSize=11, fontWeight="bold").encode(
        x="xm:Q",
        y=y,
        text="text:N",
        color=alt.condition("datum.dark", alt.value("white"), alt.value("#1a1a1a")),
    )
    base = (
        alt.Chart(bases)
        .mark_text(align="left", dx=6, fontSize=11, color="#444444")
        .encode(x=alt.datum(1.0), y=y, text="base:N")
    )
    chart = alt.layer(bars, text, base).properties(width=width, height=height)
    subtitle = f"Weighted shares{f', {wave}' if wave else ''}; n = unweighted base."
    return styled(chart, title, subtitle)


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
) -> Any:
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
    import altair as alt

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
    rows = _order(table, order)
    data = table.select("who", "wave", "estimate", "ci_low", "ci_high", "n").with_columns(
        text_column(table["estimate"], format_percent)
    )
    colour = style.color(level)
    x = alt.X(
        "wave:O",
        sort=list(wave_order),
        title=None,
        axis=alt.Axis(labelAngle=0),
        scale=alt.Scale(padding=0.3),
    )
    y_scale = alt.Scale(zero=True, nice=True)
    base = alt.Chart().encode(x=x)
    band = base.mark_area(opacity=0.22, color=colour).encode(
        y=alt.Y("ci_low:Q", scale=y_scale, axis=_percent_axis(tickCount=5)), y2="ci_high:Q"
    )
    line = base.mark_line(color=colour, strokeWidth=2).encode(y="estimate:Q")
    points = base.mark_point(color=colour, filled=True, size=45, opacity=1).encode(
        y="estimate:Q",
        tooltip=_tooltip(("wave", "Wave"), confidence=confidence),
    )
    labels = base.mark_text(dy=-11, fontSize=11, fontWeight="bold", color="#1a1a1a").encode(
        y="estimate:Q", text="text:N"
    )
    chart = (
        alt.layer(band, line, points, labels, data=data)
        .properties(width=120, height=130)
        .facet(
            facet=alt.Facet(
                "who:N",
                sort=rows,
                title=None,
                header=alt.Header(labelFontSize=12, labelFontWeight="bold"),
            ),
            columns=columns,
        )
    )
    band = format_level(confidence)
    subtitle = f"“{style.label(level)}”: weighted share by wave; band = {band} interval."
    return styled(chart, title, subtitle)


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
) -> Any:
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
    import altair as alt

    table, wave = _one_wave(_table(est, style, names), wave)
    style.color(level)
    table = table.filter(pl.col("level") == level)
    if table.height == 0:
        raise EstimationError(f"no estimates for level {level!r}")
    dots, ref = split_reference(table, reference)
    data = dots.select("who", "estimate", "ci_low", "ci_high", "n").with_columns(
        text_column(dots["estimate"], format_percent)
    )
    colour = style.color(level)
    x_scale = alt.Scale(zero=True, nice=True)
    y = alt.Y(
        "who:N",
        sort=alt.EncodingSortField("estimate", order="descending"),
        title=None,
        axis=alt.Axis(labelLimit=220, ticks=False, grid=True, gridColor="#eeeeee"),
    )
    base = alt.Chart(data).encode(y=y)
    whiskers = base.mark_rule(color=colour, strokeWidth=2).encode(
        x=alt.X("ci_low:Q", scale=x_scale, axis=_percent_axis(tickCount=8)), x2="ci_high:Q"
    )
    points = base.mark_point(color=colour, filled=True, size=70, opacity=1).encode(
        x="estimate:Q",
        tooltip=_tooltip(confidence=confidence),
    )
    labels = base.mark_text(align="left", dx=6, fontSize=11, color="#1a1a1a").encode(
        x="ci_high:Q", text="text:N"
    )
    layers = with_reference([whiskers, points, labels], ref, lambda v: f"{format_percent(v)}%")
    height = max(60, 24 * data.height)
    chart = alt.layer(*layers).properties(width=width, height=height)
    when = f", {wave}" if wave else ""
    subtitle = (
        f"“{style.label(level)}”{when}: weighted share with {format_level(confidence)} interval"
    )
    if ref is not None:
        subtitle += f"; dashed line: {ref.get_column('who')[0]} (shaded: its interval)"
    return styled(chart, title, subtitle + ".")


def coefficient_dots(
    table: pl.DataFrame,
    title: str | None = None,
    odds_ratios: bool = False,
    width: int = 520,
) -> Any:
    """A model's coefficients (``term, estimate, ci_low, ci_high``: a coefficient table, or
    with ``odds_ratios`` the odds-ratio table's ``odds_ratio`` column) as dots with their
    interval whiskers, in the model's order, and a dashed line at no effect (0, or 1 for
    odds ratios on a log axis). The intercept is left out: it is on another scale."""
    import altair as alt

    value = "odds_ratio" if odds_ratios else "estimate"
    data = table.filter(pl.col("term") != "Intercept").select(
        "term", pl.col(value).alias("value"), "ci_low", "ci_high"
    )
    if data.height == 0:
        raise EstimationError("the model has no coefficient besides the intercept to chart")
    scale = alt.Scale(type="log", nice=False, zero=False) if odds_ratios else alt.Scale(zero=False)
    axis_title = "odds ratio (log scale)" if odds_ratios else "coefficient (link scale)"
    y = alt.Y(
        "term:N",
        sort=data.get_column("term").to_list(),
        title=None,
        axis=alt.Axis(labelLimit=260, ticks=False, grid=True, gridColor="#eeeeee"),
    )
    base = alt.Chart(data).encode(y=y)
    colour = _DIVERGING[0]
    whiskers = base.mark_rule(color=colour, strokeWidth=2).encode(
        x=alt.X("ci_low:Q", scale=scale, title=axis_title), x2="ci_high:Q"
    )
    points = base.mark_point(color=colour, filled=True, size=60, opacity=1).encode(
        x="value:Q",
        tooltip=[
            alt.Tooltip("term:N", title="term"),
            alt.Tooltip("value:Q", title=value.replace("_", " "), format=".3f"),
            alt.Tooltip("ci_low:Q", title="interval from", format=".3f"),
            alt.Tooltip("ci_high:Q", title="to", format=".3f"),
        ],
    )
    null = (
        alt.Chart(pl.DataFrame({"x": [1.0 if odds_ratios else 0.0]}))
        .mark_rule(color=_REFERENCE, strokeDash=[5, 4], strokeWidth=1.5)
        .encode(x="x:Q")
    )
    chart = alt.layer(null, whiskers, points).properties(
        width=width, height=max(60, 22 * data.height)
    )
    what = "odds ratio" if odds_ratios else "coefficient"
    return styled(chart, title, f"Each {what} with its interval; dashed line: no effect.")


# ---------------------------------------------------------------------------------------
# Rendering (offline: vl-convert embeds the Vega engine, no browser, no network).


def _spec(chart: Any) -> dict[str, Any]:
    # the charts are built here and checked against the Vega-Lite schema by the tests;
    # validating every one again at render time would double the report's cost
    return chart.to_dict(validate=False) if hasattr(chart, "to_dict") else dict(chart)


def to_svg(chart: Any) -> str:
    """The chart rendered to an SVG document (a string), offline with vl-convert."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(_spec(chart))


def to_png(chart: Any, scale: float = 2.0) -> bytes:
    """The chart rendered to PNG bytes (``scale`` × its CSS pixel size), offline."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(_spec(chart), scale=scale)


def save_svg(chart: Any, path: str | Path) -> Path:
    """Write the chart as an SVG file; returns the path."""
    path = Path(path)
    write_text(path, to_svg(chart))
    return path


def save_png(chart: Any, path: str | Path, scale: float = 2.0) -> Path:
    """Write the chart as a PNG file (``scale`` × pixel density); returns the path."""
    path = Path(path)
    write_bytes(path, to_png(chart, scale=scale))
    return path
