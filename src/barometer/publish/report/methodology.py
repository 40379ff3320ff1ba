"""The report's methodology and disclosure section, built from the store.

Covers the disclosure items of the AAPOR Transparency Initiative and the British
Polling Council that the spec and the store hold: sponsor and contact, fieldwork firm,
mode, sampling and dates per country and wave, population, sample sizes, weighting
variables, targets and imputed values, design effects and effective sample sizes,
regional rules and the respondent files behind the poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from barometer.publish.numbers import format_count, format_number, format_percent

if TYPE_CHECKING:
    from barometer.publish.report.html import ReportData

__all__ = ["MOE_NAMES", "MOE_PLURALS", "methodology_view", "sampling_view"]


def methodology_view(
    data: ReportData, names: Mapping[str, str], probability_sample: bool | None = None
) -> dict[str, Any]:
    """The methodology section's view: fieldwork, bases, weighting, precision, sources.

    Every number is one of the publication's facts from the store (bases, weighting
    diagnostics, targets), formatted by :mod:`barometer.publish.numbers`.  The disclosure
    of how respondents were selected and what the ± figures are follows each source's
    ``sampling`` (:func:`sampling_view`); ``probability_sample`` (deprecated) overrides it.
    """
    wave_ids = [w.id for w in data.waves]
    shown = {c.code for c in data.countries}
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
                "members": [names.get(m, m) for m in r.members if m in shown],
            }
            for r in data.regions
        ],
        "countries": [
            {
                "code": c.code,
                "name": c.name,
                "population": _population_text(c),
            }
            for c in data.countries
        ],
        "sources": _source_rows(data, probability_sample),
        "sampling": sampling_view(data, probability_sample),
        "imputed": _imputed_view(data, names),
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


def _source_kinds(data: ReportData, probability_sample: bool | None) -> dict[str, str | None]:
    """Each source's sampling kind (None: not recorded); the override, when given."""
    if probability_sample is not None:
        kind = "probability" if probability_sample else "opt-in"
        return {s.id: kind for s in data.sources}
    return {s.id: s.sampling for s in data.sources}


#: What the ± figure is called, by the poll's kind of sample (AAPOR's wording: a margin of
#: sampling error only for probability samples; "modelled" for opt-in ones).
MOE_NAMES = {"probability": "margin of sampling error", "opt-in": "modelled margin of error"}
#: The same names in the plural, as the chart captions use them.
MOE_PLURALS = {"probability": "margins of sampling error", "opt-in": "modelled margins of error"}


def sampling_view(data: ReportData, probability_sample: bool | None = None) -> dict[str, Any]:
    """How respondents were selected, from each source's ``sampling``: the poll's kind
    (``probability``, ``opt-in``, ``mixed``, or ``unknown`` when no source records it),
    the sources of each kind and the name of the ± figure.

    AAPOR's Code and its statement on opt-in samples (2023) allow a "margin of sampling
    error" only for probability samples; opt-in and mixed samples get a *modelled* margin
    of error (a credibility-interval-like measure resting on the weighting model). A poll
    whose sampling is not recorded is worded as opt-in, the cautious reading."""
    kinds = _source_kinds(data, probability_sample)
    by_kind: dict[str, list[str]] = {"probability": [], "opt-in": [], "mixed": [], "unknown": []}
    for sid, kind in kinds.items():
        by_kind[kind or "unknown"].append(sid)
    recorded = {k for k in ("probability", "opt-in", "mixed") if by_kind[k]}
    if not recorded:
        kind = "unknown"
    elif recorded == {"probability"} and not by_kind["unknown"]:
        kind = "probability"
    elif recorded == {"opt-in"}:
        kind = "opt-in"
    else:
        kind = "mixed"
    return {
        "kind": kind,
        "sources": by_kind,
        "moe_name": MOE_NAMES.get(kind, "modelled margin of error"),
        "moe_plural": MOE_PLURALS.get(kind, "modelled margins of error"),
        "probability": kind in ("probability", "mixed"),
        "opt_in": kind != "probability",
    }


def _imputed_view(data: ReportData, names: Mapping[str, str]) -> dict[str, Any] | None:
    """The weighting values imputed (``weighting: {missing: impute}``), per country ×
    wave × variable, from the last weighting's settings; None when the poll did not."""
    settings = data.facts.weight_settings
    if settings.get("missing") != "impute":
        return None
    rows = [r for r in settings.get("imputed") or [] if r["n_imputed"]]
    return {
        "seed": settings.get("seed"),
        "total": format_count(sum(r["n_imputed"] for r in rows)),
        "rows": [
            {
                "country": r["country"],
                "name": names.get(r["country"], r["country"]),
                "wave": r["wave"],
                "variable": r["variable"],
                "n": format_count(r["n_imputed"]),
            }
            for r in rows
        ],
    }


def _population_text(country: Any) -> str:
    """A country's adult population: one number, or each wave's."""
    pop = country.population
    if pop is None:
        return "not recorded"
    if isinstance(pop, Mapping):
        return "; ".join(f"{format_count(v)} ({w})" for w, v in pop.items())
    return format_count(pop)


def _source_rows(data: ReportData, probability_sample: bool | None) -> list[dict[str, Any]]:
    """The respondent files behind the poll, with how each one's respondents were chosen."""
    kinds = _source_kinds(data, probability_sample)
    return [
        {
            "id": r["id"],
            "file": r["file"],
            "format": r["format"],
            "wave": r["wave"],
            "firm": r["firm"] or "not recorded",
            "sampling": kinds.get(r["id"]) or "not recorded",
            "n": format_count(r["n_rows"]),
            "sha": (r["sha256"] or "")[:12],
        }
        for r in data.facts.sources.to_dicts()
    ]
