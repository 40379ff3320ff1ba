"""DuckDB designs against R `survey` 4.1.1: every fixture case the DuckDB path covers.

The cases are the committed R fixtures (tests/reference/*.json) without a weighting step
or ``to_replicates``: ``mean``, ``total`` and ``proportion`` (Wald) of linearisation and
replicate designs; ``quantile``, contrasts and Rao-Scott tests of linearisation designs.
Their data go to DuckDB as Parquet; the design is built from the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import barometer as bm
from tests.support.reference import (
    cases,
    check_compare_case,
    compare_rows,
    load_data,
    run_method,
)

_IN_SCOPE = ("mean", "total", "proportion")


def _covered(case: dict[str, Any]) -> bool:
    return (
        not case.get("weighting")
        and not case.get("to_replicates")
        and (
            case["method"] in _IN_SCOPE
            or (case["method"] == "quantile" and case.get("design_class") != "ReplicateDesign")
        )
        and case["args"].get("ci", "wald") == "wald"
    )


CASES = [c for area in ("core", "replicates") for c in cases(area) if _covered(c)]


def test_the_duckdb_path_covers_most_cases() -> None:
    assert len(CASES) >= 95


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_duckdb_design_matches_r(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / f"{case['data']}.parquet"
    load_data(case["data"]).write_parquet(path)
    cls = bm.ReplicateDesign if case.get("design_class") == "ReplicateDesign" else bm.Design
    design = cls(str(path), **case["design"])
    problems = compare_rows(case, run_method(design, case["method"], case["args"]))
    assert not problems, "\n".join([case["id"], *problems[:10]])


COMPARE = [
    c
    for c in cases("compare")
    if c.get("design_class", "Design") == "Design" and not c.get("weighting")
]


def test_the_duckdb_path_covers_the_contrasts_and_tests() -> None:
    assert len(COMPARE) >= 19


@pytest.mark.parametrize("case", COMPARE, ids=[c["id"] for c in COMPARE])
def test_duckdb_contrasts_and_chisq_match_r(case: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / f"{case['data']}.parquet"
    load_data(case["data"]).write_parquet(path)
    check_compare_case(case, bm.Design(str(path), **case["design"]))
