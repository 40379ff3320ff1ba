"""The poll report: one self-contained HTML file (no network needed to read it).

:func:`write_report` collects the estimates of every question from the poll's public
API (``poll.estimate``), draws the charts of :mod:`barometer.publish.charts` as inline
SVG images (base64 ``data:`` URIs: no scripts, no CDN, no external file) and renders a
Jinja2 template with inline CSS.  The report holds

* the headline findings, when given (records with a ``sentence`` field, such as the
  result of a later ``poll.findings()``);
* a section per question: its wording, stacked bars by country for the latest wave, a
  dot plot of country gaps around each region, a trend across waves with interval
  bands, and tables of weighted percentages with modelled margins of error and
  unweighted bases for every wave;
* a methodology section built from the store, covering the disclosure items of the
  AAPOR Transparency Initiative and the British Polling Council: sponsor, fieldwork
  firms, mode, fieldwork dates per country and wave, population, sample sizes,
  weighting variables and targets, design effects and effective sample sizes, how
  regional figures are formed, and how precision is measured — worded, as AAPOR
  advises for opt-in online samples, without claiming a margin of *sampling* error.

Rounding (the one rule for every number printed): shares as whole percentages and
margins of error to one decimal place, both rounded half away from zero
(:func:`~barometer.publish.charts.format_percent`).  The margin of error printed beside a
share is half the width of its 95% interval, ``(ci_high - ci_low) / 2``.  Every number in
the tables carries ``data-*`` attributes naming the estimate it came from, so tests (and
readers' tools) can trace it.  Outputs do no statistics: they read ``Estimates``.

Examples
--------
>>> from barometer.poll import Poll
>>> from barometer.publish import write_report
>>> write_report(Poll.open("poll.duckdb"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from barometer.atomic import write_text
from barometer.errors import BarometerError, EstimationError
from barometer.publish.charts import LevelStyle, gap_dots, save_png, stacked_bars, to_svg, trend
from barometer.publish.numbers import format_count, format_moe, format_percent
from barometer.publish.report.methodology import methodology_view

__all__ = ["QuestionResults", "ReportData", "collect", "render_report", "write_report"]

_TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------------------------------
# Collecting the estimates (through the poll's public API only).


@dataclass(frozen=True)
class QuestionResults:
    """The estimates behind one question's section of the report.

    ``countries``: ``poll.estimate(q)`` (country × wave); ``regions``: per region, each
    wave's own members (``like_for_like=False``), used in the tables, bars and dot plot;
    ``trends``: per region, like-for-like over the waves (the members polled in every
    wave), used in the trend chart and its table.
    """

    question: Any
    style: LevelStyle
    focus: str
    countries: Any
    regions: dict[str, Any] = field(default_factory=dict)
    trends: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportData:
    """Everything the report prints, gathered from the poll and its store."""

    title: str
    questions: list[QuestionResults]
    waves: list[Any]
    countries: list[Any]
    regions: list[Any]
    bases: pl.DataFrame
    fieldwork: pl.DataFrame
    sources: pl.DataFrame
    targets: pl.DataFrame
    diagnostics: pl.DataFrame
    weight_settings: dict[str, Any]
    weighting_variables: list[Any]
    weighted: bool


def _fieldwork(poll: Any) -> pl.DataFrame:
    """Per country × wave: firm(s), mode(s) and respondents, from the store."""
    return poll.store.query(
        "SELECT r.country, r.wave, string_agg(DISTINCT s.firm, ', ') AS firm, "
        "string_agg(DISTINCT s.mode, ', ') AS mode, count(*) AS n "
        "FROM respondents r JOIN sources s ON s.id = r.source_id "
        "JOIN countries c ON c.code = r.country JOIN waves w ON w.id = r.wave "
        "GROUP BY r.country, r.wave, c.position, w.position ORDER BY c.position, w.position"
    )


def _region_estimates(
    poll: Any, ids: Sequence[str], region: str, like_for_like: bool
) -> dict[str, Any]:
    """``poll.estimate(q, region=...)`` per question; a question none of the region's
    members was asked is left out of that region (its section shows countries only)."""
    out = {}
    for qid in ids:
        try:
            out[qid] = poll.estimate(qid, region=region, like_for_like=like_for_like)
        except EstimationError:
            continue
    return out


def collect(
    poll: Any,
    questions: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    focus: Mapping[str, str] | None = None,
) -> ReportData:
    """Gather the estimates and store facts the report prints.

    Parameters
    ----------
    poll : barometer.poll.Poll
        A weighted poll (``poll.weight()`` done).
    questions : list of str, optional
        Question ids to report (default: every question of kind ``question``).
    regions : list of str, optional
        Regions to report (default: every region of the spec).
    focus : dict, optional
        Per question id, the level followed in the trend and dot plot (default: the
        first substantive level in questionnaire order).
    """
    spec = poll.spec
    if not poll.weighted:
        raise EstimationError(
            f"store {str(poll.path)!r} is not weighted; run poll.weight() (or `barometer "
            "weight`) before writing the report"
        )
    ids = (
        list(questions)
        if questions is not None
        else [q.id for q in spec.questions if q.kind == "question"]
    )
    region_ids = list(regions) if regions is not None else [r.id for r in spec.regions]
    focus = dict(focus or {})
    # Estimate in an order that reuses the poll's cached design (one per scope).
    countries = {qid: poll.estimate(qid) for qid in ids}
    by_region = {r: _region_estimates(poll, ids, r, like_for_like=False) for r in region_ids}
    trends = {r: _region_estimates(poll, ids, r, like_for_like=True) for r in region_ids}
    results = []
    for qid in ids:
        q = spec.question(qid)
        style = LevelStyle.from_question(q)
        level = focus.get(qid) or next(
            (c for c in style.codes if c not in set(q.non_substantive)), style.codes[0]
        )
        style.color(level)
        results.append(
            QuestionResults(
                question=q,
                style=style,
                focus=level,
                countries=countries[qid],
                regions={r: by_region[r][qid] for r in region_ids if qid in by_region[r]},
                trends={r: trends[r][qid] for r in region_ids if qid in trends[r]},
            )
        )
    settings = poll.weight_settings()
    variables = [
        spec.question(v) for v in dict.fromkeys(v for t in spec.targets for v in t.margins)
    ]
    return ReportData(
        title=spec.name,
        questions=results,
        waves=list(spec.waves),
        countries=list(spec.countries),
        regions=[spec.region(r) for r in region_ids],
        bases=poll.bases(),
        fieldwork=_fieldwork(poll),
        sources=poll.sources(),
        targets=poll.store.query("SELECT * FROM targets"),
        diagnostics=poll.diagnostics(),
        weight_settings=settings,
        weighting_variables=variables,
        weighted=True,
    )


# ---------------------------------------------------------------------------------------
# Building the template's view: formatted strings with the source of every number.


def _figure(chart: Any, alt: str, caption: str, save_as: Path | None = None) -> dict[str, Any]:
    """The chart as an inline SVG image (base64 data URI) with its pixel size and text;
    also written to ``save_as`` + ``.svg`` and ``.png`` when given."""
    svg = to_svg(chart)
    if save_as is not None:
        write_text(save_as.with_suffix(".svg"), svg)
        save_png(chart, save_as.with_suffix(".png"))
    size = re.search(r'<svg[^>]*?width="([\d.]+)"[^>]*?height="([\d.]+)"', svg)
    width, height = (float(size.group(1)), float(size.group(2))) if size else (800.0, 500.0)
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return {
        "src": src,
        "width": round(width),
        "height": round(height),
        "alt": alt,
        "caption": caption,
    }


def _names(data: ReportData) -> dict[str, str]:
    names = {c.code: c.name for c in data.countries}
    for r in data.regions:
        names[r.id] = f"{r.name} ({r.id})"
    return names


def _stack(frames: Sequence[Any]) -> pl.DataFrame:
    tables = [f.to_polars() for f in frames]
    cols = [c for c in tables[0].columns if c != "countries"]
    return pl.concat([t.select(cols) for t in tables], how="vertical_relaxed")


def _row_cells(rows: pl.DataFrame, style: LevelStyle, subject: str, wave: str) -> dict[str, Any]:
    by_level = {r["level"]: r for r in rows.to_dicts()}
    cells = []
    for code in style.codes:
        r = by_level.get(code)
        cells.append(
            {
                "level": code,
                "pct": format_percent(r["estimate"]) if r else "–",
                "moe": format_moe(r["ci_low"], r["ci_high"]) if r else "",
                "ci": (
                    f"95% interval {format_percent(r['ci_low'], 1)}–"
                    f"{format_percent(r['ci_high'], 1)}%"
                    if r
                    else ""
                ),
                "present": r is not None,
            }
        )
    first = rows.row(0, named=True)
    return {
        "subject": subject,
        "wave": wave,
        "cells": cells,
        "n": format_count(first["n"]),
        "n_raw": int(first["n"]),
        "members": ", ".join(first.get("countries") or []),
    }


def _wave_table(
    q: QuestionResults, wave: str, order: Sequence[str], names: Mapping[str, str]
) -> dict[str, Any]:
    rows = []
    for rid, est in q.regions.items():
        t = est.to_polars().filter(pl.col("wave") == wave)
        if t.height:
            row = _row_cells(t, q.style, rid, wave)
            rows.append(row | {"name": names.get(rid, rid), "region": True})
    table = q.countries.to_polars().filter(pl.col("wave") == wave)
    for country in order:
        t = table.filter(pl.col("country") == country)
        if t.height:
            row = _row_cells(t, q.style, country, wave)
            rows.append(row | {"name": names.get(country, country), "region": False})
    return {"wave": wave, "rows": rows}


def _trend_table(q: QuestionResults, rid: str, names: Mapping[str, str]) -> dict[str, Any]:
    table = q.trends[rid].to_polars()
    rows = []
    for (wave,), t in table.group_by("wave", maintain_order=True):
        row = _row_cells(t, q.style, rid, str(wave))
        rows.append(row | {"name": str(wave), "region": True})
    return {
        "region": rid,
        "name": names.get(rid, rid),
        "rows": rows,
        "notes": list(q.trends[rid].notes),
    }


def _heading(question: Any) -> str:
    """A section heading: the wording's first sentence (or the question id)."""
    wording = (question.wording or "").strip()
    if not wording:
        return str(question.id)
    first = re.match(r"^(.+?[?.!])(\s|$)", wording)
    return first.group(1) if first else wording


def _question_view(
    q: QuestionResults, data: ReportData, names: Mapping[str, str], charts_dir: Path | None
) -> dict[str, Any]:
    qid = q.question.id

    def stem(kind: str) -> Path | None:
        return charts_dir / f"{qid}_{kind}" if charts_dir is not None else None

    waves = [w.id for w in data.waves if w.id in set(q.countries["wave"].to_list())]
    latest = waves[-1]
    regions = list(q.regions)
    countries = [c.code for c in data.countries]
    order = regions + countries
    current = _stack([*q.regions.values(), q.countries])
    label = q.style.label(q.focus)
    figures = [
        _figure(
            stacked_bars(
                current,
                q.style,
                wave=latest,
                order=order,
                names=names,
                title=f"Answers by country, {latest}",
            ),
            f"Stacked bars of the answers to {q.question.id} by country, {latest}",
            "Percentages inside the bars; unweighted bases at the right; the modelled "
            "margins of error are in the tables below.",
            stem("bars"),
        )
    ]
    for rid in regions or [None]:
        chart = gap_dots(
            current,
            q.style,
            q.focus,
            wave=latest,
            reference=rid,
            names=names,
            title=f"“{label}” by country, {latest}",
        )
        figures.append(
            _figure(
                chart,
                f"Dot plot of “{label}” by country with 95% intervals, {latest}"
                + (f", against {names.get(rid, rid)}" if rid else ""),
                "Whiskers show modelled 95% margins of error"
                + ("; the shaded band around the dashed line is the region's." if rid else "."),
                stem(f"gaps_{rid}" if rid else "gaps"),
            )
        )
    if len(waves) > 1:
        trend_data = _stack([*q.trends.values(), q.countries])
        chart = trend(
            trend_data,
            q.style,
            q.focus,
            waves=waves,
            order=order,
            names=names,
            title=f"“{label}” across waves",
        )
        figures.append(
            _figure(
                chart,
                f"Trend of “{label}” across waves {', '.join(waves)} with 95% bands",
                "Bands show modelled 95% margins of error; regional lines compare the same "
                "member countries in every wave.",
                stem("trend"),
            )
        )
    return {
        "id": q.question.id,
        "wording": q.question.wording,
        "heading": _heading(q.question),
        "levels": [
            {
                "code": c,
                "label": lab,
                "color": col,
                "non_substantive": c in q.question.non_substantive,
            }
            for c, lab, col in zip(q.style.codes, q.style.labels, q.style.colors, strict=True)
        ],
        "figures": figures,
        "tables": [_wave_table(q, w, countries, names) for w in reversed(waves)],
        "trend_tables": [_trend_table(q, rid, names) for rid in q.trends] if len(waves) > 1 else [],
        "notes": sorted({n for e in q.regions.values() for n in e.notes}),
    }


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
                f"finding {i} has no 'sentence'; pass records like those of poll.findings()"
            )
        out.append({"sentence": str(sentence)})
    return out


def render_report(
    data: ReportData,
    findings: Any = None,
    sponsor: str | None = None,
    contact: str | None = None,
    probability_sample: bool = False,
    charts_dir: Path | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    import jinja2

    import barometer

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    names = _names(data)
    template = env.get_template("report.html.j2")
    return template.render(
        title=data.title,
        findings=_findings_view(findings),
        questions=[_question_view(q, data, names, charts_dir) for q in data.questions],
        method=methodology_view(data, names),
        sponsor=sponsor,
        contact=contact,
        probability_sample=probability_sample,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=barometer.__version__,
    )


def write_report(
    poll: Any,
    path: str | Path,
    findings: Any = None,
    *,
    questions: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    focus: Mapping[str, str] | None = None,
    sponsor: str | None = None,
    contact: str | None = None,
    probability_sample: bool = False,
    charts_dir: str | Path | None = None,
) -> Path:
    """Write the poll's report to ``path``: one self-contained HTML file.

    Parameters
    ----------
    poll : barometer.poll.Poll
        A weighted poll.
    path : path
        The HTML file to write (its folder must exist).
    findings : list, optional
        Headline findings: records (dicts) or objects with a ``sentence`` field, in the
        order to print them (e.g. ``poll.findings()``); omitted when ``None``.
    questions, regions, focus
        What to report; see :func:`collect`.
    sponsor, contact : str, optional
        Who commissioned the poll and where to ask about it (AAPOR/BPC disclosure items
        the store does not hold); the report says "not recorded" when absent.
    probability_sample : bool
        ``False`` (the default) words precision as AAPOR advises for opt-in online
        samples: a *modelled* margin of error, never a margin of sampling error.
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
    data = collect(poll, questions=questions, regions=regions, focus=focus)
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
