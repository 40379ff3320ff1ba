"""The spec's ``models:`` section: fitted by the publication, shown in the report (issue 19).

Each declared model is ``Poll.glm`` over its scope (the publication holds the fitted
``Model``, so its numbers are the core's, to the bit); the report prints a coefficient table
per model with the publication's formatting rule, and odds ratios for a logistic model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from barometer.errors import EstimationError
from barometer.poll.poll import Poll
from barometer.publish.numbers import format_number
from barometer.publish.report.html import collect, render_report
from tests.publish.report.test_html import parse
from tests.support.pollkit import edit_spec, make_poll

ALLY = "I(us_relationship == 'ally') ~ C(age) + C(gender) + C(country)"
MODELS = [
    {"id": "ally", "title": "Seeing the US as an ally", "formula": ALLY, "family": "quasibinomial"},
    {
        "id": "ally_de",
        "formula": "I(us_relationship == 'ally') ~ C(age)",
        "family": "binomial",
        "countries": ["DE"],
        "waves": ["2025-11"],
    },
    {
        "id": "linear",
        "title": "<script>alert('partner')</script>",
        "formula": "I(us_relationship == 'partner') ~ C(age) * C(gender)",
    },
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    root = tmp_path_factory.mktemp("models_section")
    spec = edit_spec(make_poll(root, n=300, seed=7), lambda s: s.update(models=MODELS))
    poll, _ = Poll.ingest(spec, root / "poll.duckdb")
    poll.weight()
    return poll, poll.publication()


def test_the_publication_fits_each_declared_model(built: tuple[Any, Any]) -> None:
    poll, pub = built
    assert list(pub.models) == ["ally", "ally_de", "linear"]
    for declared in MODELS:
        want = poll.glm(
            declared["formula"],
            family=declared.get("family", "gaussian"),
            countries=declared.get("countries"),
            waves=declared.get("waves"),
        )
        got = pub.model(declared["id"])
        assert got.terms == want.terms
        np.testing.assert_array_equal(got.coefficients, want.coefficients)
        np.testing.assert_array_equal(got.vcov(), want.vcov())
    assert pub.model("ally_de").n < pub.model("ally").n
    with pytest.raises(EstimationError, match=r"no model 'aly'.*did you mean 'ally'"):
        pub.model("aly")


def test_the_report_prints_a_coefficient_table_per_model(built: tuple[Any, Any]) -> None:
    _, pub = built
    html = render_report(collect(pub))
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html  # text, not code
    root = parse(html)
    for declared in MODELS:
        model = pub.model(declared["id"])
        (table,) = root.find_all("table", data_model=declared["id"])
        rows = table.find_all("tr")[1:]
        coefs = model.to_polars(pub.rules.confidence)
        assert [r.attrs["data-term"] for r in rows] == coefs["term"].to_list()
        for row, want in zip(rows, coefs.iter_rows(named=True), strict=True):
            (est,) = row.find_all("td", data_kind="estimate")
            (se,) = row.find_all("td", data_kind="se")
            assert est.text == format_number(want["estimate"], 3)
            assert se.text == format_number(want["se"], 3)
            odds = row.find_all("td", data_kind="odds_ratio")
            if "binomial" in declared.get("family", ""):
                assert odds[0].text == format_number(math.exp(want["estimate"]), 2)
            else:
                assert not odds
    (n,) = [s for s in root.find_all("span", data_kind="n")][:1]
    assert n.text == f"{pub.model('ally').n:,}"


def test_a_model_that_cannot_be_fitted_is_a_note(tmp_path: Path) -> None:
    separated = {"id": "sep", "formula": "I(us_relationship == 'ally') ~ I(us_relationship)"}
    spec = edit_spec(
        make_poll(tmp_path, n=120, seed=3),
        lambda s: s.update(models=[separated | {"family": "binomial"}]),
    )
    poll, _ = Poll.ingest(spec, tmp_path / "poll.duckdb")
    poll.weight()
    pub = poll.publication(questions=["us_relationship"])
    assert "sep" not in pub.models
    assert any(n.startswith("model sep:") for n in pub.notes)
    with pytest.raises(EstimationError, match="could not be fitted"):
        pub.model("sep")
    html = render_report(collect(pub))
    assert "model sep:" in html


def test_olr_on_a_question_follows_its_answer_order(built: tuple[Any, Any]) -> None:
    """The poll hands the core its questions as enums in questionnaire order, so an
    ordinal model of a question cuts between its levels in that order (not sorted)."""
    poll, _ = built
    fit = poll.design("raked").olr("us_relationship ~ C(age)")
    assert fit.levels == ("ally", "partner", "dont_know")
    assert fit.terms[-2:] == ("ally|partner", "partner|dont_know")


def test_the_report_charts_each_models_coefficients(built: tuple[Any, Any]) -> None:
    """One dot plot per model: its terms (the intercept left out) with their intervals,
    odds ratios on a log axis for a logistic model; a valid Vega-Lite spec."""
    import xml.etree.ElementTree as ET

    from barometer.publish.charts import coefficient_dots, to_svg

    _, pub = built
    model = pub.model("ally")
    odds = model.odds_ratios(pub.rules.confidence)
    chart = coefficient_dots(odds, title="Ally", odds_ratios=True)
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    root = ET.fromstring(to_svg(chart))
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert set(odds["term"].to_list()[1:]) <= texts and "Intercept" not in texts
    html = parse(render_report(collect(pub)))
    alts = [img.attrs["alt"] for img in html.find_all("img")]
    for declared in MODELS:
        assert any(f"model {declared['id']} " in a for a in alts), alts
