"""barometer against R `survey` 4.1.1: designs, estimators, intervals, quantiles.

Fixtures: tests/reference/core.json (see tests/reference/README.md); tolerances are
declared in tests/_reference.py with their reasons.
"""

from __future__ import annotations

from typing import Any

import pytest

import barometer as bm
from tests.support.reference import AREAS, case_ids, cases, check_case, load_data, load_fixture


@pytest.mark.parametrize("case", cases("core"), ids=case_ids("core"))
def test_core_matches_r(case: dict[str, Any]) -> None:
    check_case(case)


@pytest.mark.parametrize("area", AREAS)
def test_fixture_records_its_provenance(area: str) -> None:
    fixture = load_fixture(area)
    assert fixture["survey_version"] == "4.1.1"
    assert fixture["r_version"].startswith("R version 4.")
    assert fixture["generated_by"] == "Rscript tests/reference/make_fixtures.R"
    ids = [c["id"] for c in fixture["cases"]]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in fixture["cases"]:
        assert case["r_call"] and case["r_design"], case["id"]
        assert case["results"], case["id"]
        load_data(case["data"])  # the data file exists and parses


def test_published_strat_mean() -> None:
    # survey's own regression output (tests/api.Rout.save): svymean(~api00, dstrat)
    d = bm.Design(load_data("apistrat"), weights="pw", strata="stype", fpc="fpc", nest=False)
    row = d.mean("api00").to_polars().row(0, named=True)
    assert round(row["estimate"], 2) == 662.29
    assert round(row["se"], 4) == 9.4089


def test_published_clus1_total() -> None:
    # survey's own regression output (tests/api.Rout.save): svytotal(~enroll, dclus1)
    d = bm.Design(load_data("apiclus1"), weights="pw", psu="dnum", fpc="fpc", nest=False)
    row = d.total("enroll").to_polars().row(0, named=True)
    assert round(row["estimate"]) == 3404940
    assert round(row["se"]) == 932235


def test_lonely_psu_fail_raises_naming_the_stratum() -> None:
    # R: options(survey.lonely.psu="fail") stops with "Stratum (KR-4) has only one PSU".
    # barometer may refuse when the design is built or when a variance is computed.
    with pytest.raises(bm.BarometerError, match="KR-4"):
        d = bm.Design(
            load_data("gen_poll"),
            weights="w",
            strata="stratum",
            psu="psu",
            fpc="fpc",
            nest=True,
            lonely_psu="fail",
        )
        d.mean("score")
