"""barometer against R `survey` 4.1.1: replicate-weight designs and ``to_replicates``.

Fixtures: tests/reference/replicates.json (see tests/reference/README.md); tolerances are
declared in tests/_reference.py with their reasons.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.reference import case_ids, cases, check_case


@pytest.mark.parametrize("case", cases("replicates"), ids=case_ids("replicates"))
def test_replicates_match_r(case: dict[str, Any]) -> None:
    check_case(case)
