"""Findings between the items of a grid: "45% see the United States as an ally, 5% China".

The differences and their tests are the publication's (``Publication.sets[q].gaps``:
each item pair × level by country × wave, on the respondents who answered both —
:func:`barometer.poll.sets.item_gaps`); this module adjusts their p-values within each
grid (the core's :func:`~barometer.core.comparisons.adjust_pvalues`), keeps the
significant ones with both bases large enough, ranks them and words them. It does no
statistics of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from barometer.core.comparisons import adjust_pvalues
from barometer.poll.publication import Publication
from barometer.poll.spec import PublicationRules
from barometer.publish.numbers import format_percent

__all__ = ["ItemGap", "item_findings"]


@dataclass(frozen=True)
class ItemGap:
    """A significant difference between two items of a grid at one level, in one
    country and wave: ``first`` the item with the higher share on the joint base."""

    question: str
    level: str
    level_label: str
    country: str
    wave: str
    first: str
    first_label: str
    second: str
    second_label: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    n: int
    n_first: int
    n_second: int
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready record."""
        return asdict(self)


def item_findings(
    pub: Publication, rules: PublicationRules, min_gap: float = 0.0, top: int | None = None
) -> tuple[ItemGap, ...]:
    """The significant item-versus-item gaps of every grid of ``pub``, best first.

    Kept when the joint base (answered both) is at least ``max(claim_min_base,
    suppress_below)``, the p-value adjusted by ``rules.adjust`` over the grid's
    comparisons (substantive levels only) is below ``rules.alpha``, and the gap is at
    least ``min_gap``; ranked by the nearer interval bound's distance from zero.
    """
    floor = max(rules.claim_min_base, rules.suppress_below)
    found: list[tuple[float, ItemGap]] = []
    countries = {c.code: c.name for c in pub.spec.countries}
    for view in pub.sets.values():
        if view.gaps is None or view.gaps.height == 0:
            continue
        gaps = view.gaps.filter(
            (pl.col("n") >= floor) & ~pl.col("level").is_in(list(view.non_substantive))
        )
        if gaps.height == 0:
            continue
        p_adj = adjust_pvalues(gaps["p_value"].to_numpy(), rules.adjust)
        labels = dict((code, label) for code, label, _ in view.parts)
        levels = dict(view.levels)
        for row, p in zip(gaps.iter_rows(named=True), p_adj, strict=True):
            if not p < rules.alpha or abs(row["estimate"]) < min_gap:
                continue
            if row["first"] not in labels or row["second"] not in labels:
                continue
            flip = row["estimate"] < 0
            sign = -1.0 if flip else 1.0
            hi, lo = (row["second"], row["first"]) if flip else (row["first"], row["second"])
            low, high = sorted((sign * row["ci_low"], sign * row["ci_high"]))
            gap = ItemGap(
                question=view.question,
                level=row["level"],
                level_label=levels.get(row["level"], row["level"]),
                country=row["country"],
                wave=row["wave"],
                first=hi,
                first_label=labels[hi],
                second=lo,
                second_label=labels[lo],
                difference=sign * row["estimate"],
                ci_low=low,
                ci_high=high,
                p_value=float(row["p_value"]),
                p_adjusted=float(p),
                n=int(row["n"]),
                n_first=int(row["n_second"] if flip else row["n_first"]),
                n_second=int(row["n_first"] if flip else row["n_second"]),
                sentence=_sentence(
                    countries.get(row["country"], row["country"]), row["wave"],
                    levels.get(row["level"], row["level"]), labels[hi], labels[lo],
                    sign * row["estimate"], (low, high), rules.confidence,
                    (int(row["n"]), int(row["n_second" if flip else "n_first"]),
                     int(row["n_first" if flip else "n_second"])),
                ),
            )  # fmt: skip
            found.append((min(abs(low), abs(high)), gap))
    found.sort(key=lambda t: (-t[0], t[1].p_adjusted))
    out = tuple(g for _, g in found)
    return out[:top] if top is not None else out


def _sentence(
    country: str,
    wave: str,
    level: str,
    first: str,
    second: str,
    diff: float,
    interval: tuple[float, float],
    confidence: float,
    bases: tuple[int, int, int],
) -> str:
    points = format_percent(diff)
    lo, hi = (format_percent(x) for x in interval)
    both, n_first, n_second = bases
    return (
        f"In {country} ({wave}), more answer '{level}' for {first} than for {second}: "
        f"{points} points more among the {both:,} who answered both "
        f"({format_percent(confidence)}% interval {lo} to {hi} points; {n_first:,} "
        f"answered for {first}, {n_second:,} for {second})."
    )
