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
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from barometer.core.comparisons import adjust_pvalues, pairwise_differences, region
from barometer.errors import EstimationError, did_you_mean
from barometer.options import PAdjustMethod, check_option
from barometer.publish.findings.wording import Wording, markdown, rule_words

__all__ = ["Finding", "Findings", "Subject", "find"]

FindingKind = Literal["change", "gap"]


@dataclass(frozen=True)
class Subject:
    """One side of a comparison: a country or region in one wave, and its estimate."""

    id: str
    name: str
    type: Literal["country", "region"]
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
    p-value adjusted over every comparison of the scan by ``adjust``. ``score`` — the
    nearer interval bound's distance from zero, the smallest difference the data
    support — orders the findings.
    """

    rank: int
    kind: FindingKind
    question: str
    level: str
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
        out = asdict(self)
        for side in ("first", "second"):
            out[side]["countries"] = list(out[side]["countries"])
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Findings:
    """The ranked findings of a scan, with the settings and the size of the scan."""

    findings: tuple[Finding, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    n_tests: int = 0
    notes: tuple[str, ...] = ()

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
        """``{"settings", "n_tests", "notes", "findings": [records]}`` as JSON (also
        written to ``path`` when given)."""
        text = json.dumps(
            {
                "settings": dict(self.settings),
                "n_tests": self.n_tests,
                "notes": list(self.notes),
                "findings": self.to_dicts(),
            },
            indent=2,
            ensure_ascii=False,
        )
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_markdown(self, path: str | Path | None = None) -> str:
        """The findings as a Markdown document: how they were found, the headlines
        (:meth:`headlines`), then every change and every gap, ranked, and the notes on
        regions (also written to ``path`` when given)."""
        text = markdown(self)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def headlines(self, k: int = 8) -> list[Finding]:
        """At most ``k`` findings to lead a publication with: those about a region
        first (a regional figure is what a poll of several countries is read for), then
        the rest, in rank order, one per kind × question × level, changes and gaps
        taken in turn."""
        seen: set[tuple[str, str, str]] = set()
        queues: dict[str, list[Finding]] = {"change": [], "gap": []}
        ordered = sorted(
            self.findings,
            key=lambda f: (f.first.type != "region" and f.second.type != "region", f.rank),
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


# ---------------------------------------------------------------------------------------
# The scan
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Regions:
    """The regions added to one table: id -> members used, and the rule."""

    members: dict[str, list[str]]
    rules: dict[str, str]


def _with_regions(est: Any, spec: Any, present: Sequence[str], notes: list[str]) -> Any:
    """``est`` extended with each region of the spec over its ``present`` members."""
    members: dict[str, list[str]] = {}
    rules: dict[str, str] = {}
    population = {c.code: c.population for c in spec.countries}
    for r in spec.regions:
        used = [m for m in r.members if m in present]
        if not used:
            continue
        if r.rule == "median":
            _note_once(notes, f"{r.id}: a median region has no covariance with its members; "
                              "it is left out of the scan")  # fmt: skip
            continue
        weights = None
        if r.rule == "population":
            if any(population[m] is None for m in used):
                _note_once(notes, f"{r.id}: population rule but a member has no population; "
                                  "left out of the scan")  # fmt: skip
                continue
            weights = {m: population[m] for m in used}
        est = region(est, "country", used, r.id, rule=r.rule, weights=weights)
        members[r.id] = used
        rules[r.id] = r.rule
    return est, _Regions(members, rules)


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


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
    for row in pw.iter_rows(named=True):
        if row["p_value"] is None or not np.isfinite(row["p_value"]):
            continue
        level = row["level"]
        sides = []
        for which in ("first", "second"):
            subject = row[fixed] if over == "wave" else row[which]
            wave = row[which] if over == "wave" else row[fixed]
            sides.append((subject, wave))
        out.append(
            {
                "kind": kind,
                "question": question,
                "level": level,
                "a": sides[0],
                "b": sides[1],
                "stats_a": stats[(sides[0][0], sides[0][1], level)],
                "stats_b": stats[(sides[1][0], sides[1][1], level)],
                "difference": row["difference"],
                "se": row["se"],
                "ci_low": row["ci_low"],
                "ci_high": row["ci_high"],
                "p_value": row["p_value"],
                "regions": info,
                "scope": scope,
            }
        )
    return out


def _scan_question(
    poll: Any,
    question: str,
    kinds: Sequence[str],
    waves: Sequence[str] | None,
    weights: str,
    confidence: float,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Every change and gap candidate of one question (before any filtering)."""
    spec = poll.spec
    raw = poll.estimate(question, by=["country", "wave"], weights=weights, level=confidence)
    est = raw
    table = est.to_polars()
    order = [w.id for w in spec.waves]
    polled = {
        w: set(table.filter(pl.col("wave") == w).get_column("country").to_list()) for w in order
    }
    present = [w for w in order if polled[w]]
    out: list[dict[str, Any]] = []
    if "change" in kinds:
        for w1, w2 in pairwise(present):
            if waves is not None and w2 not in waves:
                continue
            both = [c.code for c in spec.countries if c.code in polled[w1] & polled[w2]]
            sub = est.filter(pl.col("wave").is_in([w1, w2]))
            ext, info = _with_regions(sub, spec, both, notes)
            for rid, used in info.members.items():
                left = [
                    m
                    for m in spec.region(rid).members
                    if m in polled[w1] | polled[w2] and m not in used
                ]
                _note_once(
                    notes,
                    f"{rid}, {w1} to {w2}: changes compare like for like, the "
                    f"{rule_words(info.rules[rid])} of the {len(used)} members polled in both "
                    f"waves ({', '.join(used)})"
                    + (f"; left out, polled in one wave only: {', '.join(left)}" if left else ""),
                )
            pw = pairwise_differences(ext, "wave", adjust="none", confidence=confidence)
            out += _candidates(
                pw, "change", question, "wave", "country", info, _lookup(ext), "both waves"
            )
    if "gap" in kinds:
        for w in present:
            if waves is not None and w not in waves:
                continue
            here = [c.code for c in spec.countries if c.code in polled[w]]
            sub = est.filter(pl.col("wave") == w)
            ext, info = _with_regions(sub, spec, here, notes)
            for rid, used in info.members.items():
                _note_once(
                    notes,
                    f"{rid} in {w}: the {rule_words(info.rules[rid])} of the {len(used)} "
                    f"members polled ({', '.join(used)})",
                )
            pw = pairwise_differences(ext, "country", adjust="none", confidence=confidence)
            out += _candidates(pw, "gap", question, "country", "wave", info, _lookup(ext), w)
    return out


def find(
    poll: Any,
    min_base: int = 100,
    alpha: float = 0.05,
    adjust: PAdjustMethod = "holm",
    questions: Sequence[str] | None = None,
    kinds: Sequence[FindingKind] = ("change", "gap"),
    waves: Sequence[str] | None = None,
    min_gap: float = 0.10,
    min_change: float = 0.0,
    include_non_substantive: bool = False,
    phrases: Mapping[str, Mapping[str, str]] | None = None,
    weights: Literal["raked", "base"] = "raked",
    confidence: float = 0.95,
    top: int | None = None,
    family: Literal["scan", "kind"] = "scan",
) -> Findings:
    """Scan a poll for significant changes between waves and gaps between countries and
    regions, rank them and word each as a sentence.

    Each comparison is the difference of two design-based shares with a normal (z)
    interval and test, from :func:`barometer.core.comparisons.pairwise_differences` (R
    ``svycontrast`` on ``svyby(..., covmat=TRUE)``): changes between consecutive waves of
    a country (independent samples: ``var = v1 + v2``) or of a region over its members
    polled in both waves (like for like); gaps within a wave between any two of the
    countries and regions, a country's overlap with a region that contains it entering
    through the covariance. Regions are combined by the spec's rule (``mean``: each
    member counts equally; ``population``) with :func:`barometer.core.comparisons.region`.

    The p-values of every comparison scanned (both bases at least ``min_base``) are
    adjusted together (``adjust``: ``holm`` controls the family-wise error rate, ``bh``
    the false-discovery rate; R ``p.adjust``). A finding is kept when its adjusted
    p-value is below ``alpha`` — so its interval excludes zero — and, for a gap between
    two countries, when it is at least ``min_gap`` (changes: ``min_change``). Findings
    are ranked by the nearer interval bound's distance from zero (size and evidence at
    once), then by adjusted p-value.

    Parameters
    ----------
    poll : Poll
        A weighted poll (``weights="base"`` works on an unweighted one).
    min_base : int
        Smallest unweighted base (respondents answering) of either side; below it
        nothing is claimed.
    alpha : float
        Significance level of the adjusted p-values.
    adjust : {"holm", "bh", "bonferroni", "none"}
        Multiple-comparison adjustment over the whole scan.
    questions : list of str, optional
        Question ids to scan (default: every question of the spec that is not a
        weighting variable).
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
    weights : {"raked", "base"}
        Weights of the estimates (see :meth:`Poll.estimate`).
    confidence : float
        Level of the intervals.
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
    >>> findings = find(poll, adjust="bh")  # doctest: +SKIP
    >>> print(findings.to_markdown())  # doctest: +SKIP
    """
    adjust = check_option(adjust, PAdjustMethod, "adjust", EstimationError)  # type: ignore[assignment]
    for kind in kinds:
        check_option(kind, FindingKind, "kinds", EstimationError)
    if family not in ("scan", "kind"):
        raise EstimationError(f"family={family!r} is not one of 'scan', 'kind'")
    if not 0 < alpha < 1:
        raise EstimationError(f"alpha={alpha!r} must lie between 0 and 1")
    if not 0 < confidence < 1:
        raise EstimationError(f"confidence={confidence!r} must lie between 0 and 1")
    spec = poll.spec
    known_q = [q.id for q in spec.questions if q.kind == "question"]
    chosen = list(questions) if questions is not None else known_q
    for qid in chosen:
        if qid not in known_q:
            raise EstimationError(
                f"find: no question {qid!r} to scan{did_you_mean(qid, known_q)}; "
                f"questions: {', '.join(known_q)}"
            )
    known_w = [w.id for w in spec.waves]
    for w in waves or ():
        if w not in known_w:
            raise EstimationError(f"find: no wave {w!r} in the poll{did_you_mean(w, known_w)}")
    notes: list[str] = []
    cands: list[dict[str, Any]] = []
    for qid in chosen:
        found = _scan_question(poll, qid, kinds, waves, weights, confidence, notes)
        keep = set(spec.question(qid).level_codes)
        if not include_non_substantive:
            keep -= set(spec.question(qid).non_substantive)
        cands += [c for c in found if c["level"] in keep]
    cands = [c for c in cands if min(c["stats_a"][2], c["stats_b"][2]) >= min_base]
    raw = np.array([c["p_value"] for c in cands], dtype=float)
    group = np.array([c["kind"] if family == "kind" else "" for c in cands], dtype=object)
    p_adj = np.empty(raw.size)
    for g in set(group.tolist()):
        p_adj[group == g] = adjust_pvalues(raw[group == g], adjust)
    kept = []
    for c, p in zip(cands, p_adj, strict=True):
        if not p < alpha or c["ci_low"] <= 0 <= c["ci_high"]:
            continue
        size = abs(c["difference"])
        both_countries = not ({c["a"][0], c["b"][0]} & set(c["regions"].members))
        if c["kind"] == "gap" and both_countries and size < min_gap:
            continue
        if c["kind"] == "change" and size < min_change:
            continue
        kept.append((min(abs(c["ci_low"]), abs(c["ci_high"])), float(p), c))
    kept.sort(key=lambda t: (-t[0], t[1]))
    if top is not None:
        kept = kept[:top]
    wording = Wording(spec, phrases or {})
    result = tuple(
        _finding(i, c, score, p, adjust, confidence, wording)
        for i, (score, p, c) in enumerate(kept, start=1)
    )
    settings = {
        "min_base": min_base,
        "alpha": alpha,
        "adjust": adjust,
        "confidence": confidence,
        "min_gap": min_gap,
        "min_change": min_change,
        "weights": weights,
        "questions": chosen,
        "kinds": list(kinds),
        "include_non_substantive": include_non_substantive,
        "family": family,
    }
    return Findings(result, settings, len(cands), tuple(notes))


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
    phrase = wording.phrase(c["question"], c["level"])
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
        sentence=wording.sentence(
            c["kind"], phrase, first, second, diff, (lo, hi), confidence, info.rules
        ),
        notes=wording.notes(c["kind"], first, second, info.rules),
    )
