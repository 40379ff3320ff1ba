"""The words of findings (barometer.publish.findings.wording): names, phrases, numbers, sentences,
notes and the Markdown document, on a small hand-made spec (no poll needed).

The sentences of the demo poll's findings are checked end to end in test_findings.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from barometer.publish.findings.find import Finding, Findings, Subject
from barometer.publish.findings.wording import Wording, markdown, members, rule_words

LEVELS = [
    SimpleNamespace(code="ally", label="An ally", finding_label="see the US as an ally"),
    SimpleNamespace(code="rival", label="A rival with which we need to compete and more"),
]
SPEC = SimpleNamespace(
    countries=[
        SimpleNamespace(code="KR", name="South Korea"),
        SimpleNamespace(code="GB", name="United Kingdom"),
        SimpleNamespace(code="DE", name="Germany"),
    ],
    regions=[
        SimpleNamespace(id="EU", name="EU"),
        SimpleNamespace(id="NORDIC", name="Nordic countries"),
    ],
    waves=[SimpleNamespace(id="2024-11"), SimpleNamespace(id="2025-11")],
    question=lambda qid: SimpleNamespace(levels=LEVELS),
)


@pytest.fixture
def wording() -> Wording:
    return Wording(SPEC, {})


def _subject(sid: str, wave: str, estimate: float, countries: tuple[str, ...] = ()) -> Subject:
    region = bool(countries)
    return Subject(
        id=sid,
        name={"KR": "South Korea", "DE": "Germany"}.get(sid, sid),
        type="region" if region else "country",
        wave=wave,
        estimate=estimate,
        se=0.01,
        n=1000,
        countries=countries if region else (sid,),
    )


def test_phrase_from_the_spec_when_it_has_one(wording: Wording) -> None:
    assert wording.phrase("q", "ally") == "see the US as an ally"
    assert wording.phrase("q", "rival") == "answer 'A rival with which we need to compete…' (q)"
    assert Wording(SPEC, {"q": {"ally": "call the US an ally"}}).phrase("q", "ally") == (
        "call the US an ally"
    )
    assert wording.label("q", "rival") == "A rival with which we need to compete and more"


def test_names_and_places(wording: Wording) -> None:
    assert wording.name("KR") == "South Korea" and wording.name("EU") == "EU"
    assert wording.place("KR") == "in South Korea"
    assert wording.place("GB") == "in the United Kingdom"
    assert wording.place("EU") == "in the EU"
    # a region by its spec name, not its id (issue 11)
    assert wording.place("NORDIC") == "in the Nordic countries"
    assert members(1) == "1 member" and members(3) == "3 members"
    assert wording.wave_order("2025-11") == 1
    assert rule_words("mean") == "average"
    assert rule_words("population") == "population-weighted average"
    assert rule_words("median") == "median"  # not a population-weighted average


def test_change_sentence_and_region_notes(wording: Wording) -> None:
    eu = ("DE", "FR")
    first, second = _subject("EU", "2025-11", 0.16, eu), _subject("EU", "2024-11", 0.21, eu)
    text = wording.sentence(
        "change", "see the US as an ally", first, second, -0.05, (-0.068, -0.032), 0.95,
        {"EU": "mean"},
    )  # fmt: skip
    assert text == (
        "EU: 16% see the US as an ally in 2025-11, down from 21% in 2024-11 "
        "(−5.0 points, 95% CI −6.8 to −3.2; EU: average of the 2 members polled in both waves)."
    )
    assert wording.notes("change", first, second, {"EU": "mean"}) == (
        "EU: average of the 2 members polled in both 2024-11 and 2025-11 (like for like): DE, FR",
    )


def test_gap_sentence_and_overlap_note(wording: Wording) -> None:
    first = _subject("DE", "2025-11", 0.30)
    second = _subject("EU", "2025-11", 0.20, ("DE", "FR"))
    rules = {"EU": "population"}
    text = wording.sentence("gap", "agree", first, second, 0.1, (0.05, 0.15), 0.9, rules)
    assert text == (
        "Germany: 30% agree in 2025-11, against 20% in the EU (+10.0 points, 90% CI 5.0 to "
        "15.0; EU: population-weighted average of the 2 members polled)."
    )
    assert wording.notes("gap", first, second, rules) == (
        "EU: population-weighted average of the 2 members polled in 2025-11: DE, FR",
        "Germany is one of the members of the region it is compared with; "
        "the test accounts for the overlap",
    )
    two = _subject("KR", "2025-11", 0.42)
    assert wording.notes("gap", two, first, {}) == ()
    assert "against 30% in Germany (+12.0 points" in wording.sentence(
        "gap", "agree", two, first, 0.12, (0.1, 0.14), 0.95, {}
    )


def test_markdown_document() -> None:
    kr, de = _subject("KR", "2025-11", 0.42), _subject("DE", "2025-11", 0.2)
    f = Finding(
        rank=1, kind="gap", question="q", level="ally", level_label="An ally", first=kr,
        second=de, difference=0.22, se=0.02, ci_low=0.18, ci_high=0.26, confidence=0.95,
        p_value=1e-9, p_adjusted=1e-8, adjust="bh", score=0.18, sentence="KR above DE.",
    )  # fmt: skip
    settings = {"alpha": 0.05, "adjust": "bh", "min_base": 100, "confidence": 0.95}
    text = markdown(Findings((f,), settings, 12, ("a note",)))
    assert text == (
        "# Findings\n\n"
        "1 significant differences out of 12 comparisons (p < 0.05 after Benjamini-Hochberg "
        "adjustment over all of them; bases of at least 100 respondents; intervals are 95% "
        "intervals).\n\n"
        "## Headlines\n\n- KR above DE.\n\n"
        "## Gaps between countries and regions\n\n1. KR above DE.\n\n"
        "## Notes\n\n- a note\n"
    )
    assert Findings((f,), settings, 12, ("a note",)).to_markdown() == text
    empty = markdown(Findings((), {"adjust": "none"}, 0))
    assert "after no adjustment" in empty and "##" not in empty
