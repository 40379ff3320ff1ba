"""The poll spec: validation with every problem listed at once (barometer.poll.spec)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from barometer.errors import SpecError
from barometer.poll.spec import dump_spec, load_spec, parse_spec
from tests.support.pollkit import base_spec, make_poll


def _spec_with_sources() -> dict:
    spec = base_spec()
    spec["sources"] = [
        {
            "id": "de",
            "file": "de.sav",
            "wave": "2024-11",
            "country": "DE",
            "respondent_id": "id",
            "variables": {
                "us_relationship": {"column": "Q7", "codes": {1: "ally", 2: "partner", 9: None}}
            },
        }
    ]
    return spec


def test_valid_spec_loads(tmp_path: Path) -> None:
    path = make_poll(tmp_path, n=10)
    spec = load_spec(path)
    assert [w.id for w in spec.waves] == ["2024-11", "2025-11"]
    assert spec.question("us_relationship").level_codes == ["ally", "partner", "dont_know"]
    assert spec.sources[0].file_format == "sav" and spec.sources[1].file_format == "csv"
    assert spec.source_path(spec.sources[0]) == tmp_path / "data" / "de_202411.sav"
    assert spec.targets[0].are_shares


def test_yaml_quirks(tmp_path: Path) -> None:
    # Norway's code is not a boolean; a numeric wave id is a name
    text = """
    name: Quirks
    countries: [{code: NO, name: Norway}, {code: DE, name: Germany}]
    waves: [{id: 2025}]
    questions:
      - {id: q, levels: [{code: yes, label: Yes}, {code: no, label: No}]}
    """
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    spec = load_spec(path)
    assert spec.countries[0].code == "NO"
    assert spec.waves[0].id == "2025"
    assert spec.question("q").level_codes == ["yes", "no"]


def test_every_problem_is_listed_with_its_location() -> None:
    spec = _spec_with_sources()
    spec["countries"].append({"code": "DE", "name": "again"})
    spec["regions"].append({"id": "NORDIC", "name": "N", "members": ["DK", "DE"]})
    spec["regions"].append({"id": "POP", "name": "P", "members": ["DE"], "rule": "population"})
    spec["countries"][0].pop("population")
    src = spec["sources"][0]
    src["variables"]["us_relationship"]["codes"][1] = "aly"
    src["wave"] = "2025-12"
    src["variables"]["agee"] = {"column": "age"}
    spec["targets"][1]["margins"]["gender"] = {"female": 0.5, "male": 0.3}
    spec["targets"][2]["margins"]["age"] = {"young": 0.3, "olde": 0.7}
    with pytest.raises(SpecError) as err:
        parse_spec(spec, origin="poll.yaml")
    text = str(err.value)
    expected = [
        "countries: id 'DE' is used more than once",
        "regions[2].members[0]: country 'DK' is not in the spec",
        "regions[1].members[0]: region 'EUP' combines by population but country 'DE' has no "
        "population",
        "regions[3].members[0]: region 'POP' combines by population but country 'DE' has no "
        "population",
        "sources[0].wave: wave '2025-12' is not in the spec (did you mean '2025-11'?)",
        "sources[0].variables.us_relationship.codes: level 'aly' (for code 1) is not a level "
        "of question us_relationship (did you mean 'ally'?)",
        "sources[0].variables.agee: question 'agee' is not in the spec (did you mean 'age'?)",
        "targets[1].margins.gender: shares sum to 0.8, not 1",
        "targets[2].margins.age.olde: 'olde' is not a level of question age (did you mean 'old'?)",
    ]
    for line in expected:
        assert line in text, text
    assert text.startswith(f"poll.yaml has {len(expected)} problem(s)")


def test_structural_problems_do_not_hide_the_others() -> None:
    spec = _spec_with_sources()
    spec["waves"][1]["end"] = "2025-10-01"  # ends before it starts
    spec["questions"][0]["non_substantive"] = ["dk"]
    spec["questions"].append({"id": "country", "levels": [{"code": "a", "label": "A"}]})
    src = spec["sources"][0]
    src["country_column"] = "cntry"  # and country: both given
    spec["sources"].append({**src, "id": "x", "country": "ZZ", "country_column": None})
    spec["targets"].append({"country": "DE", "wave": None, "margins": {"gender": {"female": -1}}})
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    text = str(err.value)
    for line in [
        "waves[1]: wave '2025-11' ends (2025-10-01) before it starts (2025-11-01)",
        "questions[0]: non_substantive level 'dk' is not a level of question 'us_relationship'",
        "questions[3].id: question id 'country' is reserved",
        "sources[0]: give exactly one of 'country' and 'country_column'",
        "sources[1].country: country 'ZZ' is not in the spec",
        "targets[4].margins.gender.female: Input should be greater than or equal to 0",
    ]:
        assert line in text, text


def test_totals_and_mixed_targets() -> None:
    spec = base_spec()
    spec["targets"][0]["margins"] = {
        "gender": {"female": 3.6e7, "male": 3.3e7},
        "age": {"young": 2e7, "old": 4.9e7},
    }
    assert not parse_spec(spec).targets[0].are_shares
    spec["targets"][1]["margins"] = {"gender": {"female": 3.6e7, "male": 3.3e7}, "age": AGE}
    spec["targets"][2]["margins"] = {"gender": {"female": 10, "male": 10}, "age": {"young": 5}}
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert "targets[1].margins: mixes shares and totals" in str(err.value)
    assert "targets[2].margins: totals disagree between variables" in str(err.value)


AGE = {"young": 0.3, "old": 0.7}


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- just a list")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(bad)


def test_dump_round_trip(tmp_path: Path) -> None:
    spec = load_spec(make_poll(tmp_path, n=10))
    out = dump_spec(spec, tmp_path / "again.yaml")
    again = load_spec(out)
    assert again.model_dump() == spec.model_dump()
    assert yaml.safe_load(out.read_text())["countries"][0]["code"] == "DE"


def test_waves_are_listed_in_fieldwork_order() -> None:
    """The spec's list is the one wave order; start dates may not contradict it."""
    spec = base_spec()
    spec["waves"].reverse()
    with pytest.raises(SpecError, match=r"waves\[1\]: wave '2024-11' starts 2024-11-01, before"):
        parse_spec(spec)
    undated = base_spec()
    undated["waves"] = [{"id": w["id"]} for w in reversed(undated["waves"])]
    assert [w.id for w in parse_spec(undated).waves] == ["2025-11", "2024-11"]  # as listed
    partly = base_spec()
    partly["waves"].insert(1, {"id": "2025-01"})  # no date: not compared
    assert [w.id for w in parse_spec(partly).waves] == ["2024-11", "2025-01", "2025-11"]


def test_lookups_suggest_names() -> None:
    spec = parse_spec(base_spec())
    with pytest.raises(SpecError, match="did you mean 'us_relationship'"):
        spec.question("us_relationshp")
    with pytest.raises(SpecError, match="did you mean 'EU'"):
        spec.region("EUU")


# -- the publication: section -----------------------------------------------------------

RULE_VALUES = {
    "claim_min_base": 150,
    "suppress_below": 50,
    "flag_below": 120,
    "alpha": 0.01,
    "adjust": "bh",
    "confidence": 0.9,
    "decimals": 1,
    "total_rule": "population",
    "max_member_share": 0.4,
    "boundary_ci": "wilson",
    "breakdowns": ["age"],
}
FLAG_VALUES = {
    "claim_min_base": 200,
    "suppress_below": 60,
    "flag_below": 130,
    "alpha": 0.1,
    "adjust": "bonferroni",
    "confidence": 0.99,
    "decimals": 2,
    "total_rule": "mean",
    "max_member_share": 0.3,
    "boundary_ci": "logit",
    "breakdowns": ["age", "gender"],
}


def test_publication_rules_defaults_and_section() -> None:
    from barometer.poll.spec import PublicationRules

    plain = parse_spec(base_spec())
    assert plain.publication == PublicationRules()
    assert plain.publication.model_dump() == {
        "claim_min_base": 100, "suppress_below": 30, "flag_below": 100, "alpha": 0.05,
        "adjust": "holm", "confidence": 0.95, "decimals": 0, "total_rule": "mean",
        "max_member_share": 0.5, "boundary_ci": "beta", "breakdowns": [],
    }  # fmt: skip
    given = parse_spec(base_spec() | {"publication": RULE_VALUES})
    assert given.publication.model_dump() == RULE_VALUES


@pytest.mark.parametrize("rule", list(RULE_VALUES))
def test_precedence_flag_over_spec_over_default(rule: str) -> None:
    from barometer.poll.spec import PublicationRules, publication_rules

    default = getattr(PublicationRules(), rule)
    spec = parse_spec(base_spec() | {"publication": RULE_VALUES})
    assert getattr(publication_rules(parse_spec(base_spec())), rule) == default
    assert getattr(publication_rules(spec), rule) == RULE_VALUES[rule]
    assert getattr(publication_rules(spec, **{rule: None}), rule) == RULE_VALUES[rule]
    flagged = publication_rules(spec, **{rule: FLAG_VALUES[rule]})
    assert getattr(flagged, rule) == FLAG_VALUES[rule]
    others = {k: v for k, v in flagged.model_dump().items() if k != rule}
    assert others == {k: v for k, v in RULE_VALUES.items() if k != rule}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"adjust": "fdr"}, r"publication\.adjust"),
        ({"confidence": 1.5}, r"publication\.confidence"),
        ({"suppress_below": 200}, "suppress_below .200. is above flag_below"),
        ({"supress_below": 20}, r"publication\.supress_below"),
        ({"total_rule": "median"}, r"publication\.total_rule"),
    ],
)
def test_publication_section_checked(section: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(base_spec() | {"publication": section})


def test_publication_rules_overrides_checked() -> None:
    from barometer.poll.spec import publication_rules

    with pytest.raises(SpecError, match="did you mean 'alpha'"):
        publication_rules(None, alpa=0.1)
    with pytest.raises(SpecError, match=r"publication rules: .*alpha"):
        publication_rules(None, alpha=2.0)


def test_models_section_problems_are_located() -> None:
    """A model's formula may name only questions, country and wave; its family is one of
    R svyglm's; its countries and waves are the spec's (issue 19)."""
    spec = base_spec()
    spec["models"] = [
        {"id": "ok", "formula": "I(us_relationship == 'ally') ~ C(age) + C(country) + wave"},
        {
            "id": "bad",
            "formula": "I(us_relationship == 'ally') ~ C(agee) + gendre",
            "countries": ["DE", "XX"],
            "waves": ["2030-01"],
        },
        {"id": "fam", "formula": "us_relationship ~ age", "family": "logit"},
        {"id": "ok", "formula": "age + gender"},
    ]
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    text = str(err.value)
    for line in (
        "models[1].formula: variable 'agee' is not a question, country or wave "
        "(did you mean 'age'?)",
        "models[1].formula: variable 'gendre' is not a question, country or wave "
        "(did you mean 'gender'?)",
        "models[1].countries[1]: country 'XX' is not in the spec",
        "models[1].waves[0]: wave '2030-01' is not in the spec",
        "models[2].family: Input should be 'gaussian', 'binomial', 'quasibinomial', "
        "'poisson' or 'quasipoisson'",
    ):
        assert line in text, text
    assert "ally" not in text.split("models[1]")[0]  # a value in quotes is not a variable
    spec["models"] = [spec["models"][0], spec["models"][3]]
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert "models: id 'ok' is used more than once" in str(err.value)
    assert "models[1].formula: 'age + gender' has no response" in str(err.value)
    spec["models"] = spec["models"][:1]
    assert parse_spec(spec).models[0].family == "gaussian"
