"""The report's methodology and disclosure section, built from the store.

Covers the disclosure items of the AAPOR Transparency Initiative and the British
Polling Council that the store holds: fieldwork firm, mode and dates per country and
wave, population, sample sizes, weighting variables and targets, design effects and
effective sample sizes, regional rules and the respondent files behind the poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from barometer.publish.numbers import format_count, format_number, format_percent

if TYPE_CHECKING:
    from barometer.publish.report.html import ReportData

__all__ = ["methodology_view"]


def methodology_view(data: ReportData, names: Mapping[str, str]) -> dict[str, Any]:
    """The methodology section's view: fieldwork, bases, weighting, precision, sources.

    Every number is one of the publication's facts from the store (bases, weighting
    diagnostics, targets), formatted by :mod:`barometer.publish.numbers`."""
    wave_ids = [w.id for w in data.waves]
    fieldwork = data.facts.fieldwork
    variables = data.weighting_variables
    target_cols = [(v.id, lv.code, lv.label) for v in variables for lv in v.levels]
    return {
        "bases": _base_rows(data, wave_ids),
        "totals": _total_rows(data, wave_ids),
        "waves": wave_ids,
        "fieldwork": _fieldwork_rows(data, names),
        "diagnostics": _diagnostic_rows(data, names),
        "targets": _target_rows(data, names, target_cols),
        "target_cols": [{"variable": v, "level": c, "label": lab} for v, c, lab in target_cols],
        "variables": [
            {"id": v.id, "wording": v.wording, "levels": [lv.label for lv in v.levels]}
            for v in variables
        ],
        "settings": data.facts.weight_settings,
        "firms": sorted({f for f in fieldwork["firm"].to_list() if f}),
        "modes": sorted({m for m in fieldwork["mode"].to_list() if m}),
        "regions": [
            {
                "id": r.id,
                "name": r.name,
                "rule": r.rule,
                "members": [names.get(m, m) for m in r.members],
            }
            for r in data.regions
        ],
        "countries": [
            {
                "code": c.code,
                "name": c.name,
                "population": format_count(c.population) if c.population else "not recorded",
            }
            for c in data.countries
        ],
        "sources": _source_rows(data),
    }


def _base_rows(data: ReportData, wave_ids: list[str]) -> list[dict[str, Any]]:
    """Respondents per country (rows) × wave (cells); "–" where a country was not polled."""
    bases = {(c, w): n for c, w, n in data.facts.bases.select("country", "wave", "n").iter_rows()}
    rows = []
    for c in data.countries:
        cells = [
            {
                "wave": w,
                "n": format_count(bases[(c.code, w)]) if (c.code, w) in bases else "–",
                "present": (c.code, w) in bases,
            }
            for w in wave_ids
        ]
        rows.append({"code": c.code, "name": c.name, "cells": cells})
    return rows


def _total_rows(data: ReportData, wave_ids: list[str]) -> list[dict[str, Any]]:
    """Per wave: respondents and countries polled."""
    totals = []
    for w in wave_ids:
        wb = data.facts.bases.filter(pl.col("wave") == w)
        totals.append(
            {
                "wave": w,
                "n": format_count(int(wb["n"].sum())) if wb.height else "–",
                "countries": wb.height,
            }
        )
    return totals


def _fieldwork_rows(data: ReportData, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per country × wave: firm, mode, fieldwork dates and respondents."""
    dates = {w.id: (w.start, w.end) for w in data.waves}
    return [
        {
            "country": r["country"],
            "name": names.get(r["country"], r["country"]),
            "wave": r["wave"],
            "firm": r["firm"] or "not recorded",
            "mode": r["mode"] or "not recorded",
            "start": str(dates[r["wave"]][0] or "not recorded"),
            "end": str(dates[r["wave"]][1] or "not recorded"),
            "n": format_count(r["n"]),
        }
        for r in data.facts.fieldwork.to_dicts()
    ]


def _diagnostic_rows(data: ReportData, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per country × wave: n, Kish design effect, effective n, weight ratio."""
    return [
        {
            "country": r["country"],
            "name": names.get(r["country"], r["country"]),
            "wave": r["wave"],
            "n": format_count(r["n"]),
            "deff": format_number(r["deff_kish"], 2),
            "n_effective": format_count(r["n_effective"]),
            "ratio": format_number(r["ratio"], 1),
        }
        for r in data.facts.diagnostics.to_dicts()
    ]


def _target_rows(
    data: ReportData, names: Mapping[str, str], target_cols: list[tuple[str, str, str]]
) -> list[dict[str, Any]]:
    """Per country × wave of the targets: each variable × level's share (or total)."""
    targets = []
    for (country, wave), t in data.facts.targets.group_by(["country", "wave"], maintain_order=True):
        values = {(r["variable"], r["level"]): r for r in t.to_dicts()}
        cells = []
        for var, code, _ in target_cols:
            r = values.get((var, code))
            shown = "–"
            if r is not None:
                shown = (
                    format_percent(r["value"], 1)
                    if r["kind"] == "share"
                    else format_count(r["value"])
                )
            cells.append({"variable": var, "level": code, "text": shown})
        targets.append(
            {
                "country": country,
                "name": names.get(country, country),
                "wave": wave or "all waves",
                "cells": cells,
            }
        )
    return targets


def _source_rows(data: ReportData) -> list[dict[str, Any]]:
    """The respondent files behind the poll."""
    return [
        {
            "id": r["id"],
            "file": r["file"],
            "format": r["format"],
            "wave": r["wave"],
            "firm": r["firm"] or "not recorded",
            "n": format_count(r["n_rows"]),
            "sha": (r["sha256"] or "")[:12],
        }
        for r in data.facts.sources.to_dicts()
    ]
