"""The Publication of numeric questions and nets (issue 14): means, quartiles and a
scale's distribution beside the shares; nets as levels with their covariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.comparisons import difference
from barometer.errors import EstimationError
from barometer.poll.publication import Publication
from tests.support.numeric_poll import make_numeric_poll


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> bm.Poll:
    root: Path = tmp_path_factory.mktemp("numeric")
    poll, _ = bm.Poll.ingest(make_numeric_poll(root), root / "poll.duckdb")
    poll.weight()
    return poll


@pytest.fixture(scope="module")
def pub(poll: bm.Poll) -> Publication:
    return poll.publication(breakdowns=["age"])


def test_numeric_questions_are_published_by_default(pub: Publication) -> None:
    assert pub.questions == ("us_relationship", "trust_eu")
    cells = pub.cells("trust_eu")
    assert cells.numeric and not pub.cells("us_relationship").numeric
    table = cells.estimates.to_polars()
    assert table["level"].null_count() == table.height
    assert set(table["scope"]) == {"DE", "FR", "IT", "PL", "EU", "EUP"}
    assert cells.estimates.vcov().shape == (table.height, table.height)


def test_the_publications_means_are_poll_estimate(poll: bm.Poll, pub: Publication) -> None:
    direct = poll.estimate("trust_eu").to_polars().sort("country", "wave")
    held = pub.cells("trust_eu").countries().to_polars().sort("country", "wave")
    np.testing.assert_allclose(held["estimate"], direct["estimate"], rtol=1e-12)
    np.testing.assert_allclose(held["se"], direct["se"], rtol=1e-12)
    assert direct["estimate"].is_between(0, 10).all()


def test_quartiles_and_distribution_are_held(poll: bm.Poll, pub: Publication) -> None:
    cells = pub.cells("trust_eu")
    assert cells.quantiles is not None and cells.distribution is not None
    quart = cells.quantiles.to_polars()
    assert set(quart["level"]) == {"0.25", "0.5", "0.75"}
    direct = poll.quantiles("trust_eu").to_polars()
    assert quart.sort("country", "wave", "level")["estimate"].to_list() == (
        direct.sort("country", "wave", "level")["estimate"].to_list()
    )
    dist = cells.distribution.to_polars()
    sums = dist.group_by("country", "wave").agg(pl.col("estimate").sum())
    np.testing.assert_allclose(sums["estimate"], 1.0, rtol=1e-12)
    assert set(dist["level"]) <= {str(v) for v in range(11)}
    # a breakdown holds means and quartiles, not the distribution
    by_age = pub.cells("trust_eu", "age")
    assert by_age.distribution is None and by_age.quantiles is not None
    assert set(by_age.estimates.to_polars()["age"].cast(pl.String)) == {"young", "old"}


def test_a_net_is_a_level_with_its_covariance(pub: Publication) -> None:
    est = pub.cells("us_relationship").estimates
    table = est.to_polars()
    nets = table.filter(pl.col("level") == "ally_or_partner")
    assert set(nets["scope"]) == {"DE", "FR", "IT", "PL", "EU", "EUP"}
    for _, group in table.group_by("scope", "wave"):
        shares = dict(zip(group["level"], group["estimate"], strict=True))
        assert shares["ally_or_partner"] == pytest.approx(shares["ally"] + shares["partner"])
    # a net compared between waves and between a region and a country
    change = difference(
        est,
        {"scope": "FR", "wave": "2025-11", "level": "ally_or_partner"},
        est,
        {"scope": "FR", "wave": "2024-11", "level": "ally_or_partner"},
    )
    gap = difference(
        est,
        {"scope": "EU", "wave": "2024-11", "level": "ally_or_partner"},
        est,
        {"scope": "DE", "wave": "2024-11", "level": "ally_or_partner"},
    )
    assert change.se > 0 and gap.se > 0 and not gap.independent


def test_numeric_questions_are_no_breakdown(poll: bm.Poll) -> None:
    with pytest.raises(EstimationError, match="'trust_eu': it is numeric; band it"):
        poll.estimate("us_relationship", by=["country", "trust_eu"])
    with pytest.raises(EstimationError, match="breakdown 'trust_eu' is numeric"):
        poll.publication(breakdowns=["trust_eu"])
    with pytest.raises(EstimationError, match="is not numeric; quantiles need kind: numeric"):
        poll.quantiles("us_relationship")


def test_the_recoded_age_is_a_breakdown_like_the_delivered_bands(pub: Publication) -> None:
    table = pub.cells("us_relationship", "age").countries().to_polars()
    de = table.filter(pl.col("country") == "DE")
    assert set(de["age"].cast(pl.String)) == {"young", "old"}
