"""barometer against R `survey` 4.1.1: contrasts (``svycontrast``) and Rao-Scott tests
(``svychisq``).

Fixtures: tests/reference/compare.json (see tests/reference/README.md); tolerances are
declared in tests/_reference.py with their reasons.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.reference import case_ids, cases, check_compare_case


@pytest.mark.parametrize("case", cases("compare"), ids=case_ids("compare"))
def test_compare_matches_r(case: dict[str, Any]) -> None:
    check_compare_case(case)
