"""Injection tests: a poll whose names and labels are payloads publishes files in which
data stays data — no formula or external link in banners.xlsx, neutralised CSV text
cells (numbers kept numeric), no tag, link or image from data in findings.md."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from markdown_it import MarkdownIt

from barometer.poll.poll import Poll
from barometer.publish.banner.tables import banner_tables, write_csv, write_xlsx
from tests.support.hostile import COUNTRY_NAMES, LEVEL_LABELS, hostile_spec


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("hostile")
    poll, _ = Poll.ingest(hostile_spec(root), root / "poll.duckdb")
    poll.weight()
    return poll


@pytest.fixture(scope="module")
def tables(poll: Poll):
    return banner_tables(poll, banners=["country"])


def test_workbook_has_no_formula_or_external_link(tables, tmp_path) -> None:
    path = write_xlsx(tables, tmp_path / "banners.xlsx")
    wb = openpyxl.load_workbook(path)
    texts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if cell.hyperlink is not None:  # only the contents sheet's own links
                    assert ws.title == "Contents" and not cell.hyperlink.target
                    assert cell.hyperlink.location in wb.sheetnames or "!" in str(
                        cell.hyperlink.location
                    )
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    # The payloads are there, as text.
    for payload in [COUNTRY_NAMES["DE"], LEVEL_LABELS[0], LEVEL_LABELS[1]]:
        assert any(payload in t for t in texts), payload


def test_csv_text_cells_neutralised_numbers_numeric(tables, tmp_path) -> None:
    path = write_csv(tables, tmp_path / "banners.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, quoting=csv.QUOTE_NONNUMERIC)  # unquoted fields -> float
        header = next(reader)
        rows = list(reader)
    assert rows
    col = {name: i for i, name in enumerate(header)}
    for row in rows:
        assert isinstance(row[col["estimate"]], float | str)  # "" when suppressed
        assert isinstance(row[col["base_unweighted"]], float)
        for value in row:
            if isinstance(value, str) and value:
                assert value[0] not in "=+-@\t\r", value
    labels = {row[col["label"]] for row in rows}
    assert "'" + LEVEL_LABELS[0] in labels


def test_findings_markdown_shows_no_markup_from_data(poll, tmp_path) -> None:
    found = poll.findings(min_base=50, alpha=0.5)
    md, _ = found.write(tmp_path)
    html = MarkdownIt("commonmark").render(md.read_text(encoding="utf-8"))
    for bad in ("<img", "<script", "<a ", 'href="http://evil', "<strong", "<em"):
        assert bad not in html, bad
    assert "\x1b" not in md.read_text(encoding="utf-8")
