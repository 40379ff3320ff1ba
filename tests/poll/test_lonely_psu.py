"""The lonely-PSU rule is settable per source in the spec and on the command line
(issue 13): R's "fail" by default, the spec's rule when its sources set one, the
caller's rule over both; sources that disagree are an error."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from barometer.cli import app
from barometer.errors import BarometerError, WeightingError
from barometer.poll.poll import Poll
from tests.support.pollkit import edit_spec, make_poll


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """The pollkit poll with strata and PSUs in the FR file: stratum "a" has one PSU."""
    path = make_poll(tmp_path, n=80, waves=["2024-11"])
    for csv in (tmp_path / "data").glob("fr_*.csv"):
        frame = pl.read_csv(csv)
        n = frame.height
        frame.with_columns(
            pl.Series("st", ["a"] + ["b"] * (n - 1)),
            pl.Series("cl", ["c0"] + [f"c{i % 7 + 1}" for i in range(n - 1)]),
        ).write_csv(csv)
    edit_spec(path, lambda s: s["sources"][1].update(strata="st", psu="cl"))
    return path


def _estimate(poll: Poll) -> pl.DataFrame:
    return poll.estimate("us_relationship", by=["country"]).to_polars()


def test_default_fails_and_names_the_way_out(spec: Path) -> None:
    poll, _ = Poll.ingest(spec, spec.parent / "poll.duckdb")
    with pytest.raises(BarometerError, match="lonely_psu"):
        poll.weight()
        _estimate(poll)


def test_rule_from_the_spec(spec: Path) -> None:
    edit_spec(spec, lambda s: s["sources"][1].update(lonely_psu="adjust"))
    poll, _ = Poll.ingest(spec, spec.parent / "poll.duckdb")
    assert poll.lonely_psu_rule() == "adjust"
    poll.weight()
    assert poll.weight_settings()["lonely_psu"] == "adjust"
    assert _estimate(poll).height > 0


def test_sources_that_disagree(spec: Path) -> None:
    def rules(s: dict) -> None:
        s["sources"][0]["lonely_psu"] = "certainty"
        s["sources"][1]["lonely_psu"] = "adjust"

    edit_spec(spec, rules)
    poll, _ = Poll.ingest(spec, spec.parent / "poll.duckdb")
    with pytest.raises(WeightingError, match="different lonely_psu rules"):
        poll.weight()
    poll.weight(lonely_psu="average")  # the caller chooses one
    assert poll.weight_settings()["lonely_psu"] == "average"


def test_command_line_rule(spec: Path) -> None:
    runner = CliRunner()
    store = str(spec.parent / "poll.duckdb")
    assert runner.invoke(app, ["ingest", str(spec)]).exit_code == 0
    bad = runner.invoke(app, ["weight", "--store", store, "--lonely-psu", "nonsense"])
    assert bad.exit_code == 1 and "lonely_psu='nonsense'" in bad.stderr
    ok = runner.invoke(app, ["weight", "--store", store, "--lonely-psu", "adjust"])
    assert ok.exit_code == 0, ok.output
    est = runner.invoke(app, ["estimate", "us_relationship", "--store", store])
    assert est.exit_code == 0, est.output
