"""The demo's headline (``barometer demo``'s tables), read from its publication: the same
figures ``Poll.estimate`` gives for the EU and South Korea, and the published figures
inside their intervals."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from barometer.demo.figures import PUBLISHED, HeadlineTable, headline
from tests.support.report_demo import demo_poll

#: The headline reads the full design's raking, ``Poll.estimate`` for a region or a country
#: rakes a design of that scope again (to the same tolerance): they agree to its order.
RAKED_AGAIN = 1e-8


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return demo_poll(tmp_path_factory)


@pytest.fixture(scope="module")
def items(poll: Any) -> list[HeadlineTable | str]:
    return headline(poll.publication())


def _tables(items: list[HeadlineTable | str]) -> list[HeadlineTable]:
    return [i for i in items if isinstance(i, HeadlineTable)]


def _same(shown: pl.DataFrame, est: pl.DataFrame) -> None:
    """Each headline row is ``est``'s row of the same wave and level, figure for figure."""
    keys = ["wave", "level"]
    joined = shown.join(est.select(*keys, "estimate", "ci_low", "ci_high", "n"), on=keys,
                        suffix="_est")  # fmt: skip
    assert joined.height == shown.height == est.height
    assert (joined["n"] == joined["n_est"]).all()
    for col in ("estimate", "ci_low", "ci_high"):
        gap = ((joined[col] - joined[f"{col}_est"]).abs() / joined[f"{col}_est"].abs()).max()
        assert gap is not None and gap <= RAKED_AGAIN, (col, gap)


def test_the_eu_and_korean_tables_are_poll_estimates(poll: Any, items: list[Any]) -> None:
    eu, kr, outlook, _ = _tables(items)
    _same(eu.frame, poll.estimate("us_relationship", region="EU", like_for_like=False)
          .to_polars())  # fmt: skip
    _same(kr.frame, poll.estimate("us_relationship", countries=["KR"]).to_polars())
    _same(outlook.frame, poll.estimate("us_relations_outlook", countries=["KR"]).to_polars())


def test_the_like_for_like_line_is_the_regions_trend(poll: Any, items: list[Any]) -> None:
    trend = poll.estimate("us_relationship", region="EU").to_polars()
    ally = trend.filter(pl.col("level") == "ally").sort("wave")
    first, last = (f"{100 * x:.1f}%" for x in ally["estimate"])
    (line,) = [i for i in items if isinstance(i, str) and i.lstrip().startswith("Like-for-like")]
    assert f"ally {first} → {last}" in line
    assert f"({len(ally['countries'][0])} countries polled in both waves)" in line


def test_every_published_figure_is_shown_inside_its_interval(items: list[Any]) -> None:
    shown = 0
    for table in _tables(items)[:3]:
        marked = table.frame.filter(pl.col("published %") != "")
        shown += marked.height
        assert marked["in interval"].to_list() == ["yes"] * marked.height
    assert shown == len(PUBLISHED)
