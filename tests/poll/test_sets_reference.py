"""Multiple-response options and grid items against R ``survey`` (tests/reference/make_sets.R).

The R script's simulated poll is ingested as four CSV sources (its 0/1 option columns
with ``selected: [1]``, its grid codes 1-4), estimated with the sources' base weights,
strata and PSUs, and compared with R: each option's share by country × wave, a wave
change of one option, and the difference between two grid items on the respondents
who answered both (``svycontrast(svymean(~a + b, na.rm = TRUE))``).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import pytest

from barometer.core.comparisons import difference
from barometer.poll.ingest import ingest
from barometer.poll.poll import Poll
from barometer.poll.sets import item_gaps
from tests.support.pollkit import write_spec
from tests.support.reference import DATA_DIR, REFERENCE_DIR

# The contract (DESIGN.md): barometer equals R `survey` to 1e-8 relative.
REL_TOL = 1e-8

FIXTURE = REFERENCE_DIR / "sets.json"
LEVELS = ["ally", "partner", "rival", "adversary"]


def _spec(sources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "Sets reference",
        "countries": [{"code": "DE", "name": "Germany"}, {"code": "FR", "name": "France"}],
        "waves": [{"id": "w1"}, {"id": "w2"}],
        "questions": [
            {
                "id": "allies",
                "kind": "multiple",
                "wording": "Which are allies?",
                "options": [
                    {"code": "us", "label": "The US"},
                    {"code": "cn", "label": "China"},
                    {"code": "ru", "label": "Russia"},
                    {"code": "none", "label": "None of these", "exclusive": True},
                ],
            },
            {
                "id": "views",
                "kind": "grid",
                "wording": "How do you see",
                "items": [
                    {"code": "us", "label": "The US"},
                    {"code": "cn", "label": "China"},
                    {"code": "ru", "label": "Russia"},
                ],
                "levels": [{"code": lv, "label": lv} for lv in LEVELS],
            },
        ],
        "sources": sources,
    }


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("sets_ref")
    data = pl.read_csv(DATA_DIR / "sets_poll.csv")
    sources = []
    for (country, wave), part in data.group_by(["country", "wave"], maintain_order=True):
        name = f"{country}_{wave}.csv"
        part.write_csv(root / name)
        sources.append(
            {
                "id": f"{country}-{wave}", "file": name, "wave": wave, "country": country,
                "respondent_id": "id", "weight": "w", "strata": "stratum", "psu": "psu",
                "variables": {
                    "allies": {
                        "columns": {o: f"a_{o}" for o in ("us", "cn", "ru", "none")},
                        "selected": [1],
                    },
                    "views": {
                        "columns": {i: f"g_{i}" for i in ("us", "cn", "ru")},
                        "codes": {k + 1: lv for k, lv in enumerate(LEVELS)},
                    },
                },
            }
        )  # fmt: skip
    ingest(write_spec(root, _spec(sources)), root / "poll.duckdb")
    return Poll.open(root / "poll.duckdb")


def fixture() -> dict[str, Any]:
    import json

    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _close(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=1e-14)


def test_option_shares_by_country_and_wave(poll: Poll) -> None:
    est = poll.estimate("allies", by=["country", "wave"], weights="base").to_polars()
    assert est.height == 16
    bad = []
    for case in fixture()["shares"]:
        row = est.filter(
            (pl.col("part") == case["option"])
            & (pl.col("country").cast(pl.String) == case["country"])
            & (pl.col("wave").cast(pl.String) == case["wave"])
        ).row(0, named=True)
        for field in ("estimate", "se", "n"):
            if not _close(float(row[field]), float(case[field])):
                bad.append((case["option"], case["country"], case["wave"], field))
    assert not bad


def test_options_are_ranked_and_do_not_sum_to_one(poll: Poll) -> None:
    est = poll.estimate("allies", by=["country", "wave"], weights="base")
    assert any("do not sum to 100%" in n for n in est.notes)
    cell = est.to_polars().filter(
        (pl.col("country").cast(pl.String) == "DE") & (pl.col("wave").cast(pl.String) == "w2")
    )
    ranked = cell.sort("rank")["part"].to_list()
    assert ranked[0] == "us"
    assert cell.sort("estimate", descending=True)["part"].to_list() == ranked
    assert cell["estimate"].sum() != pytest.approx(1.0, abs=1e-3)


def test_wave_change_of_one_option(poll: Poll) -> None:
    case = fixture()["change"]
    est = poll.estimate("allies__us", by=["country", "wave"], weights="base")
    d = difference(
        est,
        {"country": "DE", "wave": case["to"], "level": "selected"},
        est,
        {"country": "DE", "wave": case["from"], "level": "selected"},
    )
    assert _close(d.estimate, case["estimate"])
    assert _close(d.se, case["se"])


def test_grid_item_difference_is_svycontrast_on_both_answered(poll: Poll) -> None:
    design = poll.design("base")
    gaps = item_gaps(design, poll.spec.question("views"), ["country", "wave"])
    for case in fixture()["items"]:
        row = gaps.filter(
            (pl.col("country") == case["country"])
            & (pl.col("wave") == case["wave"])
            & (pl.col("first") == case["first"])
            & (pl.col("second") == case["second"])
            & (pl.col("level") == case["level"])
        ).row(0, named=True)
        assert _close(row["estimate"], case["estimate"]), case
        assert _close(row["se"], case["se"]), case
        assert (row["n"], row["n_first"], row["n_second"]) == (
            case["n"], case["n_first"], case["n_second"],
        )  # fmt: skip
        # the joint base is smaller than either item's own: both bases are reported
        assert row["n"] < min(row["n_first"], row["n_second"])


def test_grid_item_shares_use_their_own_base(poll: Poll) -> None:
    est = poll.estimate("views", by=["country", "wave"], weights="base").to_polars()
    de1 = est.filter(
        (pl.col("country").cast(pl.String) == "DE") & (pl.col("wave").cast(pl.String) == "w1")
    )
    bases = de1.group_by("part").agg(pl.col("n").first(), pl.col("estimate").sum())
    assert bases["estimate"].to_list() == pytest.approx([1.0] * 3)
    assert bases["n"].n_unique() == 3  # each item's own base


def test_publication_holds_the_sets(poll: Poll) -> None:
    pub = poll.publication(weights="base")
    assert {"allies__us", "allies__none", "views__ru"} <= set(pub.questions)
    allies, views = pub.sets["allies"], pub.sets["views"]
    assert allies.kind == "multiple" and allies.exclusive == ("none",)
    assert "do not sum to 100%" in allies.note and allies.gaps is None
    assert pub.set_of("views__cn") is views and pub.set_of("allies") is allies
    assert pub.set_of("allies__none") is allies
    assert views.gaps is not None
    case = fixture()["items"][0]
    row = views.gaps.filter(
        (pl.col("country") == case["country"]) & (pl.col("wave") == case["wave"])
        & (pl.col("first") == "us") & (pl.col("second") == "cn") & (pl.col("level") == "ally")
    ).row(0, named=True)  # fmt: skip
    assert _close(row["estimate"], case["estimate"]) and _close(row["se"], case["se"])
    assert row["suppressed"] is False
    # 3 pairs x 4 levels x 2 countries x 2 waves
    assert views.gaps.height == 48
    only = poll.publication(questions=["allies"], weights="base")
    assert only.questions == ("allies__us", "allies__cn", "allies__ru", "allies__none")
    assert list(only.sets) == ["allies"]
