"""Regions: the one policy by which a poll's countries are combined into regional figures.

Every output that prints a regional figure — ``Poll.estimate(region=...)``, the
``Publication`` (and through it findings, banners, the report and the explorer) — forms
it here, by the same rules:

* **members with data**: a region's figure in a cell (question × wave × breakdown level)
  combines the members that have respondents there; the members combined are always
  listed (``members``) and the members left out are named (``missing``) — a member is
  never dropped silently and never makes the region fail;
* **like for like across waves**: a regional trend (or change) combines only the
  members with data in every wave compared, and says who was left out; figures for one
  wave use that wave's own members;
* **rule** from the spec: ``mean`` (each member counts equally), ``population`` (members
  weighted by adult population) or ``median``;
* **covariance kept**: a region's rows are linear combinations of its members' rows
  (the core's :meth:`~barometer.core.estimates.Estimates.combine`), stacked under the
  country rows in one :class:`~barometer.core.estimates.Estimates` whose ``vcov()``
  covers both — so a region can be compared with a non-member country and with one of
  its own members (the part–whole case, where the member's share of the region enters
  through the covariance) by :func:`barometer.core.comparisons.difference` or
  :func:`~barometer.core.comparisons.pairwise_differences`.

For the median rule the coefficients pick the middle member(s) given the ranking of the
estimates (an approximation conditional on that ranking, as the core documents).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from barometer.core.estimates import Estimates
from barometer.core.intervals import boundary_interval
from barometer.options import CIMethod, CombineRule
from barometer.poll.spec import PollSpec, Region

__all__ = [
    "OVER",
    "RegionFigure",
    "Regional",
    "at_boundary",
    "combine",
    "dominance_note",
    "dominance_notes",
    "dominant_members",
    "member_shares",
    "members_phrase",
    "rule_words",
    "with_boundary_ci",
    "with_regions",
]

#: The by-column regions combine over.
OVER = "country"

#: How near 0 or 1 a share is at the boundary: rounding only (a net, a sum of levels'
#: shares, of every answer given is 1 - 2e-16), far below any share a sample can give.
EDGE = 1e-12


def at_boundary(shares: np.ndarray) -> np.ndarray:
    """The boundary each share is at: ``0.0`` or ``1.0`` within :data:`EDGE` (a rounding
    of a sum), NaN for a share inside (0, 1) — the one test of "exactly 0 or 1" behind
    every boundary interval of the publication (a country's, a total's, a region's)."""
    p = np.asarray(shares, dtype=float)
    return np.where(np.abs(p) <= EDGE, 0.0, np.where(np.abs(1 - p) <= EDGE, 1.0, np.nan))


@dataclass(frozen=True)
class RegionFigure:
    """How one region's figures in a table were formed.

    ``members``: the members combined (those with data; in like-for-like mode, those
    with data in every wave of the table), in spec order; ``missing``: the region's
    other members, left out; ``waves``: the waves of the table (empty without a wave
    column); ``note``: the sentence outputs print about it.
    """

    region: str
    name: str
    rule: str
    members: tuple[str, ...]
    missing: tuple[str, ...]
    waves: tuple[str, ...]
    like_for_like: bool
    note: str


@dataclass(frozen=True)
class Regional:
    """Countries' estimates with regions added: the country rows first, then each
    region's rows; ``estimates.vcov()`` covers every row.

    The table gains ``scope_kind`` (``"country"`` or ``"region"``), ``members`` (the
    countries behind each row: the country itself, or the region's members with data in
    that cell), ``missing`` (the region's members left out of that cell) and
    ``ci_method`` (a region's: ``"wald"`` or, at the boundary, the ``boundary_ci`` of
    :func:`combine`; null on country rows, whose interval is the one they came with).
    """

    estimates: Estimates
    regions: tuple[RegionFigure, ...]
    notes: tuple[str, ...]

    def region_rows(self) -> Estimates:
        """Only the regions' rows (their covariance kept)."""
        return self.estimates.filter(pl.col("scope_kind") == "region")

    def figure(self, region: str) -> RegionFigure | None:
        """How ``region`` was formed here (None when it has no member with data)."""
        return next((f for f in self.regions if f.region == region), None)


def members_phrase(members: Sequence[str] | int) -> str:
    """``"1 member"``, ``"3 members"`` (of a list, or of a count)."""
    k = members if isinstance(members, int) else len(members)
    return f"{k} member" if k == 1 else f"{k} members"


def rule_words(rule: str) -> str:
    """How a region's combining rule reads: ``average``, ``population-weighted average``
    or ``median``."""
    return {"mean": "average", "median": "median"}.get(rule, "population-weighted average")


def dominance_note(
    spec: PollSpec, region: str, members: Sequence[str], max_share: float
) -> str | None:
    """The sentence outputs print beside a figure of ``region`` over ``members`` that is
    mostly one member (:func:`dominant_members`), or None."""
    found = dominant_members(spec, region, members, max_share)
    if not found:
        return None
    names = {c.code: c.name for c in spec.countries}
    r = spec.region(region)
    who = names.get(found[0], found[0])
    share = member_shares(spec, region, members)[found[0]]
    rule = rule_words(r.rule)
    return (
        f"{who} makes {share:.0%} of {r.name or r.id} ({'an' if rule[0] in 'aeiou' else 'a'} "
        f"{rule}; "
        f"publication.max_member_share is {max_share:.0%}): the region's figure is mostly "
        f"{who}'s, and findings do not compare the two"
    )


def dominance_notes(
    spec: PollSpec, region: str, rows: Estimates, max_share: float
) -> tuple[str, ...]:
    """``"wave: note"`` for each wave of ``rows`` (figures of ``region``, with their
    ``members``) whose figure is mostly one member (:func:`dominance_note`): what the
    report prints under a region's rows, whatever the question's kind."""
    notes = []
    table = rows.to_polars()
    for wave, members in table.select("wave", "members").unique("wave", maintain_order=True).rows():
        note = dominance_note(spec, region, members, max_share)
        if note:
            notes.append(f"{wave}: {note}")
    return tuple(notes)


def _population_weights(spec: PollSpec, members: Sequence[str]) -> dict[str, float]:
    """The members' adult populations (one number per country: the latest wave's when
    given per wave), the weights of a ``population`` region."""
    population = {c.code: c.population_in() for c in spec.countries}
    return {m: float(population.get(m) or 0.0) for m in members}


def member_shares(spec: PollSpec, region: str, members: Sequence[str]) -> dict[str, float]:
    """Each member's weight in ``region``'s figure when it combines ``members`` (a cell's
    members with data): ``1/k`` for a ``mean`` region, its population's share for a
    ``population`` one — the coefficients :meth:`Estimates.combine` gives them. A
    ``median`` region counts as a mean here (which member is the median depends on the
    estimates, not on the region)."""
    used = list(members)
    if not used:
        return {}
    if spec.region(region).rule == "population":
        pops = _population_weights(spec, used)
        total = sum(pops.values())
        if total > 0:
            return {m: pops[m] / total for m in used}
    return {m: 1.0 / len(used) for m in used}


def dominant_members(
    spec: PollSpec, region: str, members: Sequence[str], max_share: float
) -> tuple[str, ...]:
    """The members whose weight in ``region``'s figure over ``members`` is above
    ``max_share`` (the publication rule ``max_member_share``): the region is then mostly
    that member, so no output reports a gap between the two, and banners flag the
    region's column. The one home of that rule."""
    shares = member_shares(spec, region, members)
    return tuple(m for m in members if shares[m] > max_share)


def combine(
    estimates: Estimates,
    members: Sequence[str],
    name: str,
    rule: CombineRule,
    spec: PollSpec,
    confidence: float = 0.95,
    boundary_ci: CIMethod = "beta",
) -> Estimates:
    """``members``' rows of ``estimates`` (by ``country``) combined by ``rule`` into
    ``name`` (:meth:`Estimates.combine`, population weights from ``spec``), with a
    ``ci_method`` column: ``"wald"``, the combination's normal interval, or
    ``boundary_ci`` where every member combined is at the same boundary (all 0 or all 1).

    There the combined share has no variance and a Wald interval is the point (a
    published "100% ± 0"), so it gets the interval the core gives a country at the
    boundary (:func:`barometer.core.intervals.boundary_interval`: by default the
    Clopper-Pearson interval, as R ``binom.test``) with the effective sample size of
    the combination, ``n* = 1 / sum_k (c_k^2 / n_k)`` — the size of a simple random
    sample whose share has the variance ``p (1 - p) sum_k c_k^2 / n_k`` of ``sum_k c_k
    p_k`` over independent samples of sizes ``n_k`` (Kish 1965, sec. 11.7); for a mean
    of ``k`` members of equal size ``n`` it is ``k n``. Its estimate is then set to the
    boundary exactly (the weighted sum can miss it by a rounding)."""
    weights = _population_weights(spec, members) if rule == "population" else None
    out = estimates.combine(OVER, members, name, rule=rule, weights=weights, confidence=confidence)
    coef = out.coefficients
    assert coef is not None
    theta = estimates.to_polars().get_column("estimate").to_numpy().astype(float)
    size = estimates.to_polars().get_column("n").to_numpy().astype(float)
    table = out.to_polars()
    est = table.get_column("estimate").to_numpy().astype(float).copy()
    low = table.get_column("ci_low").to_numpy().astype(float).copy()
    high = table.get_column("ci_high").to_numpy().astype(float).copy()
    edge, at, n_eff = [], [], []
    for g in range(coef.shape[0]):
        used = coef[g] != 0
        values = at_boundary(theta[used])
        if values.size and (np.all(values == 0) or np.all(values == 1)):
            edge.append(g)
            at.append(values[0])
            n_eff.append(1.0 / np.sum(coef[g, used] ** 2 / size[used]))
    methods = np.full(est.size, "wald", dtype=object)
    if edge:
        rows = np.asarray(edge)
        est[rows] = at
        low[rows], high[rows] = boundary_interval(
            np.asarray(at), np.asarray(n_eff), boundary_ci, confidence
        )
        methods[rows] = boundary_ci
    table = table.with_columns(
        estimate=pl.Series(est),
        ci_low=pl.Series(low),
        ci_high=pl.Series(high),
        ci_method=pl.Series(methods.tolist(), dtype=pl.String),
    )
    return Estimates(
        table, by=out.by, statistic=out.statistic, notes=out.notes, source=out.source,
        coefficients=coef,
    )  # fmt: skip


def with_boundary_ci(
    table: pl.DataFrame, method: CIMethod, confidence: float, inside: str = "wald"
) -> pl.DataFrame:
    """``table`` (shares: ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``n``) with a
    ``ci_method`` column: ``inside`` (the method its intervals were made by), or at a
    share of exactly 0 or 1 of a country or a pooled total — a level or a net alike (no
    variance: a Wald interval is the point, a published "100% ± 0") — the interval of
    ``method`` at the domain's unweighted count ``n``
    (:func:`barometer.core.intervals.boundary_interval`, the very interval the core's
    ``proportion(ci=method)`` gives a level there): for ``beta``, Korn and Graubard's
    Clopper-Pearson interval, which at 0 and 1 is the exact interval of ``n``
    observations (R ``svyciprop(method = "beta")`` gives NaN there;
    tests/reference/make_boundary.R). Rows with a ``ci_method`` already are
    combinations (a region, a mean total: :func:`combine`) and keep theirs. A net is a
    sum of levels' shares, so one of every answer given can miss 1 by a rounding: it is
    set to the boundary (:func:`at_boundary`), its SE to 0, as a region's is."""
    if "ci_method" not in table.columns:
        table = table.with_columns(ci_method=pl.lit(None, dtype=pl.String))
    if "estimate" not in table.columns:  # nothing estimated (nobody answered in scope)
        return table.with_columns(pl.col("ci_method").fill_null(inside))
    p = table.get_column("estimate").to_numpy().astype(float)
    at = at_boundary(p)
    edge = ~np.isnan(at) & table.get_column("ci_method").is_null().to_numpy()
    table = table.with_columns(pl.col("ci_method").fill_null(inside))
    if not edge.any():
        return table
    p = np.where(edge, at, p)
    se = np.where(edge, 0.0, table.get_column("se").to_numpy().astype(float))
    low = table.get_column("ci_low").to_numpy().astype(float).copy()
    high = table.get_column("ci_high").to_numpy().astype(float).copy()
    count = table.get_column("n").to_numpy().astype(float)
    low[edge], high[edge] = boundary_interval(p[edge], count[edge], method, confidence)
    methods = np.where(edge, method, table.get_column("ci_method").to_numpy())
    return table.with_columns(
        estimate=pl.Series(p, dtype=pl.Float64),
        se=pl.Series(se, dtype=pl.Float64),
        ci_low=pl.Series(low, dtype=pl.Float64),
        ci_high=pl.Series(high, dtype=pl.Float64),
        ci_method=pl.Series(methods.tolist(), dtype=pl.String),
    )


def _presence(table: pl.DataFrame) -> dict[str, set[str]]:
    """wave -> the countries with rows in it ("" when the table has no wave column)."""
    if "wave" not in table.columns:
        return {"": set(table.get_column(OVER).cast(pl.String).to_list())}
    pairs = table.select(pl.col("wave").cast(pl.String), pl.col(OVER).cast(pl.String)).unique()
    out: dict[str, set[str]] = {}
    for wave, country in pairs.iter_rows():
        out.setdefault(wave, set()).add(country)
    return out


def _figure(
    region: Region,
    present: dict[str, set[str]],
    wave_order: Sequence[str],
    like_for_like: bool,
    countries: Sequence[str] | None,
) -> RegionFigure:
    """Which members a region combines in a table with ``present`` countries per wave."""
    waves = [w for w in wave_order if w in present] + sorted(set(present) - set(wave_order))
    waves = [w for w in waves if w]
    eligible = [m for m in region.members if countries is None or m in countries]
    anywhere = set().union(*present.values()) if present else set()
    if like_for_like:
        everywhere = set.intersection(*present.values()) if present else set()
        members = [m for m in eligible if m in everywhere]
    else:
        members = [m for m in eligible if m in anywhere]
    missing = tuple(m for m in region.members if m not in members)
    head = f"{region.name or region.id} ({region.rule} rule)"
    if like_for_like and len(waves) > 1:
        note = (
            f"{head}: like-for-like over waves {', '.join(waves)}: the {members_phrase(members)} "
            f"polled in every wave ({', '.join(members)})"
        )
        partly = [m for m in eligible if m in anywhere and m not in members]
        if partly:
            note += f"; left out, not polled (or not asked) in every wave: {', '.join(partly)}"
    elif len(waves) > 1:
        note = f"{head}: each wave's own polled members"
    else:
        note = f"{head}: the {members_phrase(members)} polled ({', '.join(members)})"
    absent = [m for m in eligible if m not in anywhere]
    if absent:
        note += f"; no data (not polled, or not asked) for {', '.join(absent)}"
    return RegionFigure(
        region.id, region.name, region.rule, tuple(members), missing, tuple(waves),
        like_for_like, note,
    )  # fmt: skip


def with_regions(
    estimates: Estimates,
    spec: PollSpec,
    regions: Sequence[str] | None = None,
    *,
    like_for_like: bool = False,
    countries: Sequence[str] | None = None,
    confidence: float = 0.95,
    boundary_ci: CIMethod = "beta",
) -> Regional:
    """``estimates`` (by ``country``, and optionally ``wave`` and a breakdown) with the
    spec's ``regions`` (default: all) added under the policy of this module.

    Parameters
    ----------
    estimates : Estimates
        Country rows of one variable from one design (e.g. ``Design.proportion(q,
        by=["country", "wave"])``), rows without respondents already left out.
    spec : PollSpec
        Gives each region's members, rule and (for ``population``) the members'
        populations.
    regions : list of str, optional
        Region ids (default: every region of the spec).
    like_for_like : bool
        Combine only the members with data in every wave of ``estimates`` (for trends
        and changes); otherwise each cell combines the members with data in it.
    countries : list of str, optional
        Restrict regions to these members.
    confidence : float
        Confidence level of the regions' intervals.
    boundary_ci : str
        The interval of a region whose members are all at 0 (or all at 1): see
        :func:`combine` (the publication rule ``boundary_ci``).

    Returns
    -------
    Regional
        A region none of whose members has data is left out, its figure's note saying
        so (``Regional.figure`` gives None for it).
    """
    table = estimates.to_polars()
    present = _presence(table)
    order = [w.id for w in spec.waves]
    ids = list(regions) if regions is not None else [r.id for r in spec.regions]
    k = table.height
    coefficients = [np.eye(k)]
    tables = [
        table.with_columns(
            scope_kind=pl.lit("country"),
            members=pl.concat_list(pl.col(OVER).cast(pl.String)),
            missing=pl.lit([], dtype=pl.List(pl.String)),
            ci_method=pl.lit(None, dtype=pl.String),
        )
    ]
    figures, notes = [], list(estimates.notes)
    for rid in ids:
        region = spec.region(rid)
        fig = _figure(region, present, order, like_for_like, countries)
        notes.append(fig.note)
        if not fig.members:
            continue
        figures.append(fig)
        combined = combine(estimates, fig.members, rid, region.rule, spec, confidence, boundary_ci)
        assert combined.coefficients is not None
        coefficients.append(combined.coefficients)
        part = combined.to_polars().with_columns(pl.col(OVER).cast(table.schema[OVER]))
        missing = [
            [m for m in region.members if m not in set(who)]
            for who in part.get_column("members").to_list()
        ]
        tables.append(
            part.with_columns(
                scope_kind=pl.lit("region"),
                missing=pl.Series(missing, dtype=pl.List(pl.String)),
            )
        )
    columns = [*table.columns, "scope_kind", "members", "missing", "ci_method"]
    stacked = pl.concat([t.select(columns) for t in tables], how="vertical_relaxed")
    out = Estimates(
        stacked,
        by=estimates.by,
        statistic=estimates.statistic,
        notes=tuple(dict.fromkeys(notes)),
        source=estimates,
        coefficients=np.vstack(coefficients),
    )
    return Regional(out, tuple(figures), tuple(dict.fromkeys(notes)))
