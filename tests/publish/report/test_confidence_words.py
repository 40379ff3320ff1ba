"""Every printed confidence level follows the publication's ``confidence``: a
publication at 90% says "90%" in the report's words, tables, chart titles and
tooltips, and never "95%"; the banner letters word their own fixed levels."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from barometer.poll.spec import publication_rules
from barometer.publish.banner.build import banner
from barometer.publish.banner.tables import write_xlsx
from barometer.publish.charts import LevelStyle, gap_dots, to_svg, trend
from barometer.publish.numbers import format_level
from barometer.publish.report.html import collect, render_report
from tests.publish.banner.test_tables import _toy
from tests.support.report_demo import demo_poll


@pytest.mark.parametrize(
    ("confidence", "words"),
    [(0.95, "95%"), (0.9, "90%"), (0.995, "99.5%"), (0.8, "80%"), (0.999, "99.9%")],
)
def test_format_level(confidence: float, words: str) -> None:
    assert format_level(confidence) == words


@pytest.fixture(scope="module")
def at_90(tmp_path_factory: pytest.TempPathFactory) -> Any:
    poll = demo_poll(tmp_path_factory)
    rules = publication_rules(poll.spec, confidence=0.9)
    pub = poll.publication(["us_relationship", "trust_eu", "allies"], rules=rules)
    assert pub.rules.confidence == 0.9
    return pub


def test_report_at_90_never_says_95(at_90: Any) -> None:
    html = render_report(collect(at_90))
    assert "95%" not in html and "95 %" not in html
    for said in (
        "Weighted estimates with 90%",
        "half the width of a 90%",
        "90% interval",  # the tables' cells
        "with 90% intervals",  # the figures' alt texts
        "Whiskers show 90%",
        "with its 90% interval",  # the ranked bars' caption
    ):
        assert said in html, said


def test_charts_at_90_never_say_95(at_90: Any) -> None:
    style = LevelStyle.from_question(at_90.spec.question("us_relationship"))
    cells = at_90.cells("us_relationship").estimates.to_polars()
    cells = cells.filter(pl.col("level").is_in(list(style.codes)))  # not the net
    level = style.codes[0]
    latest = [w.id for w in at_90.spec.waves if w.id in at_90.waves][-1]
    for chart in (
        gap_dots(cells, style, level, wave=latest, confidence=0.9),
        trend(cells, style, level, confidence=0.9),
    ):
        spec = json.dumps(chart.to_dict())
        assert "95%" not in spec
        assert re.search(r"90% interval", spec)
        assert "90%" in to_svg(chart)


def _workbook_text(path: Path) -> str:
    book = openpyxl.load_workbook(path, read_only=True)
    return "\n".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )


def test_banner_letters_word_their_own_levels(tmp_path: Any) -> None:
    t = banner(_toy(), "q", "g")
    text = _workbook_text(write_xlsx([t], tmp_path / "b.xlsx"))
    assert "UPPER CASE at the 95% level (adjusted p < 0.05)" in text
    assert "lower case at 90% (adjusted p < 0.1)" in text
    other = dataclasses.replace(t, settings={**t.settings, "letter_levels": [0.01, 0.05]})
    text = _workbook_text(write_xlsx([other], tmp_path / "c.xlsx"))
    assert "UPPER CASE at the 99% level (adjusted p < 0.01)" in text
    assert "lower case at 95% (adjusted p < 0.05)" in text
