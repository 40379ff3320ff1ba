"""The report's disclosure follows how each source's respondents were selected (issue
12): a margin of sampling error for probability samples, AAPOR's modelled margin of
error for opt-in ones, both when mixed; sponsor, contact and imputed values from the
spec and the store."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from types import MappingProxyType
from typing import Any

import pytest

from barometer.publish.report.html import render_report
from barometer.publish.report.methodology import sampling_view
from tests.support.report_demo import DemoReport, demo_report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return demo_report(tmp_path_factory)


def _with(data: Any, sampling: list[str | None], **changes: Any) -> Any:
    """The demo's report data with its sources' sampling set in turn (cycled)."""
    sources = [
        s.model_copy(update={"sampling": sampling[i % len(sampling)]})
        for i, s in enumerate(data.sources)
    ]
    one = data.questions[:1]
    return replace(data, sources=sources, questions=one, **changes)


def _text(html: str) -> str:
    """The methodology section as plain text."""
    section = html[html.index('<section id="methodology">') :]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", section)))


def _sentences(text: str, phrase: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if phrase in s]


def test_a_probability_sample_has_a_margin_of_sampling_error(report: DemoReport) -> None:
    data = _with(report.data, ["probability"], sponsor="Daily Planet", contact="p@x.org")
    html = render_report(data)
    text = _text(html)
    assert "Sponsor Daily Planet" in text and "Contact p@x.org" in text
    assert "Sample probability sample" in text
    assert "Precision: margins of sampling error" in text
    claims = _sentences(text, "margin of sampling error")
    assert claims and not any(re.search(r"\bnot\b", s) for s in claims), claims
    assert "known, non-zero chance of selection" in text
    assert "opt-in" not in text and "modelled" not in text
    assert html.count('data-kind="sampling">probability<') == len(data.sources)


def test_chart_captions_name_the_sample_kinds_margin(report: DemoReport) -> None:
    probability = render_report(_with(report.data, ["probability"]))
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", probability, flags=re.S)
    assert captions and all("modelled" not in c for c in captions), captions
    assert any("95% margins of sampling error" in c for c in captions), captions
    opt_in = render_report(_with(report.data, ["opt-in"]))
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", opt_in, flags=re.S)
    assert any("95% modelled margins of error" in c for c in captions), captions


def test_an_opt_in_sample_has_a_modelled_margin_of_error(report: DemoReport) -> None:
    data = _with(report.data, ["opt-in"], sponsor=None)
    html = render_report(data)
    text = _text(html)
    assert "Sponsor not recorded in the poll's specification" in text
    assert "Sample opt-in (non-probability) sample" in text
    assert "modelled margin of error" in text and "credibility interval" in text
    for sentence in _sentences(text, "margin of sampling error"):
        assert re.search(r"\bnot\b|\bno\b", sentence), sentence
    assert "known, non-zero chance" not in text
    assert "± modelled margin of error" in html


def test_mixed_sources_carry_both_wordings(report: DemoReport) -> None:
    data = _with(report.data, ["probability", "opt-in"])
    view = sampling_view(data)
    assert view["kind"] == "mixed" and view["sources"]["probability"]
    text = _text(render_report(data))
    assert "known, non-zero chance of selection" in text
    assert "modelled margin of error" in text
    first = data.sources[0].id
    assert f"Respondents of {first}" in text


def test_unrecorded_sampling_is_worded_as_opt_in(report: DemoReport) -> None:
    data = _with(report.data, [None])
    assert sampling_view(data)["kind"] == "unknown"
    text = _text(render_report(data))
    assert "does not record how respondents were selected" in text
    assert "modelled margin of error" in text


def test_the_deprecated_override_still_rules(report: DemoReport) -> None:
    from barometer.errors import BarometerDeprecationWarning

    data = _with(report.data, ["opt-in"])
    with pytest.warns(BarometerDeprecationWarning, match="probability_sample="):
        text = _text(render_report(data, probability_sample=True))
    assert "Sample probability sample" in text


def test_imputed_values_are_disclosed(report: DemoReport) -> None:
    facts = report.data.facts
    settings = dict(facts.weight_settings) | {
        "missing": "impute",
        "seed": 11,
        "imputed": [
            {"country": "DE", "wave": "2025-11", "variable": "age", "n_imputed": 12},
            {"country": "DE", "wave": "2025-11", "variable": "gender", "n_imputed": 0},
        ],
    }
    data = _with(
        report.data, ["opt-in"], facts=replace(facts, weight_settings=MappingProxyType(settings))
    )
    html = render_report(data)
    assert 'data-variable="age"><td class="left">' in html
    table = html[html.index('data-table="imputed"') :]
    table = table[: table.index("</table>")]
    assert '<td data-kind="imputed">12</td>' in table and 'data-variable="gender"' not in table
    text = _text(html)
    assert "(12 values in all)" in text and "seed 11" in text
    assert "Variances do not account for the imputation" in text
