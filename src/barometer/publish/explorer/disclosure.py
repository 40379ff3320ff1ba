"""Disclosure control of the explorer's cube: what may leave the server.

The cube holds aggregates only — shares, their standard errors and intervals, and
unweighted bases; never respondent rows, weights or weighted counts. On top of the
publication's own rule (a cell whose unweighted base is below ``suppress_below`` shows no
estimate — :func:`barometer.poll.publication.mark`, the one home of that rule), this
module adds **secondary suppression**, so a suppressed figure cannot be recovered by
subtraction:

* **breakdown groups** — a country's (or region's) figure in a wave is a weighted mean
  of its breakdown levels' figures (age groups, genders, …). With the total and every
  level but one published, the missing level follows by subtraction. So in every group
  (question × scope × wave × breakdown: the total cell and its level cells) where some
  cell is suppressed, at least two are: when only one is, the unsuppressed level cell
  with the smallest base is suppressed too;
* **region groups** — a region's figure is a known linear combination of its members'
  figures in the same cell (mean or population rule), so with the region and every
  member but one published the last one follows. The same rule applies to each region
  cell and the member cells it combines.

The two rules are applied until neither adds a cell (each pass only adds, so it ends).
This is the classic "at least two suppressed cells per published margin" rule of
statistical disclosure control (Hundepool et al., *Statistical Disclosure Control*,
Wiley 2012, §5.5): it leaves no cell of a group that a single subtraction isolates.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl

__all__ = ["CELL", "FIGURES", "MARKS", "protect", "secondary"]

#: The columns that identify one cell (every answer level of it shares the base).
CELL = ("question", "breakdown", "scope", "wave", "breakdown_level")
#: The columns holding a figure: null in every suppressed row.
FIGURES = ("estimate", "se", "ci_low", "ci_high")
#: The significance marks: null in every suppressed row.
MARKS = ("change_mark", "region_mark", "mark_region")

Cell = tuple[str, str, str, str, str]


def _groups(cells: pl.DataFrame) -> list[tuple[Cell | None, list[Cell]]]:
    """The cells that one subtraction could play against each other, as (margin,
    parts): each breakdown group (the total cell, the level cells) and each region
    group (the region cell, its members' cells)."""
    keys: list[Cell] = [
        tuple(r) for r in cells.select(pl.col(c).fill_null("") for c in CELL).iter_rows()
    ]
    known = set(keys)
    by_total: dict[tuple[str, str, str, str], list[Cell]] = defaultdict(list)
    for key in keys:
        if key[1]:  # a breakdown level's cell: grouped under its total
            by_total[key[:4]].append(key)
    groups = []
    for (question, _, scope, wave), levels in by_total.items():
        total = (question, "", scope, wave, "")
        groups.append((total if total in known else None, levels))
    regions = cells.filter(pl.col("scope_kind") == "region")
    for key, members in zip(
        regions.select(pl.col(c).fill_null("") for c in CELL).iter_rows(),
        regions.get_column("members").to_list(),
        strict=True,
    ):
        question, breakdown, _, wave, level = key
        parts = [(question, breakdown, m, wave, level) for m in members]
        region: Cell = (question, breakdown, key[2], wave, level)
        groups.append((region, [p for p in parts if p in known]))
    return groups


def secondary(cells: pl.DataFrame) -> set[Cell]:
    """The cells to suppress besides the primary ones, so that no group (see the module
    docstring) has exactly one suppressed cell.

    ``cells``: one row per cell with the :data:`CELL` columns, ``scope_kind``,
    ``members``, ``n`` and ``suppressed`` (the primary rule).
    """
    base = {
        tuple(k): n
        for *k, n in cells.select(*(pl.col(c).fill_null("") for c in CELL), "n").iter_rows()
    }
    primary = {
        tuple(k)
        for *k, s in cells.select(
            *(pl.col(c).fill_null("") for c in CELL), "suppressed"
        ).iter_rows()
        if s
    }
    hidden: set[Cell] = set(primary)
    groups = [(m, parts) for m, parts in _groups(cells) if len(parts) + (m is not None) > 1]
    changed = True
    while changed:
        changed = False
        for margin, parts in groups:
            cells_ = parts if margin is None else [margin, *parts]
            if sum(c in hidden for c in cells_) != 1:
                continue
            # the smallest open part (a level, a member); the margin (the total, the
            # region) only when every part is hidden, so published margins stay
            open_ = [c for c in cells_ if c not in hidden and c != margin] or [
                c for c in cells_ if c not in hidden
            ]
            hidden.add(min(open_, key=lambda c: base[c]))
            changed = True
    return hidden - primary


def protect(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (one per cell × answer level) with secondary suppression applied:
    ``suppressed`` true for both kinds, ``suppression`` saying which (``"base"``,
    ``"secondary"`` or null), and the :data:`FIGURES` and :data:`MARKS` of every
    suppressed row null. The base ``n`` stays (it says why a cell is empty and is not
    sensitive: it counts respondents, not answers)."""
    cells = rows.unique(subset=list(CELL), keep="first", maintain_order=True)
    more = secondary(cells)
    flag = pl.Series(
        [tuple(k) in more for k in rows.select(pl.col(c).fill_null("") for c in CELL).iter_rows()],
        dtype=pl.Boolean,
    )
    out = rows.with_columns(
        suppression=pl.when(pl.col("suppressed"))
        .then(pl.lit("base"))
        .when(flag)
        .then(pl.lit("secondary"))
        .otherwise(pl.lit(None, dtype=pl.String))
    ).with_columns(suppressed=pl.col("suppression").is_not_null())
    hidden = [c for c in (*FIGURES, *MARKS) if c in out.columns]
    return out.with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c) for c in hidden
    )
