"""The words of findings: names, phrases, numbers, sentences, notes and the Markdown document.

:mod:`barometer.publish.findings.find` decides what is compared, kept and ranked; this
module only says it. Countries and regions are named from the spec (``in South Korea``,
``in the EU``); an answer level reads as the phrase given to
:func:`barometer.publish.findings.find.find`, its ``finding_label`` in the spec, or
``answer '<label>'``; a net by its own ``finding_label`` or label. Shares print as whole
percentages and differences as signed points with one decimal, by the report's one
rounding rule (:mod:`barometer.publish.numbers`); a numeric question's mean reads "average
<its finding_label>" with one decimal more than the percentages ("rose from 5.1 to 5.6 out
of 10").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from barometer.options import CONFIDENCE
from barometer.poll.regions import members_phrase, rule_words
from barometer.publish.cells import markdown_text
from barometer.publish.numbers import format_level, format_mean, format_percent

if TYPE_CHECKING:
    from barometer.poll.spec import Question
    from barometer.publish.findings.find import Findings, Subject

#: Longest answer label quoted in a sentence before it is cut (at a word) with "…".
_LABEL_CHARS = 40
#: Country names read with an article ("in the United Kingdom").
_DANGLING = {"a", "an", "and", "or", "the", "of", "to", "in", "with", "which", "that", "we"}
_WITH_ARTICLE = ("United ", "Netherlands", "Czech Republic", "Philippines", "Gambia")

_ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni"}
_ADJUST_NAMES["none"] = "no"


class Wording:
    """Names of countries and regions and phrases of answer levels, from the spec, and
    the sentence and notes of a finding built from them."""

    def __init__(
        self, spec: Any, phrases: Mapping[str, Mapping[str, str]], decimals: int = 0
    ) -> None:
        self.spec = spec
        self.phrases = phrases
        self.decimals = decimals
        self.countries = {c.code: c.name for c in spec.countries}
        self.regions = {r.id: r.name or r.id for r in spec.regions}
        self.waves = {w.id: i for i, w in enumerate(spec.waves)}
        self._questions: dict[str, Question] = {}

    def question(self, qid: str) -> Question:
        """The spec's question ``qid``, looked up once (a scan words thousands of
        comparisons of a few questions)."""
        found = self._questions.get(qid)
        if found is None:
            found = self._questions[qid] = self.spec.question(qid)
        return found

    def wave_order(self, wave: str) -> int:
        return self.waves[wave]

    def name(self, subject: str) -> str:
        """A country's or region's name in the spec ("Nordic countries", not "NORDIC")."""
        return self.countries.get(subject) or self.regions.get(subject) or subject

    def place(self, subject: str) -> str:
        """``in South Korea``, ``in the United Kingdom``, ``in the EU``."""
        name = self.name(subject)
        article = subject not in self.countries or name.startswith(_WITH_ARTICLE)
        return f"in the {name}" if article else f"in {name}"

    def label(self, question: str, level: str | None) -> str:
        """A level's (or net's) label; ``"mean"`` for a numeric question's mean."""
        q = self.question(question)
        if level is None:
            return "mean"
        net = _net(q, level)
        if net is not None:
            return str(net.label)
        return next(lv.label for lv in q.levels if lv.code == level)

    def phrase(self, question: str, level: str | None) -> str:
        """How a sentence speaks of those who gave ``level`` ("see the US as an ally"),
        or of a numeric question's mean ("average trust in the EU")."""
        q = self.question(question)
        if level is None:
            given = self.phrases.get(question, {}).get("mean")
            return given or f"average {q.finding_label or _short(q.wording or q.id)}"
        given = self.phrases.get(question, {}).get(level)
        if given:
            return given
        lv = _net(q, level) or next(lv for lv in q.levels if lv.code == level)
        own = getattr(lv, "finding_label", None) or getattr(lv, "phrase", None)
        if own:
            return str(own)
        return f"answer '{_short(lv.label)}' ({question})"

    def out_of(self, question: str) -> str:
        """`` out of 10`` for a scale from 0 (a mean reads against its top), else empty."""
        q = self.question(question)
        if q.range is None or q.range[0] != 0:
            return ""
        return f" out of {q.range[1]:g}"

    def mean_sentence(
        self,
        kind: str,
        question: str,
        first: Subject,
        second: Subject,
        diff: float,
        interval: tuple[float, float],
        confidence: float,
        rules: Mapping[str, str],
    ) -> str:
        """A finding about a numeric question's mean: "Germany: average trust in the EU
        rose from 5.1 to 5.6 out of 10 between 2024-11 and 2025-11 (+0.5, 95% CI 0.2 to
        0.8)", or "... was 5.6 out of 10 in 2025-11, against 5.1 in France (...)"."""
        d = self.decimals
        lo, hi = interval
        conf = format_level(confidence)
        out_of = self.out_of(question)
        figures = (
            f"{format_mean(diff, d, signed=True)}, {conf} CI {format_mean(lo, d)} to "
            f"{format_mean(hi, d)}"
        )
        regions = [s for s in {s.id: s for s in (first, second)}.values() if s.type == "region"]
        region_note = "; ".join(
            f"{s.name}: {rule_words(rules[s.id])} of the {members(len(s.countries))} polled"
            + (" in both waves" if kind == "change" else "")
            for s in regions
        )
        tail = f" ({figures}{'; ' + region_note if region_note else ''})."
        phrase = self.phrase(question, None)
        if kind == "change":
            verb = "rose" if diff > 0 else "fell"
            return (
                f"{first.name}: {phrase} {verb} from {format_mean(second.estimate, d)} to "
                f"{format_mean(first.estimate, d)}{out_of} between {second.wave} and "
                f"{first.wave}" + tail
            )
        return (
            f"{first.name}: {phrase} was {format_mean(first.estimate, d)}{out_of} in "
            f"{first.wave}, against {format_mean(second.estimate, d)} "
            f"{self.place(second.id)}" + tail
        )

    def notes(
        self, kind: str, first: Subject, second: Subject, rules: Mapping[str, str]
    ) -> tuple[str, ...]:
        """What a reader needs to know behind the figures: which members make each region
        (by its ``rules`` entry) and whether a country is compared with its own region."""
        notes = []
        for s in {s.id: s for s in (first, second)}.values():
            if s.type == "region":
                k = members(len(s.countries))
                who = (
                    f"the {k} polled in both {second.wave} and {first.wave} (like for like)"
                    if kind == "change"
                    else f"the {k} polled in {s.wave}"
                )
                notes.append(
                    f"{s.name}: {rule_words(rules[s.id])} of {who}: {', '.join(s.countries)}"
                )
        overlap = [
            s.id
            for s, o in ((first, second), (second, first))
            if s.type == "country" and o.type == "region" and s.id in o.countries
        ]
        if overlap:
            notes.append(
                f"{self.name(overlap[0])} is one of the members of the region it is compared "
                "with; the test accounts for the overlap"
            )
        return tuple(notes)

    def sentence(
        self,
        kind: str,
        phrase: str,
        first: Subject,
        second: Subject,
        diff: float,
        interval: tuple[float, float],
        confidence: float,
        rules: Mapping[str, str],
    ) -> str:
        """The finding as one sentence: ``first`` (the later wave of a change, the higher
        side of a gap) against ``second``, the difference ``diff`` with its ``interval``
        in points, and how any region is combined."""
        lo, hi = interval
        conf = format_level(confidence)
        points = (
            f"{_points(diff)} points, {conf} CI {format_percent(lo, 1)} to {format_percent(hi, 1)}"
        )
        regions = {s.id: s for s in (first, second) if s.type == "region"}
        region_note = "; ".join(
            f"{s.name}: {rule_words(rules[s.id])} of the {members(len(s.countries))} polled"
            + (" in both waves" if kind == "change" else "")
            for s in regions.values()
        )
        tail = f" ({points}{'; ' + region_note if region_note else ''})."
        if kind == "change":
            direction = "up" if diff > 0 else "down"
            return (
                f"{first.name}: {_pct(first.estimate)} {phrase} in {first.wave}, {direction} from "
                f"{_pct(second.estimate)} in {second.wave}" + tail
            )
        return (
            f"{first.name}: {_pct(first.estimate)} {phrase} in {first.wave}, against "
            f"{_pct(second.estimate)} {self.place(second.id)}" + tail
        )


def markdown(findings: Findings) -> str:
    """The findings as a Markdown document: how they were found, the headlines, then
    every change and every gap, ranked, and the notes on regions.

    Sentences and notes carry names and labels from the spec, so they are escaped
    (:func:`barometer.publish.cells.markdown_text`): data never becomes markup."""
    s = findings.settings
    conf = format_level(s.get("confidence", CONFIDENCE))
    lines = [
        "# Findings",
        "",
        f"{len(findings)} significant differences out of {findings.n_tests} comparisons "
        f"(p < {s.get('alpha')} after {_ADJUST_NAMES.get(str(s.get('adjust')), '')} "
        f"adjustment over all of them; bases of at least {s.get('min_base')} "
        f"respondents; intervals are {conf} intervals).",
    ]
    heads = findings.headlines()
    if heads:
        lines += ["", "## Headlines", ""]
        lines += [f"- {markdown_text(f.sentence)}" for f in heads]
    titles = {"change": "Changes between waves", "gap": "Gaps between countries and regions"}
    for kind, title in titles.items():
        these = [f for f in findings.findings if f.kind == kind]
        if not these:
            continue
        lines += ["", f"## {title}", ""]
        lines += [f"{i}. {markdown_text(f.sentence)}" for i, f in enumerate(these, start=1)]
    if findings.items:
        lines += ["", "## Gaps between the items of a grid", ""]
        lines += [
            f"{i}. {markdown_text(g.sentence)}" for i, g in enumerate(findings.items, start=1)
        ]
    if findings.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {markdown_text(n)}" for n in findings.notes]
    return "\n".join(lines) + "\n"


def members(k: int) -> str:
    """``"1 member"``, ``"3 members"`` (:func:`barometer.poll.regions.members_phrase`)."""
    return members_phrase(k)


def _net(question: Any, code: str) -> Any:
    """The net ``code`` of ``question``, or None (a question may have no nets)."""
    return next((n for n in getattr(question, "nets", ()) if n.code == code), None)


def _short(label: str) -> str:
    if len(label) <= _LABEL_CHARS:
        return label
    words = label[: _LABEL_CHARS - 1].split(" ")[:-1]
    while len(words) > 1 and words[-1].lower() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:") + "…"


def _pct(share: float) -> str:
    return format_percent(share) + "%"


def _points(x: float) -> str:
    text = format_percent(x, 1)
    return text if text.startswith("−") or text == "0.0" else "+" + text
