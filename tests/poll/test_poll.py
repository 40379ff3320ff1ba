"""``bm.Poll``: weighting by country × wave, estimates, regions (barometer.poll.poll)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from barometer.errors import (
    BarometerDeprecationWarning,
    EstimationError,
    SpecError,
    WeightingError,
)
from barometer.poll.ingest import ingest
from barometer.poll.poll import Poll
from barometer.poll.spec_yaml import dump_yaml
from tests.support.pollkit import (
    AGE_TARGET,
    COUNTRIES,
    GENDER_TARGET,
    TRUTH,
    edit_spec,
    make_poll,
    sample,
    write_sav,
)

#: Raking tolerance asked for, and the check on the margins it implies.
TOL = 1e-10
#: Region arithmetic is exact linear algebra on the country estimates.
EXACT = 1e-12


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("poll")
    make_poll(root, n=400, seed=7)
    p, _ = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
    p.weight(tol=TOL)
    return p


def test_weights_meet_every_margin(poll: Poll) -> None:
    rows = poll.store.respondents(["country", "wave", "gender", "age"], with_weights=True)
    assert rows["weight"].null_count() == 0 and rows.height == 7 * 400
    for (country, wave), grp in rows.group_by("country", "wave"):
        total = grp["weight"].sum()
        assert total == pytest.approx(COUNTRIES[country], rel=1e-9)  # shares x population
        for var, target in (("gender", GENDER_TARGET), ("age", AGE_TARGET)):
            for level, share in target.items():
                got = grp.filter(pl.col(var) == level)["weight"].sum() / total
                assert got == pytest.approx(share, abs=10 * TOL), (country, wave, var)


def test_diagnostics(poll: Poll) -> None:
    diag = poll.diagnostics()
    assert diag.height == 7
    assert diag.columns[:3] == ["country", "wave", "n"]
    assert (diag["deff_kish"] > 1).all() and (diag["n_effective"] < diag["n"]).all()
    assert poll.weight_settings()["tol"] == TOL and poll.weighted
    bases = poll.bases()
    assert bases["n"].to_list() == [400] * 7
    assert bases["country"].to_list() == ["DE", "DE", "FR", "FR", "IT", "IT", "PL"]


def test_estimates_recover_the_population(poll: Poll) -> None:
    est = poll.estimate("us_relationship")
    table = est.to_polars()
    assert table.columns == [
        *("country", "wave", "variable", "level", "estimate", "se"),
        *("ci_low", "ci_high", "n", "deff"),
    ]
    # levels in questionnaire order, shares summing to one in every country x wave
    first = table.filter((pl.col("country") == "DE") & (pl.col("wave") == "2024-11"))
    assert first["level"].to_list() == ["ally", "partner", "dont_know"]
    sums = table.group_by("country", "wave").agg(pl.col("estimate").sum())
    assert np.allclose(sums["estimate"], 1.0)
    z = []
    for row in table.iter_rows(named=True):
        truth = TRUTH[row["country"]][["ally", "partner", "dont_know"].index(row["level"])]
        z.append((row["estimate"] - truth) / row["se"])
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
    # gross errors only; coverage is checked properly in test_intervals_cover_the_truth
    assert np.max(np.abs(z)) < 5 and np.mean(np.abs(z)) < 1.3, z


def test_weighting_corrects_the_skew(poll: Poll) -> None:
    # young respondents are over-sampled and answer "partner" more often
    raked = poll.estimate("us_relationship", countries=["DE"])
    base = poll.estimate("us_relationship", countries=["DE"], weights="base")
    pick = pl.col("level") == "partner"
    raked_p = raked.to_polars().filter(pick)["estimate"].mean()
    base_p = base.to_polars().filter(pick)["estimate"].mean()
    assert base_p > raked_p


def test_filters(poll: Poll) -> None:
    est = poll.estimate("us_relationship", by=["country"], waves=["2025-11"], countries=["FR"])
    table = est.to_polars()
    assert table["country"].unique().to_list() == ["FR"] and table["n"].to_list() == [400] * 3
    wide = poll.estimate("us_relationship", countries=["FR"]).to_polars()
    narrow = poll.estimate("us_relationship", countries=["FR"], confidence=0.9, ci="logit")
    width = narrow.to_polars()["ci_high"] - narrow.to_polars()["ci_low"]
    assert (width < wide["ci_high"] - wide["ci_low"]).all()
    banner = poll.estimate("us_relationship", by=["country", "wave", "gender"], countries=["IT"])
    assert set(banner.to_polars()["gender"]) == {"female", "male"}


def test_region_mean_is_like_for_like_by_default(poll: Poll) -> None:
    countries = poll.estimate("us_relationship").to_polars()
    eu = poll.estimate("us_relationship", region="EU")
    table = eu.to_polars()
    assert set(table["country"]) == {"EU"}
    assert all(c == ["DE", "FR", "IT"] for c in table["countries"].to_list())  # PL: first wave only
    assert any("not asked) in every wave: PL" in n for n in eu.notes)
    for row in table.iter_rows(named=True):
        members = countries.filter(
            pl.col("country").is_in(["DE", "FR", "IT"])
            & (pl.col("wave") == row["wave"])
            & (pl.col("level") == row["level"])
        )
        assert row["estimate"] == pytest.approx(members["estimate"].mean(), abs=EXACT)
        # independent samples: var(mean) = sum of variances / k^2
        se = float(np.sqrt((members["se"] ** 2).sum()) / 3)
        assert row["se"] == pytest.approx(se, rel=1e-9)


def test_region_each_wave_and_population_rule(poll: Poll) -> None:
    countries = poll.estimate("us_relationship").to_polars()
    each = poll.estimate("us_relationship", region="EU", like_for_like=False).to_polars()
    first = each.filter(pl.col("wave") == "2024-11")
    assert first["countries"].to_list()[0] == ["DE", "FR", "IT", "PL"]
    pooled = poll.estimate("us_relationship", region="EUP", waves=["2024-11"]).to_polars()
    ally = countries.filter((pl.col("wave") == "2024-11") & (pl.col("level") == "ally"))
    pop = np.array([COUNTRIES[c] for c in ally["country"]])
    expected = float((ally["estimate"].to_numpy() * pop).sum() / pop.sum())
    got = pooled.filter(pl.col("level") == "ally")["estimate"][0]
    assert got == pytest.approx(expected, abs=EXACT)


def test_question_not_asked_in_a_source(tmp_path: Path) -> None:
    make_poll(tmp_path, n=60)
    edit_spec(tmp_path / "spec.yaml", lambda s: s["sources"][2]["variables"].pop("us_relationship"))
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    p.weight()
    table = p.estimate("us_relationship").to_polars()
    it = table.filter(pl.col("country") == "IT")
    assert it["wave"].unique().to_list() == ["2025-11"]  # it-2024-11 did not ask it
    eu = p.estimate("us_relationship", region="EU")
    assert eu.to_polars()["countries"].to_list()[0] == ["DE", "FR"]
    assert "left out, not polled (or not asked) in every wave: IT, PL" in eu.notes[-1]


def test_errors_name_the_fix(poll: Poll) -> None:
    with pytest.raises(SpecError, match="did you mean 'us_relationship'"):
        poll.estimate("us_relationshp")
    with pytest.raises(EstimationError, match="cannot break down by 'contry'"):
        poll.estimate("us_relationship", by=["contry"])
    with pytest.raises(SpecError, match="no country 'XX'"):
        poll.estimate("us_relationship", countries=["XX"])
    with pytest.raises(SpecError, match="no region 'ASIA'"):
        poll.estimate("us_relationship", region="ASIA")


def test_unweighted_store_and_stale_weights(tmp_path: Path) -> None:
    make_poll(tmp_path, n=60, waves=["2024-11"])
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    with pytest.raises(EstimationError, match="not weighted"):
        p.estimate("us_relationship")
    assert p.estimate("us_relationship", weights="base").to_polars().height == 12
    p.weight()
    assert p.weighted
    de = pl.col("country") == "DE"
    assert p.bases().filter(de)["n"].to_list() == [60]
    write_sav(sample("DE", "2024-11", 50, seed=5), tmp_path / "data/de_202411.sav")
    ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    assert not p.weighted  # data changed: weights cleared
    assert p.bases().filter(de)["n"].to_list() == [50]  # not the bases kept from before
    with pytest.raises(EstimationError, match="not weighted"):
        p.estimate("us_relationship")


def test_weighting_problems(tmp_path: Path) -> None:
    make_poll(tmp_path, n=60, waves=["2024-11"])
    edit_spec(tmp_path / "spec.yaml", lambda s: s["targets"].pop(0))  # no DE targets
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    with pytest.raises(WeightingError, match="no weighting targets for DE 2024-11"):
        p.weight()

    def unmap(spec: dict) -> None:
        spec["targets"].insert(0, {"country": "DE", "margins": {"gender": GENDER_TARGET}})
        spec["sources"][0]["variables"]["gender"]["codes"][2] = None

    edit_spec(tmp_path / "spec.yaml", unmap)
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    with pytest.raises(WeightingError, match=r"DE 2024-11: \d+ respondent\(s\) have no gender"):
        p.weight()


def test_cap_limits_the_weights(tmp_path: Path) -> None:
    make_poll(tmp_path, n=200, waves=["2024-11"])
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    free = p.weight()
    capped = p.weight(cap=1.5)
    mean = capped["sum_weights"] / capped["n"]
    assert (capped["max_weight"] <= 1.5 * mean * (1 + 1e-9)).all()
    assert (free["max_weight"] > 1.5 * mean).any()  # the cap had work to do


@pytest.mark.slow
def test_intervals_cover_the_truth(tmp_path: Path) -> None:
    """200 polls (waves) from one known population: 95% intervals cover 93-97%."""
    rng = np.random.default_rng(20261124)
    p_young, p_female = 0.3, 0.52
    # P(answer) in each age x gender cell: ally, partner, dont_know
    cells = {
        ("young", "female"): (0.15, 0.60, 0.25),
        ("young", "male"): (0.25, 0.60, 0.15),
        ("old", "female"): (0.30, 0.50, 0.20),
        ("old", "male"): (0.40, 0.45, 0.15),
    }
    share = {
        (a, g): (p_young if a == "young" else 1 - p_young)
        * (p_female if g == "female" else 1 - p_female)
        for a, g in cells
    }
    truth = np.sum([np.array(cells[k]) * share[k] for k in cells], axis=0)
    n_polls, n = 200, 400
    data = tmp_path / "data"
    data.mkdir()
    sources, waves = [], []
    for i in range(n_polls):
        young = rng.random(n) < 0.5  # the panel: too young, too male
        female = rng.random(n) < 0.42
        probs = np.array([cells[("young" if y else "old", "female" if f else "male")]
                          for y, f in zip(young, female, strict=True)])  # fmt: skip
        answer = (rng.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)
        pl.DataFrame(
            {
                "id": np.arange(n),
                "q": np.array(["ally", "partner", "dont_know"])[answer],
                "age": np.where(young, "young", "old"),
                "gender": np.where(female, "female", "male"),
            }
        ).write_parquet(data / f"p{i:03d}.parquet")
        wave = f"w{i:03d}"
        waves.append({"id": wave})
        sources.append(
            {
                "id": wave,
                "file": f"data/p{i:03d}.parquet",
                "wave": wave,
                "country": "DE",
                "respondent_id": "id",
                "variables": {
                    "us_relationship": {"column": "q"},
                    "age": {"column": "age"},
                    "gender": {"column": "gender"},
                },
            }
        )
    spec = {
        "name": "coverage",
        "countries": [{"code": "DE", "name": "Germany"}],
        "waves": waves,
        "questions": [
            {
                "id": "us_relationship",
                "levels": [{"code": c, "label": c} for c in ("ally", "partner", "dont_know")],
            },
            {
                "id": "age",
                "levels": [{"code": "young", "label": "y"}, {"code": "old", "label": "o"}],
            },
            {
                "id": "gender",
                "levels": [{"code": "female", "label": "f"}, {"code": "male", "label": "m"}],
            },
        ],
        "sources": sources,
        "targets": [
            {
                "country": "DE",
                "margins": {
                    "age": {"young": p_young, "old": 1 - p_young},
                    "gender": {"female": p_female, "male": 1 - p_female},
                },
            }
        ],
    }
    (tmp_path / "spec.yaml").write_text(dump_yaml(spec, sort_keys=False))
    p, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    p.weight()
    table = p.estimate("us_relationship").to_polars()
    level = {"ally": 0, "partner": 1, "dont_know": 2}
    t = np.array([truth[level[lv]] for lv in table["level"]])
    covered = (table["ci_low"].to_numpy() <= t) & (t <= table["ci_high"].to_numpy())
    assert table.height == 3 * n_polls
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    unweighted = p.estimate("us_relationship", weights="base").to_polars()
    cov_base = (unweighted["ci_low"].to_numpy() <= t) & (t <= unweighted["ci_high"].to_numpy())
    assert cov_base.mean() < 0.9  # without weighting the skewed panel misses the truth


def test_confidence_spelling_and_the_deprecated_level(poll: Poll) -> None:
    new = poll.estimate("us_relationship", countries=["FR"], confidence=0.9).to_polars()
    with pytest.warns(BarometerDeprecationWarning, match=r"level=\) is deprecated"):
        old = poll.estimate("us_relationship", countries=["FR"], level=0.9).to_polars()
    assert old.equals(new)  # the same numbers: level= is the confidence, never a level
    assert set(old["level"]) == {"ally", "partner", "dont_know"}
    default = poll.estimate("us_relationship", countries=["FR"]).to_polars()
    assert (default["ci_high"] - default["ci_low"] > new["ci_high"] - new["ci_low"]).all()
    with pytest.raises(EstimationError, match=r"confidence=1\.5"):
        poll.estimate("us_relationship", confidence=1.5)


def test_a_trend_is_formed_once_per_question_waves_and_regions(poll: Poll) -> None:
    """Findings ask for the change between two waves, the report for the trend over
    every wave: over the same waves and regions they read one result; fewer waves or
    other regions form their own."""
    pub = poll.publication()
    waves = list(pub.waves)
    every = pub.trend("us_relationship")
    assert pub.trend("us_relationship", waves) is every
    assert pub.trend("us_relationship", regions=pub.region_ids()) is every
    first = pub.trend("us_relationship", waves[:1])
    assert first is not every
    assert set(first.estimates["wave"].to_list()) == {waves[0]}
    assert set(every.estimates["wave"].to_list()) == set(waves)
    assert len(pub.trend("us_relationship", regions=[]).estimates) < len(every.estimates)


def test_publication_holds_each_question_once(poll: Poll) -> None:
    pub = poll.publication(breakdowns=["gender"])
    assert pub.questions == ("us_relationship",) and pub.breakdowns == (None, "gender")
    cells = pub.cells("us_relationship")
    direct = poll.estimate("us_relationship").to_polars()
    countries = cells.countries().to_polars()
    assert countries.select(direct.columns).equals(direct)
    eu = cells.region("EU").to_polars()
    assert eu.filter(pl.col("wave") == "2025-11")["members"].to_list()[0] == ["DE", "FR", "IT"]
    # weighted bases: sums of the weights of the respondents answering
    w = poll.store.respondents(["country", "wave", "us_relationship"], with_weights=True)
    fr = w.filter((pl.col("country") == "FR") & pl.col("us_relationship").is_not_null())
    fr_base = countries.filter((pl.col("country") == "FR") & (pl.col("wave") == "2025-11"))
    want = fr.filter(pl.col("wave") == "2025-11")["weight"].sum()
    assert fr_base["base_weighted"][0] == pytest.approx(want, rel=1e-12)
    assert eu["base_weighted"][0] > fr_base["base_weighted"][0]
    by_gender = pub.cells("us_relationship", "gender")
    assert set(by_gender.estimates["gender"].cast(pl.String)) == {"female", "male"}
    assert by_gender.estimates.vcov().shape[0] == len(by_gender.estimates)
    trend = pub.trend("us_relationship")
    assert trend.figure("EU").members == ("DE", "FR", "IT")
    with pytest.raises(EstimationError, match="no breakdown 'age'"):
        pub.cells("us_relationship", "age")
    with pytest.raises(EstimationError, match="no country 'XX'"):
        poll.publication(countries=["XX"])
    facts = pub.facts
    assert facts.bases.equals(poll.bases()) and facts.weighted
    assert facts.fieldwork.columns == ["country", "wave", "firm", "mode", "n"]
