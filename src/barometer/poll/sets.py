"""Estimates of multiple-response questions and grids, through the core's public API.

A multiple-response option is stored as a single-choice part (``allies__us``: levels
``selected`` / ``not_selected``), so its share is ``Design.proportion`` of the part —
R ``svymean(~I(q7_1 == 1), na.rm = TRUE)``, each option with its own base and standard
error; the options' shares do not sum to 100% (:data:`NOT_ADDITIVE`). A grid item is
likewise a part with the grid's levels and its own base.

An **item-versus-item difference** (the share seeing the US as an ally minus the share
seeing China so) uses the respondents who answered both items, as R does for
``svycontrast(svymean(~a + b, na.rm = TRUE), ...)``: ``svymean`` with ``na.rm`` drops a
row missing either variable, so both shares share one base. Its estimate is the mean
of the paired difference ``d = 1[a = level] - 1[b = level]`` over that joint base
(``Design.mean``), whose linearisation — ``w (d - dbar) / sum w`` — is exactly that of
the contrast of the two means on the same rows, covariance included; on a raked design
the mean carries the calibration as every other estimate does. Each item's own base is
reported beside the joint one (``n_first``, ``n_second``, ``n``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from barometer.core.estimates import Estimates, linear_contrast
from barometer.options import CONFIDENCE, CIMethod
from barometer.poll.spec_sets import SELECTED, part_id, parts

if TYPE_CHECKING:
    from barometer.core.design import Design
    from barometer.poll.spec import PollSpec, Question

__all__ = [
    "NOT_ADDITIVE",
    "PAIR_PREFIX",
    "ItemPair",
    "SetView",
    "item_gaps",
    "pair_column",
    "pair_columns",
    "pairs",
    "set_estimates",
    "set_view",
    "stack_parts",
]

#: What every table of a multiple-response question says under its figures.
NOT_ADDITIVE = (
    "Respondents could choose more than one option: the shares do not sum to 100%; "
    "each option's base is the respondents asked the question."
)
#: Frame columns of paired item differences start so (no question id holds ':').
PAIR_PREFIX = "_pair:"


@dataclass(frozen=True)
class ItemPair:
    """One item-versus-item comparison of a grid at one level."""

    question: str
    first: str
    second: str
    level: str

    @property
    def column(self) -> str:
        """The frame column of its paired difference."""
        return pair_column(self.question, self.first, self.second, self.level)


def pair_column(question: str, first: str, second: str, level: str) -> str:
    """The frame column holding ``1[first = level] - 1[second = level]`` (null unless
    both items were answered)."""
    return f"{PAIR_PREFIX}{question}:{first}:{second}:{level}"


def pairs(question: Question) -> list[ItemPair]:
    """Every pair of a grid's items (in questionnaire order) at every level."""
    items = [i.code for i in question.items]
    return [
        ItemPair(question.id, a, b, level)
        for a, b in combinations(items, 2)
        for level in question.level_codes
    ]


def pair_columns(spec: PollSpec, present: frozenset[str] | set[str]) -> list[pl.Expr]:
    """The paired-difference columns of every grid whose two items are in ``present``."""
    out = []
    for q in spec.questions:
        if q.kind != "grid":
            continue
        for pair in pairs(q):
            a, b = part_id(q.id, pair.first), part_id(q.id, pair.second)
            if a not in present or b not in present:
                continue
            both = pl.col(a).is_not_null() & pl.col(b).is_not_null()
            # -1, 0 or 1: Int8 holds it exactly in an eighth of a float column's memory
            # (a grid of 5 items x 5 levels is 50 such columns over every respondent)
            diff = (pl.col(a).cast(pl.String) == pair.level).cast(pl.Int8) - (
                pl.col(b).cast(pl.String) == pair.level
            ).cast(pl.Int8)
            out.append(pl.when(both).then(diff).otherwise(None).alias(pair.column))
    return out


def item_gaps(
    design: Design,
    question: Question,
    by: list[str],
    confidence: float = CONFIDENCE,
) -> pl.DataFrame:
    """Every item-versus-item difference of grid ``question``, by ``by``.

    Columns: ``*by, first, second, level, estimate, se, ci_low, ci_high, p_value, n``
    (the joint base: answered both), ``n_first`` and ``n_second`` (each item's own
    base). One ``Design.mean`` call over the paired-difference columns (see the
    module's docstring for why this is R's ``svycontrast`` of the two means); the
    interval and two-sided p-value are the normal ones of ``Estimates.contrast``.
    Pairs with no respondent answering both are left out.
    """
    present = set(design.columns)
    wanted = [p for p in pairs(question) if p.column in present]
    if not wanted:
        text = [*by, "first", "second", "level"]
        floats = ["estimate", "se", "ci_low", "ci_high", "p_value"]
        ints = ["n", "n_first", "n_second"]
        schema: dict[str, type[pl.DataType]] = {c: pl.String for c in text}
        schema |= {c: pl.Float64 for c in floats}
        schema |= {c: pl.Int64 for c in ints}
        return pl.DataFrame(schema=schema)
    est = design.mean([p.column for p in wanted], by=by)
    table = est.to_polars().filter(pl.col("n") > 0)
    by_col = {p.column: p for p in wanted}
    rows = []
    for row in table.iter_rows(named=True):
        pair = by_col[row["variable"]]
        se = float(row["se"])
        res = linear_contrast(
            np.array([float(row["estimate"])]), np.array([[se * se]]), np.ones(1), confidence
        )
        rows.append(
            {
                **{c: row[c] for c in by},
                "first": pair.first,
                "second": pair.second,
                "level": pair.level,
                "estimate": res.estimate,
                "se": res.se,
                "ci_low": res.ci_low,
                "ci_high": res.ci_high,
                "p_value": res.p_value,
                "n": int(row["n"]),
            }
        )
    out = pl.DataFrame(rows)
    out = out.with_columns(pl.col(c).cast(pl.String) for c in by)
    bases = _item_bases(design, question, by)
    for side in ("first", "second"):
        out = out.join(
            bases.rename({"item": side, "n_item": f"n_{side}"}), on=[*by, side], how="left"
        )
    return out


def _item_bases(design: Design, question: Question, by: list[str]) -> pl.DataFrame:
    """Each item's own unweighted base (respondents answering it), by ``by``."""
    frames = []
    for item in question.items:
        col = part_id(question.id, item.code)
        if col not in design.columns:
            continue
        frames.append(
            design.bases(col, by)
            .select(*by, n_item=pl.col("n"))
            .with_columns(pl.lit(item.code).alias("item"))
        )
    if not frames:
        return pl.DataFrame(schema={**{c: pl.String for c in by}, "item": pl.String})
    return pl.concat(frames).with_columns(pl.col(c).cast(pl.String) for c in by)


def set_estimates(
    design: Design,
    question: Question,
    by: list[str],
    ci: CIMethod = "wald",
    confidence: float = CONFIDENCE,
) -> Estimates:
    """The shares of every option (level ``selected`` only, ranked within each cell of
    ``by``: ``rank`` 1 the most chosen) or of every grid item × level, stacked with the
    columns ``part`` (the option or item code) and ``label``.

    Each part is one ``Design.proportion`` call with its own base and covariance; the
    stack carries no joint covariance (``vcov()`` of one part: estimate the part,
    ``allies__us``, on its own).
    """
    present = set(design.columns)
    tables = {
        part.id: design.proportion(part.id, by=by, ci=ci, confidence=confidence).filter(
            pl.col("n") > 0
        )
        for part in parts(question)
        if part.id in present
    }
    return stack_parts(question, tables, by)


def stack_parts(
    question: Question,
    estimates: Mapping[str, Estimates],
    by: list[str],
    notes: Sequence[str] = (),
) -> Estimates:
    """The parts' estimates of ``question`` (stored id -> a part's shares by ``by``, of a
    country or of a region alike) as one table: level ``selected`` only for a
    multiple-response question, ranked within each cell of ``by`` (``rank`` 1 the most
    chosen, the :data:`NOT_ADDITIVE` note after ``notes``), every level for a grid;
    columns ``part`` (the option or item code) and ``label`` added. No joint covariance
    (see :func:`set_estimates`)."""
    labels = (
        {o.code: o.label for o in question.options}
        if question.kind == "multiple"
        else {i.code: i.label for i in question.items}
    )
    tables = []
    for stored, est in estimates.items():
        code = stored.removeprefix(f"{question.id}__")
        table = est.to_polars()
        if question.kind == "multiple":
            table = table.filter(pl.col("level").cast(pl.String) == SELECTED)
        tables.append(
            table.with_columns(
                pl.col("level").cast(pl.String),
                part=pl.lit(code),
                label=pl.lit(labels[code]),
            )
        )
    stacked = pl.concat(tables, how="vertical_relaxed") if tables else pl.DataFrame()
    said = tuple(notes)
    if question.kind == "multiple" and stacked.height:
        rank = pl.col("estimate").rank("min", descending=True)
        stacked = stacked.with_columns(rank=rank.over(by) if by else rank)
        said = (*said, NOT_ADDITIVE)
    return Estimates(stacked, by=tuple(by), statistic="proportion", notes=said)


@dataclass(frozen=True, eq=False)
class SetView:
    """A multiple-response question or grid as a publication holds it.

    ``parts`` are ``(code, label, stored id)`` of its options or items held in the
    publication (each a question of the publication, with its own cells); ``levels``
    the grid's ``(code, label)`` (a multiple-response question's: ``selected``);
    ``exclusive`` the exclusive options; ``gaps`` a grid's item-versus-item differences
    by country × wave (:func:`item_gaps`, with ``suppressed`` / ``flagged`` marks on the
    joint base), None for a multiple-response question; ``note`` what its tables say
    under the figures.
    """

    question: str
    kind: str
    wording: str
    parts: tuple[tuple[str, str, str], ...]
    levels: tuple[tuple[str, str], ...]
    non_substantive: tuple[str, ...]
    exclusive: tuple[str, ...]
    gaps: pl.DataFrame | None
    note: str

    def part(self, stored: str) -> tuple[str, str] | None:
        """``(code, label)`` of the stored part ``stored`` (None when not one of its)."""
        for code, label, sid in self.parts:
            if sid == stored:
                return code, label
        return None


def set_view(
    question: Question, held: set[str] | frozenset[str], gaps: pl.DataFrame | None
) -> SetView | None:
    """The :class:`SetView` of ``question`` over the parts ``held`` (None: none held)."""
    if question.kind == "multiple":
        codes = [(o.code, o.label) for o in question.options]
        levels: tuple[tuple[str, str], ...] = ((SELECTED, "Selected"),)
        note = NOT_ADDITIVE
    else:
        codes = [(i.code, i.label) for i in question.items]
        levels = tuple((lv.code, lv.label) for lv in question.levels)
        note = (
            "Each item's shares are of the respondents who answered that item; a "
            "difference between two items is of those who answered both."
        )
    kept = tuple(
        (code, label, part_id(question.id, code))
        for code, label in codes
        if part_id(question.id, code) in held
    )
    if not kept:
        return None
    return SetView(
        question=question.id,
        kind=question.kind,
        wording=question.wording,
        parts=kept,
        levels=levels,
        non_substantive=tuple(question.non_substantive),
        exclusive=tuple(o.code for o in question.options if o.exclusive),
        gaps=gaps,
        note=note,
    )
