"""The ``Publication``: every estimate a publication prints, computed once, with its marks.

``Poll.publication()`` estimates each question once per breakdown over every country in
scope — one ``Design.proportion(q, by=["country", "wave", *breakdown])`` call — adds the
regions by the one region policy (:mod:`barometer.poll.regions`: members with data in
the cell, covariance kept) and the total by ``publication.total_rule`` (by default the
mean of the countries in each wave × breakdown cell, as a ``mean`` region; or
``population``: every respondent pooled, ``by=["wave", *breakdown]``), and marks
every row under the publication rules (:class:`~barometer.poll.spec.PublicationRules`):
``suppressed`` when its unweighted base is below ``suppress_below`` (no output may print
its estimate), ``flagged`` when below ``flag_below``. Findings, banners, charts, the
report and the explorer read it and nothing else: none of them opens the store.

The result is immutable: a frozen dataclass of frozen parts over read-only mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from barometer.core.estimates import Estimates
from barometer.errors import EstimationError, did_you_mean
from barometer.poll.kinds import distribution, estimate_question, is_scale, quartiles
from barometer.poll.regions import (
    OVER,
    Regional,
    RegionFigure,
    combine,
    with_boundary_ci,
    with_regions,
)
from barometer.poll.sets import SetView, item_gaps, set_view
from barometer.poll.spec import PollSpec, PublicationRules
from barometer.poll.spec_sets import parts

if TYPE_CHECKING:
    from pathlib import Path

    from barometer.core.design import Design
    from barometer.core.models import Model
    from barometer.options import WeightsChoice
    from barometer.poll.poll import Poll

__all__ = [
    "ADDED_COLUMNS",
    "SHARE_COLUMNS",
    "PollFacts",
    "Publication",
    "QuestionCells",
    "build",
    "mark",
]

#: The columns that hold a figure; a suppressed row has them all null in printed output.
SHARE_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "deff")


def mark(table: pl.DataFrame, rules: PublicationRules, blank: bool = False) -> pl.DataFrame:
    """``table`` (with an unweighted base ``n``) with the publication marks: ``suppressed``
    (``n < rules.suppress_below``) and ``flagged`` (``n < rules.flag_below``); with
    ``blank``, the figures of suppressed rows set to null (what every output prints).

    The one place the minimum-base rules are applied."""
    out = table.with_columns(
        suppressed=pl.col("n") < rules.suppress_below,
        flagged=pl.col("n") < rules.flag_below,
    )
    if not blank:
        return out
    hidden = [c for c in SHARE_COLUMNS if c in out.columns]
    return out.with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c) for c in hidden
    )


def scope_columns(table: pl.DataFrame) -> pl.DataFrame:
    """``scope`` (the country or region id), ``scope_kind`` and ``members`` for the rows
    of a table by country (country rows are their own members)."""
    if "scope_kind" not in table.columns:
        table = table.with_columns(
            scope_kind=pl.lit("country"), members=pl.concat_list(pl.col(OVER).cast(pl.String))
        )
    if OVER not in table.columns:
        return table.with_columns(scope=pl.lit("total"))
    return table.with_columns(scope=pl.col(OVER).cast(pl.String))


@dataclass(frozen=True)
class PollFacts:
    """What the store says about the poll beyond its estimates: the bases, fieldwork,
    sources, targets and weighting diagnostics the report's methodology prints."""

    name: str
    path: Path
    weighted: bool
    bases: pl.DataFrame
    fieldwork: pl.DataFrame
    sources: pl.DataFrame
    targets: pl.DataFrame
    diagnostics: pl.DataFrame
    weight_settings: Mapping[str, Any]


@dataclass(frozen=True)
class QuestionCells:
    """One question × breakdown of a publication.

    ``estimates``: the countries' rows, then each region's (each cell's own members),
    by ``country, wave[, breakdown]``, with their covariance (``vcov()``) and the columns
    ``scope``, ``scope_kind``, ``members``, ``missing``, ``base_weighted``,
    ``suppressed`` and ``flagged``; ``total``: by ``wave[, breakdown]``, the mean of the
    countries with respondents in each cell (``total_rule="mean"``, the default) or every
    respondent in scope pooled (``"population"``), with the same marks (the banner Total
    and its breakdown columns across countries); ``regions``: how each
    region was formed. Figures are unblanked here (comparisons need them); printed
    output takes :meth:`rows`. For a numeric question the estimates are means
    (``level`` null), and ``quantiles`` (and for a scale ``distribution``) are held
    beside them; a single-choice question's nets are rows like its levels
    (:mod:`barometer.poll.kinds`).
    """

    question: str
    breakdown: str | None
    estimates: Estimates
    total: Estimates
    regions: tuple[RegionFigure, ...]
    #: a numeric question's quartiles and median by country × wave[, breakdown], marked
    quantiles: Estimates | None = None
    #: a scale's share of each value by country × wave (no breakdown), marked
    distribution: Estimates | None = None

    @property
    def numeric(self) -> bool:
        """True for the cells of a numeric question (means, not shares)."""
        return self.estimates.statistic == "mean"

    def rows(self, blank: bool = True) -> pl.DataFrame:
        """The estimates' table, figures of suppressed rows null (``blank``)."""
        table = self.estimates.to_polars()
        if not blank:
            return table
        hidden = [c for c in SHARE_COLUMNS if c in table.columns]
        return table.with_columns(
            pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c) for c in hidden
        )

    def countries(self) -> Estimates:
        """The countries' rows only."""
        return self.estimates.filter(pl.col("scope_kind") == "country")

    def region(self, rid: str) -> Estimates:
        """Region ``rid``'s rows only (empty when it has no member with data)."""
        return self.estimates.filter(pl.col("scope") == rid)


@dataclass(frozen=True)
class Publication:
    """Every estimate a publication of the poll needs, computed once, and its rules.

    Get one from :meth:`barometer.poll.Poll.publication`. ``cells(question,
    breakdown)`` gives a :class:`QuestionCells`; :meth:`trend` the like-for-like regional
    figures over some waves (computed from the stored country estimates, no new pass
    over the data); ``facts`` what the methodology prints.
    """

    spec: PollSpec
    rules: PublicationRules
    weights: str
    questions: tuple[str, ...]
    countries: tuple[str, ...]
    waves: tuple[str, ...]
    breakdowns: tuple[str | None, ...]
    facts: PollFacts
    by_question: Mapping[tuple[str, str | None], QuestionCells] = field(repr=False)
    notes: tuple[str, ...] = ()
    #: the spec's ``models:`` fitted, by id, in spec order (those that could be fitted)
    models: Mapping[str, Model] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def model(self, mid: str) -> Model:
        """The fitted model ``mid`` of the spec's ``models:`` section."""
        found = self.models.get(mid)
        if found is None:
            known = [m.id for m in self.spec.models]
            why = "it could not be fitted (see notes)" if mid in known else "no such model"
            raise EstimationError(
                f"the publication holds no model {mid!r}: {why}{did_you_mean(mid, known)}"
            )
        return found

    #: the multiple-response questions and grids whose parts it holds, by question id
    sets: Mapping[str, SetView] = field(default_factory=lambda: MappingProxyType({}))
    #: trends without a breakdown formed so far (:meth:`trend`), by question, waves and
    #: regions
    _trends: dict[tuple[object, ...], Regional] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def set_of(self, question: str) -> SetView | None:
        """The multiple-response question or grid that ``question`` (a stored part such
        as ``allies__us``, or the set's own id) belongs to; None for other questions."""
        if question in self.sets:
            return self.sets[question]
        for view in self.sets.values():
            if view.part(question) is not None:
                return view
        return None

    def cells(self, question: str, breakdown: str | None = None) -> QuestionCells:
        """The cells of ``question`` (by ``breakdown``, or by country × wave only)."""
        found = self.by_question.get((question, breakdown))
        if found is not None:
            return found
        if question not in self.questions:
            raise EstimationError(
                f"the publication holds no question {question!r}"
                f"{did_you_mean(question, self.questions)}; questions: "
                f"{', '.join(self.questions)}"
            )
        known = [b for b in self.breakdowns if b is not None]
        raise EstimationError(
            f"the publication holds no breakdown {breakdown!r} of {question!r}"
            f"{did_you_mean(str(breakdown), known)}; ask poll.publication(breakdowns=[...]) "
            f"for it (held: {', '.join(known) or 'none'})"
        )

    def waves_of(self, question: str) -> list[str]:
        """The waves in which ``question`` has respondents, in spec order."""
        seen = set(self.cells(question).estimates["wave"].to_list())
        return [w for w in self.waves if w in seen]

    def absent(self, question: str) -> list[str]:
        """Where ``question`` was not asked, in plain words, one phrase per wave (in spec
        order): ``"not asked in 2024-11"`` when no country answered it in a wave that was
        polled, ``"not asked in 2025-11 in FR, DE"`` when some countries polled then did
        not ask it. A country or wave with no respondents at all is not listed (it was
        not polled, which the fieldwork says)."""
        # the table's country rows, not countries(): no covariance is needed here
        asked = self.cells(question).estimates.to_polars().filter(pl.col("scope_kind") == "country")
        answered = {(str(c), str(w)) for c, w in asked.select("country", "wave").iter_rows()}
        polled = self._polled
        out = []
        for wave in self.waves:
            here = [c for c in self.countries if (c, wave) in polled]
            missing = [c for c in here if (c, wave) not in answered]
            if not missing:
                continue
            if len(missing) == len(here):
                out.append(f"not asked in {wave}")
            else:
                out.append(f"not asked in {wave} in {', '.join(missing)}")
        return out

    def trend(
        self,
        question: str,
        waves: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
        breakdown: str | None = None,
    ) -> Regional:
        """Countries' rows over ``waves`` (default: every wave) with the regions formed
        like for like — from the members with data in every one of those waves.

        Without a breakdown, formed once per question, waves and regions: the findings'
        changes and the report's trends over the same waves read one result (those by a
        breakdown, many and larger, are formed when asked)."""
        base = self.cells(question, breakdown).countries()
        if waves is not None and not set(base.to_polars()["wave"].to_list()) <= set(waves):
            base = base.filter(pl.col("wave").is_in(list(waves)))
        else:  # every wave with rows: the same trend as over all of them
            waves = None
        ids = tuple(regions) if regions is not None else tuple(self.region_ids())
        if breakdown is not None:
            return self._trend(base, ids)
        key = (question, tuple(waves) if waves is not None else None, ids)
        found = self._trends.get(key)
        if found is None:
            found = self._trends[key] = self._trend(base, ids)
        return found

    def _trend(self, base: Estimates, regions: Sequence[str]) -> Regional:
        keep = [c for c in base.to_polars().columns if c not in ADDED_COLUMNS]
        plain = Estimates(
            base.to_polars().select(keep), by=base.by, statistic=base.statistic,
            notes=base.notes, source=base.source, coefficients=base.coefficients,
        )  # fmt: skip
        regional = with_regions(
            plain, self.spec, regions, like_for_like=True, confidence=self.rules.confidence,
            boundary_ci=self.rules.boundary_ci,
        )  # fmt: skip
        return Regional(
            _with_marks(regional.estimates, self.rules, None),
            regional.regions,
            regional.notes,
        )

    @cached_property
    def _polled(self) -> frozenset[tuple[str, str]]:
        return frozenset(_polled_cells(self.facts.bases))

    def region_ids(self) -> list[str]:
        """The spec's regions, in spec order."""
        return [r.id for r in self.spec.regions]


def _polled_cells(bases: pl.DataFrame) -> set[tuple[str, str]]:
    """(country, wave) of every cell with respondents, from the store's bases."""
    if not {"country", "wave"} <= set(bases.columns):
        return set()
    if "n" in bases.columns:
        bases = bases.filter(pl.col("n") > 0)
    return {(str(c), str(w)) for c, w in bases.select("country", "wave").iter_rows()}


#: Columns this module adds to an Estimates table (left out before re-combining).
ADDED_COLUMNS = (
    "scope", "scope_kind", "members", "missing", "base_weighted", "suppressed", "flagged",
    "ci_method",
)  # fmt: skip


def _with_marks(est: Estimates, rules: PublicationRules, wbase: pl.DataFrame | None) -> Estimates:
    """``est`` with scope columns, weighted bases (when given: by the by-columns) and
    marks, its covariance unchanged."""
    table = scope_columns(est.to_polars())
    if wbase is not None:
        table = _join_bases(table, wbase, list(est.by))
    table = mark(table, rules)
    return Estimates(
        table, by=est.by, statistic=est.statistic, families=est.families, rows=est.rows,
        notes=est.notes, source=est.source, coefficients=est.coefficients,
    )  # fmt: skip


def _join_bases(table: pl.DataFrame, wbase: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``base_weighted`` per row: the row's own (a country or the total), or for a region
    the sum of its members' in the same cell."""
    keyed = wbase.with_columns(pl.col(c).cast(pl.String) for c in by)
    lookup = {tuple(r[:-1]): r[-1] for r in keyed.select(*by, "base_weighted").iter_rows()}
    if OVER not in by:
        keys = table.select(pl.col(c).cast(pl.String) for c in by).iter_rows()
        values = [lookup.get(k, 0.0) for k in keys]
        return table.with_columns(base_weighted=pl.Series(values, dtype=pl.Float64))
    others = [c for c in by if c != OVER]
    values = []
    for *rest, members in table.select(
        *(pl.col(c).cast(pl.String) for c in others), "members"
    ).iter_rows():
        cell = dict(zip(others, rest, strict=True))
        values.append(sum(lookup.get(tuple(cell.get(c, m) for c in by), 0.0) for m in members))
    return table.with_columns(base_weighted=pl.Series(values, dtype=pl.Float64))


class _WeightedBases:
    """Sums of weights of the respondents answering each question, per value of a
    ``by`` list (a weighted count: no variance is needed for a base), every question of
    the publication in one grouped pass per ``by`` (the core's ``Design.bases``; one pass
    per question and ``by`` was a pass over every respondent 240 times for 30 questions
    by 4 breakdowns)."""

    def __init__(self, design: Design, questions: Sequence[str]) -> None:
        self._design = design
        self._questions = [q for q in dict.fromkeys(questions) if q in design.columns]
        self._by: dict[tuple[str, ...], pl.DataFrame] = {}

    def of(self, question: str, by: list[str]) -> pl.DataFrame:
        """``by`` columns and ``base_weighted`` of ``question``'s respondents."""
        key = tuple(by)
        if key not in self._by:
            asked = [q for q in self._questions if q not in by]
            self._by[key] = self._design.bases(asked, by)
        # a cell where nobody answers has no row: _join_bases gives it 0.0
        table = self._by[key].filter(pl.col("variable") == question)
        return table.select(*by, base_weighted=pl.col("weight"))


def _question_cells(
    design: Any,
    spec: PollSpec,
    rules: PublicationRules,
    question: str,
    breakdown: str | None,
    bases: _WeightedBases,
) -> QuestionCells:
    """One core call for the countries (and one for a pooled total); regions, the total
    and marks; a numeric question's quartiles (and a scale's distribution) beside them."""
    asked = spec.question(question)
    extra = [breakdown] if breakdown else []
    by = [OVER, "wave", *extra]
    quantiles = distribution_ = None
    if asked.is_numeric:  # first: a scale's mean and distribution read what they keep
        quantiles = _with_marks(quartiles(design, asked, by, rules.confidence), rules, None)
    est = estimate_question(design, asked, by, rules.confidence)
    regional = with_regions(est, spec, confidence=rules.confidence, boundary_ci=rules.boundary_ci)
    stacked = _with_marks(regional.estimates, rules, bases.of(question, by))
    stacked = _boundary_ci(stacked, rules)
    pooled_by = ["wave", *extra]
    if rules.total_rule == "mean":
        total = _mean_total(est, spec, rules, pooled_by)
    else:
        total = _scoped_total(estimate_question(design, asked, pooled_by, rules.confidence))
    total = _with_marks(total, rules, bases.of(question, pooled_by))
    total = _boundary_ci(total, rules)
    if asked.is_numeric and is_scale(asked) and breakdown is None:
        shares = distribution(design, asked, by, rules.confidence)
        distribution_ = _with_marks(shares, rules, None)
    return QuestionCells(
        question, breakdown, stacked, total, regional.regions, quantiles, distribution_
    )


def _mean_total(
    est: Estimates, spec: PollSpec, rules: PublicationRules, pooled_by: list[str]
) -> Estimates:
    """The total under ``total_rule="mean"``: in each cell (wave × breakdown level) the
    simple average of the countries with respondents there — each counts equally, as in
    a ``mean`` region, and by the same combination
    (:func:`barometer.poll.regions.combine`: covariance from the countries', the
    boundary rule at 0 and 1); its ``n`` and weighted base are the countries' summed."""
    members = est.to_polars().get_column(OVER).cast(pl.String).unique(maintain_order=True)
    combined = combine(
        est, members.to_list(), "total", "mean", spec, rules.confidence, rules.boundary_ci
    )
    table = combined.to_polars().drop(OVER).with_columns(scope_kind=pl.lit("total"))
    return Estimates(
        table, by=tuple(pooled_by), statistic=combined.statistic, notes=combined.notes,
        source=combined.source, coefficients=combined.coefficients,
    )  # fmt: skip


def _boundary_ci(est: Estimates, rules: PublicationRules) -> Estimates:
    """``est`` with a ``ci_method`` column: a share's (level's or net's) at exactly 0 or 1
    gets the interval of ``rules.boundary_ci``
    (:func:`barometer.poll.regions.with_boundary_ci`, the one rule); a mean's rows are
    all ``"wald"``."""
    table = est.to_polars()
    if est.statistic == "mean":
        return _replaced(est, table.with_columns(ci_method=pl.lit("wald")))
    return _replaced(est, with_boundary_ci(table, rules.boundary_ci, rules.confidence))


def _replaced(est: Estimates, table: pl.DataFrame) -> Estimates:
    """``est`` with its table replaced (same rows, same covariance)."""
    return Estimates(
        table, by=est.by, statistic=est.statistic, families=est.families, rows=est.rows,
        notes=est.notes, source=est.source, coefficients=est.coefficients,
    )  # fmt: skip


def _scoped_total(total: Estimates) -> Estimates:
    """The pooled total with ``scope_kind="total"`` (no country column)."""
    table = total.to_polars().with_columns(
        scope_kind=pl.lit("total"), members=pl.lit(None, dtype=pl.List(pl.String))
    )
    return Estimates(
        table, by=total.by, statistic=total.statistic, families=total.families,
        rows=total.rows, notes=total.notes, source=total.source,
        coefficients=total.coefficients,
    )  # fmt: skip


def _scoped_facts(facts: PollFacts, countries: Sequence[str], waves: Sequence[str]) -> PollFacts:
    """``facts`` restricted to the publication's countries and waves (a row without a
    country, e.g. a source holding several, or without a wave, e.g. a target for every
    wave, is kept when the rest of it is in scope), so the methodology describes what
    was published."""

    def scoped(table: pl.DataFrame) -> pl.DataFrame:
        keep = pl.lit(True)
        for column, values in (("country", countries), ("wave", waves)):
            if column in table.columns:
                value = pl.col(column).cast(pl.String)
                keep &= value.is_null() | value.is_in(list(values))
        return table.filter(keep)

    return replace(
        facts,
        bases=scoped(facts.bases),
        fieldwork=scoped(facts.fieldwork),
        sources=scoped(facts.sources),
        targets=scoped(facts.targets),
        diagnostics=scoped(facts.diagnostics),
    )


def _checked(given: Sequence[str] | None, known: list[str], what: str) -> list[str]:
    if given is None:
        return list(known)
    for name in given:
        if name not in known:
            raise EstimationError(
                f"publication: no {what} {name!r} in the poll{did_you_mean(name, known)}"
            )
    return list(given)


def build(
    poll: Poll,
    questions: Sequence[str] | None = None,
    countries: Sequence[str] | None = None,
    waves: Sequence[str] | None = None,
    breakdowns: Sequence[str | None] | None = None,
    rules: PublicationRules | None = None,
    weights: WeightsChoice = "raked",
) -> Publication:
    """The publication of ``poll`` (see :meth:`barometer.poll.Poll.publication`)."""
    spec = poll.spec
    rules = rules if rules is not None else spec.publication
    stored = spec.stored_questions()
    if questions is not None:  # a multiple-response question or grid stands for its parts
        sets = {q.id: [p.id for p in parts(q)] for q in spec.questions}
        questions = [x for q in questions for x in sets.get(q, [q])]
    asked = [q.id for q in stored if q.kind in ("question", "numeric")]
    qids = _checked(questions, [q.id for q in stored], "question")
    if questions is None:
        qids = asked
    codes = _checked(countries, [c.code for c in spec.countries], "country")
    wave_ids = _checked(waves, [w.id for w in spec.waves], "wave")
    chosen = _breakdowns(spec, breakdowns, [q.id for q in stored])
    design = poll.design(
        weights,
        list(countries) if countries is not None else None,
        list(waves) if waves is not None else None,
    )
    scope = " and ".join(
        f"{what} {', '.join(chosen)}"
        for what, chosen in (("countries", countries), ("waves", waves))
        if chosen is not None
    )
    notes: list[str] = []
    # every column the cells read, made at once (a design forms its columns on demand)
    design.load([*qids, *(b for b in chosen if b is not None)])
    cells = _every_cell(poll, design, rules, qids, chosen, scope, notes)
    held = tuple(q for q in qids if (q, None) in cells)
    models = _fit_models(poll, codes, wave_ids, countries, waves, weights, notes)
    return Publication(
        spec=spec,
        rules=rules,
        weights=weights,
        questions=held,
        countries=tuple(codes),
        waves=tuple(wave_ids),
        breakdowns=tuple(chosen),
        facts=_scoped_facts(poll.facts(), codes, wave_ids),
        by_question=MappingProxyType(cells),
        notes=tuple(notes),
        sets=MappingProxyType(_sets(design, spec, rules, set(held))),
        models=MappingProxyType(models),
    )


def _breakdowns(
    spec: PollSpec, breakdowns: Sequence[str | None] | None, stored: list[str]
) -> list[str | None]:
    """The breakdowns of a publication: none (country × wave) first, then each named
    one — a stored question with levels (a numeric one must be banded first)."""
    chosen = [None, *(b for b in (breakdowns or ()) if b is not None)]
    _checked([b for b in chosen if b is not None], stored, "breakdown")
    for b in chosen:
        if b is not None and spec.question(b).is_numeric:
            raise EstimationError(
                f"publication: breakdown {b!r} is numeric; band it into levels with a "
                "recode (docs/spec.md) and break down by that question"
            )
    return chosen


def _every_cell(
    poll: Poll,
    design: Design,
    rules: PublicationRules,
    qids: list[str],
    chosen: list[str | None],
    scope: str,
    notes: list[str],
) -> dict[tuple[str, str | None], QuestionCells]:
    """The cells of every question by every breakdown; a question nobody answers in
    the publication's ``scope`` is left out with a note in ``notes`` saying why."""
    present = set(design.columns)
    mapped: set[str] | None = None  # read from the store only to say why one is left out
    cells: dict[tuple[str, str | None], QuestionCells] = {}
    bases = _WeightedBases(design, qids)
    for qid in qids:
        if qid not in present or design.bases(qid).height == 0:
            if mapped is None:
                mapped = set(poll.store.column_quality().get_column("question").to_list())
            if qid not in mapped:
                why = " (no source maps it)"
            elif scope:
                why = f" in {scope} (not asked there)"
            else:
                why = " (every answer is missing)"
            notes.append(f"{qid}: no respondent answers it{why}; left out")
            continue
        for b in chosen:
            if b is not None and (b == qid or b not in present):
                continue
            found = _question_cells(design, poll.spec, rules, qid, b, bases)
            if found.estimates.to_polars().height or b is None:
                cells[(qid, b)] = found
    return cells


def _fit_models(
    poll: Poll,
    codes: list[str],
    wave_ids: list[str],
    countries: Sequence[str] | None,
    waves: Sequence[str] | None,
    weights: WeightsChoice,
    notes: list[str],
) -> dict[str, Model]:
    """The spec's models, each by ``Poll.glm`` over its countries and waves within the
    publication's; one that cannot be fitted (a perfectly separated response in this
    scope, say) is left out with a note naming the reason, as a question without
    respondents is."""
    fitted: dict[str, Model] = {}
    for declared in poll.spec.models:
        scope_c = [c for c in (declared.countries or codes) if c in codes]
        scope_w = [w for w in (declared.waves or wave_ids) if w in wave_ids]
        if not scope_c or not scope_w:
            notes.append(f"model {declared.id}: none of its countries or waves is published")
            continue
        # the publication's own scope reuses its design (no second raking)
        whole = declared.countries is None and declared.waves is None
        try:
            fitted[declared.id] = poll.glm(
                declared.formula,
                family=declared.family,
                countries=countries if whole else scope_c,
                waves=waves if whole else scope_w,
                weights=weights,
            )
        except EstimationError as exc:
            notes.append(f"model {declared.id}: {exc}; left out")
    return fitted


def _sets(
    design: Any, spec: PollSpec, rules: PublicationRules, held: set[str]
) -> dict[str, SetView]:
    """The set views of the multiple-response questions and grids with parts held; a
    grid's item-versus-item differences by country × wave (one core call), marked on
    their joint base."""
    out = {}
    for q in spec.questions:
        if q.kind not in ("multiple", "grid") or not held & {p.id for p in parts(q)}:
            continue  # (a grid's gaps are a core call: not for a publication without it)
        gaps = None
        if q.kind == "grid":
            gaps = mark(item_gaps(design, q, [OVER, "wave"], rules.confidence), rules)
        view = set_view(q, held, gaps)
        if view is not None:
            out[q.id] = view
    return out
