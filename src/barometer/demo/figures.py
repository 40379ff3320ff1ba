"""The figures published for the poll the demo simulates, and the demo's headline view.

The demo's populations are set so that a correct pipeline recovers these figures within
their margins of error (../shared/SEED-FACTS.md); :func:`headline` puts each estimate
beside the published value and says whether the value falls inside its 95% interval. It
reads the publication the demo writes (:meth:`barometer.poll.Poll.publication`), so its
figures are the report's and the findings', computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from barometer.poll.publication import Publication

#: Figures published for the poll the demo simulates (../shared/SEED-FACTS.md):
#: (population, question, level, wave) -> share.
PUBLISHED: dict[tuple[str, str, str, str], float] = {
    ("EU", "us_relationship", "ally", "2024-11"): 0.21,
    ("EU", "us_relationship", "ally", "2025-11"): 0.16,
    ("EU", "us_relationship", "partner", "2025-11"): 0.51,
    ("EU", "us_relationship", "rival", "2025-11"): 0.12,
    ("EU", "us_relationship", "adversary", "2025-11"): 0.08,
    ("EU", "us_relationship", "dont_know", "2025-11"): 0.13,
    ("KR", "us_relationship", "ally", "2025-11"): 0.41,
    ("KR", "us_relationship", "partner", "2025-11"): 0.48,
    ("KR", "us_relations_outlook", "remain_strong", "2025-11"): 0.42,
    ("KR", "us_relations_outlook", "stronger", "2025-11"): 0.30,
}

#: The demo's extra banner tables: (question, breakdowns, country) for South Korea.
DEMO_BANNERS: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    (q, ("age", "gender", "education"), "KR") for q in ("us_relationship", "us_relations_outlook")
)


@dataclass(frozen=True)
class HeadlineTable:
    """One table of the headline: estimates beside the published figures."""

    title: str
    frame: pl.DataFrame
    #: shares shown as percentages (a mean of a numeric question as it is)
    percent: bool = True


def _points(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _table(frame: pl.DataFrame, population: str, title: str) -> HeadlineTable:
    import polars as pl

    published = [
        PUBLISHED.get((population, r["variable"], r["level"], r["wave"]))
        for r in frame.iter_rows(named=True)
    ]
    moe = (frame["ci_high"] - frame["ci_low"]) / 2
    cols = ["wave", "level", "estimate", "ci_low", "ci_high", "n"]
    inside = [
        "" if p is None else ("yes" if lo <= p <= hi else "NO")
        for p, lo, hi in zip(published, frame["ci_low"], frame["ci_high"], strict=True)
    ]
    shown = frame.select(cols).with_columns(
        pl.Series("± pts", [f"{100 * m:.1f}" for m in moe]),
        pl.Series("published %", [_points(p) for p in published]),
        pl.Series("in interval", inside),
    )
    return HeadlineTable(title, shown)


def headline(pub: Publication) -> list[HeadlineTable | str]:
    """The demo's headline, read from its publication: its tables and lines of text, in
    the order they print. The EU rows are the publication's region (each wave's own
    members with data: ``poll.estimate(..., region="EU", like_for_like=False)``) and its
    like-for-like trend (:meth:`~barometer.poll.publication.Publication.trend`)."""
    import polars as pl

    out: list[HeadlineTable | str] = []
    eu = pub.cells("us_relationship").region("EU").to_polars()
    out.append(
        _table(eu, "EU", "Europeans (mean of the EU countries polled in each wave): the US is ...")
    )
    for wave, members in eu.select("wave", "members").unique("wave").sort("wave").rows():
        out.append(f"  EU {wave}: {len(members)} countries ({', '.join(members)})")
    trend = _like_for_like(pub, "us_relationship")
    ally = trend.filter(pl.col("level") == "ally")
    if ally.height == 2:
        a, b = ally.rows(named=True)
        out.append(
            f"  Like-for-like ({len(a['members'])} countries polled in both waves): ally "
            f"{_points(a['estimate'])}% → {_points(b['estimate'])}%\n"
        )
    for question, title in (
        ("us_relationship", "South Koreans: the US is ..."),
        ("us_relations_outlook", "South Koreans: relations with the US will ..."),
    ):
        kr = pub.cells(question).countries().to_polars().filter(pl.col("country") == "KR")
        out.append(_table(kr, "KR", title))
    out.append(_scale_table(pub))
    out.append("Shares in %, 95% intervals (design-based, after raking each country × wave).")
    return out


def _like_for_like(pub: Publication, question: str) -> pl.DataFrame:
    """The EU's rows of ``question`` over every wave, from the members polled in all of
    them, by wave."""
    # (a trend of the one region: its rows are the EU's)
    return (
        pub.trend(question, regions=["EU"])
        .region_rows()
        .to_polars()
        .sort("wave", maintain_order=True)
    )


def _scale_table(pub: Publication) -> HeadlineTable:
    """The EU average of the 0-10 trust scale, like for like, beside the simulated
    population's (the demo's truth: no figure was published for it) and how many
    standard errors apart they are."""
    import polars as pl

    from barometer.demo.scales import SCALE, population_mean

    est = _like_for_like(pub, SCALE.id)
    truth = [
        sum(population_mean(c, w) for c in members) / len(members)
        for w, members in est.select("wave", "members").iter_rows()
    ]
    # No figure was published for the scale, so there is no interval check to pass: the
    # simulated population's mean is shown beside the estimate (a 95% interval misses it
    # one time in twenty), with the difference in standard errors.
    frame = est.select("wave", "estimate", "ci_low", "ci_high", "n").with_columns(
        pl.Series("population (simulated)", [round(t, 3) for t in truth]),
        pl.Series(
            "difference in SEs",
            [round((e - t) / se, 1) for e, t, se in zip(est["estimate"], truth, est["se"],
                                                        strict=True)],
        ),
    )  # fmt: skip
    title = f"Europeans (like for like): {SCALE.finding_label}, mean on the 0-{SCALE.high} scale"
    return HeadlineTable(title, frame, percent=False)
