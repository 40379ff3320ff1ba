"""The poll's weighting scheme (barometer.poll.weighting): targets per country × wave,
the checks before raking, the design's strata and PSUs."""

from __future__ import annotations

import polars as pl
import pytest

from barometer.errors import WeightingError
from barometer.poll.spec import parse_spec
from barometer.poll.weighting import (
    base_design,
    check_weighting_data,
    margins,
    schemes,
    weighting_variables,
)
from tests.support.pollkit import AGE_TARGET, COUNTRIES, base_spec


def _frame(rows: list[tuple[str, str]], **extra: list[object]) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame(
        {
            "source_id": ["s"] * n,
            "respondent_id": [str(i) for i in range(n)],
            "country": [c for c, _ in rows],
            "wave": [w for _, w in rows],
            "base_weight": [1.0] * n,
            "strata": [None] * n,
            "psu": [None] * n,
            **extra,
        },
        schema_overrides={"strata": pl.String, "psu": pl.String},
    )


def test_margins_prefer_the_waves_own_targets_and_gross_up_shares() -> None:
    data = base_spec()
    data["targets"].append(
        {"country": "DE", "wave": "2025-11", "margins": {"age": {"young": 0.5, "old": 0.5}}}
    )
    spec = parse_spec(data)
    assert weighting_variables(spec) == ["gender", "age"]
    got = margins(spec, _frame([("DE", "2024-11"), ("DE", "2025-11")]))
    assert got["DE/2024-11"]["age"] == {k: v * COUNTRIES["DE"] for k, v in AGE_TARGET.items()}
    assert got["DE/2025-11"] == {"age": {"young": 0.5 * 69.4e6, "old": 0.5 * 69.4e6}}


def test_missing_targets_and_data_are_one_error_each() -> None:
    data = base_spec()
    data["targets"] = [t for t in data["targets"] if t["country"] != "PL"]
    spec = parse_spec(data)
    with pytest.raises(WeightingError, match="no weighting targets for PL 2024-11"):
        margins(spec, _frame([("PL", "2024-11")]))
    frame = _frame([("DE", "2024-11")] * 2, gender=["male", None])
    with pytest.raises(WeightingError, match=r"DE 2024-11: 1 respondent\(s\) have no gender") as e:
        check_weighting_data(frame, schemes(spec, frame))
    assert "no source maps weighting variable 'age'" in str(e.value)


def test_strata_are_country_by_wave_and_respondents_their_own_psu() -> None:
    rows = [("DE", "2024-11"), ("FR", "2024-11"), ("FR", "2025-11")]
    frame = _frame([r for r in rows for _ in range(2)])
    design = base_design(frame)
    assert design.structure.n_strata == 3 and design.structure.n_psus == 6
