"""A small poll for the explorer's tests: two breakdowns declared, a high minimum base
(so suppression happens) and injection payloads in its labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.pollkit import edit_spec, make_poll

#: Payloads in the spec's labels: none may come back as markup.
SCRIPT = "</script><script>alert(1)</script>"
COMMENT = "<!--"
IMG = '<img src=x onerror="alert(2)">'


@dataclass(frozen=True)
class Explorer:
    store: Path
    poll: Any
    pub: Any
    cube: Any


def _publication_rules(spec: dict[str, Any]) -> None:
    spec["publication"] = {
        "suppress_below": 140,
        "flag_below": 200,
        "breakdowns": ["age", "gender"],
    }
    spec["questions"][0]["wording"] = f"Is the US an ally? {SCRIPT}{COMMENT}"
    spec["questions"][0]["levels"][1]["label"] = f"A partner {IMG}"
    spec["countries"][0]["name"] = f"Germany {SCRIPT}"


#: Respondents of the load test's poll (issue 17: the CI load test at 100,000); make_poll
#: writes seven samples (countries x waves) of ``n`` each.
LOAD_RESPONDENTS = 100_000
SAMPLES = 7


def _explorer(root: Path, n: int) -> Explorer:
    from barometer.poll.poll import Poll
    from barometer.publish.explorer.cube import build_cube

    spec = make_poll(root, n=n, seed=3)
    edit_spec(spec, _publication_rules)
    poll, _ = Poll.ingest(spec, root / "poll.duckdb")
    poll.weight()
    pub = poll.publication(breakdowns=poll.spec.publication.breakdowns)
    return Explorer(root / "poll.duckdb", poll, pub, build_cube(pub))


@pytest.fixture(scope="session")
def explorer(tmp_path_factory: pytest.TempPathFactory) -> Explorer:
    return _explorer(tmp_path_factory.mktemp("explorer"), 300)


@pytest.fixture(scope="session")
def large_explorer(tmp_path_factory: pytest.TempPathFactory) -> Explorer:
    """The same poll with LOAD_RESPONDENTS respondents (built in a few seconds)."""
    n = -(-LOAD_RESPONDENTS // SAMPLES)
    return _explorer(tmp_path_factory.mktemp("large_explorer"), n)
