"""The report's sections of multiple-response questions and grids, from the publication.

A multiple-response question gets one section like any question's, whose "levels" are
its options: each cell is an option's share of selecting it (its own estimate, interval
and base, unchanged from the publication's cells of that option), the first chart
ranks the options (:func:`barometer.publish.charts_sets.ranked_bars`) instead of
stacking them, and the section says the shares do not sum to 100%. A grid gets an
overview — one 100% bar per item in each region (or the first country when the spec
has no region), each item with its own base — before its items' own sections.
A region's figures that are mostly one member carry the note a single-choice
question's do (:func:`barometer.poll.regions.dominance_notes`).
No statistics here: rows are selected and relabelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from barometer.core.estimates import Estimates
from barometer.options import CONFIDENCE
from barometer.poll.publication import Publication
from barometer.poll.regions import dominance_notes
from barometer.poll.sets import SetView
from barometer.poll.spec import Level
from barometer.poll.spec_sets import SELECTED
from barometer.publish.charts import LevelStyle
from barometer.publish.charts_sets import grid_bars
from barometer.publish.numbers import format_count, format_moe, format_percent

__all__ = ["GridTables", "SetPieces", "SetQuestion", "grid_tables", "grid_view", "multiple_pieces"]


@dataclass(frozen=True)
class SetQuestion:
    """What a report section reads of a question, for a multiple-response question:
    its options stand as levels (an exclusive one as non-substantive)."""

    id: str
    wording: str
    levels: tuple[Level, ...]
    non_substantive: tuple[str, ...]


@dataclass(frozen=True)
class SetPieces:
    """The estimates of a multiple-response question's section (see
    :class:`barometer.publish.report.html.QuestionResults`)."""

    question: SetQuestion
    style: LevelStyle
    focus: str
    countries: Estimates
    regions: dict[str, Estimates]
    trends: dict[str, Estimates]
    absent: tuple[str, ...]


def _selected(est: Estimates, code: str) -> pl.DataFrame:
    return (
        est.to_polars()
        .filter(pl.col("level").cast(pl.String) == SELECTED)
        .with_columns(level=pl.lit(code))
    )


def _stacked(frames: list[pl.DataFrame], like: Estimates, notes: tuple[str, ...] = ()) -> Estimates:
    table = pl.concat(frames, how="vertical_relaxed") if frames else like.to_polars().head(0)
    return Estimates(table, by=like.by, statistic=like.statistic, notes=notes)


def multiple_pieces(pub: Publication, view: SetView, region_ids: Sequence[str]) -> SetPieces:
    """The section of multiple-response ``view``: each option's "selected" rows, by
    country, region and like-for-like trend, with the option's code as the level."""
    codes = [code for code, _, _ in view.parts]
    labels = [label for _, label, _ in view.parts]
    question = SetQuestion(
        id=view.question,
        wording=view.wording,
        levels=tuple(Level(code=c, label=lb) for c, lb in zip(codes, labels, strict=True)),
        non_substantive=view.exclusive,
    )
    style = LevelStyle.from_levels(codes, labels, list(view.exclusive))
    first = pub.cells(view.parts[0][2])
    countries = _stacked(
        [_selected(pub.cells(sid).countries(), c) for c, _, sid in view.parts], first.countries()
    )
    regions: dict[str, Estimates] = {}
    trends: dict[str, Estimates] = {}
    for rid in region_ids:
        rows = [_selected(pub.cells(sid).region(rid), c) for c, _, sid in view.parts]
        rows = [r for r in rows if r.height]
        if rows:
            stacked = _stacked(rows, first.region(rid))
            notes = dominance_notes(pub.spec, rid, stacked, pub.rules.max_member_share)
            regions[rid] = replace(stacked, notes=notes)
    trend_rows: dict[str, list[pl.DataFrame]] = {}
    trend_notes: dict[str, tuple[str, ...]] = {}
    for code, _, sid in view.parts:
        regional = pub.trend(sid, regions=list(region_ids))
        for fig in regional.regions:
            found = regional.estimates.filter(pl.col("scope") == fig.region)
            trend_rows.setdefault(fig.region, []).append(_selected(found, code))
            trend_notes[fig.region] = (fig.note,)
    for rid, frames in trend_rows.items():
        trends[rid] = _stacked(frames, first.countries(), trend_notes[rid])
    focus = next((c for c in codes if c not in view.exclusive), codes[0])
    return SetPieces(
        question=question,
        style=style,
        focus=focus,
        countries=countries,
        regions=regions,
        trends=trends,
        absent=tuple(pub.absent(view.parts[0][2])),
    )


@dataclass(frozen=True)
class GridTables:
    """A grid's overview: per scope (a region, or the first country when the spec has
    none) the latest wave's items × levels rows (``item``, ``level``, ``estimate``,
    ``ci_low``, ``ci_high``, ``n`` — each item's own base)."""

    view: SetView
    style: LevelStyle
    wave: str
    tables: tuple[tuple[str, pl.DataFrame], ...]
    #: a region's figures that are mostly one member (as a question's section says)
    notes: tuple[str, ...] = ()


def grid_tables(pub: Publication, view: SetView, region_ids: Sequence[str]) -> GridTables:
    """The overview of grid ``view`` (see :class:`GridTables`)."""
    style = LevelStyle.from_levels(
        [c for c, _ in view.levels], [lb for _, lb in view.levels], list(view.non_substantive)
    )
    first = view.parts[0][2]
    latest = pub.waves_of(first)[-1]
    scopes: list[str] = list(region_ids)
    if not scopes:
        asked = pub.cells(first).countries().to_polars()["country"].cast(pl.String).to_list()
        scopes = asked[:1]
    out = []
    notes: dict[str, None] = {}
    for scope in scopes:
        frames = []
        for code, _, sid in view.parts:
            cells = pub.cells(sid)
            est = cells.region(scope) if scope in region_ids else cells.countries()
            if scope in region_ids:
                shown = est.filter(pl.col("wave") == latest)
                rule = pub.rules.max_member_share
                notes.update(dict.fromkeys(dominance_notes(pub.spec, scope, shown, rule)))
            t = est.to_polars().filter(
                (pl.col("country").cast(pl.String) == scope) & (pl.col("wave") == latest)
                & ~pl.col("suppressed")
            )  # fmt: skip
            frames.append(
                t.select("level", "estimate", "ci_low", "ci_high", "n").with_columns(
                    pl.col("level").cast(pl.String), item=pl.lit(code)
                )
            )
        table = pl.concat(frames).filter(pl.col("level").is_in(list(style.codes)))
        if table.height:
            out.append((scope, table))
    return GridTables(view, style, latest, tuple(out), tuple(notes))


def grid_view(
    grid: GridTables,
    names: dict[str, str],
    figure: Any,
    stem: Any,
    confidence: float = CONFIDENCE,
    decimals: int = 0,
) -> dict[str, Any]:
    """The template's view of a grid overview (percentages to ``decimals``, the
    publication's); ``figure(chart, alt, caption, save_as)``
    renders each chart (intervals at ``confidence``, the publication's)."""
    view, style = grid.view, grid.style
    items = [(code, label) for code, label, _ in view.parts]
    figures = []
    for scope, table in grid.tables:
        where = names.get(scope, scope)
        chart = grid_bars(table, style, items, title=f"{where}, {grid.wave}", confidence=confidence)
        figures.append(
            figure(
                chart,
                f"Stacked bars of the answers to {view.question} for each item, {where}, "
                f"{grid.wave}",
                "One bar per item; each item's base (its own respondents) at the right.",
                stem(f"{view.question}_grid_{scope}"),
            )
        )
    return {
        "tables": [
            _grid_table(scope, names.get(scope, scope), table, items, style, decimals)
            for scope, table in grid.tables
        ],
        "wave": grid.wave,
        "id": view.question,
        "heading": view.wording or view.question,
        "wording": view.wording,
        "item_labels": [label for _, label in items],
        "levels": [
            {"code": c, "label": lb, "color": col}
            for c, lb, col in zip(style.codes, style.labels, style.colors, strict=True)
        ],
        "figures": figures,
        "note": " ".join([view.note, *(f"{note}." for note in grid.notes)]),
    }


def _grid_table(
    scope: str,
    where: str,
    table: pl.DataFrame,
    items: list[tuple[str, str]],
    style: LevelStyle,
    decimals: int,
) -> dict[str, Any]:
    """One scope's items x levels table: each item a row of its levels' shares (with their
    margins) and its own unweighted base; a level an item has no estimate for prints "–"."""
    cells = {(r["item"], r["level"]): r for r in table.iter_rows(named=True)}
    rows = []
    for code, label in items:
        found = [cells.get((code, lv)) for lv in style.codes]
        if not any(found):
            continue
        n = next(r["n"] for r in found if r is not None)
        rows.append(
            {
                "item": code,
                "label": label,
                "cells": [
                    {
                        "pct": format_percent(r["estimate"], decimals),
                        "moe": format_moe(r["ci_low"], r["ci_high"]),
                    }
                    if r is not None
                    else {"pct": "–", "moe": ""}
                    for r in found
                ],
                "n": format_count(n),
            }
        )
    return {"scope_id": scope, "scope": where, "rows": rows}
