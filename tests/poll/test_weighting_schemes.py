"""Each country's own weighting scheme, populations per wave and the hot-deck imputation
of missing weighting values (issue 12): weights equal R ``survey::rake`` per country ×
wave (tests/reference/make_schemes.R), margins met, draws reproducible from the seed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from barometer.errors import SpecError, WeightingError
from barometer.poll.spec import PollSpec, parse_spec
from barometer.poll.weighting import IMPUTED_PREFIX, impute, raked_design, schemes
from tests.support.reference import DATA_DIR, REFERENCE_DIR

FIXTURE = json.loads((REFERENCE_DIR / "schemes.json").read_text(encoding="utf-8"))
WAVES = ["2024-11", "2025-11"]


def _spec(**weighting: Any) -> PollSpec:
    """DE raked on gender and age (population per wave), FR on gender only (one number)."""
    margins = {c["country"]: c["margins"] for c in FIXTURE["cases"]}
    populations = {
        c: {x["wave"]: x["population"] for x in FIXTURE["cases"] if x["country"] == c}
        for c in margins
    }
    levels = {"gender": ["female", "male"], "age": ["young", "old"]}
    return parse_spec(
        {
            "name": "schemes",
            "countries": [
                {"code": "DE", "name": "Germany", "population": populations["DE"]},
                {"code": "FR", "name": "France", "population": populations["FR"]["2024-11"]},
            ],
            "waves": [{"id": w} for w in WAVES],
            "questions": [
                {"id": v, "kind": "weighting", "levels": [{"code": c, "label": c} for c in lv]}
                for v, lv in levels.items()
            ],
            "targets": [{"country": c, "margins": m} for c, m in margins.items()],
            "weighting": weighting or {"missing": "fail"},
        }
    )


def _frame() -> pl.DataFrame:
    raw = pl.read_csv(DATA_DIR / "schemes_poll.csv", null_values="")
    return raw.select(
        pl.lit("s").alias("source_id"),
        pl.col("id").cast(pl.String).alias("respondent_id"),
        "country",
        "wave",
        pl.col("w").alias("base_weight"),
        pl.lit(None, pl.String).alias("strata"),
        pl.lit(None, pl.String).alias("psu"),
        pl.col("gender").cast(pl.Enum(["female", "male"])),
        pl.col("age").cast(pl.Enum(["young", "old"])),
    )


def _weights(spec: PollSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    design, imputed = raked_design(spec, frame, tol=1e-12, max_iter=1000, cap=None)
    return frame.with_columns(weight=np.asarray(design.weights)), imputed


def test_each_country_is_raked_on_its_own_scheme_as_r_rake() -> None:
    frame = _frame()
    # FR's scheme is gender only: its respondents without an age are weighted all the same
    assert frame.filter(pl.col("country") == "FR")["age"].null_count() > 0
    got, imputed = _weights(_spec(), frame)
    assert imputed.height == 0
    for case in FIXTURE["cases"]:
        rows = got.filter(pl.col("respondent_id").is_in([str(i) for i in case["respondent_ids"]]))
        assert rows["respondent_id"].to_list() == [str(i) for i in case["respondent_ids"]]
        np.testing.assert_allclose(rows["weight"].to_numpy(), case["weights"], rtol=1e-8)


def test_populations_per_wave_scale_each_waves_totals() -> None:
    got, _ = _weights(_spec(), _frame())
    totals = {
        (c, w): t
        for c, w, t in got.group_by("country", "wave").agg(pl.col("weight").sum()).iter_rows()
    }
    assert totals[("DE", "2024-11")] == pytest.approx(84.1e6, rel=1e-10)
    assert totals[("DE", "2025-11")] == pytest.approx(84.4e6, rel=1e-10)
    assert totals[("FR", "2024-11")] == pytest.approx(52.5e6, rel=1e-10)
    assert totals[("FR", "2025-11")] == pytest.approx(52.5e6, rel=1e-10)


def test_a_wave_without_its_population_is_an_error() -> None:
    spec = _spec()
    frame = _frame().with_columns(
        pl.when(pl.col("wave") == "2025-11").then(pl.lit("2026-11")).otherwise("wave").alias("wave")
    )
    data = spec.model_dump()
    data["waves"].append({"id": "2026-11", "start": None, "end": None})
    with pytest.raises(WeightingError, match="no population for DE 2026-11"):
        raked_design(parse_spec(data), frame, 1e-10, 100, None)
    data["countries"][0]["population"]["2027-11"] = 1e6
    with pytest.raises(SpecError, match=r"countries\[0\]\.population\.2027-11: .*wave"):
        parse_spec(data)


def test_a_respondent_needs_only_its_own_schemes_variables() -> None:
    frame = _frame().with_columns(
        pl.when(pl.col("country") == "DE").then(pl.col("age")).otherwise(None).alias("age")
    )
    _weights(_spec(), frame)  # FR without any age is fine
    frame = frame.with_columns(
        pl.when(pl.col("respondent_id").is_in(["1", "2"])).then(None).otherwise("age").alias("age")
    )
    with pytest.raises(WeightingError, match=r"DE 2024-11: 2 respondent\(s\) have no age") as e:
        _weights(_spec(), frame)
    assert "FR" not in str(e.value) and "missing: impute" in str(e.value)


def _holes(frame: pl.DataFrame) -> pl.DataFrame:
    """Knock out ~15% of DE's genders and ages (never both); FR (gender only) keeps its."""
    rng = np.random.default_rng(7)
    u = rng.random(frame.height)
    de = (frame["country"] == "DE").to_numpy()
    no_gender = de & (u < 0.08)
    no_age = de & (u >= 0.08) & (u < 0.15)
    return frame.with_columns(
        pl.when(pl.Series(no_gender)).then(None).otherwise("gender").alias("gender"),
        pl.when(pl.Series(no_age)).then(None).otherwise("age").alias("age"),
    )


def test_impute_same_seed_same_weights_counts_and_margins() -> None:
    frame = _holes(_frame())
    spec = _spec(missing="impute", seed=20261201)
    with pytest.raises(WeightingError):
        _weights(_spec(), frame)
    first, counts = _weights(spec, frame)
    second, again = _weights(spec, frame)
    np.testing.assert_array_equal(first["weight"].to_numpy(), second["weight"].to_numpy())
    assert counts.equals(again)
    other, _ = _weights(_spec(missing="impute", seed=1), frame)
    assert not np.array_equal(first["weight"].to_numpy(), other["weight"].to_numpy())
    # the counts are the holes in each country × wave's own scheme
    want = {}
    for (c, w), target in schemes(spec, frame).items():
        g = frame.filter((pl.col("country") == c) & (pl.col("wave") == w))
        want.update({(c, w, v): g[v].null_count() for v in target.margins})
    got = {(c, w, v): n for c, w, v, n in counts.iter_rows()}
    assert got == want and sum(got.values()) > 40
    # every margin is met on the imputed values, to the population totals
    filled, _ = impute(frame, schemes(spec, frame), spec.weighting.seed)
    filled = filled.with_columns(weight=first["weight"])
    for case in FIXTURE["cases"]:
        g = filled.filter((pl.col("country") == case["country"]) & (pl.col("wave") == case["wave"]))
        for var, shares in case["margins"].items():
            col = IMPUTED_PREFIX + var
            assert g[col].null_count() == 0
            sums = dict(g.group_by(col).agg(pl.col("weight").sum()).iter_rows())
            for level, share in shares.items():
                assert sums[level] == pytest.approx(share * case["population"], rel=1e-9)
    # imputed values are for weighting only: the answers keep their gaps
    assert filled["gender"].null_count() == frame["gender"].null_count()


def test_impute_draws_donors_matching_the_observed_variables() -> None:
    frame = _holes(_frame())
    spec = _spec(missing="impute", seed=3)
    filled, _ = impute(frame, schemes(spec, frame), 3)
    # a DE respondent without an age keeps its gender and gets an age some donor of the
    # same gender has; FR's ages (not in its scheme) are left as they are
    de = filled.filter((pl.col("country") == "DE") & pl.col("age").is_null())
    assert (de["gender"] == de[IMPUTED_PREFIX + "gender"]).all()
    fr = filled.filter(pl.col("country") == "FR")
    assert fr[IMPUTED_PREFIX + "age"].null_count() == fr["age"].null_count()


def test_a_respondent_missing_every_weighting_variable_is_named() -> None:
    frame = _frame().with_columns(
        pl.when(pl.col("respondent_id") == "3").then(None).otherwise(pl.col(v)).alias(v)
        for v in ("gender", "age")
    )
    with pytest.raises(WeightingError, match="DE 2024-11: respondent 3 of source s has none"):
        _weights(_spec(missing="impute", seed=1), frame)


def test_a_poll_imputes_reports_and_keeps_the_gaps(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from barometer.cli import app
    from barometer.poll.poll import Poll
    from tests.support.pollkit import edit_spec, make_poll

    spec_path = make_poll(tmp_path, n=120)
    fr = tmp_path / "data" / "fr_202411.csv"
    table = pl.read_csv(fr)
    table.with_columns(
        pl.when(pl.int_range(pl.len()) < 7).then(pl.lit("x")).otherwise("age").alias("age")
    ).write_csv(fr)
    unknown = {"young": "young", "old": "old", "x": None}  # "x": no answer
    edit_spec(spec_path, lambda s: s["sources"][1]["variables"]["age"].update(codes=unknown))
    poll, _ = Poll.ingest(spec_path, tmp_path / "a.duckdb")
    with pytest.raises(WeightingError, match=r"FR 2024-11: 7 respondent\(s\) have no age"):
        poll.weight()
    edit_spec(spec_path, lambda s: s.update(weighting={"missing": "impute", "seed": 5}))
    poll, _ = Poll.ingest(spec_path, tmp_path / "b.duckdb")
    poll.weight()
    imputed = {(c, w, v): n for c, w, v, n in poll.imputed().iter_rows()}
    assert imputed[("FR", "2024-11", "age")] == 7
    assert sum(imputed.values()) == 7
    assert poll.diagnostics()["n"].sum() == poll.bases()["n"].sum()
    # the answers keep their gaps: 7 French respondents have no age in any estimate
    est = poll.estimate("age", by=["country", "wave"], weights="raked").to_polars()
    fr_n = est.filter((pl.col("country") == "FR") & (pl.col("wave") == "2024-11"))
    assert int(fr_n["n"].max()) == 120 - 7
    out = CliRunner().invoke(
        app, ["info", "--store", str(tmp_path / "b.duckdb")], env={"COLUMNS": "300"}
    )
    assert out.exit_code == 0, out.output
    assert "Weighting values imputed" in out.output
    assert re.search(r"FR\s*│\s*2024-11\s*│\s*age\s*│\s*7", out.output)
