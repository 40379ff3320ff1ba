"""The explorer's cube: every published cell of the poll, computed once, as a value.

:func:`build_cube` reads a :class:`~barometer.poll.publication.Publication` (built with
the spec's declared breakdowns, ``publication.breakdowns``) and lays out, for every
question × scope (country or region) × wave × {no breakdown, each declared breakdown's
levels} × answer level, the estimate, standard error, interval and unweighted base with
the publication's marks (``suppressed``, ``flagged``), the significance marks of
:mod:`.marks` and the secondary suppression of :mod:`.disclosure`. The figures of
suppressed cells are gone from the cube itself, so nothing served or exported from it
can print them. The API, the downloads and the static export (issue 18) all read this
one value; nothing here computes a statistic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import polars as pl

from barometer.poll.publication import Publication
from barometer.publish.charts import LevelStyle
from barometer.publish.explorer.disclosure import protect
from barometer.publish.explorer.marks import breakdown_marks, marks
from barometer.publish.numbers import format_mean, format_mean_moe, format_moe, format_percent

__all__ = ["ROW_COLUMNS", "Breakdown", "Cube", "QuestionInfo", "Scope", "build_cube"]

#: The columns of a cube row, in the order the API gives them.
ROW_COLUMNS = (
    "scope", "scope_kind", "members", "wave", "breakdown", "breakdown_level", "question",
    "level", "estimate", "se", "ci_low", "ci_high", "n", "suppressed", "suppression",
    "flagged", "change_mark", "region_mark", "mark_region", "percent", "moe",
)  # fmt: skip


@dataclass(frozen=True)
class QuestionInfo:
    """A question as a reader sees it: wording, kind, answer levels in order, and where
    (countries) and when (waves) it was asked."""

    id: str
    wording: str
    kind: str
    levels: tuple[tuple[str, str], ...]
    non_substantive: tuple[str, ...]
    asked: Mapping[str, tuple[str, ...]]
    breakdowns: tuple[str, ...]
    #: One colour per level, in ``levels`` order: the report's (:class:`LevelStyle`).
    colors: tuple[str, ...] = ()
    #: Whether each colour is dark (a label on it is white), as in the report.
    dark: tuple[bool, ...] = ()
    #: A multiple-response question's options or a grid's items: ``(code, label, stored
    #: question id)``, each stored part a question of the cube with its own rows.
    parts: tuple[tuple[str, str, str], ...] = ()
    #: The multiple-response question or grid a stored part belongs to.
    part_of: str | None = None
    #: What the set's tables say under the figures (shares that need not sum to 100%).
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "wording": self.wording,
            "kind": self.kind,
            "levels": [{"code": c, "label": lb} for c, lb in self.levels],
            "non_substantive": list(self.non_substantive),
            "waves": list(self.asked),
            "asked": {w: list(cs) for w, cs in self.asked.items()},
            "breakdowns": list(self.breakdowns),
            "colors": list(self.colors),
            "dark": list(self.dark),
            "parts": [{"code": c, "label": lb, "question": q} for c, lb, q in self.parts],
            "part_of": self.part_of,
            "note": self.note,
        }


@dataclass(frozen=True)
class Scope:
    """A country or a region, with the members a region combines (as the spec says)."""

    id: str
    name: str
    kind: str
    members: tuple[str, ...]
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "kind": self.kind,
            "members": list(self.members), "rule": self.rule,
        }  # fmt: skip


@dataclass(frozen=True)
class Breakdown:
    """A declared breakdown variable and its levels in order."""

    id: str
    label: str
    levels: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "levels": [{"code": c, "label": lb} for c, lb in self.levels],
        }


@dataclass(frozen=True)
class Cube:
    """The served poll: ``rows`` (one per cell × answer level, :data:`ROW_COLUMNS`,
    figures of suppressed cells null) and what the pages need to label them.

    Immutable: a frozen dataclass of tuples and read-only mappings over a polars frame
    (polars frames are not changed in place by any method the explorer calls).
    """

    name: str
    rows: pl.DataFrame = field(repr=False)
    questions: tuple[QuestionInfo, ...]
    scopes: tuple[Scope, ...]
    waves: tuple[str, ...]
    breakdowns: tuple[Breakdown, ...]
    rules: Mapping[str, Any]
    methodology: Mapping[str, Any] = field(repr=False)

    def question(self, qid: str) -> QuestionInfo | None:
        return next((q for q in self.questions if q.id == qid), None)

    def catalogue(self) -> dict[str, Any]:
        """What the pages label a view with (served at ``/api/questions``): the poll's
        name, its questions, countries and regions, waves and breakdowns."""
        return {
            "poll": self.name,
            "questions": [q.to_dict() for q in self.questions],
            "scopes": [s.to_dict() for s in self.scopes],
            "waves": list(self.waves),
            "breakdowns": [b.to_dict() for b in self.breakdowns],
        }

    def estimates(
        self,
        question: str,
        scopes: Sequence[str] | None = None,
        waves: Sequence[str] | None = None,
        breakdown: str | None = None,
    ) -> pl.DataFrame:
        """The rows of one question (no validation: the API checks its inputs)."""
        table = self.rows.filter(pl.col("question") == question)
        if breakdown is None:
            table = table.filter(pl.col("breakdown").is_null())
        else:
            table = table.filter(pl.col("breakdown") == breakdown)
        if scopes is not None:
            table = table.filter(pl.col("scope").is_in(list(scopes)))
        if waves is not None:
            table = table.filter(pl.col("wave").is_in(list(waves)))
        return table


def _cell_rows(pub: Publication, question: str, breakdown: str | None) -> pl.DataFrame:
    """The rows of one question × breakdown, in the cube's columns (before marks and
    secondary suppression); figures still present (the primary mark is set)."""
    table = pub.cells(question, breakdown).estimates.to_polars()
    level = pl.col(breakdown).cast(pl.String) if breakdown else pl.lit(None, dtype=pl.String)
    return table.select(
        pl.col("scope"),
        pl.col("scope_kind"),
        pl.col("members"),
        pl.col("wave").cast(pl.String),
        pl.lit(breakdown, dtype=pl.String).alias("breakdown"),
        level.alias("breakdown_level"),
        pl.lit(question).alias("question"),
        pl.col("level").cast(pl.String),
        "estimate", "se", "ci_low", "ci_high",
        pl.col("n").cast(pl.Int64),
        "suppressed", "flagged",
    )  # fmt: skip


def _rows(pub: Publication) -> pl.DataFrame:
    """Every question × breakdown the publication holds, marked and protected."""
    parts = [
        _cell_rows(pub, q, b)
        for q in pub.questions
        for b in pub.breakdowns
        if (q, b) in pub.by_question
    ]
    if not parts:
        empty = {c: pl.String for c in ROW_COLUMNS}
        return pl.DataFrame(schema=empty)
    table = pl.concat(parts, how="vertical_relaxed")
    keys = ["breakdown", "breakdown_level", "question", "scope", "wave", "level"]
    found = pl.concat(
        [
            marks(pub).with_columns(
                breakdown=pl.lit(None, dtype=pl.String),
                breakdown_level=pl.lit(None, dtype=pl.String),
            ),
            *(breakdown_marks(pub, b) for b in pub.breakdowns if b is not None),
        ],
        how="diagonal_relaxed",
    )
    table = table.join(found, on=keys, how="left", nulls_equal=True, maintain_order="left")
    numeric = {q.id for q in pub.spec.questions if q.is_numeric}
    return _printed(protect(table), numeric, pub.rules.decimals).select(ROW_COLUMNS)


def _printed(table: pl.DataFrame, numeric: set[str], decimals: int) -> pl.DataFrame:
    """``table`` with each share and margin as the report prints them (``percent``,
    ``moe``: :mod:`barometer.publish.numbers`, the one rounding rule), so the pages
    print the same figures without a rounding rule of their own; null when suppressed.
    A numeric question's mean prints as a mean (``5.4``, ``±0.1`` in its units)."""
    percent: list[str | None] = []
    moe: list[str | None] = []
    for q, e, lo, hi in table.select("question", "estimate", "ci_low", "ci_high").iter_rows():
        mean = q in numeric
        if e is None:
            percent.append(None)
        else:
            percent.append(format_mean(e, decimals) if mean else format_percent(e))
        if lo is None or hi is None:
            moe.append(None)
        else:
            moe.append(format_mean_moe(lo, hi, decimals) if mean else format_moe(lo, hi))
    return table.with_columns(
        percent=pl.Series(percent, dtype=pl.String), moe=pl.Series(moe, dtype=pl.String)
    )


def _questions(pub: Publication, rows: pl.DataFrame) -> tuple[QuestionInfo, ...]:
    out = []
    plain = rows.filter(pl.col("breakdown").is_null() & (pl.col("scope_kind") == "country"))
    for qid in pub.questions:
        q = pub.spec.question(qid)
        mine = plain.filter(pl.col("question") == qid)
        asked = {
            w: tuple(dict.fromkeys(mine.filter(pl.col("wave") == w)["scope"].to_list()))
            for w in pub.waves
            if mine.filter(pl.col("wave") == w).height
        }
        held = tuple(b for b in pub.breakdowns if b is not None and (qid, b) in pub.by_question)
        style = LevelStyle.from_question(q)
        out.append(
            QuestionInfo(
                id=qid,
                wording=q.wording,
                kind=q.kind,
                levels=tuple((lv.code, lv.label) for lv in q.levels),
                non_substantive=tuple(q.non_substantive),
                asked=MappingProxyType(asked),
                breakdowns=held,
                colors=style.colors,
                dark=tuple(style.dark(c) for c in style.codes),
                part_of=view.question if (view := pub.set_of(qid)) is not None else None,
            )
        )
    return (*out, *_sets(pub, out))


def _sets(pub: Publication, parts: list[QuestionInfo]) -> list[QuestionInfo]:
    """One entry per multiple-response question or grid, grouping its stored parts (the
    pages fetch the parts' rows; the cube holds no rows under the set's own id). Asked
    where and when any part was; broken down by what every part is. A multiple-response
    question's levels are its options; a grid's are the grid's answer levels, coloured
    as its items are."""
    by_id = {q.id: q for q in parts}
    out = []
    for sid, view in pub.sets.items():
        held = [by_id[stored] for _, _, stored in view.parts if stored in by_id]
        if not held:
            continue
        asked: dict[str, tuple[str, ...]] = {}
        for w in pub.waves:
            seen = [c for q in held for c in q.asked.get(w, ())]
            if seen:
                asked[w] = tuple(dict.fromkeys(seen))
        grid = view.kind == "grid"
        first = held[0]
        out.append(
            QuestionInfo(
                id=sid,
                wording=view.wording,
                kind=view.kind,
                levels=view.levels if grid else tuple((c, lb) for c, lb, _ in view.parts),
                non_substantive=view.non_substantive if grid else (),
                asked=MappingProxyType(asked),
                breakdowns=tuple(
                    b for b in first.breakdowns if all(b in q.breakdowns for q in held)
                ),
                colors=first.colors if grid else (),
                dark=first.dark if grid else (),
                parts=view.parts,
                note=view.note,
            )
        )
    return out


def _scopes(pub: Publication) -> tuple[Scope, ...]:
    countries = [
        Scope(c.code, c.name, "country", (c.code,))
        for c in pub.spec.countries
        if c.code in pub.countries
    ]
    regions = [
        Scope(r.id, r.name, "region", tuple(m for m in r.members if m in pub.countries), r.rule)
        for r in pub.spec.regions
    ]
    return (*countries, *regions)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready records (dates and datetimes as ISO strings)."""
    out = []
    for row in frame.iter_rows(named=True):
        out.append(
            {
                k: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v
                for k, v in row.items()
            }
        )
    return out


def _methodology(pub: Publication, rules: Mapping[str, Any]) -> dict[str, Any]:
    """Fieldwork, samples, weighting and how every figure of the cube is made."""
    facts = pub.facts
    waves = [
        {"id": w.id, "start": w.start.isoformat() if w.start else None,
         "end": w.end.isoformat() if w.end else None}
        for w in pub.spec.waves if w.id in pub.waves
    ]  # fmt: skip
    sources = facts.sources.drop([c for c in ("file", "sha256") if c in facts.sources.columns])
    return {
        "poll": facts.name,
        "waves": waves,
        "fieldwork": _records(facts.fieldwork),
        "samples": _records(facts.bases),
        "sources": _records(sources),
        "weighting": {
            "weights": pub.weights,
            "settings": dict(facts.weight_settings),
            "targets": _records(facts.targets),
            "diagnostics": _records(facts.diagnostics),
        },
        "rules": dict(rules),
        "margins": (
            "Each share is a design-based estimate (R survey's svymean of a factor) with a "
            "Taylor-linearised standard error over the poll's strata (country x wave) and "
            f"PSUs; intervals are Wald intervals at {100 * pub.rules.confidence:g}% "
            "confidence (estimate +/- z * se). A region combines the members with data "
            "in the cell by its rule (mean or population), its standard error from the "
            "members' covariance; the base n is the unweighted number of respondents "
            "who answered."
        ),
        "suppression": (
            f"A cell with an unweighted base below {pub.rules.suppress_below} shows no "
            f"estimate (suppression 'base'); below {pub.rules.flag_below} it is flagged. "
            "So that no suppressed figure can be recovered by subtraction from a total or "
            "a region, a second cell of the same breakdown or region is suppressed too "
            "(suppression 'secondary')."
        ),
        "marks": (
            "change_mark (up/down) and region_mark (above/below the region named in "
            "mark_region) are the findings' own verdicts: differences of design-based "
            "shares tested together over every change and gap the findings scan, "
            f"p-values adjusted by {pub.rules.adjust}, significant at alpha "
            f"{pub.rules.alpha:g}, both bases at least {pub.rules.claim_min_base}. "
            "A regional change compares the members polled in both waves (like for like). "
            "Breakdown cells are marked by the same comparisons within each breakdown "
            "level, every test of one breakdown adjusted together."
        ),
        "notes": list(pub.notes),
    }


def build_cube(pub: Publication) -> Cube:
    """The cube of ``pub`` (see the module docstring).

    Examples
    --------
    >>> pub = poll.publication(breakdowns=poll.spec.publication.breakdowns)  # doctest: +SKIP
    >>> build_cube(pub).estimates("us_relationship", ["DE", "EU"])  # doctest: +SKIP
    """
    rows = _rows(pub)
    rules = pub.rules.model_dump(mode="json")
    spec = pub.spec
    breakdowns = tuple(
        Breakdown(
            b,
            spec.question(b).wording or b,
            tuple((lv.code, lv.label) for lv in spec.question(b).levels),
        )
        for b in pub.breakdowns
        if b is not None
    )
    return Cube(
        name=spec.name,
        rows=rows,
        questions=_questions(pub, rows),
        scopes=_scopes(pub),
        waves=tuple(pub.waves),
        breakdowns=breakdowns,
        rules=MappingProxyType(rules),
        methodology=MappingProxyType(_methodology(pub, rules)),
    )
