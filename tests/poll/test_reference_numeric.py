"""Numeric questions and nets against R ``survey`` (issue 14), to 1e-8 relative.

The fixture ``tests/reference/numeric.json`` and its data ``data/numeric_poll.csv`` are
written by ``Rscript tests/reference/make_numeric.R``; each case stores its R call. The
estimates go through the poll layer's own path (:mod:`barometer.poll.kinds`, the
regions of :mod:`barometer.poll.regions`, the core's ``difference``) on the design R
uses.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.comparisons import difference
from barometer.poll.kinds import estimate_question, quartiles
from barometer.poll.regions import with_regions
from barometer.poll.spec import PollSpec, parse_spec
from tests.support.reference import DATA_DIR, REFERENCE_DIR

# Every figure here is a ratio of weighted sums or a linear combination of them: R and
# barometer differ only by floating-point rounding.
REL_TOL = 1e-8

with open(REFERENCE_DIR / "numeric.json", encoding="utf-8") as fh:
    FIXTURE: dict[str, Any] = json.load(fh)
CASES: dict[str, Any] = FIXTURE["cases"]


def _close(actual: float, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=REL_TOL, abs=1e-12)


@pytest.fixture(scope="module")
def design() -> bm.Design:
    frame = pl.read_csv(DATA_DIR / "numeric_poll.csv", null_values="", infer_schema_length=None)
    return bm.Design(frame, weights="w", strata="stratum", psu="psu", nest=True)


@pytest.fixture(scope="module")
def spec() -> PollSpec:
    return parse_spec(
        {
            "name": "numeric reference",
            "countries": [{"code": c, "name": c} for c in ("DE", "FR", "PL")],
            "regions": [{"id": "EU", "name": "EU", "members": ["DE", "FR", "PL"]}],
            "waves": [{"id": "2024-11"}, {"id": "2025-11"}],
            "questions": [
                {"id": "trust", "kind": "numeric", "range": [0, 10]},
                {
                    "id": "rel",
                    "levels": [
                        {"code": c, "label": c} for c in ("ally", "partner", "rival", "dont_know")
                    ],
                    "nets": [
                        {
                            "code": "ally_or_partner",
                            "label": "A or P",
                            "levels": ["ally", "partner"],
                        }
                    ],
                },
            ],
        }
    )


def _row(table: pl.DataFrame, **keys: str) -> dict[str, Any]:
    hit = table
    for column, value in keys.items():
        hit = hit.filter(pl.col(column).cast(pl.String) == value)
    assert hit.height == 1, keys
    return hit.row(0, named=True)


def test_means_by_country_and_wave_and_their_covariance(design: bm.Design, spec: PollSpec) -> None:
    est = estimate_question(design, spec.question("trust"), ["country", "wave"], 0.95)
    table = est.to_polars()
    order = []
    for expected in CASES["means"]["rows"]:
        row = _row(table, country=expected["country"], wave=expected["wave"])
        _close(row["estimate"], expected["estimate"])
        _close(row["se"], expected["se"])
        assert row["level"] is None
        order.append(
            table.with_row_index("i")
            .filter(
                (pl.col("country") == expected["country"]) & (pl.col("wave") == expected["wave"])
            )
            .get_column("i")
            .item()
        )
    v = est.vcov()[np.ix_(order, order)]
    np.testing.assert_allclose(v, np.array(CASES["means"]["vcov"]), rtol=REL_TOL, atol=1e-14)


def test_overall_mean_and_its_interval(design: bm.Design, spec: PollSpec) -> None:
    case = CASES["mean_overall"]
    row = estimate_question(design, spec.question("trust"), [], 0.95).to_polars().row(0, named=True)
    _close(row["estimate"], case["estimate"])
    _close(row["se"], case["se"])
    _close(row["ci_low"], case["ci"][0])
    _close(row["ci_high"], case["ci"][1])


def test_quartiles_of_a_scale_with_ties(design: bm.Design, spec: PollSpec) -> None:
    case = CASES["quantiles"]
    table = quartiles(design, spec.question("trust"), [], 0.95).to_polars()
    assert table["level"].to_list() == ["0.25", "0.5", "0.75"] == [f"{p:g}" for p in case["probs"]]
    for got, want in zip(table.iter_rows(named=True), range(3), strict=True):
        _close(got["estimate"], case["estimate"][want])
        _close(got["ci_low"], case["ci_low"][want])
        _close(got["ci_high"], case["ci_high"][want])
        _close(got["se"], case["se"][want])


def test_median_by_country(design: bm.Design, spec: PollSpec) -> None:
    case = CASES["median_by_country"]
    table = quartiles(design, spec.question("trust"), ["country"], 0.95).to_polars()
    medians = table.filter(pl.col("level") == "0.5")
    for country, estimate, se in zip(case["country"], case["estimate"], case["se"], strict=True):
        row = _row(medians, country=country)
        _close(row["estimate"], estimate)
        _close(row["se"], se)


def test_the_net_is_svymean_of_membership(design: bm.Design, spec: PollSpec) -> None:
    est = estimate_question(design, spec.question("rel"), ["country", "wave"], 0.95)
    table = est.to_polars()
    for expected in CASES["net"]["rows"]:
        row = _row(
            table, country=expected["country"], wave=expected["wave"], level="ally_or_partner"
        )
        _close(row["estimate"], expected["estimate"])
        _close(row["se"], expected["se"])


def test_a_regions_mean(design: bm.Design, spec: PollSpec) -> None:
    est = estimate_question(design, spec.question("trust"), ["country", "wave"], 0.95)
    regional = with_regions(est, spec, ["EU"])
    row = _row(regional.region_rows().to_polars(), country="EU", wave="2025-11")
    _close(row["estimate"], CASES["region_mean"]["estimate"])
    _close(row["se"], CASES["region_mean"]["se"])


def test_a_wave_change_of_a_mean(design: bm.Design, spec: PollSpec) -> None:
    est = estimate_question(design, spec.question("trust"), ["country", "wave"], 0.95)
    change = difference(
        est, {"country": "DE", "wave": "2025-11"}, est, {"country": "DE", "wave": "2024-11"}
    )
    _close(change.estimate, CASES["mean_change"]["estimate"])
    _close(change.se, CASES["mean_change"]["se"])


def test_a_wave_change_of_a_net(design: bm.Design, spec: PollSpec) -> None:
    est = estimate_question(design, spec.question("rel"), ["country", "wave"], 0.95)
    net = {"level": "ally_or_partner"}
    change = difference(
        est,
        {"country": "FR", "wave": "2025-11", **net},
        est,
        {"country": "FR", "wave": "2024-11", **net},
    )
    _close(change.estimate, CASES["net_change"]["estimate"])
    _close(change.se, CASES["net_change"]["se"])
