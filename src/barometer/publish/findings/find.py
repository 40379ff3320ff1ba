"""Findings: the significant changes and gaps of a poll, ranked, as plain sentences.

:func:`find` scans every question × answer level of a :class:`~barometer.poll.Poll` for

* **changes** between consecutive waves, per country and per region — countries' waves
  are independent samples (the poll's strata are country × wave, so the covariance of
  the two estimates is zero and the variance of the change is ``v1 + v2``); a region's
  change compares the *like-for-like* member set, the members polled in both waves;
* **gaps** within a wave between countries, between a country and a region (when the
  country is a member, the covariance its overlap with the region brings is in the
  variance) and between regions.

Every comparison is a design-based difference from the core
(:func:`barometer.core.comparisons.pairwise_differences` on estimates extended with
:func:`barometer.core.comparisons.region`); the p-values of the whole scan are adjusted
together (:func:`barometer.core.comparisons.adjust_pvalues`, Holm by default). This module
only chooses what to compare, filters and ranks; it does no statistics of its own, and
the words (names, phrases, sentences, the Markdown document) are in
:mod:`barometer.publish.findings.wording`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from barometer.atomic import write_text
from barometer.core.comparisons import adjust_pvalues, pairwise_differences
from barometer.core.estimates import Estimates
from barometer.errors import EstimationError, SpecError, did_you_mean
from barometer.options import AdjustFamily, FindingKind, PAdjustMethod, ScopeKind, check_option
from barometer.poll.publication import Publication
from barometer.poll.regions import dominant_members, rule_words
from barometer.poll.spec import PublicationRules, publication_rules
from barometer.publish.findings.items import ItemGap, item_findings
from barometer.publish.findings.wording import Wording, markdown, members

__all__ = ["Finding", "Findings", "Subject", "find"]


@dataclass(frozen=True)
class Subject:
    """One side of a comparison: a country or region in one wave, and its estimate."""

    id: str
    name: str
    type: ScopeKind
    wave: str
    estimate: float
    se: float
    n: int
    #: The countries behind the figure (the country itself, or the region's members).
    countries: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """A significant difference ``first - second``, with its test and its sentence.

    ``kind="change"``: the same subject in two consecutive waves (``first`` the later);
    ``kind="gap"``: two subjects in one wave (``first`` the higher). ``ci_low`` and
    ``ci_high`` are the (unadjusted) interval at ``confidence``; ``p_adjusted`` is the
    p-value adjusted over every comparison of the scan by ``adjust`` (those of a
    multiple-response question's options or a grid's items over that question's
    own). ``score`` — the nearer interval bound's distance from zero, the smallest
    difference the data support — orders the findings.
    """

    rank: int
    kind: FindingKind
    question: str
    #: the answer level or net compared; None for a numeric question's mean
    level: str | None
    level_label: str
    first: Subject
    second: Subject
    difference: float
    se: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    p_adjusted: float
    adjust: str
    score: float
    sentence: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready record (subjects nested, tuples as lists)."""
        # field by field, not dataclasses.asdict: its deep copy of every value (floats
        # and strings here) was half the time of writing findings.json
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for side in ("first", "second"):
            subject = out[side]
            out[side] = {f.name: getattr(subject, f.name) for f in fields(subject)}
            out[side]["countries"] = list(subject.countries)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Findings:
    """The ranked findings of a scan, with the settings and the size of the scan."""

    findings: tuple[Finding, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    n_tests: int = 0
    notes: tuple[str, ...] = ()
    #: significant differences between the items of a grid (on those answering both)
    items: tuple[ItemGap, ...] = ()

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __getitem__(self, i: int) -> Finding:
        return self.findings[i]

    def to_dicts(self) -> list[dict[str, Any]]:
        """The findings as records (what the HTML report and findings.json take)."""
        return [f.to_dict() for f in self.findings]

    def to_polars(self) -> pl.DataFrame:
        """One row per finding, the subjects' fields flattened (``first_id``, …)."""
        rows = []
        for f in self.findings:
            row = {k: v for k, v in f.to_dict().items() if k not in ("first", "second", "notes")}
            for side in ("first", "second"):
                for k, v in asdict(getattr(f, side)).items():
                    row[f"{side}_{k}"] = ", ".join(v) if k == "countries" else v
            rows.append(row)
        return pl.DataFrame(rows, infer_schema_length=None)

    def to_json(self, path: str | Path | None = None) -> str:
        """``{"settings", "n_tests", "notes", "findings": [records], "item_gaps"}`` as
        JSON, one finding per line (also written to ``path`` when given)."""
        text = _json_document(
            {
                "settings": dict(self.settings),
                "n_tests": self.n_tests,
                "notes": list(self.notes),
                "findings": self.to_dicts(),
                "item_gaps": [g.to_dict() for g in self.items],
            }
        )
        if path is not None:
            write_text(path, text + "\n")
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        """The findings as a Markdown document: how they were found, the headlines
        (:meth:`headlines`), then every change and every gap, ranked, and the notes on
        regions (also written to ``path`` when given)."""
        text = markdown(self)
        if path is not None:
            write_text(path, text)
        return text

    def headlines(self, k: int = 8) -> list[Finding]:
        """At most ``k`` findings to lead a publication with: those about a region
        first (a regional figure is what a poll of several countries is read for), then
        the rest, in rank order, one per kind × question × level, changes and gaps
        taken in turn. The options of multiple-response questions and the items of
        grids (``settings["set_parts"]``) have their own sections and lead only when
        nothing else does."""
        parts = set(self.settings.get("set_parts", ()))
        seen: set[tuple[str, str, str | None]] = set()
        queues: dict[str, list[Finding]] = {"change": [], "gap": []}
        ordered = sorted(
            self.findings,
            key=lambda f: (
                f.question in parts,
                f.first.type != "region" and f.second.type != "region",
                f.rank,
            ),
        )
        for f in ordered:
            key = (f.kind, f.question, f.level)
            if key not in seen:
                seen.add(key)
                queues[f.kind].append(f)
        out: list[Finding] = []
        while len(out) < k and (queues["change"] or queues["gap"]):
            for kind in ("change", "gap"):
                if queues[kind] and len(out) < k:
                    out.append(queues[kind].pop(0))
        return out

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``findings.md`` and ``findings.json`` into ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, js = out / "findings.md", out / "findings.json"
        self.to_markdown(md)
        self.to_json(js)
        return md, js


def _json_document(doc: Mapping[str, Any]) -> str:
    """``doc`` as JSON: one key per line, and each element of a list on a line of its own
    (a finding per line: a file of ten thousand findings reads, greps and diffs by
    finding).

    Each line is the json module's C encoder's; ``indent=`` sends a whole document through
    its pure-Python encoder: that was two thirds of writing findings.json (0.46 of 0.70 s
    for the 10,721 findings of the 1,000,000-respondent benchmark poll), whose indented
    file was a third larger (12.9 MB against 9.4)."""

    def line(value: object) -> str:
        return json.dumps(value, ensure_ascii=False)

    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {line(v)}" for v in value)
            parts.append(f"  {line(key)}: [\n{items}\n  ]")
        else:
            parts.append(f"  {line(key)}: {line(value)}")
    return "{\n" + ",\n".join(parts) + "\n}"


# ---------------------------------------------------------------------------------------
# The scan
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Regions:
    """The regions of one compared table: id -> members combined, and the rule."""

    members: dict[str, list[str]]
    rules: dict[str, str]


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def _scanned(
    est: Estimates, spec: Any, notes: list[str], wording: Wording
) -> tuple[Estimates, _Regions]:
    """The rows of ``est`` a scan compares (median regions left out: their ranking makes
    a test of them conditional) and the regions among them, members in spec order."""
    members: dict[str, list[str]] = {}
    rules: dict[str, str] = {}
    table = est.to_polars()
    dropped = []
    for rid, who in (
        table.filter(pl.col("scope_kind") == "region")
        .select("country", "members")
        .unique("country", maintain_order=True)
        .iter_rows()
    ):
        r = spec.region(rid)
        if r.rule == "median":
            dropped.append(rid)
            note = f"{wording.name(rid)}: a median region is left out of the scan (its "
            _note_once(notes, note + "covariance with its members depends on their ranking)")
            continue
        members[rid] = [m for m in r.members if m in set(who)]
        rules[rid] = r.rule
    if dropped:
        est = est.filter(~pl.col("country").is_in(dropped))
    return est, _Regions(members, rules)


def _lookup(est: Any) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(country or region, wave, level) -> (estimate, se, n) of a table."""
    t = est.to_polars()
    keys = zip(t["country"], t["wave"], t["level"], strict=True)
    vals = zip(t["estimate"], t["se"], t["n"], strict=True)
    return {k: (float(e), float(s), int(n)) for k, (e, s, n) in zip(keys, vals, strict=True)}


def _candidates(
    pw: pl.DataFrame,
    kind: FindingKind,
    question: str,
    over: str,
    fixed: str,
    info: _Regions,
    stats: dict[tuple[str, str, str], tuple[float, float, int]],
    scope: str,
) -> list[dict[str, Any]]:
    """One record per compared pair of ``pw`` (a pairwise_differences table)."""
    out = []
    columns = ("p_value", "level", fixed, "first", "second", "difference", "se", "ci_low",
               "ci_high")  # fmt: skip
    # rows as tuples (not dicts): a scan reads tens of thousands of them
    for p, level, at, one, other, difference, se, ci_low, ci_high in pw.select(columns).iter_rows():
        if p is None or not np.isfinite(p):
            continue
        a, b = ((at, one), (at, other)) if over == "wave" else ((one, at), (other, at))
        out.append(
            {
                "kind": kind,
                "question": question,
                "level": level,
                "a": a,
                "b": b,
                "stats_a": stats[(a[0], a[1], level)],
                "stats_b": stats[(b[0], b[1], level)],
                "difference": difference,
                "se": se,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "p_value": p,
                "regions": info,
                "scope": scope,
            }
        )
    return out


def _polled(pub: Publication, question: str) -> dict[str, set[str]]:
    """wave -> the countries with respondents to ``question`` in it."""
    # the table's country rows (no covariance needed, so not QuestionCells.countries())
    rows = pub.cells(question).estimates.to_polars()
    table = rows.filter(pl.col("scope_kind") == "country")
    return {
        w: set(table.filter(pl.col("wave") == w).get_column("country").to_list()) for w in pub.waves
    }


def _changes(
    pub: Publication, question: str, waves: Sequence[str] | None, confidence: float,
    notes: list[str], wording: Wording,
) -> list[dict[str, Any]]:  # fmt: skip
    """Changes between consecutive waves of each country and, like for like, region —
    consecutive among the waves in which *it* was asked (a country not asked the question
    in a wave compares the waves either side of the gap)."""
    polled = _polled(pub, question)
    present = [w for w, c in polled.items() if c]
    groups = {c: {c} for c in pub.countries} | {r.id: set(r.members) for r in pub.spec.regions}
    own = {
        sid: set(pairwise([w for w in present if polled[w] & who])) for sid, who in groups.items()
    }
    pairs = sorted(set().union(*own.values()), key=lambda p: (present.index(p[1]), p[0]))
    out: list[dict[str, Any]] = []
    for w1, w2 in pairs:
        if waves is not None and w2 not in waves:
            continue
        regional = pub.trend(question, [w1, w2])
        ext, info = _scanned(regional.estimates, pub.spec, notes, wording)
        for rid, used in info.members.items():
            if (w1, w2) not in own.get(rid, set()):
                continue
            left = [
                m
                for m in pub.spec.region(rid).members
                if m in polled[w1] | polled[w2] and m not in used
            ]
            _note_once(
                notes,
                f"{wording.name(rid)}, {w1} to {w2}: changes compare like for like, the "
                f"{rule_words(info.rules[rid])} of the {members(len(used))} polled in both "
                f"waves ({', '.join(used)})"
                + (f"; left out, polled in one wave only: {', '.join(left)}" if left else ""),
            )
        pw = pairwise_differences(ext, "wave", adjust="none", confidence=confidence)
        found = _candidates(
            pw, "change", question, "wave", "country", info, _lookup(ext), "both waves"
        )
        out += [c for c in found if (w1, w2) in own.get(c["a"][0], set())]
    return out


def _gaps(
    pub: Publication, question: str, waves: Sequence[str] | None, confidence: float,
    notes: list[str], wording: Wording,
) -> list[dict[str, Any]]:  # fmt: skip
    """Gaps within each wave between countries and regions (each wave's members)."""
    est = pub.cells(question).estimates
    out: list[dict[str, Any]] = []
    for w, countries in _polled(pub, question).items():
        if not countries or (waves is not None and w not in waves):
            continue
        ext, info = _scanned(est.filter(pl.col("wave") == w), pub.spec, notes, wording)
        for rid, used in info.members.items():
            _note_once(
                notes,
                f"{wording.name(rid)} in {w}: the {rule_words(info.rules[rid])} of the "
                f"{members(len(used))} polled ({', '.join(used)})",
            )
        pw = pairwise_differences(ext, "country", adjust="none", confidence=confidence)
        out += _candidates(pw, "gap", question, "country", "wave", info, _lookup(ext), w)
    return out


def find(
    pub: Publication,
    min_base: int | None = None,
    alpha: float | None = None,
    adjust: PAdjustMethod | None = None,
    questions: Sequence[str] | None = None,
    kinds: Sequence[FindingKind] = ("change", "gap"),
    waves: Sequence[str] | None = None,
    min_gap: float = 0.10,
    min_change: float = 0.0,
    include_non_substantive: bool = False,
    phrases: Mapping[str, Mapping[str, str]] | None = None,
    confidence: float | None = None,
    top: int | None = None,
    family: AdjustFamily = "scan",
) -> Findings:
    """Scan a publication for significant changes between waves and gaps between
    countries and regions, rank them and word each as a sentence.

    Each comparison is the difference of two design-based shares with a normal (z)
    interval and test, from :func:`barometer.core.comparisons.pairwise_differences` (R
    ``svycontrast`` on ``svyby(..., covmat=TRUE)``): changes between consecutive waves of
    a country (independent samples: ``var = v1 + v2``) or of a region over its members
    polled in both waves (like for like, :meth:`Publication.trend`); gaps within a wave
    between any two of the countries and regions, a country's overlap with a region that
    contains it entering through the covariance. Regions are the publication's, formed
    by the one region policy (:mod:`barometer.poll.regions`).

    The p-values of every comparison scanned (both bases at least ``min_base``, and
    neither cell suppressed) are adjusted together (``adjust``: ``holm`` controls the
    family-wise error rate, ``bh`` the false-discovery rate; R ``p.adjust``). A finding
    is kept when its adjusted p-value is below ``alpha`` — so its interval excludes zero
    — and, for a gap between two countries, when it is at least ``min_gap`` (changes:
    ``min_change``). Findings are ranked by the nearer interval bound's distance from
    zero (size and evidence at once), then by adjusted p-value. A comparison another one
    implies is not made (:func:`_not_redundant`, each left out with a note: a region of one
    member, a member above ``max_member_share`` of its region or one of a two-member
    region against it, two regions of the same members) nor, for a question of two
    substantive levels, the mirror of a finding kept.

    Parameters
    ----------
    pub : Publication
        From :meth:`barometer.poll.Poll.publication`.
    min_base, alpha, adjust, confidence : optional
        Override the publication rules ``claim_min_base`` (smallest unweighted base of
        either side), ``alpha`` (significance level after adjustment), ``adjust``
        (``holm``, ``bh``, ``bonferroni``, ``none``) and ``confidence`` (of the
        differences' intervals); by default the publication's.
    questions : list of str, optional
        Question ids to scan (default: every question of the publication).
    kinds : list of {"change", "gap"}
        What to look for.
    waves : list of str, optional
        Waves whose gaps (and changes *into* which) are scanned; default all.
    min_gap, min_change : float
        Smallest gap between two countries and smallest change reported (shares, so
        ``0.10`` is 10 points). Gaps involving a region need only be significant.
    include_non_substantive : bool
        Also scan levels such as "don't know".
    phrases : mapping, optional
        ``{question: {level: phrase}}``, e.g. ``{"us_relationship": {"ally": "see the US
        as an ally"}}``; otherwise a level's ``finding_label`` in the spec, otherwise
        "answer '<label>'".
    top : int, optional
        Keep only the ``top`` best-ranked findings.
    family : {"scan", "kind"}
        Adjust the p-values over the whole scan (the default, the stricter) or over the
        changes and over the gaps separately.

    Returns
    -------
    Findings

    Examples
    --------
    >>> from barometer.publish.findings.find import find
    >>> findings = find(poll.publication(), adjust="bh")  # doctest: +SKIP
    >>> print(findings.to_markdown())  # doctest: +SKIP
    """
    rules = _rules(pub, min_base, alpha, adjust, confidence, kinds, family)
    chosen = _chosen(pub, questions, waves)
    notes: list[str] = []
    wording = Wording(pub.spec, phrases or {}, decimals=rules.decimals)
    cands: list[dict[str, Any]] = []
    for qid in chosen:
        found = (
            _changes(pub, qid, waves, rules.confidence, notes, wording) if "change" in kinds else []
        )
        found += _gaps(pub, qid, waves, rules.confidence, notes, wording) if "gap" in kinds else []
        keep = _scanned_levels(pub, qid, include_non_substantive)
        cands += [c for c in found if c["level"] in keep]
    floor = max(rules.claim_min_base, rules.suppress_below)
    cands = [c for c in cands if min(c["stats_a"][2], c["stats_b"][2]) >= floor]
    cands = _not_redundant(cands, pub.spec, rules.max_member_share, notes, wording)
    sets = {sid: v.question for v in pub.sets.values() for _, _, sid in v.parts}
    kept = _significant(cands, rules, family, min_gap, min_change, pub.spec, sets)
    kept = _complements_out(_mirrors_out(kept, pub.spec), pub.spec)
    if top is not None:
        kept = kept[:top]
    result = tuple(
        _finding(i, c, score, p, rules.adjust, rules.confidence, wording)
        for i, (score, p, c) in enumerate(kept, start=1)
    )
    settings = {
        "min_base": rules.claim_min_base,
        "suppress_below": rules.suppress_below,
        "alpha": rules.alpha,
        "adjust": rules.adjust,
        "confidence": rules.confidence,
        "min_gap": min_gap,
        "min_change": min_change,
        "weights": pub.weights,
        "questions": chosen,
        "kinds": list(kinds),
        "include_non_substantive": include_non_substantive,
        "family": family,
        **({"set_parts": sorted(sets)} if sets else {}),
    }
    items = item_findings(pub, rules, min_gap, top) if "gap" in kinds else ()
    scanned = {v.question for v in pub.sets.values() for _, _, sid in v.parts if sid in chosen}
    items = tuple(g for g in items if g.question in scanned)
    return Findings(result, settings, len(cands), tuple(notes), items)


def _rules(
    pub: Publication,
    min_base: int | None,
    alpha: float | None,
    adjust: str | None,
    confidence: float | None,
    kinds: Sequence[str],
    family: str,
) -> PublicationRules:
    """The publication's rules with the arguments given over them, checked."""
    if adjust is not None:
        check_option(adjust, PAdjustMethod, "adjust", EstimationError)
    for kind in kinds:
        check_option(kind, FindingKind, "kinds", EstimationError)
    check_option(family, AdjustFamily, "family", EstimationError)
    if alpha is not None and not 0 < alpha < 1:
        raise EstimationError(f"alpha={alpha!r} must lie between 0 and 1")
    if confidence is not None and not 0 < confidence < 1:
        raise EstimationError(f"confidence={confidence!r} must lie between 0 and 1")
    given = {"claim_min_base": min_base, "alpha": alpha, "adjust": adjust}
    try:
        return publication_rules(pub.rules, confidence=confidence, **given)
    except SpecError as err:
        raise EstimationError(f"find: {err}") from None


def _scanned_levels(pub: Publication, qid: str, non_substantive: bool) -> set[str | None]:
    """The levels of ``qid`` a scan compares: its levels (without the non-substantive
    ones unless ``non_substantive``) and nets, or a numeric question's mean (``None``)."""
    q = pub.spec.question(qid)
    if q.is_numeric:
        return {None}
    keep: set[str | None] = {*q.level_codes, *(n.code for n in q.nets)}
    if not non_substantive:
        keep -= set(q.non_substantive)
    return keep


def _chosen(
    pub: Publication, questions: Sequence[str] | None, waves: Sequence[str] | None
) -> list[str]:
    """The questions to scan, with the waves checked."""
    known_q = [q.id for q in pub.spec.stored_questions() if q.kind in ("question", "numeric")]
    chosen = list(questions) if questions is not None else list(pub.questions)
    # a multiple-response question or grid stands for its options or items
    chosen = [p for q in chosen for p in _parts_held(pub, q)]
    for qid in chosen:
        if qid not in known_q:
            raise EstimationError(
                f"find: no question {qid!r} to scan{did_you_mean(qid, known_q)}; "
                f"questions: {', '.join(known_q)}"
            )
    known_w = [w.id for w in pub.spec.waves]
    for w in waves or ():
        if w not in known_w:
            raise EstimationError(f"find: no wave {w!r} in the poll{did_you_mean(w, known_w)}")
    return [q for q in chosen if q in pub.questions]


def _parts_held(pub: Publication, question: str) -> list[str]:
    """``question``, or the parts the publication holds of the set it names."""
    view = pub.sets.get(question)
    return [sid for _, _, sid in view.parts] if view is not None else [question]


def _scale_width(spec: Any, question: str) -> float:
    """What ``min_gap`` and ``min_change`` (shares) are a fraction of: 1 for a share, the
    width of a numeric question's range (10 on a 0-10 scale, so ``0.10`` is one point),
    0 for a numeric question without a range (significance alone then decides)."""
    q = spec.question(question)
    if not q.is_numeric:
        return 1.0
    return 0.0 if q.range is None else q.range[1] - q.range[0]


def _significant(
    cands: list[dict[str, Any]],
    rules: PublicationRules,
    family: str,
    min_gap: float,
    min_change: float,
    spec: Any,
    sets: Mapping[str, str],
) -> list[tuple[float, float, dict[str, Any]]]:
    """(score, adjusted p, candidate) of the findings kept, best first (a mean's score in
    shares of its range, so findings of means and shares rank together)."""
    raw = np.array([c["p_value"] for c in cands], dtype=float)
    # A multiple-response question's or grid's comparisons are a family of their own:
    # many tests of one question, which leave the rest of the scan's adjustment as it is.
    group = np.array(
        [
            (c["kind"] if family == "kind" else "") + "|" + sets.get(c["question"], "")
            for c in cands
        ],
        dtype=object,
    )
    p_adj = np.empty(raw.size)
    for g in set(group.tolist()):
        p_adj[group == g] = adjust_pvalues(raw[group == g], rules.adjust)
    widths = {q: _scale_width(spec, q) for q in dict.fromkeys(c["question"] for c in cands)}
    kept = []
    for c, p in zip(cands, p_adj, strict=True):
        if not p < rules.alpha or c["ci_low"] <= 0 <= c["ci_high"]:
            continue
        width = widths[c["question"]]
        size = abs(c["difference"])
        both_countries = not ({c["a"][0], c["b"][0]} & set(c["regions"].members))
        if c["kind"] == "gap" and both_countries and size < min_gap * width:
            continue
        if c["kind"] == "change" and size < min_change * width:
            continue
        score = min(abs(c["ci_low"]), abs(c["ci_high"])) / (width or 1.0)
        kept.append((score, float(p), c))
    kept.sort(key=lambda t: (-t[0], t[1]))
    return kept


def _not_redundant(
    cands: list[dict[str, Any]], spec: Any, max_share: float, notes: list[str], wording: Wording
) -> list[dict[str, Any]]:
    """The candidates that say something no other comparison of the scan says; left out,
    each with a note:

    * any comparison of a region with a single member in the cell (its figure *is* that
      member's, compared on its own already);
    * a gap between a region and a member that makes more than ``max_share`` of it
      (:func:`barometer.poll.regions.dominant_members`: the region is then mostly that
      member, the "gap" is the rest of the region against it);
    * a gap between a region of two members and one of them: it is a fixed share of the
      gap between the two members (``m - (w m + (1 - w) o) = (1 - w)(m - o)``);
    * a gap between two regions combining the same members: it is only the difference
      between their rules (a mean against a population-weighted mean of the same
      countries), not between places."""
    out = []
    for c in cands:
        why = _redundancy(c, spec, max_share, wording)
        if why is None:
            out.append(c)
        else:
            _note_once(notes, why)
    return out


def _redundancy(c: dict[str, Any], spec: Any, max_share: float, wording: Wording) -> str | None:
    """Why candidate ``c`` repeats another comparison (see :func:`_not_redundant`), or
    None."""
    info: _Regions = c["regions"]
    a, b, q = c["a"][0], c["b"][0], c["question"]
    regions = [x for x in dict.fromkeys((a, b)) if x in info.members]
    for rid in regions:
        used = info.members[rid]
        if len(used) == 1:
            return (
                f"{q}: {wording.name(rid)} is not compared where {wording.name(used[0])} is "
                "its only member polled: its figure is that country's"
            )
    if c["kind"] != "gap":
        return None
    if len(regions) == 2 and set(info.members[a]) == set(info.members[b]):
        return (
            f"{wording.name(a)} and {wording.name(b)} are not compared where they combine "
            "the same members: their gap would be only that of their rules"
        )
    for rid in regions:
        other = b if rid == a else a
        used = info.members[rid]
        if other not in used:
            continue
        if other in dominant_members(spec, rid, used, max_share):
            return (
                f"{q}: {wording.name(other)} is not compared with {wording.name(rid)}: it "
                f"makes more than {max_share:.0%} of the region's figure"
            )
        if len(used) == 2:
            rest = wording.name(next(m for m in used if m != other))
            return (
                f"{q}: {wording.name(other)} is not compared with {wording.name(rid)}, which "
                f"combines only {wording.name(other)} and {rest} there: the gap would be a "
                "share of the gap between the two countries"
            )
    return None


def _substantive(spec: Any, question: str) -> frozenset[str]:
    """The substantive levels of ``question`` (its levels but "don't know" and the like)."""
    q = spec.question(question)
    return frozenset(lv for lv in q.level_codes if lv not in set(q.non_substantive))


def _mirrors_out(
    kept: list[tuple[float, float, dict[str, Any]]], spec: Any
) -> list[tuple[float, float, dict[str, Any]]]:
    """The findings without mirror images: for a question with two substantive levels, a
    comparison of one level is the complement of the same comparison of the other (up to
    the non-substantive answers), so only the better-ranked of the two is kept."""
    seen: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    out = []
    two = {
        q: len(_substantive(spec, q)) == 2 for q in dict.fromkeys(c["question"] for *_, c in kept)
    }
    for item in kept:
        c = item[2]
        if two[c["question"]]:
            key = (c["kind"], c["question"], frozenset((c["a"], c["b"])))
            if key in seen:
                continue
            seen.add(key)
        out.append(item)
    return out


def _complements_out(
    kept: list[tuple[float, float, dict[str, Any]]], spec: Any
) -> list[tuple[float, float, dict[str, Any]]]:
    """The findings without a net's complement: when a net's comparison is reported, the
    same comparison of the level (or net) made of the other substantive levels says the
    same thing the other way round, and is left out."""
    covers: dict[tuple[str, str], frozenset[str]] = {}
    for q in spec.questions:
        for n in q.nets:
            covers[(q.id, n.code)] = frozenset(n.levels)
    reported: set[tuple[str, str, frozenset[tuple[str, str]], frozenset[str]]] = set()
    for _, _, c in kept:
        net = covers.get((c["question"], c["level"]))
        if net is not None:
            reported.add((c["kind"], c["question"], frozenset((c["a"], c["b"])), net))
    if not reported:
        return kept
    out: list[tuple[float, float, dict[str, Any]]] = []
    nets_kept: set[tuple[str, str, frozenset[tuple[str, str]], frozenset[str]]] = set()
    levels = {q: _substantive(spec, q) for q in dict.fromkeys(c["question"] for *_, c in kept)}
    for item in kept:
        c = item[2]
        substantive = levels[c["question"]]
        net = covers.get((c["question"], c["level"]))
        mine = net if net is not None else frozenset({c["level"]})
        key = (c["kind"], c["question"], frozenset((c["a"], c["b"])))
        other = (*key, substantive - mine)
        # a level gives way to the net it complements; of two complementary nets, the
        # better ranked is kept
        if other in (nets_kept if net is not None else reported):
            continue
        if net is not None:
            nets_kept.add((*key, mine))
        out.append(item)
    return out


def _finding(
    rank: int,
    c: dict[str, Any],
    score: float,
    p_adj: float,
    adjust: str,
    confidence: float,
    wording: Wording,
) -> Finding:
    """The finding of candidate ``c``, oriented (changes: the later wave first; gaps: the
    higher share first), with its subjects, sentence and notes."""
    info: _Regions = c["regions"]
    sign = 1.0
    a, b, sa, sb = c["a"], c["b"], c["stats_a"], c["stats_b"]
    # changes: later wave first; gaps: the higher share first
    later_first = c["kind"] == "change" and wording.wave_order(a[1]) < wording.wave_order(b[1])
    if later_first or (c["kind"] == "gap" and c["difference"] < 0):
        a, b, sa, sb, sign = b, a, sb, sa, -1.0
    lo, hi = sorted((sign * c["ci_low"], sign * c["ci_high"]))
    diff = sign * c["difference"]

    def subject(side: tuple[str, str], st: tuple[float, float, int]) -> Subject:
        sid, wave = side
        is_region = sid in info.members
        return Subject(
            id=sid,
            name=wording.name(sid),
            type="region" if is_region else "country",
            wave=wave,
            estimate=st[0],
            se=st[1],
            n=st[2],
            countries=tuple(info.members[sid]) if is_region else (sid,),
        )

    first, second = subject(a, sa), subject(b, sb)
    if c["level"] is None:
        sentence = wording.mean_sentence(
            c["kind"], c["question"], first, second, diff, (lo, hi), confidence, info.rules
        )
    else:
        sentence = wording.sentence(
            c["kind"], wording.phrase(c["question"], c["level"]), first, second, diff,
            (lo, hi), confidence, info.rules,
        )  # fmt: skip
    return Finding(
        rank=rank,
        kind=c["kind"],
        question=c["question"],
        level=c["level"],
        level_label=wording.label(c["question"], c["level"]),
        first=first,
        second=second,
        difference=diff,
        se=float(c["se"]),
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        p_value=float(c["p_value"]),
        p_adjusted=p_adj,
        adjust=adjust,
        score=score,
        sentence=sentence,
        notes=wording.notes(c["kind"], first, second, info.rules),
    )
