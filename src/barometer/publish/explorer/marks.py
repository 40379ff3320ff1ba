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
a non-substantive answer such as "don't know"). Breakdown cells carry no marks: the
findings do not test breakdowns, and a mark of the hub is a finding of the report.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from barometer.poll.publication import Publication
from barometer.poll.spec import PollSpec
from barometer.publish.findings.find import Finding, find

__all__ = ["MARK_COLUMNS", "home_regions", "marks", "marks_of"]

#: The key and mark columns of :func:`marks`.
MARK_COLUMNS = ("question", "scope", "wave", "level", "change_mark", "region_mark", "mark_region")


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
    change: dict[tuple[str, str, str, str], str] = {}
    versus: dict[tuple[str, str, str, str], tuple[str, str]] = {}
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
