"""The one region policy (barometer.poll.regions): members with data, like for like,
rules, and the covariance kept so a region compares with a non-member and with its own
member by the core's comparison functions.

Tolerances: EXACT = 1e-12 — a region is exact linear algebra on its members' estimates
and covariance matrix (sums of a handful of terms).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.comparisons import difference, pairwise_differences
from barometer.poll.poll import Poll
from barometer.poll.regions import dominant_members, member_shares, with_regions
from barometer.poll.spec import Region
from tests.support.pollkit import COUNTRIES, make_poll

EXACT = 1e-12
Q = "us_relationship"
W1, W2 = "2024-11", "2025-11"
COUNTRIES_3 = ("DE", "FR", "IT")


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("regions")
    make_poll(root, n=300, seed=3)
    p, _ = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
    p.weight()
    return p


@pytest.fixture(scope="module")
def west(poll: Poll):
    """The poll's spec with a region WEST = DE + FR (IT a non-member), mean rule."""
    regions = [
        *poll.spec.regions,
        Region(id="WEST", name="Western Europe", members=["DE", "FR"], rule="mean"),
    ]
    return poll.spec.model_copy(update={"regions": regions})


@pytest.fixture(scope="module")
def countries(poll: Poll):
    return poll.design().proportion(Q, by=["country", "wave"]).filter(pl.col("n") > 0)


def _row(est, **where: str) -> int:
    table = est.to_polars().with_row_index("_i")
    for k, v in where.items():
        table = table.filter(pl.col(k) == v)
    assert table.height == 1, where
    return int(table["_i"][0])


def test_region_vs_non_member_and_own_member_by_hand(countries, west) -> None:
    regional = with_regions(countries, west, ["WEST"])
    est = regional.estimates
    v = countries.vcov()
    theta = countries.to_polars()["estimate"].to_numpy()
    for wave in (W1, W2):
        de, fr, it = (_row(countries, country=c, wave=wave, level="ally") for c in COUNTRIES_3)
        region = {"country": "WEST", "wave": wave, "level": "ally"}
        # region vs a non-member: c = (e_DE + e_FR) / 2 - e_IT
        c = np.zeros(theta.size)
        c[[de, fr]] = 0.5
        c[it] -= 1.0
        got = difference(est, region, est, {"country": "IT", "wave": wave, "level": "ally"})
        assert got.estimate == pytest.approx(float(c @ theta), abs=EXACT)
        assert got.se == pytest.approx(float(np.sqrt(c @ v @ c)), rel=EXACT)
        # countries are independent samples: the same from the members' SEs alone
        se = countries.to_polars()["se"].to_numpy()
        assert got.se == pytest.approx(np.sqrt((se[de] ** 2 + se[fr] ** 2) / 4 + se[it] ** 2))
        # the part-whole case: WEST - DE = (e_FR - e_DE) / 2, DE's share in the covariance
        c = np.zeros(theta.size)
        c[fr], c[de] = 0.5, -0.5
        got = difference(est, region, est, {"country": "DE", "wave": wave, "level": "ally"})
        assert got.estimate == pytest.approx(float(c @ theta), abs=EXACT)
        assert got.se == pytest.approx(float(np.sqrt(c @ v @ c)), rel=EXACT)
        assert got.se == pytest.approx(np.sqrt((se[de] ** 2 + se[fr] ** 2) / 4))
    # the same through the banner-style pairwise tests
    pw = pairwise_differences(est.filter(pl.col("wave") == W2), "country", adjust="none")
    pair = pw.filter(
        (pl.col("level") == "ally") & (pl.col("first") == "DE") & (pl.col("second") == "WEST")
    )
    assert pair.height == 1
    assert pair["se"][0] == pytest.approx(got.se, rel=EXACT)


def test_members_with_data_listed_and_missing_named(poll: Poll, countries) -> None:
    regional = with_regions(countries, poll.spec, ["EU"])
    table = regional.region_rows().to_polars()
    first = table.filter(pl.col("wave") == W1)
    second = table.filter(pl.col("wave") == W2)
    assert first["members"].to_list()[0] == ["DE", "FR", "IT", "PL"]
    assert first["missing"].to_list()[0] == []
    assert second["members"].to_list()[0] == ["DE", "FR", "IT"]
    assert second["missing"].to_list()[0] == ["PL"]  # PL polled in the first wave only
    assert regional.estimates.vcov().shape == (len(regional.estimates),) * 2
    assert set(regional.estimates["scope_kind"]) == {"country", "region"}


def test_like_for_like_and_the_rules(poll: Poll, countries) -> None:
    regional = with_regions(countries, poll.spec, ["EU", "EUP"], like_for_like=True)
    eu = regional.figure("EU")
    assert eu is not None and eu.members == ("DE", "FR", "IT") and eu.missing == ("PL",)
    assert "left out, not polled (or not asked) in every wave: PL" in eu.note
    table = regional.estimates.to_polars()
    ally = table.filter((pl.col("level") == "ally") & (pl.col("wave") == W1))
    e = {r["country"]: r["estimate"] for r in ally.iter_rows(named=True)}
    assert e["EU"] == pytest.approx((e["DE"] + e["FR"] + e["IT"]) / 3, abs=EXACT)
    pop = {c: COUNTRIES[c] for c in ("DE", "FR", "IT")}
    want = sum(e[c] * p for c, p in pop.items()) / sum(pop.values())
    assert e["EUP"] == pytest.approx(want, abs=EXACT)


def test_median_rule_and_a_region_without_data(poll: Poll, countries) -> None:
    regions = [
        Region(id="MED", name="Median", members=["DE", "FR", "IT"], rule="median"),
        Region(id="NONE", name="Nobody", members=["PL"], rule="mean"),
    ]
    spec = poll.spec.model_copy(update={"regions": regions})
    regional = with_regions(countries.filter(pl.col("wave") == W2), spec)
    assert regional.figure("NONE") is None  # PL has no data in 2025-11: left out, said
    assert any(n.startswith("Nobody") and "not asked) for PL" in n for n in regional.notes)
    table = regional.estimates.to_polars().filter(pl.col("level") == "ally")
    e = {r["country"]: r["estimate"] for r in table.iter_rows(named=True)}
    assert e["MED"] == sorted([e["DE"], e["FR"], e["IT"]])[1]
    assert np.isfinite(regional.estimates.vcov()).all()


def test_poll_estimate_region_has_covariance(poll: Poll) -> None:
    eu = poll.estimate(Q, region="EU", like_for_like=False)
    v = eu.vcov()
    se = eu.to_polars()["se"].to_numpy()
    assert np.allclose(np.sqrt(np.diag(v)), se, rtol=1e-12)
    assert eu.to_polars().filter(pl.col("wave") == W2)["missing"].to_list()[0] == ["PL"]


def test_member_shares_are_the_combination_coefficients(poll: Poll, countries) -> None:
    """The one max_member_share rule weighs members exactly as the region's figure does."""
    spec = poll.spec
    one_cell = countries.filter((pl.col("wave") == W2) & (pl.col("level") == "ally"))
    regional = with_regions(one_cell, spec, ["EU", "EUP"])
    table = regional.estimates.to_polars()
    coef = regional.estimates.coefficients
    assert coef is not None
    for rid in ("EU", "EUP"):
        i = _row(regional.estimates, country=rid)
        used = table["members"][i].to_list()
        shares = member_shares(spec, rid, used)
        for m in used:
            assert shares[m] == pytest.approx(coef[i, _row(regional.estimates, country=m)])
    pops = {c: COUNTRIES[c] for c in ("DE", "FR", "IT")}
    de = pops["DE"] / sum(pops.values())  # 40%: not above one half
    assert dominant_members(spec, "EUP", ["DE", "FR", "IT"], 0.5) == ()
    assert dominant_members(spec, "EUP", ["DE", "FR", "IT"], de - 1e-9) == ("DE",)
    assert dominant_members(spec, "EU", ["DE", "FR"], 0.5) == ()  # 1/2 is not above 1/2
    assert dominant_members(spec, "EU", ["DE"], 0.5) == ("DE",)


def test_region_at_the_boundary_gets_the_boundary_interval(poll: Poll) -> None:
    """Every member at 1 (so at 0 for the other level): not a Wald point "100% ± 0" but
    the Clopper-Pearson interval at the combination's effective size 1 / sum(c^2 / n);
    with x = n* successes of n* it is closed-form: lower limit (alpha/2)^(1/n*)."""
    sizes = {"DE": 50, "FR": 80, "IT": 60}
    rows = []
    for c, n in sizes.items():
        answers = ["yes"] * n if c != "IT" else ["yes", "no"] * (n // 2)
        rows += [{"country": c, "wave": W2, "q": a} for a in answers]
    design = bm.Design(pl.DataFrame(rows), strata="country")
    est = design.proportion("q", by=["country", "wave"])
    regions = [
        Region(id="WEST", name="West", members=["DE", "FR"], rule="mean"),
        Region(id="WESTP", name="West pooled", members=["DE", "FR"], rule="population"),
        Region(id="MIX", name="Mixed", members=["DE", "IT"], rule="mean"),
    ]
    spec = poll.spec.model_copy(update={"regions": regions})
    table = with_regions(est, spec, boundary_ci="beta").estimates.to_polars()
    pops = {c: COUNTRIES[c] for c in ("DE", "FR")}
    shares = {
        "WEST": {"DE": 0.5, "FR": 0.5},
        "WESTP": {c: p / sum(pops.values()) for c, p in pops.items()},
    }
    for rid, c in shares.items():
        n_eff = 1 / sum(c[m] ** 2 / sizes[m] for m in c)
        got = table.filter(pl.col("country") == rid).sort("level")
        assert got["ci_method"].to_list() == ["beta", "beta"]
        assert got["estimate"].to_list() == [0.0, 1.0]
        (no, yes) = got.iter_rows(named=True)
        assert yes["ci_low"] == pytest.approx(0.025 ** (1 / n_eff), rel=1e-12)
        assert yes["ci_high"] == 1.0 and no["ci_low"] == 0.0
        assert no["ci_high"] == pytest.approx(1 - 0.025 ** (1 / n_eff), rel=1e-12)
    mix = table.filter(pl.col("country") == "MIX")
    assert set(mix["ci_method"]) == {"wald"}  # IT is inside (0, 1): a variance, a Wald interval
    assert table.filter(pl.col("scope_kind") == "country")["ci_method"].null_count() == 6
    # wilson: the same size, the normal quantile; any other method: the point
    wilson = with_regions(est, spec, ["WEST"], boundary_ci="wilson").region_rows().to_polars()
    assert set(wilson["ci_method"]) == {"wilson"} and wilson["ci_low"].min() == 0.0
    logit = with_regions(est, spec, ["WEST"], boundary_ci="logit").region_rows().to_polars()
    assert logit["ci_low"].to_list() == logit["estimate"].to_list()


def test_region_notes_read_as_sentences(poll: Poll, countries) -> None:
    """By the region's name, members counted in words, waves in spec order."""
    spec = poll.spec
    regional = with_regions(countries, spec, ["EUP"], like_for_like=True)
    (note,) = [n for n in regional.notes if "like-for-like" in n]
    assert note.startswith(f"EU pooled (population rule): like-for-like over waves {W1}, {W2}")
    assert "the 3 members polled in every wave (DE, FR, IT)" in note
    one = Region(id="ONE", name="Just Germany", members=["DE", "PL"], rule="mean")
    spec = spec.model_copy(update={"regions": [one]})
    late = with_regions(countries.filter(pl.col("wave") == W2), spec)
    assert late.notes[-1] == (
        "Just Germany (mean rule): the 1 member polled (DE); no data (not polled, or not "
        "asked) for PL"
    )
