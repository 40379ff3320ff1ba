"""Findings of the demo poll: the seed facts are found, worded and tested like for like.

Tolerances:
* EXACT = 1e-12 — a finding's numbers are the core's estimates and contrasts, unchanged.
* SEED = 0.01 — the demo's simulated samples recover the published shares within about
  one point (its 95% margins are 1-2 points).
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from barometer.core.comparisons import difference, region
from barometer.errors import BarometerError, EstimationError
from barometer.publish.findings.find import Finding, Findings, find
from tests.support.report_demo import demo_poll

EXACT = 1e-12
SEED = 0.01
ALLY = {"us_relationship": {"ally": "see the US as an ally"}}
EU_2025 = ["BG", "DK", "EE", "FR", "DE", "HU", "IT", "PL", "PT", "ES"]


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory):
    return demo_poll(tmp_path_factory)


@pytest.fixture(scope="module")
def pub(poll):
    return poll.publication()


@pytest.fixture(scope="module")
def findings(pub) -> Findings:
    return find(pub, phrases=ALLY)


def _one(findings: Findings, **want: object) -> Finding:
    hits = [
        f
        for f in findings
        if all(
            (getattr(f.first, k[6:]) if k.startswith("first_") else
             getattr(f.second, k[7:]) if k.startswith("second_") else getattr(f, k)) == v
            for k, v in want.items()
        )
    ]  # fmt: skip
    assert len(hits) == 1, f"{len(hits)} findings match {want}"
    return hits[0]


def test_eu_ally_fell_like_for_like(poll, findings: Findings) -> None:
    f = _one(findings, kind="change", question="us_relationship", level="ally", first_id="EU")
    assert (f.first.wave, f.second.wave) == ("2025-11", "2024-11")
    assert f.first.type == "region"
    assert list(f.first.countries) == EU_2025 == list(f.second.countries)  # Romania left out
    assert f.first.estimate == pytest.approx(0.16, abs=SEED)
    assert f.second.estimate == pytest.approx(0.21, abs=SEED)
    # the same figures as the poll's own like-for-like regional estimate
    eu = poll.estimate("us_relationship", region="EU").to_polars().filter(pl.col("level") == "ally")
    by_wave = {w: (e, s) for w, e, s in eu.select("wave", "estimate", "se").rows()}
    assert f.first.estimate == pytest.approx(by_wave["2025-11"][0], rel=EXACT)
    assert f.second.estimate == pytest.approx(by_wave["2024-11"][0], rel=EXACT)
    # waves are independent samples: var = v1 + v2
    assert f.se == pytest.approx(math.hypot(by_wave["2025-11"][1], by_wave["2024-11"][1]), rel=1e-9)
    assert f.difference == pytest.approx(f.first.estimate - f.second.estimate, rel=EXACT)
    assert f.ci_high < 0
    assert f.sentence.startswith(
        "EU member states polled: 16% see the US as an ally in 2025-11, down from 21% in "
        "2024-11 (−5."
    )
    assert "average of the 10 members polled in both waves" in f.sentence


def test_korea_far_more_likely_than_eu_to_see_an_ally(findings: Findings) -> None:
    f = _one(
        findings, kind="gap", question="us_relationship", level="ally", first_id="KR",
        second_id="EU", first_wave="2025-11",
    )  # fmt: skip
    assert f.first.estimate == pytest.approx(0.41, abs=SEED)
    assert f.second.estimate == pytest.approx(0.16, abs=SEED)
    assert f.difference > 0.2 and f.ci_low > 0.2
    assert f.sentence.startswith("South Korea: 42% see the US as an ally in 2025-11, against 16%")
    assert "in the EU" in f.sentence


def test_no_finding_whose_interval_includes_zero(findings: Findings) -> None:
    assert len(findings) > 0
    for f in findings:
        assert not f.ci_low <= 0 <= f.ci_high, f.sentence
        assert f.p_adjusted < 0.05 and f.p_value <= f.p_adjusted
        assert min(f.first.n, f.second.n) >= 100


def test_ranked_by_smallest_supported_difference(findings: Findings, pub) -> None:
    scores = [f.score for f in findings]
    assert scores == sorted(scores, reverse=True)
    assert [f.rank for f in findings] == list(range(1, len(findings) + 1))
    for f in findings:
        # a mean's score is in shares of its question's range (0-10: divided by 10)
        q = pub.spec.question(f.question)
        width = q.range[1] - q.range[0] if q.is_numeric and q.range else 1.0
        assert f.score == pytest.approx(min(abs(f.ci_low), abs(f.ci_high)) / width, rel=EXACT)


def test_gaps_oriented_and_country_pairs_notable(findings: Findings) -> None:
    for f in findings:
        if f.kind == "gap":
            assert f.difference > 0 and f.first.wave == f.second.wave
            if f.first.type == f.second.type == "country":
                assert f.difference >= 0.10
        else:
            assert f.first.id == f.second.id and f.first.wave > f.second.wave


def test_country_against_its_region_uses_the_overlap(poll, findings: Findings) -> None:
    f = next(
        f
        for f in findings
        if f.kind == "gap"
        and {f.first.type, f.second.type} == {"country", "region"}
        and (f.first.id in f.second.countries or f.second.id in f.first.countries)
    )
    wave = f.first.wave
    est = poll.estimate(f.question).filter(pl.col("wave") == wave)
    members = list(f.first.countries if f.first.type == "region" else f.second.countries)
    ext = region(est, "country", members, "EU")
    want = difference(
        ext,
        {"country": f.first.id, "level": f.level},
        ext,
        {"country": f.second.id, "level": f.level},
    )
    assert f.difference == pytest.approx(want.estimate, rel=EXACT)
    assert f.se == pytest.approx(want.se, rel=1e-9)
    # a member moves its region: the covariance lowers the variance of the gap
    assert f.se < math.hypot(f.first.se, f.second.se)
    assert any("accounts for the overlap" in n for n in f.notes)


def test_records_hold_what_a_reader_needs(findings: Findings, tmp_path) -> None:
    md, js = findings.write(tmp_path)
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["n_tests"] == findings.n_tests and doc["settings"]["adjust"] == "holm"
    rec = doc["findings"][0]
    for key in ("kind", "question", "level", "difference", "ci_low", "ci_high", "p_value",
                "p_adjusted", "sentence"):  # fmt: skip
        assert key in rec
    for key in ("id", "wave", "estimate", "n", "countries"):
        assert key in rec["first"] and key in rec["second"]
    text = md.read_text(encoding="utf-8")
    for section in ("## Headlines", "## Changes between waves", "## Gaps between countries"):
        assert section in text
    assert findings[0].sentence in text
    flat = findings.to_polars()
    assert flat.height == len(findings) and "first_countries" in flat.columns


def test_findings_json_is_the_records_one_finding_per_line(findings: Findings) -> None:
    text = findings.to_json()
    doc = json.loads(text)
    assert doc["findings"] == json.loads(json.dumps(findings.to_dicts()))
    assert doc["item_gaps"] == json.loads(json.dumps([g.to_dict() for g in findings.items]))
    lines = text.splitlines()
    # the document's keys, then one line per finding between the list's brackets
    assert lines[0] == "{" and lines[-1] == "}"
    first = lines.index('  "findings": [')
    for i, record in enumerate(doc["findings"]):
        assert json.loads(lines[first + 1 + i].strip().rstrip(",")) == record
    assert lines[first + 1 + len(findings)].strip() in ("]", "],")
    # letters beyond ASCII as they are (the sentences' minus signs), not escaped
    assert "\\u" not in text and "\u2212" in text


def test_min_base_and_adjustment(poll, pub) -> None:
    none = find(pub, questions=["us_relationship"], min_base=10**6)
    assert len(none) == 0 and none.n_tests == 0
    holm = find(pub, questions=["us_relationship"], kinds=["change"])
    bh = find(pub, questions=["us_relationship"], kinds=["change"], adjust="bh")
    assert len(bh) >= len(holm) > 0
    assert {f.kind for f in bh} == {"change"}


def test_phrase_comes_from_the_specs_finding_label(poll, pub) -> None:
    f = find(pub, questions=["us_relationship"], kinds=["change"], top=3)
    assert len(f) == 3
    ally = [x for x in find(pub, questions=["us_relationship"]) if x.level == "ally"]
    assert "see the US as an ally" in ally[0].sentence
    given = find(pub, questions=["us_relationship"], phrases={"us_relationship": {"ally": "X"}})
    assert any(x.level == "ally" and "% X " in x.sentence for x in given)


def test_non_substantive_levels_only_when_asked(poll, pub) -> None:
    plain = find(pub, questions=["us_relationship"])
    assert "dont_know" not in {f.level for f in plain}
    every = find(pub, questions=["us_relationship"], include_non_substantive=True)
    assert every.n_tests > plain.n_tests


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"questions": ["us_relationshp"]}, "did you mean 'us_relationship'"),
        ({"questions": ["age"]}, "no question 'age'"),
        ({"adjust": "fdr"}, "adjust='fdr'"),
        ({"waves": ["2023-11"]}, "no wave '2023-11'"),
        ({"kinds": ["trend"]}, "kinds='trend'"),
        ({"alpha": 5}, "alpha=5"),
    ],
)
def test_bad_input_one_clear_error(poll, pub, kwargs: dict, message: str) -> None:
    with pytest.raises(EstimationError, match=message) as err:
        find(pub, **kwargs)
    assert isinstance(err.value, BarometerError)


def test_findings_feed_the_report(findings: Findings) -> None:
    from barometer.publish.report.html import _findings_view

    view = _findings_view(findings)
    assert [v["sentence"] for v in view][:3] == [f.sentence for f in findings][:3]
    assert np.isfinite([f.p_adjusted for f in findings]).all()


def test_headlines_lead_with_the_seed_facts(findings: Findings) -> None:
    heads = findings.headlines(8)
    assert len(heads) == 8
    keys = {(f.kind, f.question, f.level) for f in heads}
    assert len(keys) == 8  # one per kind × question × level
    assert any(f.kind == "change" and f.first.id == "EU" and f.level == "ally" for f in heads)
    assert any(
        f.kind == "gap" and (f.first.id, f.second.id) == ("KR", "EU") and f.level == "ally"
        for f in heads
    )
    assert [f.kind for f in heads[:4]] == ["change", "gap", "change", "gap"]


def test_like_for_like_set_is_said(findings: Findings) -> None:
    (note,) = [n for n in findings.notes if "like for like" in n]
    assert "10 members polled in both waves" in note and "left out" in note and "RO" in note
    assert note in findings.to_markdown()


def test_adjusting_per_kind_is_less_strict(poll, pub) -> None:
    scan = find(pub, questions=["us_relationship", "defence_spending"])
    per_kind = find(pub, questions=["us_relationship", "defence_spending"], family="kind")
    assert per_kind.n_tests == scan.n_tests and len(per_kind) >= len(scan)
    with pytest.raises(EstimationError, match="family='wave'"):
        find(pub, family="wave")  # type: ignore[arg-type]
