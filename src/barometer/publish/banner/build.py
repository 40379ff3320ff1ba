"""Building a banner table: a question's shares by each banner, bases, flags and letters.

The numbers come from a poll's :class:`~barometer.poll.publication.Publication` (the
countries' cells when the banner is ``country`` or a country is fixed, else the
publication's total, by its ``total_rule``; by a breakdown the publication holds; its
rules' thresholds) or from a core ``Design`` (``Design.proportion`` by the banner; bases
from ``Estimates.n`` and ``Design.total``); the letters from
:func:`barometer.core.comparisons.pairwise_differences`. The table and its writers are in
:mod:`barometer.publish.banner.tables`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from barometer.core.comparisons import pairwise_differences
from barometer.core.estimates import Estimates
from barometer.errors import EstimationError, did_you_mean
from barometer.options import PAdjustMethod, check_option
from barometer.poll.publication import Publication
from barometer.poll.regions import dominance_note
from barometer.poll.spec import PublicationRules
from barometer.publish.banner.tables import LETTER_LEVELS, TOTAL, BannerColumn, BannerTable

if TYPE_CHECKING:
    from barometer.core.design import Design

__all__ = ["banner", "banner_tables", "unasked"]

#: A banner's estimates and weighted bases: ``(Estimates restricted to the domain,
#: {banner value (None for the total): weighted base})``.
_Group = tuple[Estimates, dict[str | None, float]]


@dataclass(frozen=True)
class _Source:
    """Where a banner's numbers come from (a publication or a design) and the labels to
    print (from the poll's spec, or the raw values)."""

    title: str
    levels: tuple[tuple[str, str], ...]
    value_labels: Mapping[str, Mapping[str, str]]
    banner_names: Mapping[str, str]
    value_order: Mapping[str, Sequence[str]]
    #: the variables a banner (or where=) may name
    variables: Sequence[str]
    #: (banner or None for the total, where) -> the group's estimates and bases
    group: Callable[[str | None, Mapping[str, Any]], _Group]
    #: (banner, the group's estimates) -> {column value: its note}
    notes: Callable[[str | None, Estimates], Mapping[str, str]] = lambda b, est: {}

    #: "share" (a question's levels and nets) or "mean" (a numeric question)
    statistic: str = "share"


#: The row code and label of a numeric question's mean in a banner.
MEAN_ROW = ("mean", "Mean")


def _mean_rows(group: _Group) -> _Group:
    """A numeric question's group with its mean rows' ``level`` set to
    :data:`MEAN_ROW`'s code (the estimates and their covariance unchanged)."""
    est, bases = group
    table = est.to_polars().with_columns(level=pl.lit(MEAN_ROW[0]))
    return Estimates(
        table, by=est.by, statistic=est.statistic, families=est.families, rows=est.rows,
        notes=est.notes, source=est.source, coefficients=est.coefficients,
    ), bases  # fmt: skip


def _publication_source(pub: Publication, question: str) -> _Source:
    spec = pub.spec
    q = spec.question(question)
    labels: dict[str, dict[str, str]] = {"country": {c.code: c.name for c in spec.countries}}
    labels[REGION] = {r.id: r.name or r.id for r in spec.regions}
    names = {"country": "Country", "wave": "Wave", REGION: "Region"}
    order: dict[str, list[str]] = {"country": [c.code for c in spec.countries]}
    order[REGION] = [r.id for r in spec.regions]
    order["wave"] = [w.id for w in spec.waves]
    for other in spec.questions:
        labels[other.id] = {lv.code: lv.label for lv in other.levels}
        order[other.id] = other.level_codes
        names[other.id] = other.wording if other.kind == "weighting" and other.wording else other.id
    title = f"{q.id}: {q.wording}" if q.wording else q.id
    held = [b for b in pub.breakdowns if b is not None]
    variables = ["country", "wave", *([REGION] if spec.regions else []), *held]
    if q.is_numeric:
        return _Source(
            title, (MEAN_ROW,), labels, names, order, variables,
            lambda b, where: _mean_rows(_publication_group(pub, question, b, where)),
            statistic="mean",
        )  # fmt: skip
    rows = [(lv.code, lv.label) for lv in q.levels] + [(n.code, n.label) for n in q.nets]
    return _Source(
        title,
        tuple(rows),
        labels,
        names,
        order,
        variables,
        lambda b, where: _publication_group(pub, question, b, where),
        lambda b, est: _region_notes(pub, est) if b == REGION else {},
    )


def _region_notes(pub: Publication, est: Estimates) -> dict[str, str]:
    """A note for each region column mostly made of one member (its weight in the
    figure above the rule ``max_member_share``, by the one rule of
    :func:`barometer.poll.regions.dominance_note`, which keeps findings from comparing
    the two)."""
    out: dict[str, str] = {}
    for rid, members in est.to_polars().select(REGION, "members").iter_rows():
        note = dominance_note(pub.spec, str(rid), members, pub.rules.max_member_share)
        if note:
            out.setdefault(str(rid), note)
    return out


def _publication_group(
    pub: Publication, question: str, b: str | None, where: Mapping[str, Any]
) -> _Group:
    """A banner's rows from the publication: the countries' cells when the banner is
    country or a country is fixed, else the publication's total (by its ``total_rule``:
    the mean of the countries, or every respondent pooled); by a breakdown when the
    banner is one."""
    fixed = [k for k in where if k not in ("country", "wave")]
    if fixed:
        raise EstimationError(
            f"banner: a publication's banners can fix only country and wave, not {fixed[0]!r}"
        )
    breakdown = b if b not in (None, "country", "wave", REGION) else None
    cells = pub.cells(question, breakdown)
    if b == REGION:
        return _region_group(cells.estimates, where)
    by_country = b == "country" or "country" in where
    est = cells.countries() if by_country else cells.total
    est = _restrict(est, where)
    table = est.to_polars()
    keys = table.get_column(b).cast(pl.String) if b else pl.Series([None] * table.height)
    bases = dict(zip(keys.to_list(), table.get_column("base_weighted").to_list(), strict=True))
    return est, bases


#: The banner whose columns are the spec's regions (each cell's members with data).
REGION = "region"


def _region_group(estimates: Estimates, where: Mapping[str, Any]) -> _Group:
    """The regions' rows as a banner ``region`` (the publication's, by the one region
    policy), their covariance kept so the columns can be tested against each other."""
    est = _restrict(estimates.filter(pl.col("scope_kind") == "region"), where)
    table = est.to_polars().rename({"country": REGION})
    by = tuple(REGION if c == "country" else c for c in est.by)
    renamed = Estimates(
        table, by=by, statistic=est.statistic, source=est.source, coefficients=est.coefficients,
    )  # fmt: skip
    keys = table.get_column(REGION).cast(pl.String)
    bases = dict(zip(keys.to_list(), table.get_column("base_weighted").to_list(), strict=True))
    return renamed, bases


def _design_source(design: Any, question: str) -> _Source:
    columns = list(design.columns)
    if question not in columns:
        raise EstimationError(
            f"banner: no question {question!r} in the data{did_you_mean(question, columns)}"
        )
    usable = [c for c in columns if not c.startswith("_")]

    def group(b: str | None, where: Mapping[str, Any]) -> _Group:
        by = list(where) + ([b] if b else [])
        est = _restrict(design.proportion(question, by=by or None), where)
        return est, _weighted_bases(design, question, by, where)

    return _Source(question, (), {}, {}, {}, usable, group)


def _check_names(
    source: _Source, question: str, banners: Sequence[str], where: Mapping[str, Any]
) -> None:
    if not banners:
        raise EstimationError("banner: give at least one banner (e.g. banners=['country'])")
    for b in [*banners, *where]:
        if b == question:
            raise EstimationError(f"banner: {question!r} cannot be a banner of itself")
        if b not in source.variables:
            raise EstimationError(
                f"banner: no variable {b!r} to break {question!r} down by"
                f"{did_you_mean(b, source.variables)}; banners are columns such as country, "
                "wave or another question (a publication's breakdowns)"
            )
    dupes = sorted({b for b in banners if list(banners).count(b) > 1})
    if dupes:
        raise EstimationError(f"banner: banner {dupes[0]!r} is listed twice")
    clash = [b for b in banners if b in where]
    if clash:
        raise EstimationError(
            f"banner: {clash[0]!r} is both a banner and fixed by where=; drop one of them"
        )


def _restrict(est: Estimates, where: Mapping[str, Any]) -> Estimates:
    """The rows of ``est`` in the domain ``where`` (by-columns fixed to a value) that have
    respondents."""
    for column, value in where.items():
        hit = pl.col(column).cast(pl.String) == str(value)
        kept = est.filter(hit)
        if kept.to_polars().height == 0:
            seen = est.to_polars().get_column(column).cast(pl.String).unique().to_list()
            raise EstimationError(
                f"banner: where {column}={value!r} selects no respondent"
                f"{did_you_mean(str(value), seen)}"
            )
        est = kept
    return est.filter(pl.col("n") > 0)


def _weighted_bases(
    design: Any, question: str, by: list[str], where: Mapping[str, Any]
) -> dict[str | None, float]:
    """Sum of weights of the respondents answering, per value of the by-columns (the
    sum over levels of ``Design.total`` of the question)."""
    totals = _restrict(design.total(question, by=by or None), where).to_polars()
    keys = [c for c in by if c not in where]
    if not keys:
        return {None: float(totals.get_column("estimate").sum())}
    summed = totals.group_by(keys[0], maintain_order=True).agg(pl.col("estimate").sum())
    return {str(k): float(v) for k, v in summed.iter_rows()}


def _column_letters(k: int) -> str:
    """Spreadsheet-style letters: 0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(65 + r) + out
    return out


def _thresholds(
    source: Publication | Design, min_base: int | None, flag_base: int | None
) -> tuple[int, int]:
    """(suppress below, flag below): the arguments over the publication's rules (a
    design: the rules' defaults)."""
    rules = source.rules if isinstance(source, Publication) else PublicationRules()
    suppress = rules.suppress_below if min_base is None else min_base
    flag = rules.flag_below if flag_base is None else flag_base
    if not 0 <= suppress <= flag:
        raise EstimationError(
            f"banner: need 0 <= min_base <= flag_base, got min_base={suppress}, flag_base={flag}"
        )
    return suppress, flag


def _latest_wave(pub: Publication, question: str) -> str:
    """The latest wave in which ``question`` has respondents."""
    waves = pub.waves_of(question)
    if not waves:
        raise EstimationError(f"banner: no respondent answers {question!r} in any wave")
    return waves[-1]


def banner(
    source: Publication | Design,
    question: str,
    banners: str | Sequence[str] = ("country",),
    where: Mapping[str, Any] | None = None,
    adjust: PAdjustMethod = "bonferroni",
    flag_base: int | None = None,
    min_base: int | None = None,
    total: bool = True,
) -> BannerTable:
    """The banner table of ``question``: weighted shares by each banner, with bases and
    column-proportion letters.

    From a :class:`~barometer.poll.publication.Publication` the shares, their covariance
    and the bases are the publication's (the countries' cells when the banner is
    ``country`` or ``where`` fixes a country, otherwise the total by its ``total_rule``;
    by a breakdown the publication holds); from a core ``Design``, ``design.proportion(question,
    by=[*where, banner])`` (the domain ``where`` is fixed by estimating by its columns
    and keeping its rows, so variances are domain estimates of the full design). Within
    a banner, every pair of columns is compared with the design-based z test of
    :func:`barometer.core.comparisons.pairwise_differences` (the difference of two shares
    with the covariance of the design, R ``svycontrast`` on ``svyby(..., covmat=TRUE)``);
    the p-values of a row of a banner are adjusted together (``adjust``); a share shows
    the letter of every column of its banner it is higher than, upper case when the
    adjusted p-value is below 0.05, lower case below 0.10. The total column is not
    tested. Columns with an unweighted base under ``flag_base`` are flagged; under
    ``min_base`` their shares are suppressed and they are left out of the tests (and of
    the adjustment).

    Parameters
    ----------
    source : Publication or Design
        A poll's publication (labels from its spec; ``where`` defaults to the latest
        wave unless ``wave`` is a banner) or a core ``Design``.
    question : str
        The question (a categorical column) down the side.
    banners : str or list of str
        Variables across the top, e.g. ``["country"]`` or ``["age", "gender"]``.
    where : mapping, optional
        A domain, e.g. ``{"country": "DE", "wave": "2025-11"}``.
    adjust : {"bonferroni", "bh", "holm", "none"}
        Multiple-comparison adjustment within each row of a banner (SPSS's column
        proportion tests default to Bonferroni).
    flag_base, min_base : int, optional
        Thresholds on the unweighted base: flagged below ``flag_base``, suppressed and
        untested below ``min_base``; by default the publication rules' ``flag_below``
        and ``suppress_below`` (for a design, their defaults 100 and 30).
    total : bool
        Start with a total column (the whole domain).

    Returns
    -------
    BannerTable

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> from barometer.publish.banner.tables import banner
    >>> df = pl.DataFrame({"q": ["yes", "no"] * 60, "g": ["a"] * 70 + ["b"] * 50})
    >>> t = banner(bm.Design(df), "q", ["g"], min_base=10, flag_base=60)
    >>> [(c.label, c.letter, c.n, c.flagged) for c in t.columns]
    [('Total', '', 120, False), ('a', 'A', 70, False), ('b', 'B', 50, True)]
    """
    if isinstance(source, Publication) and getattr(source.sets.get(question), "kind", "") == (
        "multiple"
    ):
        from barometer.publish.banner.sets import set_banner

        return set_banner(
            source, question, banners, where, adjust=adjust, flag_base=flag_base,
            min_base=min_base, total=total,
        )  # fmt: skip
    adjust = check_option(adjust, PAdjustMethod, "adjust", EstimationError)
    thresholds = _thresholds(source, min_base, flag_base)
    banner_list = [banners] if isinstance(banners, str) else list(banners)
    where = dict(where or {})
    if isinstance(source, Publication):
        src = _publication_source(source, question)
        if "wave" not in banner_list and "wave" not in where:
            where["wave"] = _latest_wave(source, question)
    else:
        src = _design_source(source, question)
    _check_names(src, question, banner_list, where)
    total_rule = _total_rule(source, banner_list, where)
    columns: list[BannerColumn] = []
    parts = []
    for b in ([None] if total else []) + banner_list:
        est, wbase = src.group(b, where)
        if est.to_polars().height == 0:
            raise EstimationError(f"banner: no respondent answers {question!r} in {where}")
        parts.append(_group_cells(src, est, b, wbase, columns, thresholds, adjust))
    table = _assemble(question, src, parts, columns, where, banner_list, adjust, thresholds)
    if isinstance(source, Publication):
        absent = source.absent(question)
        if absent:
            table = replace(table, base=f"{table.base}; {'; '.join(absent)}")
    return replace(table, settings={**table.settings, "total_rule": total_rule})


def _total_rule(source: Publication | Design, banners: list[str], where: Mapping[str, Any]) -> str:
    """How the Total column combines countries: ``mean`` (each country shown counts
    equally), ``population`` (every respondent pooled, so each country by its weighted
    total) or ``one country`` (a country is fixed)."""
    if not isinstance(source, Publication):
        return "pooled"
    if "country" in where:
        return "one country"
    return source.rules.total_rule


def _group_cells(
    src: _Source,
    est: Estimates,
    b: str | None,
    wbase: Mapping[str | None, float],
    columns: list[BannerColumn],
    thresholds: tuple[int, int],
    adjust: str,
) -> pl.DataFrame:
    """Append banner ``b``'s columns (in the spec's order of its values) to ``columns``;
    return its cells with their column positions and letters."""
    table = est.to_polars()
    key = table.get_column(b).cast(pl.String) if b else pl.Series([None] * table.height)
    values = key.unique(maintain_order=True).to_list()
    order = src.value_order.get(b or "", [])
    values.sort(key=lambda v: order.index(v) if v in order else len(order))
    n_of = dict(zip(key.to_list(), table.get_column("n").to_list(), strict=True))
    letter = sum(c.banner != TOTAL for c in columns)
    notes = src.notes(b, est)
    index = {}
    for v in values:
        index[v] = len(columns)
        n = int(n_of[v])
        columns.append(
            BannerColumn(
                banner=b or TOTAL,
                value=v,
                label="Total" if v is None else src.value_labels.get(b or "", {}).get(v, v),
                letter="" if b is None else _column_letters(letter),
                banner_label=src.banner_names.get(b, b) if b else "Total",
                n=n,
                weighted_base=float(wbase[v]),
                flagged=n < thresholds[1],
                suppressed=n < thresholds[0],
                note=notes.get(v, "") if v is not None else "",
            )
        )
        letter += b is not None
    letters = _letters(est, b, columns, index, adjust) if b else {}
    return table.select("level", "estimate", "se", "ci_low", "ci_high", "n").with_columns(
        column=pl.Series([index[v] for v in key], dtype=pl.Int64),
        letters=pl.Series(
            [letters.get((index[v], lv), "") for v, lv in zip(key, table["level"], strict=True)],
            dtype=pl.String,
        ),
    )


def _assemble(
    question: str,
    src: _Source,
    parts: list[pl.DataFrame],
    columns: list[BannerColumn],
    where: Mapping[str, Any],
    banner_list: list[str],
    adjust: str,
    thresholds: tuple[int, int],
) -> BannerTable:
    """The table from its columns and cells, with its base line and settings."""
    level_pairs = src.levels or tuple(
        (lv, lv) for lv in pl.concat(parts).get_column("level").unique(maintain_order=True)
    )
    label_of = dict(level_pairs)
    stacked = pl.concat(parts)
    # a level nobody chose in any column is left out (a row of zeros says nothing)
    chosen = set(stacked.filter(pl.col("estimate") > 0).get_column("level").to_list())
    if src.statistic == "mean":  # a mean of 0 is a figure
        chosen = set(stacked.get_column("level").to_list())
    cells = (
        stacked.filter(pl.col("level").is_in(list(chosen)))
        .with_columns(label=pl.col("level").replace_strict(label_of, default=pl.col("level")))
        .select("column", "level", "label", "estimate", "se", "ci_low", "ci_high", "n", "letters")
    )
    seen = set(cells.get_column("level").to_list())
    base = "Respondents answering the question"
    if where:
        base += " (" + ", ".join(f"{k}: {v}" for k, v in where.items()) + ")"
    settings = {
        "adjust": adjust,
        "flag_base": thresholds[1],
        "min_base": thresholds[0],
        "letter_levels": list(LETTER_LEVELS),
        "banners": banner_list,
        "where": {k: str(v) for k, v in where.items()},
    }
    return BannerTable(
        question=question,
        title=src.title,
        levels=tuple(p for p in level_pairs if p[0] in seen),
        columns=tuple(columns),
        cells=cells,
        base=base,
        settings=settings,
        statistic=src.statistic,
    )


def _letters(
    est: Estimates,
    b: str,
    columns: list[BannerColumn],
    index: Mapping[str | None, int],
    adjust: str,
) -> dict[tuple[int, str], str]:
    """(column, level) -> the letters of the columns of banner ``b`` it is higher than."""
    tested = [v for v, i in index.items() if not columns[i].suppressed]
    if len(tested) < 2:
        return {}
    kept = est.filter(pl.col(b).cast(pl.String).is_in(tested))
    pw = pairwise_differences(kept, b, adjust=adjust)  # type: ignore[arg-type]
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for row in pw.iter_rows(named=True):
        p = row["p_adjusted"]
        if p is None or not np.isfinite(p) or p >= LETTER_LEVELS[1]:
            continue
        hi, lo = (row["first"], row["second"])
        if row["difference"] < 0:
            hi, lo = lo, hi
        mark = columns[index[str(lo)]].letter
        mark = mark if p < LETTER_LEVELS[0] else mark.lower()
        out.setdefault((index[str(hi)], row["level"]), []).append((index[str(lo)], mark))
    return {k: "".join(m for _, m in sorted(v)) for k, v in out.items()}


def banner_tables(
    source: Publication | Design,
    questions: Sequence[str] | None = None,
    banners: str | Sequence[str] = ("country",),
    wave: str | None = None,
    **options: Any,
) -> list[BannerTable]:
    """The banner tables of several questions (default: every question of a
    publication), with the same banners and options, in ``wave`` (default: each
    question's latest wave with respondents).

    By default a question that is one of the banners gets no table (its columns are its
    levels: the table would be its own diagonal); named, it is an error. A question not
    asked in ``wave`` gets no table (:func:`unasked` says which). With
    ``"wave"`` among the banners of a publication of several countries, the waves are
    compared within each country (one table per question × country, no Total column:
    adding countries' populations across waves says nothing about any one of them)."""
    banner_list = [banners] if isinstance(banners, str) else list(banners)
    if questions is None:
        if not isinstance(source, Publication):
            raise EstimationError("banner_tables: name the questions of a design")
        questions = [q for q in source.questions if q not in banner_list]
    if isinstance(source, Publication):  # a multiple-response question: one table
        questions = _with_sets(source, questions)
    where = dict(options.pop("where", None) or {})
    if wave is not None:
        where["wave"] = wave
    if not isinstance(source, Publication):
        return [banner(source, q, banner_list, where=where, **options) for q in questions]
    polled = [w for w in source.waves if w in set(source.facts.bases["wave"].cast(pl.String))]
    if wave is not None and wave not in polled:
        raise EstimationError(
            f"banner: nobody was polled in wave {wave!r} in this publication (waves with "
            f"respondents: {', '.join(polled) or 'none'})"
        )
    skipped = {q for q, _ in unasked(source, questions, wave)}
    kept = [q for q in questions if q not in skipped]
    if "wave" in banner_list and "country" not in where:
        where.pop("wave", None)
        out = []
        for q in kept:
            cells = source.cells(_first_part(source, q)).countries()
            asked = set(cells.to_polars()["country"].cast(pl.String))
            out += [
                banner(source, q, banner_list, where={**where, "country": c}, total=False,
                       **options)
                for c in source.countries if c in asked
            ]  # fmt: skip
        return out
    return [banner(source, q, banner_list, where=where, **options) for q in kept]


def _with_sets(pub: Publication, questions: Sequence[str]) -> list[str]:
    """``questions`` with the options of a multiple-response question replaced by the
    question (one table of its options), in the order first met."""
    out: list[str] = []
    for q in questions:
        view = pub.set_of(q)
        name = view.question if view is not None and view.kind == "multiple" else q
        if name not in out:
            out.append(name)
    return out


def unasked(pub: Publication, questions: Sequence[str], wave: str | None) -> list[tuple[str, str]]:
    """(question, sentence) for each of ``questions`` that has no respondent in ``wave``
    (with no wave: in any wave of the publication)."""
    out = []
    for q in questions:
        part = _first_part(pub, q)
        if part not in pub.questions:
            out.append((q, f"{q}: no respondent answers it; no table"))
            continue
        waves = pub.waves_of(part)
        if wave is not None and wave not in waves:
            asked = ", ".join(waves)
            out.append((q, f"{q}: not asked in {wave} (asked in {asked}); no table"))
    return out


def _first_part(pub: Publication, question: str) -> str:
    """``question``, or for a set its first option (asked where the set is)."""
    view = pub.sets.get(question)
    return view.parts[0][2] if view is not None else question
