"""Significance marks of the explorer's cells: the findings' own verdicts.

A cell's ``change_mark`` says its share of an answer moved significantly since the
previous wave the question was asked (``"up"``/``"down"``); a country cell's
``region_mark`` says it lies significantly above or below its region (``"above"``/
``"below"``, the region named in ``mark_region``: the first region of the spec that
has the country as a member and is not a median region). Both are read off
:func:`barometer.publish.findings.find.find` run on the same publication with its
default settings: the same comparisons (consecutive waves, like for like for regions;
a country against a region that contains it, the overlap in the covariance), the same
family of tests adjusted together by ``publication.adjust`` and the same
``publication.alpha`` and ``claim_min_base`` — so a change marked in the hub is one the
findings report, and the reverse. Cells without a mark (null) were compared without a
significant result, or not compared (a base under ``claim_min_base``, no earlier wave,
a non-substantive answer such as "don't know").

Breakdown cells (a country's young, its women, …) are not tested by the findings, so
:func:`breakdown_marks` runs the same two comparisons within each breakdown level —
consecutive waves (regions like for like, :meth:`Publication.trend`) and a country
against its region in the same level — with the core's
:func:`~barometer.core.comparisons.pairwise_differences`, every test of one breakdown
across all questions adjusted together by ``publication.adjust``
(:func:`~barometer.core.comparisons.adjust_pvalues`), kept under the findings' rules
(both bases at least ``claim_min_base``, adjusted p below ``alpha``, the interval
excluding zero, substantive answers only). Each breakdown is its own family: a reader
looks at one breakdown at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

from barometer.core.comparisons import adjust_pvalues, pairwise_differences
from barometer.core.estimates import Estimates
from barometer.poll.publication import Publication
from barometer.poll.spec import PollSpec
from barometer.publish.findings.find import Finding, find

__all__ = [
    "BREAKDOWN_MARK_COLUMNS",
    "MARK_COLUMNS",
    "breakdown_marks",
    "home_regions",
    "marks",
    "marks_of",
]

#: The key and mark columns of :func:`marks`.
MARK_COLUMNS = ("question", "scope", "wave", "level", "change_mark", "region_mark", "mark_region")
Key = tuple[str, str, str, str]

#: The key and mark columns of :func:`breakdown_marks`.
BREAKDOWN_MARK_COLUMNS = ("breakdown", "breakdown_level", *MARK_COLUMNS)


def home_regions(spec: PollSpec) -> dict[str, str]:
    """country -> the region its ``region_mark`` compares it with (first in spec order
    among the regions holding it; median regions left out, as findings leaves them)."""
    home: dict[str, str] = {}
    for region in spec.regions:
        if region.rule == "median":
            continue
        for member in region.members:
            home.setdefault(member, region.id)
    return home


def marks_of(found: Iterable[Finding], home: dict[str, str]) -> pl.DataFrame:
    """The mark rows of some findings (see the module docstring)."""
    # keyed by question, scope, wave and level (None: a numeric question's mean)
    change: dict[tuple[str, str, str, str | None], str] = {}
    versus: dict[tuple[str, str, str, str | None], tuple[str, str]] = {}
    for f in found:
        if f.kind == "change":
            key = (f.question, f.first.id, f.first.wave, f.level)
            change[key] = "up" if f.difference > 0 else "down"
            continue
        for country, region, word in ((f.first, f.second, "above"), (f.second, f.first, "below")):
            if country.type == "country" and home.get(country.id) == region.id:
                versus[(f.question, country.id, country.wave, f.level)] = (word, region.id)
    keys = sorted(set(change) | set(versus))
    rows = [(*k, change.get(k), *versus.get(k, (None, None))) for k in keys]
    return pl.DataFrame(rows, schema=list(MARK_COLUMNS), orient="row").cast(
        {c: pl.String for c in MARK_COLUMNS}
    )


def marks(pub: Publication) -> pl.DataFrame:
    """The marks of every question of ``pub`` with no breakdown: one findings scan."""
    if not pub.questions:
        return marks_of((), {})
    return marks_of(find(pub), home_regions(pub.spec))


def _bases(est: Estimates, breakdown: str) -> dict[tuple[str, str, str, str], int]:
    """(scope, wave, breakdown level, level) -> unweighted base."""
    t = est.to_polars().select(
        pl.col("country").cast(pl.String), pl.col("wave").cast(pl.String),
        pl.col(breakdown).cast(pl.String), pl.col("level").cast(pl.String), "n",
    )  # fmt: skip
    return {(c, w, b, lv): int(n) for c, w, b, lv, n in t.iter_rows()}


def _without_median(est: Estimates, pub: Publication) -> Estimates:
    median = [r.id for r in pub.spec.regions if r.rule == "median"]
    return est.filter(~pl.col("country").is_in(median)) if median else est


def _tests(pub: Publication, question: str, breakdown: str, floor: int) -> list[dict[str, Any]]:
    """Every change and country-versus-region comparison of one question × breakdown."""
    spec_q = pub.spec.question(question)
    keep = set(spec_q.level_codes) - set(spec_q.non_substantive)
    home = home_regions(pub.spec)
    conf = pub.rules.confidence
    out: list[dict[str, Any]] = []

    def add(row: dict[str, Any], bases: dict[Any, int], a: Key, b: Key, **mark: Any) -> None:
        # rows come from ``tested``: a substantive level with a finite p-value
        if min(bases.get(a, 0), bases.get(b, 0)) < floor:
            return
        out.append({**row, **mark})

    def tested(diffs: pl.DataFrame, pairs: list[str] | None = None) -> pl.DataFrame:
        """The rows ``add`` can keep (substantive levels, a finite p-value, and with
        ``pairs`` a country and its own region): the others are never read."""
        kept = pl.col("level").cast(pl.String).is_in(list(keep)) & pl.col("p_value").is_finite()
        if pairs is not None:
            pair = pl.concat_str(pl.col("first").cast(pl.String), pl.col("second").cast(pl.String),
                                 separator="\x00")  # fmt: skip
            kept &= pair.is_in(pairs)
        return diffs.filter(kept)

    cells = pub.cells(question, breakdown).estimates
    waves = [w for w in pub.waves if w in set(cells.to_polars()["wave"].cast(pl.String))]
    for w1, w2 in pairwise(waves):
        est = _without_median(pub.trend(question, [w1, w2], breakdown=breakdown).estimates, pub)
        bases = _bases(est, breakdown)
        diffs = pairwise_differences(est, "wave", adjust="none", confidence=conf)
        for row in tested(diffs).iter_rows(named=True):
            scope, blevel, lv = row["country"], str(row[breakdown]), row["level"]
            later = 1.0 if row["second"] == w2 else -1.0  # first - second, later last
            add(
                row, bases, (scope, w1, blevel, lv), (scope, w2, blevel, lv),
                key=(blevel, question, scope, w2, lv), kind="change", sign=-later,
            )  # fmt: skip
    est = _without_median(cells, pub)
    bases = _bases(est, breakdown)
    diffs = pairwise_differences(est, "country", adjust="none", confidence=conf)
    homes = [f"{c}\x00{r}" for c, r in home.items()] + [f"{r}\x00{c}" for c, r in home.items()]
    for row in tested(diffs, homes).iter_rows(named=True):
        a, b = row["first"], row["second"]
        for country, region, sign in ((a, b, 1.0), (b, a, -1.0)):
            if home.get(country) != region:
                continue
            wave, blevel, lv = str(row["wave"]), str(row[breakdown]), row["level"]
            add(
                row, bases, (country, wave, blevel, lv), (region, wave, blevel, lv),
                key=(blevel, question, country, wave, lv), kind="gap", sign=sign,
                region=region,
            )  # fmt: skip
    return out


def breakdown_marks(pub: Publication, breakdown: str) -> pl.DataFrame:
    """The marks of every question of ``pub`` by ``breakdown`` (see the module
    docstring): one family of tests per breakdown."""
    floor = max(pub.rules.claim_min_base, pub.rules.suppress_below)
    tests = [
        t
        for q in pub.questions
        if (q, breakdown) in pub.by_question
        for t in _tests(pub, q, breakdown, floor)
    ]
    p_adj = adjust_pvalues(np.array([t["p_value"] for t in tests], dtype=float), pub.rules.adjust)
    change: dict[tuple[str, ...], str] = {}
    versus: dict[tuple[str, ...], tuple[str, str]] = {}
    for t, p in zip(tests, p_adj, strict=True):
        if not p < pub.rules.alpha or t["ci_low"] <= 0 <= t["ci_high"]:
            continue
        up = t["sign"] * t["difference"] > 0
        if t["kind"] == "change":
            change[t["key"]] = "up" if up else "down"
        else:
            versus[t["key"]] = ("above" if up else "below", t["region"])
    keys = sorted(set(change) | set(versus))
    rows = [(breakdown, *k, change.get(k), *versus.get(k, (None, None))) for k in keys]
    return pl.DataFrame(rows, schema=list(BREAKDOWN_MARK_COLUMNS), orient="row").cast(
        {c: pl.String for c in BREAKDOWN_MARK_COLUMNS}
    )
