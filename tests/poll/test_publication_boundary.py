"""Intervals at a share of exactly 0 or 1 (issue 11): the core's ``beta`` interval against
R (tests/reference/make_boundary.R), and the publication printing it with ``ci_method``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.poll.poll import Poll
from tests.support.pollkit import WAVES, make_ragged_poll

REFERENCE = Path(__file__).parents[1] / "reference"
TOL = 1e-8


def test_beta_interval_at_0_and_1_equals_r() -> None:
    fixture = json.loads((REFERENCE / "boundary.json").read_text(encoding="utf-8"))
    data = pl.read_csv(REFERENCE / "data" / "apistrat.csv", null_values=["NA", ""])
    design = bm.Design(data, weights="pw", strata="stype", fpc="fpc")
    est = design.proportion("awards", by=["sch.wide"], ci="beta").to_polars()
    assert any(c["boundary"] for c in fixture["cases"])
    for case in fixture["cases"]:
        (row,) = est.filter(
            (pl.col("sch.wide") == case["domain"]) & (pl.col("level") == case["level"])
        ).iter_rows(named=True)
        assert row["estimate"] == pytest.approx(case["estimate"], rel=TOL, abs=1e-15)
        assert row["ci_low"] == pytest.approx(case["ci_low"], rel=TOL, abs=1e-15)
        assert row["ci_high"] == pytest.approx(case["ci_high"], rel=TOL, abs=1e-15)


def test_publication_prints_the_boundary_interval(tmp_path: Path) -> None:
    make_ragged_poll(tmp_path)
    poll, _ = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    poll.weight()
    pub = poll.publication(questions=["trust"])
    rows = pub.cells("trust").countries().to_polars()
    de = rows.filter(pl.col("country") == "DE").sort("level")
    # everyone in DE answers "high": 1 and 0, with beta intervals that are not the point
    assert de["estimate"].to_list() == [1.0, 0.0]
    assert de["ci_method"].to_list() == ["beta", "beta"]
    assert de["ci_low"][0] < 1.0 == de["ci_high"][0]
    assert de["ci_low"][1] == 0.0 < de["ci_high"][1]
    beta = poll.design().proportion("trust", by=["country", "wave"], ci="beta").to_polars()
    want = beta.filter((pl.col("country") == "DE") & (pl.col("wave") == WAVES[1])).sort("level")
    assert de["ci_high"][1] == pytest.approx(want["ci_high"][1], rel=1e-12)
    inside = rows.filter(pl.col("country") != "DE")
    assert set(inside["ci_method"]) == {"wald"}


def test_combination_at_the_boundary_equals_r() -> None:
    """A mean of domains all at 0 (tests/reference/make_boundary.R, ``combination``): the
    estimate and SE of R's svycontrast, and the Clopper-Pearson limit qbeta(0.975, 1, n*)
    at the effective size n* = 1 / sum(c_k^2 / n_k) that regions and a mean Total get."""
    from barometer.poll.regions import combine
    from barometer.poll.spec import parse_spec
    from tests.support.pollkit import base_spec

    ref = json.loads((REFERENCE / "boundary.json").read_text(encoding="utf-8"))["combination"]
    data = pl.read_csv(REFERENCE / "data" / "apistrat.csv", null_values=["NA", ""])
    design = bm.Design(data.rename({"stype": "country"}), weights="pw", strata="country",
                       fpc="fpc")  # fmt: skip
    est = design.proportion("awards", by=["country", "sch.wide"])
    mean = combine(est, ref["members"], "ALL", "mean", parse_spec(base_spec()))
    (row,) = (
        mean.filter((pl.col("sch.wide") == "No") & (pl.col("level") == "Yes"))
        .to_polars()
        .iter_rows(named=True)
    )
    sizes = est.filter((pl.col("sch.wide") == "No") & (pl.col("level") == "Yes"))["n"]
    assert sorted(sizes.to_list()) == sorted(ref["sizes"])
    assert row["estimate"] == ref["estimate"] == 0 and row["se"] == ref["se"] == 0
    assert row["ci_method"] == "beta" and row["ci_low"] == ref["ci_low"]
    assert row["ci_high"] == pytest.approx(ref["ci_high"], rel=TOL)
    inside = mean.filter(pl.col("sch.wide") == "Yes").to_polars()
    assert set(inside["ci_method"]) == {"wald"}


def _netted_poll(root: Path) -> Poll:
    """The ragged poll, weighted, with ``nato`` netted "yes or no" (1 wherever asked)."""
    from tests.support.pollkit import edit_spec

    spec = make_ragged_poll(root)

    def netted(doc: dict[str, object]) -> None:
        questions = doc["questions"]
        assert isinstance(questions, list)
        nato = next(q for q in questions if q["id"] == "nato")
        nato["nets"] = [{"code": "any", "label": "Yes or no", "levels": ["yes", "no"]}]

    edit_spec(spec, netted)
    poll, _ = Poll.ingest(spec, root / "poll.duckdb")
    poll.weight()
    return poll


def test_a_net_at_1_gets_the_boundary_interval_like_a_level(tmp_path: Path) -> None:
    """A net of every substantive level (``nato``'s "yes or no": nobody picks "unsure")
    is exactly 1 in each country and in the regions: the ``boundary_ci`` interval, the
    one a level at 1 gets (Clopper-Pearson at the domain's count; a region's at the
    combination's effective size), never the Wald point "100% ± 0"."""
    from barometer.core.intervals import boundary_interval

    poll = _netted_poll(tmp_path)
    pub = poll.publication(questions=["nato"])
    cells = pub.cells("nato")
    rows = cells.countries().to_polars().filter(pl.col("level") == "any")
    assert rows.height == 4  # DE and FR, two waves
    assert rows["estimate"].to_list() == [1.0] * 4
    assert set(rows["ci_method"]) == {"beta"}
    low, _ = boundary_interval(
        rows["estimate"].to_numpy(), rows["n"].to_numpy().astype(float), "beta", 0.95
    )
    assert rows["ci_low"].to_list() == pytest.approx(low.tolist(), rel=1e-12)
    assert all(lo < 1.0 for lo in rows["ci_low"]) and rows["ci_high"].to_list() == [1.0] * 4
    # a level at the boundary in the same table: the same rule, the core's beta interval
    unsure = cells.countries().to_polars().filter(pl.col("level") == "unsure")
    assert set(unsure["ci_method"]) == {"beta"} and unsure["ci_low"].to_list() == [0.0] * 4
    region = cells.region("EU").to_polars().filter(pl.col("level") == "any")
    assert region.height == 2 and set(region["ci_method"]) == {"beta"}
    assert region["estimate"].to_list() == [1.0, 1.0]
    for wave, lo in region.select("wave", "ci_low").iter_rows():
        sizes = rows.filter(pl.col("wave") == wave)["n"].to_numpy().astype(float)
        n_eff = 1.0 / np.sum(0.25 / sizes)  # a mean of the two members: c_k = 1/2
        assert lo == pytest.approx(boundary_interval(np.array([1.0]), np.array([n_eff]),
                                                     "beta")[0][0], rel=1e-12)  # fmt: skip
        assert lo < 1.0
    inside = cells.countries().to_polars().filter(pl.col("level") == "yes")
    assert set(inside["ci_method"]) == {"wald"}


def test_the_estimate_command_gives_a_net_at_1_the_boundary_interval(tmp_path: Path) -> None:
    """``barometer estimate`` by the same rule as the publication: the net "yes or no" at
    1 has the publication's beta interval (not its Wald point), labelled so."""
    from typer.testing import CliRunner

    from barometer.cli import app

    poll = _netted_poll(tmp_path)
    result = CliRunner().invoke(
        app, ["estimate", "nato", "--store", str(poll.path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    nets = [r for r in rows if r["level"] == "any"]
    published = poll.publication(questions=["nato"]).cells("nato").countries().to_polars()
    want = {
        (r["country"], r["wave"]): r["ci_low"]
        for r in published.filter(pl.col("level") == "any").iter_rows(named=True)
    }
    assert len(nets) == 4 and {r["ci_method"] for r in nets} == {"beta"}
    for r in nets:
        assert r["ci_low"] == pytest.approx(want[(r["scope"], r["wave"])], rel=1e-12)
        assert r["ci_low"] < 1.0
    assert {r["ci_method"] for r in rows if r["level"] == "yes"} == {"wald"}
