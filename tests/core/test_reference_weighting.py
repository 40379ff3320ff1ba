"""barometer against R `survey` 4.1.1: rake, calibrate and poststratify — final weights
and calibration-aware standard errors.

Fixtures: tests/reference/weighting.json (see tests/reference/README.md); tolerances are
declared in tests/_reference.py with their reasons.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.reference import case_ids, cases, check_case


@pytest.mark.parametrize("case", cases("weighting"), ids=case_ids("weighting"))
def test_weighting_matches_r(case: dict[str, Any]) -> None:
    check_case(case)
