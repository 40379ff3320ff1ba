"""The spec's numeric questions, nets and range recodes (issue 14): syntax and every
validation message with its location."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from barometer.errors import SpecError
from barometer.poll.spec import dump_spec, load_spec, parse_spec
from tests.support.pollkit import base_spec

_RECODE = [
    {"range": [18, 29], "to": "young"},
    {"range": [30, 120], "to": "old"},
    {"else": None},
]


def _spec(**question: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["questions"].append(
        {
            "id": "trust_eu",
            "kind": "numeric",
            "wording": "How much do you trust the EU (0-10)?",
            "range": [0, 10],
            "missing": [98, 99],
            "finding_label": "trust in the EU",
        }
        | question
    )
    spec["questions"][0]["nets"] = [
        {"code": "ally_or_partner", "label": "Ally or partner", "levels": ["ally", "partner"]}
    ]
    spec["sources"] = [
        {
            "id": "de",
            "file": "de.sav",
            "wave": "2024-11",
            "country": "DE",
            "respondent_id": "id",
            "variables": {
                "trust_eu": {"column": "Q_TRUST"},
                "age": {"column": "Q_AGE", "recode": [dict(r) for r in _RECODE]},
            },
        }
    ]
    return spec


def _problems(spec: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(spec, origin="poll.yaml")
    return str(err.value)


def test_numeric_question_nets_and_recode_parse() -> None:
    spec = parse_spec(_spec())
    trust = spec.question("trust_eu")
    assert trust.is_numeric and trust.range == (0.0, 10.0) and trust.missing == [98.0, 99.0]
    assert trust.level_codes == [] and trust.finding_label == "trust in the EU"
    us = spec.question("us_relationship")
    net = us.net("ally_or_partner")
    assert net is not None and net.levels == ["ally", "partner"] and us.net("ally") is None
    rules = spec.sources[0].variables["age"].recode
    assert rules is not None
    assert [(r.range, r.level) for r in rules] == [
        ((18.0, 29.0), "young"),
        ((30.0, 120.0), "old"),
        (None, None),
    ]


def test_spec_with_the_new_kinds_round_trips_through_yaml(tmp_path: Path) -> None:
    spec = parse_spec(_spec(), base_dir=tmp_path)
    path = dump_spec(spec, tmp_path / "spec.yaml")
    again = load_spec(path)
    assert again.question("trust_eu") == spec.question("trust_eu")
    assert again.question("us_relationship").nets == spec.question("us_relationship").nets
    assert again.sources[0].variables["age"] == spec.sources[0].variables["age"]
    assert "else: null" in path.read_text()


def test_band_codes_like_18_29_stay_strings(tmp_path: Path) -> None:
    # A banded delivery: the file's text "18-29" maps to the level "18-29"; YAML reads
    # neither the key nor the level as a number or a date.
    text = """
    name: Bands
    countries: [{code: DE, name: Germany}]
    waves: [{id: 2025-11}]
    questions:
      - id: age
        kind: weighting
        levels: [{code: 18-29, label: 18-29}, {code: 30+, label: 30 and over}]
    sources:
      - id: de
        file: de.csv
        wave: 2025-11
        country: DE
        respondent_id: id
        variables:
          age: {column: AGEBAND, codes: {18-29: 18-29, 30+: 30+}}
      - id: de2
        file: de2.csv
        wave: 2025-11
        country: DE
        respondent_id: id
        variables:
          age:
            column: AGE
            recode: [{range: [18, 29], to: 18-29}, {range: [30, 99], to: 30+}]
    """
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = load_spec(path)
    assert spec.question("age").level_codes == ["18-29", "30+"]
    assert spec.sources[0].variables["age"].codes == {"18-29": "18-29", "30+": "30+"}
    rules = spec.sources[1].variables["age"].recode
    assert rules is not None and [r.level for r in rules] == ["18-29", "30+"]


def test_overlapping_and_gapped_ranges_are_located() -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["age"]["recode"] = [
        {"range": [18, 29], "to": "young"},
        {"range": [29, 44], "to": "old"},
        {"range": [50, 120], "to": "old"},
    ]
    text = _problems(spec)
    assert (
        "sources[0].variables.age.recode[1]: range [29, 44] overlaps recode[0]'s [18, 29]"
    ) in text
    assert (
        "sources[0].variables.age.recode[2]: range [50, 120] leaves a gap after "
        "recode[1]'s [29, 44]; start it at 45, or map the gap to null with "
        "{range: [45, 49], to: null}"
    ) in text
    assert "2 problem(s)" in text


def test_ranges_in_any_order_that_meet_are_valid() -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["age"]["recode"] = [
        {"range": [30, 120], "to": "old"},
        {"range": [18, 29], "to": "young"},
    ]
    parse_spec(spec)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            [{"range": [18, 29], "to": "yung"}],
            "sources[0].variables.age.recode[0]: level 'yung' is not a level of question age "
            "(did you mean 'young'?)",
        ),
        (
            [{"else": "old"}, {"range": [18, 29], "to": "young"}],
            "sources[0].variables.age.recode[0]: 'else' must be the last rule",
        ),
        ([{"range": [18, 29]}], "a recode range needs 'to'"),
        ([{"range": [30, 18], "to": "old"}], "recode range [30, 18] must be two finite numbers"),
        ([{"range": [18, 29], "to": "old", "else": None}], "not both and not neither"),
        ([{"to": "old"}], "not both and not neither"),
        ([{"else": "old", "to": "young"}], "an else rule takes no 'to'"),
        ([], "sources[0].variables.age.recode: List should have at least 1 item"),
    ],
)
def test_bad_recode_rules(rules: list[dict[str, Any]], expected: str) -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["age"]["recode"] = rules
    assert expected in _problems(spec)


def test_codes_and_recode_together_are_refused() -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["age"]["codes"] = {1: "young"}
    assert "sources[0].variables.age: give 'codes' or 'recode', not both" in _problems(spec)


def test_a_numeric_question_takes_no_mapping() -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["trust_eu"]["codes"] = {1: "x"}
    assert (
        "sources[0].variables.trust_eu.codes: question trust_eu is numeric, so its column is "
        "read as numbers"
    ) in _problems(spec)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ({"range": [10, 0]}, "range [10, 0] must be two finite numbers, the lower first"),
        ({"missing": [5]}, "missing code 5 lies inside its range [0, 10]"),
        (
            {"levels": [{"code": "a", "label": "A"}]},
            "question 'trust_eu' is numeric and cannot have 'levels'",
        ),
        ({"kind": "question"}, "question 'trust_eu' has no levels; list them, or set kind"),
    ],
)
def test_bad_numeric_questions(question: dict[str, Any], expected: str) -> None:
    text = _problems(_spec(**question))
    assert "questions[3]: " + expected in text or expected in text


def test_range_on_a_single_choice_question_is_refused() -> None:
    spec = _spec()
    spec["questions"][0]["range"] = [0, 10]
    assert (
        "questions[0]: question 'us_relationship' has 'range', which only a numeric question"
        in _problems(spec)
    )


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (
            {"code": "ap", "label": "AP", "levels": ["ally", "partnr"]},
            "questions[0]: net 'ap' of question 'us_relationship': 'partnr' is not a level of "
            "the question (did you mean 'partner'?)",
        ),
        (
            {"code": "ally", "label": "AP", "levels": ["ally", "partner"]},
            "questions[0]: net 'ally' of question 'us_relationship' has the code of one of its "
            "levels",
        ),
        (
            {"code": "all", "label": "All", "levels": ["ally", "partner", "dont_know"]},
            "combines every level (it would always be 100%)",
        ),
        (
            {"code": "aa", "label": "AA", "levels": ["ally", "ally"]},
            "net 'aa' of question 'us_relationship' repeats a level",
        ),
        (
            {"code": "a", "label": "A", "levels": ["ally"]},
            "questions[0].nets[1].levels: List should have at least 2 items",
        ),
    ],
)
def test_bad_nets(net: dict[str, Any], expected: str) -> None:
    spec = _spec()
    spec["questions"][0]["nets"].append(net)
    assert expected in _problems(spec)


def test_net_code_used_twice() -> None:
    spec = _spec()
    spec["questions"][0]["nets"].append(dict(spec["questions"][0]["nets"][0]))
    assert "net code 'ally_or_partner' more than once" in _problems(spec)


def test_numeric_questions_cannot_be_targets_or_breakdowns() -> None:
    spec = _spec()
    spec["publication"] = {"breakdowns": ["trust_eu"]}
    spec["targets"][0]["margins"]["trust_eu"] = {"a": 1.0}
    text = _problems(spec)
    assert "publication.breakdowns[0]: question trust_eu is numeric" in text
    assert "targets[0].margins.trust_eu: question trust_eu is numeric" in text


# ---------------------------------------------------------------------------------------
# A source's own missing codes (firms code don't-know / refused differently)


def test_a_source_may_give_its_own_missing_codes(tmp_path: Path) -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["trust_eu"]["missing"] = [-1, -2]
    parsed = parse_spec(spec, base_dir=tmp_path)
    trust = parsed.question("trust_eu")
    assert trust.missing_in(parsed.sources[0].variables["trust_eu"]) == [-1.0, -2.0]
    assert trust.missing_in(parsed.sources[0].variables["age"]) == [98.0, 99.0]
    assert trust.missing_in() == [98.0, 99.0]
    # an empty list is a firm without don't-know codes, not "use the question's"
    spec["sources"][0]["variables"]["trust_eu"]["missing"] = []
    assert (
        parse_spec(spec)
        .question("trust_eu")
        .missing_in(parse_spec(spec).sources[0].variables["trust_eu"])
        == []
    )
    again = load_spec(dump_spec(parsed, tmp_path / "spec.yaml"))
    assert again.sources[0].variables["trust_eu"].missing == [-1.0, -2.0]


@pytest.mark.parametrize(
    ("variable", "missing", "expected"),
    [
        (
            "trust_eu",
            [11, 5],
            "sources[0].variables.trust_eu.missing: missing code 5 lies inside question "
            "trust_eu's range [0, 10], so it would also be a valid answer",
        ),
        (
            "trust_eu",
            [0],
            "sources[0].variables.trust_eu.missing: missing code 0 lies inside question "
            "trust_eu's range [0, 10]",
        ),
        (
            "age",
            [999],
            "sources[0].variables.age.missing: question age is not numeric; map this file's "
            "don't-know codes to null under 'codes' (or, in a recode, 'to: null')",
        ),
        (
            "trust_eu",
            ["dk"],
            "sources[0].variables.trust_eu.missing[0]: missing code 'dk' is not a number; a "
            "numeric question's column holds numbers",
        ),
        ("trust_eu", ["98"], "missing code '98' is not a number"),
        ("trust_eu", [True], "missing code True is not a number"),
        ("trust_eu", [float("nan")], "missing code nan is not a finite number"),
        ("trust_eu", 98, "sources[0].variables.trust_eu.missing: Input should be a valid list"),
    ],
)
def test_bad_source_missing_codes(variable: str, missing: Any, expected: str) -> None:
    spec = _spec()
    spec["sources"][0]["variables"][variable]["missing"] = missing
    assert expected in _problems(spec)


def test_a_single_choice_mapping_takes_no_missing() -> None:
    spec = _spec()
    spec["sources"][0]["variables"]["us_relationship"] = {
        "column": "Q1",
        "codes": {1: "ally", 2: "partner", 9: "dont_know"},
        "missing": [98],
    }
    assert (
        "sources[0].variables.us_relationship.missing: question us_relationship is not numeric"
    ) in _problems(spec)


def test_a_questions_missing_codes_must_be_numbers() -> None:
    assert "questions[3].missing[1]: missing code 'refused' is not a number" in _problems(
        _spec(missing=[98, "refused"])
    )


def test_a_column_may_feed_questions_that_read_it_differently() -> None:
    """An age in years as a number and banded; the same codes grouped two ways."""
    spec = _spec()
    variables = spec["sources"][0]["variables"]
    variables["trust_eu"] = {"column": "Q_AGE"}
    variables["gender"] = {"column": "Q_AGE", "codes": {1: "female", 2: "male"}}
    parse_spec(spec)


@pytest.mark.parametrize(
    "twice",
    [
        {"column": "Q_AGE", "recode": _RECODE},  # the age entry copied
        {"column": "Q_TRUST"},  # a plain column read as levels by two questions
    ],
)
def test_a_column_read_the_same_way_twice_is_refused(twice: dict[str, Any]) -> None:
    spec = _spec()
    spec["questions"].append(
        {
            "id": "age_copy",
            "levels": [{"code": "young", "label": "Y"}, {"code": "old", "label": "O"}],
        }
    )
    variables = spec["sources"][0]["variables"]
    if "recode" not in twice:
        variables["us_relationship"] = dict(twice)
    variables["age_copy"] = dict(twice)
    first = "age" if "recode" in twice else "us_relationship"
    assert (
        f"sources[0].variables.age_copy: column {twice['column']!r} is already mapped to "
        f"{first} the same way; check the column name"
    ) in _problems(spec)


def test_a_multiple_response_mapping_takes_no_missing() -> None:
    spec = _spec()
    spec["questions"].append(
        {
            "id": "allies",
            "kind": "multiple",
            "options": [{"code": "us", "label": "US"}, {"code": "cn", "label": "China"}],
        }
    )
    spec["sources"][0]["variables"]["allies"] = {
        "columns": {"us": "A1", "cn": "A2"},
        "selected": [1],
        "missing": [9],
    }
    text = _problems(spec)
    assert "sources[0].variables.allies.missing: question allies is not numeric" in text
    assert "1 problem(s)" in text
