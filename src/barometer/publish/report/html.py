"""The poll report: one self-contained HTML file (no network needed to read it).

:func:`write_report` takes the estimates of every question from the poll's
:class:`~barometer.poll.publication.Publication` (``poll.publication()``: countries,
regions by the one region policy, bases and the publication rules' marks — a cell
suppressed there shows "–" here), draws the charts of :mod:`barometer.publish.charts` as inline
SVG images (base64 ``data:`` URIs: no scripts, no CDN, no external file) and renders a
Jinja2 template with inline CSS.  The report holds

* the headline findings, when given (records with a ``sentence`` field, such as the
  result of :func:`barometer.publish.findings.find`);
* a section per question: its wording, stacked bars by country for the latest wave, a
  dot plot of country gaps around each region, a trend across waves with interval
  bands, and tables of weighted percentages with modelled margins of error and
  unweighted bases for every wave;
* a section per model of the spec's ``models:`` (fitted by the publication): its formula,
  family, scope and unweighted n, and the coefficient table -- estimates, SEs, intervals
  at the publication's confidence, p-values, and odds ratios with their intervals for a
  logistic model;
* a methodology section built from the store, covering the disclosure items of the
  AAPOR Transparency Initiative and the British Polling Council: sponsor, fieldwork
  firms, mode, fieldwork dates per country and wave, population, sample sizes,
  weighting variables and targets, design effects and effective sample sizes, how
  regional figures are formed, and how precision is measured — worded, as AAPOR
  advises for opt-in online samples, without claiming a margin of *sampling* error.

Rounding (the one rule for every number printed): shares as whole percentages and
margins of error to one decimal place, both rounded half away from zero
(:func:`~barometer.publish.charts.format_percent`).  The margin of error printed beside a
share is half the width of its interval at the publication's confidence,
``(ci_high - ci_low) / 2``.  Every number in the tables carries ``data-*`` attributes
naming the estimate it came from, so tests (and readers' tools) can trace it.  Outputs do
no statistics: they read ``Estimates``.

Examples
--------
The caller (the CLI, or a user's script) opens the poll and hands over its publication;
this module never opens a store:

>>> from barometer.publish import write_report
>>> write_report(publication, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from barometer.atomic import write_text
from barometer.core.estimates import Estimates
from barometer.errors import BarometerDeprecationWarning, BarometerError, EstimationError, warn
from barometer.options import CONFIDENCE
from barometer.poll.kinds import QUARTILES
from barometer.poll.publication import PollFacts, Publication, QuestionCells
from barometer.poll.regions import dominance_notes
from barometer.poll.sets import SetView
from barometer.poll.spec import PublicationRules, Question
from barometer.publish.charts import (
    LevelStyle,
    coefficient_dots,
    gap_dots,
    render_ahead,
    save_png,
    stacked_bars,
    to_svg,
    trend,
)
from barometer.publish.charts_sets import ranked_bars
from barometer.publish.numbers import (
    format_count,
    format_level,
    format_mean,
    format_mean_moe,
    format_moe,
    format_number,
    format_p,
    format_percent,
)
from barometer.publish.report.methodology import methodology_view
from barometer.publish.report.sets import GridTables, grid_tables, grid_view, multiple_pieces
from barometer.publish.scale_charts import distribution_bars, mean_dots

__all__ = [
    "ModelResults",
    "QuestionResults",
    "ReportData",
    "collect",
    "render_report",
    "write_report",
]

_TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------------------------------
# Collecting the estimates (from the publication only: no store, no statistics).


@dataclass(frozen=True)
class QuestionResults:
    """The estimates behind one question's section of the report, from the publication.

    ``countries``: the countries' cells (country × wave); ``regions``: per region, each
    wave's own members, used in the tables, bars and dot plot; ``trends``: per region,
    like-for-like over the waves (the members polled in every wave), used in the trend
    chart and its table. Each carries the publication's ``suppressed`` / ``flagged``
    marks.
    """

    question: Any
    style: LevelStyle
    focus: str
    countries: Estimates
    regions: dict[str, Estimates] = field(default_factory=dict)
    trends: dict[str, Estimates] = field(default_factory=dict)
    #: where the question was not asked ("not asked in 2024-11 in PL"), from the publication
    absent: tuple[str, ...] = ()
    #: "share" (levels and nets), "mean" (a numeric question: one "mean" column) or
    #: "multiple" (a multiple-response question: its options as the levels)
    kind: str = "share"
    #: the tables' columns: the levels then the nets (None: ``style``'s levels)
    columns: LevelStyle | None = None
    #: a numeric question's distribution by country × wave (a scale), for its chart
    distribution: Estimates | None = None
    #: a numeric question's quartiles and median by country × wave, for its table
    quantiles: Estimates | None = None
    #: what the section says under its figures (options' shares do not sum to 100%)
    note: str = ""


@dataclass(frozen=True)
class ModelResults:
    """One model of the spec's ``models:`` as the publication fitted it: its declaration,
    coefficient table and (logistic models) odds ratios at the publication's confidence."""

    declaration: Any
    table: pl.DataFrame
    odds_ratios: pl.DataFrame | None
    n: int
    df_residual: float


@dataclass(frozen=True)
class ReportData:
    """Everything the report prints, gathered from the publication."""

    title: str
    questions: list[QuestionResults]
    waves: list[Any]
    countries: list[Any]
    regions: list[Any]
    #: bases, fieldwork, sources, targets, weighting diagnostics and settings
    facts: PollFacts
    weighting_variables: list[Any]
    rules: PublicationRules = field(default_factory=PublicationRules)
    #: the spec's sources (their sampling kind), sponsor and contact (disclosure items)
    sources: list[Any] = field(default_factory=list)
    sponsor: str | None = None
    contact: str | None = None
    #: the grids' overviews (items × levels), from :mod:`barometer.publish.report.sets`
    grids: list[GridTables] = field(default_factory=list)
    #: the spec's models the publication fitted, and a note for each it could not
    models: list[ModelResults] = field(default_factory=list)
    model_notes: list[str] = field(default_factory=list)


def _parts_of(pub: Publication, question: str) -> list[str]:
    """``question``, or the parts the publication holds of the set it names."""
    view = pub.sets.get(question)
    return [sid for _, _, sid in view.parts] if view is not None else [question]


def _models(pub: Publication) -> tuple[list[ModelResults], list[str]]:
    """The publication's fitted models, in spec order, and why any is missing."""
    out, notes = [], []
    confidence = pub.rules.confidence
    for declared in pub.spec.models:
        model = pub.models.get(declared.id)
        if model is None:
            notes += [n for n in pub.notes if n.startswith(f"model {declared.id}:")]
            continue
        logistic = "binomial" in declared.family
        out.append(
            ModelResults(
                declaration=declared,
                table=model.to_polars(confidence),
                odds_ratios=model.odds_ratios(confidence) if logistic else None,
                n=model.n,
                df_residual=model.df_residual,
            )
        )
    return out, notes


def _trends(pub: Publication, qid: str, region_ids: Sequence[str]) -> dict[str, Estimates]:
    """Per region, its like-for-like rows over every wave, with its own note."""
    regional = pub.trend(qid, regions=region_ids)
    out = {}
    for fig in regional.regions:
        rows = regional.estimates.filter(pl.col("scope") == fig.region)
        out[fig.region] = replace(rows, notes=(fig.note,))
    return out


def _dominance(pub: Publication, rows: Estimates, rid: str) -> Estimates:
    """``rows`` of region ``rid`` with a note for each wave in which its figure is mostly
    one member (:func:`barometer.poll.regions.dominance_notes`, as banners flag it)."""
    notes = dominance_notes(pub.spec, rid, rows, pub.rules.max_member_share)
    return replace(rows, notes=(*rows.notes, *notes)) if notes else rows


def _levels(est: Estimates, codes: Sequence[str]) -> Estimates:
    """The rows of ``est`` of the levels ``codes``."""
    return est.filter(pl.col("level").is_in(list(codes)))


def collect(
    pub: Publication,
    questions: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    focus: Mapping[str, str] | None = None,
) -> ReportData:
    """Gather the estimates and facts the report prints from a publication.

    Parameters
    ----------
    pub : barometer.poll.publication.Publication
        The publication of a weighted poll (``poll.publication()``).
    questions : list of str, optional
        Question ids to report (default: every question of the publication).
    regions : list of str, optional
        Regions to report (default: every region of the spec).
    focus : dict, optional
        Per question id, the level followed in the trend and dot plot (default: the
        first substantive level in questionnaire order).
    """
    if not pub.facts.weighted:
        raise EstimationError(
            f"store {str(pub.facts.path)!r} is not weighted; run poll.weight() (or "
            "`barometer weight`) before writing the report"
        )
    ids = list(questions) if questions is not None else list(pub.questions)
    # a multiple-response question or grid named by its id stands for its parts
    ids = [sid for q in ids for sid in _parts_of(pub, q)]
    region_ids = list(regions) if regions is not None else pub.region_ids()
    focus = dict(focus or {})
    named = dict.fromkeys(v.question for q in ids if (v := pub.set_of(q)) is not None)
    views = [pub.sets[name] for name in named]
    grids = [grid_tables(pub, view, region_ids) for view in views if view.kind == "grid"]
    multiple = {sid: v for v in views if v.kind == "multiple" for _, _, sid in v.parts}
    results = []
    done: set[str] = set()
    for qid in ids:
        view = multiple.get(qid)
        if view is not None:
            if view.question not in done:
                done.add(view.question)
                results.append(_multiple_results(pub, view, region_ids, focus))
            continue
        q = pub.spec.question(qid)
        cells = pub.cells(qid)
        if cells.numeric:
            results.append(_numeric_results(pub, q, region_ids))
        else:
            results.append(_question_results(pub, q, cells, region_ids, focus))
    return _report_data(pub, results, grids, region_ids)


def _multiple_results(
    pub: Publication, view: SetView, region_ids: Sequence[str], focus: Mapping[str, str]
) -> QuestionResults:
    """A multiple-response question's section: its options as the levels of one
    question (:func:`barometer.publish.report.sets.multiple_pieces`)."""
    p = multiple_pieces(pub, view, region_ids)
    return QuestionResults(
        question=p.question, style=p.style, focus=focus.get(view.question, p.focus),
        countries=p.countries, regions=p.regions, trends=p.trends, absent=p.absent,
        kind="multiple", note=view.note,
    )  # fmt: skip


def _question_results(
    pub: Publication,
    q: Question,
    cells: QuestionCells,
    region_ids: Sequence[str],
    focus: Mapping[str, str],
) -> QuestionResults:
    """A single-choice question's section: its shares by country, region and trend, in
    the levels anyone chose, with its nets as extra columns."""
    qid = q.id
    # a level nobody chose anywhere is left out (a row of "0 ± 0" says nothing)
    used = set(cells.estimates.filter(pl.col("estimate") > 0).to_polars()["level"])
    codes = [lv.code for lv in q.levels if lv.code in used]
    style = LevelStyle.from_levels(
        codes,
        [lv.label for lv in q.levels if lv.code in used],
        [c for c in q.non_substantive if c in used],
    )
    nets = [(n.code, n.label) for n in q.nets if n.code in used]
    columns = LevelStyle(
        (*style.codes, *(c for c, _ in nets)),
        (*style.labels, *(lab for _, lab in nets)),
        (*style.colors, *(_NET_COLOUR for _ in nets)),
    )
    level = focus.get(qid) or next(
        (c for c in style.codes if c not in set(q.non_substantive)), style.codes[0]
    )
    style.color(level)
    shown = list(columns.codes)
    own = {r: _dominance(pub, _levels(cells.region(r), shown), r) for r in region_ids}
    return QuestionResults(
        question=q,
        style=style,
        focus=level,
        countries=_levels(cells.countries(), shown),
        regions={r: e for r, e in own.items() if len(e)},
        trends={r: _levels(e, shown) for r, e in _trends(pub, qid, region_ids).items()},
        absent=tuple(pub.absent(qid)),
        columns=columns,
    )


def _report_data(
    pub: Publication,
    results: list[QuestionResults],
    grids: list[GridTables],
    region_ids: Sequence[str],
) -> ReportData:
    """The report's data: the sections with the facts and methodology of the
    publication's scope."""
    spec, facts = pub.spec, pub.facts
    variables = [
        spec.question(v) for v in dict.fromkeys(v for t in spec.targets for v in t.margins)
    ]
    # the methodology covers the publication's scope (report --countries/--waves): its
    # waves with respondents there, its countries, their sources
    polled = set(facts.bases.get_column("wave").cast(pl.String).to_list())
    sources = [
        s for s in spec.sources
        if s.wave in pub.waves and (s.country is None or s.country in pub.countries)
    ]  # fmt: skip
    models, model_notes = _models(pub)
    return ReportData(
        title=spec.name,
        questions=results,
        models=models,
        model_notes=model_notes,
        waves=[w for w in spec.waves if w.id in pub.waves and w.id in polled],
        countries=[c for c in spec.countries if c.code in pub.countries],
        regions=[spec.region(r) for r in region_ids],
        facts=facts,
        weighting_variables=variables,
        rules=pub.rules,
        sources=sources,
        sponsor=spec.sponsor,
        contact=spec.contact,
        grids=grids,
    )


#: The swatch of a net in the list of a question's answers (a net has no bar segment).
_NET_COLOUR = "#ffffff"
#: The one column of a numeric question's tables.
_MEAN = ("mean", "Mean")
#: The columns of a numeric question's quartiles table: ``level`` as the publication
#: holds it (the probability as R labels it, ``"0.5"``), and its name.
_QUARTILE_NAMES = {0.25: "Lower quartile", 0.5: "Median", 0.75: "Upper quartile"}
_QUARTILES = LevelStyle.from_levels(
    [f"{p:g}" for p in QUARTILES], [_QUARTILE_NAMES.get(p, f"{p:g} quantile") for p in QUARTILES]
)


def _as_mean(est: Estimates) -> Estimates:
    """A numeric question's rows with ``level`` set to the mean column's code."""
    return replace(est, table=est.to_polars().with_columns(level=pl.lit(_MEAN[0])))


def _numeric_results(pub: Publication, q: Any, region_ids: Sequence[str]) -> QuestionResults:
    """A numeric question's section: its means by country, region and trend, and (a
    scale) its distribution; a region's mean mostly one member's is noted, as a share is."""
    cells = pub.cells(q.id)
    own = {r: _dominance(pub, _as_mean(cells.region(r)), r) for r in region_ids}
    trends = {r: _as_mean(e) for r, e in _trends(pub, q.id, region_ids).items()}
    return QuestionResults(
        question=q,
        style=LevelStyle.from_levels([_MEAN[0]], [_MEAN[1]]),
        focus=_MEAN[0],
        countries=_as_mean(cells.countries()),
        regions={r: e for r, e in own.items() if len(e)},
        trends=trends,
        absent=tuple(pub.absent(q.id)),
        kind="mean",
        distribution=cells.distribution,
        quantiles=cells.quantiles,
    )


# ---------------------------------------------------------------------------------------
# Building the template's view: formatted strings with the source of every number.


#: The figures of the report being built (:func:`render_report`), drawn together once
#: every view is built; ``None`` outside one: a figure is drawn at once.
_DRAWING: ContextVar[list[tuple[Any, Path | None, dict[str, Any]]] | None] = ContextVar(
    "_DRAWING", default=None
)


def _figure(chart: Any, alt: str, caption: str, save_as: Path | None = None) -> dict[str, Any]:
    """The chart as an inline SVG image (base64 data URI) with its pixel size and text;
    also written to ``save_as`` + ``.svg`` and ``.png`` when given. Inside
    :func:`render_report` the image is filled in when the report's charts are drawn."""
    figure = {"alt": alt, "caption": caption}
    drawing = _DRAWING.get()
    if drawing is None:
        figure.update(_image(chart, save_as))
    else:
        drawing.append((chart, save_as, figure))
    return figure


def _image(chart: Any, save_as: Path | None) -> dict[str, Any]:
    svg = to_svg(chart)
    if save_as is not None:
        write_text(save_as.with_suffix(".svg"), svg)
        save_png(chart, save_as.with_suffix(".png"))
    size = re.search(r'<svg[^>]*?width="([\d.]+)"[^>]*?height="([\d.]+)"', svg)
    width, height = (float(size.group(1)), float(size.group(2))) if size else (800.0, 500.0)
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return {"src": src, "width": round(width), "height": round(height)}


@contextmanager
def _drawn_together() -> Iterator[None]:
    """Collect the figures made inside, then render their charts together
    (:func:`render_ahead`: in parallel, the charts are most of a report's cost) and fill
    in each figure's image, in the order they were made."""
    drawing: list[tuple[Any, Path | None, dict[str, Any]]] = []
    token = _DRAWING.set(drawing)
    try:
        yield
    finally:
        _DRAWING.reset(token)
    render_ahead([chart for chart, _, _ in drawing])
    for chart, save_as, figure in drawing:
        figure.update(_image(chart, save_as))


def _names(data: ReportData) -> dict[str, str]:
    names = {c.code: c.name for c in data.countries}
    for r in data.regions:
        names[r.id] = f"{r.name} ({r.id})" if r.name and r.name != r.id else r.id
    return names


#: The columns the charts read (the publication's list columns left out).
_CHART_COLUMNS = ("country", "wave", "variable", "level", "estimate", "se", "ci_low",
                  "ci_high", "n", "suppressed")  # fmt: skip


def _stack(frames: Sequence[Estimates], codes: Sequence[str] | None = None) -> pl.DataFrame:
    """The frames' rows for the charts, suppressed cells left out (no chart shows them);
    only the levels ``codes`` when given (a net is no segment of a bar)."""
    tables = [f.to_polars().select(_CHART_COLUMNS) for f in frames]
    stacked = pl.concat(tables, how="vertical_relaxed")
    if codes is not None:
        stacked = stacked.filter(pl.col("level").is_in(list(codes)))
    return stacked.filter(~pl.col("suppressed")).drop("suppressed")


def _moe(r: Mapping[str, Any]) -> str:
    """``±2.1`` for an interval around the estimate; at a share of exactly 0 or 1 (a
    one-sided interval, ``ci_method`` beta) the interval itself, ``0–1.2``."""
    if r["estimate"] in (0.0, 1.0):
        return f"{format_percent(r['ci_low'], 1)}–{format_percent(r['ci_high'], 1)}"
    return format_moe(r["ci_low"], r["ci_high"])


def _mean_cell(r: Mapping[str, Any], decimals: int, level: str) -> dict[str, str]:
    """A mean's printed figure, its margin (half its interval's width, in the question's
    units) and its interval (``level``: the confidence level as printed, ``90%``)."""
    low, high = r["ci_low"], r["ci_high"]
    return {
        "pct": format_mean(r["estimate"], decimals),
        "moe": format_mean_moe(low, high, decimals),
        "ci": f"{level} interval {format_mean(low, decimals)}–{format_mean(high, decimals)}",
    }


def _row_cells(
    rows: Sequence[dict[str, Any]],
    style: LevelStyle,
    subject: str,
    wave: str,
    decimals: int = 0,
    kind: str = "share",
    level: str = format_level(CONFIDENCE),
) -> dict[str, Any]:
    by_level = {r["level"]: r for r in rows if not r["suppressed"]}
    cells = []
    for code in style.codes:
        r = by_level.get(code)
        if r is not None and kind == "mean":
            cells.append({"level": code, "present": True, **_mean_cell(r, decimals, level)})
            continue
        cells.append(
            {
                "level": code,
                "pct": format_percent(r["estimate"], decimals) if r else "–",
                "moe": _moe(r) if r else "",
                "ci": (
                    f"{level} interval {format_percent(r['ci_low'], 1)}–"
                    f"{format_percent(r['ci_high'], 1)}%"
                    if r
                    else ""
                ),
                "present": r is not None,
            }
        )
    first = rows[0]
    return {
        "subject": subject,
        "wave": wave,
        "cells": cells,
        "n": format_count(first["n"]),
        "n_raw": int(first["n"]),
        "members": ", ".join(first.get("members") or []),
        "suppressed": bool(first["suppressed"]),
        "flagged": bool(first["flagged"]),
    }


def _wave_table(
    q: QuestionResults,
    wave: str,
    order: Sequence[str],
    names: Mapping[str, str],
    decimals: int = 0,
    level: str = format_level(CONFIDENCE),
) -> dict[str, Any]:
    rows = []
    columns = q.columns or q.style
    for rid, est in q.regions.items():
        t = est.to_polars().filter(pl.col("wave") == wave).to_dicts()
        if t:
            row = _row_cells(t, columns, rid, wave, decimals, q.kind, level)
            rows.append(row | {"name": names.get(rid, rid), "region": True})
    # the wave's rows read once and grouped by country in their order (a polars split
    # or filter per country is a frame or a query plan each)
    by_country: dict[str, list[dict[str, Any]]] = {}
    for r in q.countries.to_polars().filter(pl.col("wave") == wave).to_dicts():
        by_country.setdefault(str(r["country"]), []).append(r)
    for country in order:
        held = by_country.get(country)
        if held:
            row = _row_cells(held, columns, country, wave, decimals, q.kind, level)
            rows.append(row | {"name": names.get(country, country), "region": False})
    return {"wave": wave, "rows": rows}


def _trend_table(
    q: QuestionResults,
    rid: str,
    names: Mapping[str, str],
    decimals: int = 0,
    level: str = format_level(CONFIDENCE),
) -> dict[str, Any]:
    table = q.trends[rid].to_polars()
    rows = []
    for (wave,), t in table.group_by("wave", maintain_order=True):
        cells = t.to_dicts()
        row = _row_cells(cells, q.columns or q.style, rid, str(wave), decimals, q.kind, level)
        rows.append(row | {"name": str(wave), "region": True})
    return {
        "region": rid,
        "name": names.get(rid, rid),
        "rows": rows,
        "notes": list(q.trends[rid].notes),
    }


def _quartile_tables(
    q: QuestionResults,
    waves: Sequence[str],
    order: Sequence[str],
    names: Mapping[str, str],
    decimals: int,
    level: str,
) -> list[dict[str, Any]]:
    """A numeric question's quartiles and median by country, a table per wave (latest
    first), each figure with its interval and the publication's marks."""
    if q.quantiles is None:
        return []
    table = q.quantiles.to_polars()
    out = []
    for wave in reversed(waves):
        rows = [
            _row_cells(t, _QUARTILES, c, wave, decimals, "mean", level)
            | {"name": names.get(c, c), "region": False}
            for c in order
            if (t := table.filter((pl.col("country") == c) & (pl.col("wave") == wave)).to_dicts())
        ]
        if rows:
            out.append({"wave": wave, "labels": list(_QUARTILES.labels), "rows": rows})
    return out


def _heading(question: Any) -> str:
    """A section heading: the wording's first sentence (or the question id)."""
    wording = (question.wording or "").strip()
    if not wording:
        return str(question.id)
    first = re.match(r"^(.+?[?.!])(\s|$)", wording)
    return first.group(1) if first else wording


def _question_view(
    q: QuestionResults,
    data: ReportData,
    names: Mapping[str, str],
    charts_dir: Path | None,
    moe: str = "modelled margins of error",
) -> dict[str, Any]:
    qid = q.question.id

    def stem(kind: str) -> Path | None:
        return charts_dir / f"{qid}_{kind}" if charts_dir is not None else None

    waves = [w.id for w in data.waves if w.id in set(q.countries["wave"].to_list())]
    latest = waves[-1]
    regions = list(q.regions)
    asked = set(q.countries["country"].cast(pl.String).to_list())
    countries = [c.code for c in data.countries if c.code in asked]
    order = regions + countries
    level = format_level(data.rules.confidence)
    if q.kind == "mean":
        figures = _numeric_figures(q, data, latest, order, names, stem, moe)
    else:
        current = _stack([*q.regions.values(), q.countries], q.style.codes)
        figures = _question_figures(
            q, latest, waves, order, current, names, stem, moe, data.rules.confidence
        )
    columns = q.columns or q.style
    nets = {n.code: ", ".join(n.levels) for n in getattr(q.question, "nets", ())}
    # a multiple-response question's "None of these" excludes the other options: it is
    # an exclusive option, not a non-substantive answer such as "Don't know"
    mark = "exclusive" if q.kind == "multiple" else "non-substantive"
    return {
        "id": q.question.id,
        "wording": q.question.wording,
        "heading": _heading(q.question),
        "measure": _measure(q),
        "moe_unit": "points of the scale" if q.kind == "mean" else "percentage points",
        "levels": [
            {
                "code": c,
                "label": lab,
                "color": col,
                "mark": mark if c in q.question.non_substantive else "",
                "net": nets.get(c, ""),
            }
            for c, lab, col in zip(columns.codes, columns.labels, columns.colors, strict=True)
        ],
        "figures": figures,
        "tables": [
            _wave_table(q, w, countries, names, data.rules.decimals, level) for w in reversed(waves)
        ],
        "quartile_tables": _quartile_tables(q, waves, countries, names, data.rules.decimals, level),
        "trend_tables": (
            [_trend_table(q, rid, names, data.rules.decimals, level) for rid in q.trends]
            if len(waves) > 1
            else []
        ),
        "notes": [
            *([q.note.removesuffix(".")] if q.note else []),
            *(a[0].upper() + a[1:] for a in q.absent),
            *sorted({n for e in q.regions.values() for n in e.notes}),
        ],
    }


def _question_figures(
    q: QuestionResults,
    latest: str,
    waves: Sequence[str],
    order: Sequence[str],
    current: pl.DataFrame,
    names: Mapping[str, str],
    stem: Any,
    moe: str,
    confidence: float = CONFIDENCE,
) -> list[dict[str, Any]]:
    """A question's charts: stacked bars (latest wave), a dot plot per region (or one
    without), and the trend when there are several waves."""
    regions: list[str | None] = list(q.regions)
    label = q.style.label(q.focus)
    level = format_level(confidence)
    if q.kind == "multiple":
        figures = _ranked_figures(q, latest, current, names, stem, confidence)
    else:
        figures = [_bars_figure(q, latest, order, current, names, stem, moe, confidence)]
    for rid in regions or [None]:
        chart = gap_dots(
            current,
            q.style,
            q.focus,
            wave=latest,
            reference=rid,
            names=names,
            title=f"“{label}” by country, {latest}",
            confidence=confidence,
        )
        figures.append(
            _figure(
                chart,
                f"Dot plot of “{label}” by country with {level} intervals, {latest}"
                + (f", against {names.get(rid, rid)}" if rid else ""),
                f"Whiskers show {level} {moe}"
                + ("; the shaded band around the dashed line is the region's." if rid else "."),
                stem(f"gaps_{rid}" if rid else "gaps"),
            )
        )
    if len(waves) > 1:
        trend_data = _stack([*q.trends.values(), q.countries], q.style.codes)
        chart = trend(
            trend_data,
            q.style,
            q.focus,
            waves=waves,
            order=order,
            names=names,
            title=f"“{label}” across waves",
            confidence=confidence,
        )
        figures.append(
            _figure(
                chart,
                f"Trend of “{label}” across waves {', '.join(waves)} with {level} bands",
                f"Bands show {level} {moe}; regional lines compare the same "
                "member countries in every wave.",
                stem("trend"),
            )
        )
    return figures


def _bars_figure(
    q: QuestionResults,
    latest: str,
    order: Sequence[str],
    current: pl.DataFrame,
    names: Mapping[str, str],
    stem: Any,
    moe: str,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Stacked bars of a question's answers by country in the latest wave."""
    return _figure(
        stacked_bars(
            current, q.style, wave=latest, order=order, names=names,
            title=f"Answers by country, {latest}", confidence=confidence,
        ),
        f"Stacked bars of the answers to {q.question.id} by country, {latest}",
        f"Percentages inside the bars; unweighted bases at the right; the {moe} "
        "are in the tables below.",
        stem("bars"),
    )  # fmt: skip


def _ranked_figures(
    q: QuestionResults,
    latest: str,
    current: pl.DataFrame,
    names: Mapping[str, str],
    stem: Any,
    confidence: float = CONFIDENCE,
) -> list[dict[str, Any]]:
    """A multiple-response question's options ranked, in each region (or the first
    country when there is none), latest wave."""
    scopes = list(q.regions) or current.get_column("country").cast(pl.String).to_list()[:1]
    labels = dict(zip(q.style.codes, q.style.labels, strict=True))
    out = []
    for scope in scopes:
        rows = current.filter(
            (pl.col("country").cast(pl.String) == scope) & (pl.col("wave") == latest)
        ).rename({"level": "option"})
        if rows.height == 0:
            continue
        where = names.get(scope, scope)
        chart = ranked_bars(
            rows, labels, q.question.non_substantive, title=f"{where}, {latest}",
            subtitle="Share choosing each option; more than one could be chosen.",
            confidence=confidence,
        )  # fmt: skip
        out.append(
            _figure(
                chart,
                f"Ranked bars of the options of {q.question.id}, {where}, {latest}",
                f"Each bar is the share choosing that option, with its "
                f"{format_level(confidence)} interval; "
                "respondents could choose several, so the shares do not sum to 100%.",
                stem(f"ranked_{scope}"),
            )
        )
    return out


def _measure(q: QuestionResults) -> str:
    """What a table's figures are: ``weighted %``, or ``weighted mean (0–10)``."""
    if q.kind != "mean":
        return "weighted %"
    span = q.question.range
    return "weighted mean" + (f" ({span[0]:g}–{span[1]:g})" if span is not None else "")


def _numeric_figures(
    q: QuestionResults,
    data: ReportData,
    latest: str,
    order: Sequence[str],
    names: Mapping[str, str],
    stem: Any,
    moe: str,
) -> list[dict[str, Any]]:
    """A numeric question's charts: its mean by country with intervals (against each
    region), and a scale's distribution by country (latest wave)."""
    current = _stack([*q.regions.values(), q.countries])
    regions: list[str | None] = list(q.regions)
    level = format_level(data.rules.confidence)
    figures = []
    for rid in regions or [None]:
        chart = mean_dots(
            current, q.question, wave=latest, reference=rid, names=names,
            title=f"Average by country, {latest}", decimals=data.rules.decimals,
            confidence=data.rules.confidence,
        )  # fmt: skip
        figures.append(
            _figure(
                chart,
                f"Dot plot of the mean of {q.question.id} by country with {level} intervals, "
                f"{latest}" + (f", against {names.get(rid, rid)}" if rid else ""),
                f"Whiskers show {level} {moe}"
                + ("; the shaded band around the dashed line is the region's." if rid else "."),
                stem(f"means_{rid}" if rid else "means"),
            )
        )
    if q.distribution is not None:
        countries = [c for c in order if c not in q.regions]
        chart = distribution_bars(
            q.distribution, q.question, wave=latest, order=countries, names=names,
            title=f"How answers spread, {latest}",
        )  # fmt: skip
        figures.append(
            _figure(
                chart,
                f"Columns of the share giving each value of {q.question.id} by country, {latest}",
                "Weighted share of respondents giving each value of the scale.",
                stem("distribution"),
            )
        )
    return figures


def _findings_view(findings: Any) -> list[dict[str, str]]:
    """Sentences from findings: records (dicts) or objects with a ``sentence``."""
    if findings is None:
        return []
    if hasattr(findings, "to_dicts"):
        findings = findings.to_dicts()
    out = []
    for i, f in enumerate(findings):
        sentence = f.get("sentence") if isinstance(f, Mapping) else getattr(f, "sentence", None)
        if not sentence:
            raise BarometerError(
                f"finding {i} has no 'sentence'; pass records like those of find()"
            )
        out.append({"sentence": str(sentence)})
    return out


def _model_view(m: ModelResults, confidence: float) -> dict[str, Any]:
    """A model's heading, description and coefficient rows, formatted for the table."""
    d = m.declaration
    odds = m.odds_ratios.iter_rows(named=True) if m.odds_ratios is not None else None
    rows = []
    for r in m.table.iter_rows(named=True):
        o = next(odds) if odds is not None else None
        rows.append(
            {
                "term": r["term"],
                "estimate": format_number(r["estimate"], 3),
                "se": format_number(r["se"], 3),
                "ci": f"{format_number(r['ci_low'], 3)} to {format_number(r['ci_high'], 3)}",
                "p": format_p(r["p_value"]),
                "odds": None if o is None else format_number(o["odds_ratio"], 2),
                "odds_ci": None
                if o is None
                else f"{format_number(o['ci_low'], 2)} to {format_number(o['ci_high'], 2)}",
            }
        )
    figures = []
    if m.table.height > 1:
        chart = coefficient_dots(
            m.odds_ratios if m.odds_ratios is not None else m.table,
            title=d.title or d.id,
            odds_ratios=m.odds_ratios is not None,
        )
        what = "odds ratios" if m.odds_ratios is not None else "coefficients"
        figures.append(
            _figure(
                chart,
                f"Dot plot of the {what} of model {d.id} with their intervals",
                f"{what.capitalize()} of {d.formula} with {format_percent(confidence)}% "
                "intervals (design-based).",
            )
        )
    return {
        "id": d.id,
        "heading": d.title or d.id,
        "figures": figures,
        "formula": d.formula,
        "family": d.family,
        "countries": ", ".join(d.countries) if d.countries else "all countries",
        "waves": ", ".join(d.waves) if d.waves else "all waves",
        "n": format_count(m.n),
        "df": format_number(m.df_residual, 0),
        "level": format_percent(confidence),
        "logistic": m.odds_ratios is not None,
        "rows": rows,
    }


def render_report(
    data: ReportData,
    findings: Any = None,
    sponsor: str | None = None,
    contact: str | None = None,
    probability_sample: bool | None = None,
    charts_dir: Path | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    import jinja2

    import barometer

    given = [
        k
        for k, v in (
            ("sponsor", sponsor),
            ("contact", contact),
            ("probability_sample", probability_sample),
        )
        if v is not None
    ]
    if given:
        warn(
            f"write_report({', '.join(f'{k}=' for k in given)}) is deprecated: give the "
            "spec's top-level sponsor and contact and each source's sampling "
            "(probability | opt-in | mixed) instead",
            BarometerDeprecationWarning,
        )

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    names = _names(data)
    method = methodology_view(data, names, probability_sample)
    moe = method["sampling"]["moe_plural"]
    template = env.get_template("report.html.j2")
    with _drawn_together():
        questions = [_question_view(q, data, names, charts_dir, moe) for q in data.questions]
        grids = [
            grid_view(
                g,
                names,
                _figure,
                lambda k: charts_dir / k if charts_dir is not None else None,
                data.rules.confidence,
                data.rules.decimals,
            )
            for g in data.grids
        ]
        models = [_model_view(m, data.rules.confidence) for m in data.models]
    return template.render(
        title=data.title,
        findings=_findings_view(findings),
        questions=questions,
        grids=grids,
        models=models,
        level=format_level(data.rules.confidence),
        model_notes=data.model_notes,
        method=method,
        sponsor=sponsor if sponsor is not None else data.sponsor,
        contact=contact if contact is not None else data.contact,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=barometer.__version__,
    )


def write_report(
    pub: Publication,
    path: str | Path,
    findings: Any = None,
    *,
    questions: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    focus: Mapping[str, str] | None = None,
    sponsor: str | None = None,
    contact: str | None = None,
    probability_sample: bool | None = None,
    charts_dir: str | Path | None = None,
) -> Path:
    """Write the poll's report to ``path``: one self-contained HTML file.

    Parameters
    ----------
    pub : barometer.poll.publication.Publication
        The publication of a weighted poll (``poll.publication()``).
    path : path
        The HTML file to write (its folder must exist).
    findings : list, optional
        Headline findings: records (dicts) or objects with a ``sentence`` field, in the
        order to print them (e.g. ``find(pub).headlines(8)``); omitted when ``None``.
    questions, regions, focus
        What to report; see :func:`collect`.
    sponsor, contact : str, optional
        Deprecated (``BarometerDeprecationWarning``): overrides of the spec's top-level
        ``sponsor`` and ``contact``; the report says "not recorded" when neither is given.
    probability_sample : bool, optional
        Deprecated: overrides every source's ``sampling`` in the spec (``True``: all
        probability samples, ``False``: all opt-in). The disclosure follows each source's
        kind: a margin of sampling error for probability samples, a *modelled* margin of
        error (AAPOR) for opt-in ones, both when mixed.
    charts_dir : path, optional
        Also write every chart there as SVG and PNG (``<question>_bars``,
        ``<question>_gaps_<region>``, ``<question>_trend``), for publications; created
        if missing.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise BarometerError(
            f"cannot write the report to {str(path)!r}: folder {str(path.parent)!r} does not "
            "exist; create it or choose another --out"
        )
    charts = Path(charts_dir) if charts_dir is not None else None
    if charts is not None:
        charts.mkdir(parents=True, exist_ok=True)
    data = collect(pub, questions=questions, regions=regions, focus=focus)
    html = render_report(
        data,
        findings,
        sponsor=sponsor,
        contact=contact,
        probability_sample=probability_sample,
        charts_dir=charts,
    )
    write_text(path, html)  # atomic: a failure leaves the previous report
    return path
