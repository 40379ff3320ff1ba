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
from barometer.publish.findings.find import find
from tests.support.hostile import COUNTRY_NAMES, LEVEL_LABELS, hostile_spec


@pytest.fixture(scope="module")
def poll(tmp_path_factory: pytest.TempPathFactory) -> Poll:
    root = tmp_path_factory.mktemp("hostile")
    poll, _ = Poll.ingest(hostile_spec(root), root / "poll.duckdb")
    poll.weight()
    return poll


@pytest.fixture(scope="module")
def tables(poll: Poll):
    return banner_tables(poll.publication(), banners=["country"])


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
    found = find(poll.publication(), min_base=50, alpha=0.5)
    md, _ = found.write(tmp_path)
    html = MarkdownIt("commonmark").render(md.read_text(encoding="utf-8"))
    for bad in ("<img", "<script", "<a ", 'href="http://evil', "<strong", "<em"):
        assert bad not in html, bad
    assert "\x1b" not in md.read_text(encoding="utf-8")


# -- the report in a browser ----------------------------------------------------------

#: Marks a payload leaves on the page if it ever runs.
RAN = "data-pwned"
SCRIPTED = {
    "DE": "<script>document.documentElement.setAttribute('data-pwned','script')</script>",
    "FR": "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">",
    "IT": "<svg onload=\"document.documentElement.setAttribute('data-pwned','svg')\">",
    "PL": '"><iframe src="javascript:parent.document.documentElement.setAttribute('
    "'data-pwned','iframe')\">",
}


@pytest.mark.browser
def test_report_with_script_payloads_runs_nothing(tmp_path_factory, tmp_path) -> None:
    from barometer.publish import write_report
    from tests.publish.report.test_browser import CHROMIUM, _chromium
    from tests.support.pollkit import edit_spec, make_poll

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    root = tmp_path_factory.mktemp("scripted")
    spec = make_poll(root, n=150, refused=0)

    def poison(s: dict) -> None:
        for c in s["countries"]:
            c["name"] = SCRIPTED[c["code"]]
        q = next(q for q in s["questions"] if q["id"] == "us_relationship")
        q["levels"][0]["label"] = SCRIPTED["DE"]
        q["wording"] = SCRIPTED["FR"]
        s["name"] = SCRIPTED["IT"]

    edit_spec(spec, poison)
    poll, _ = Poll.ingest(spec, root / "poll.duckdb")
    poll.weight()
    pub = poll.publication()
    path = write_report(pub, tmp_path / "report.html", findings=find(pub).headlines(8))
    run = _chromium(
        tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", path.as_uri()
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    dom = run.stdout.decode("utf-8")
    root_tag = dom[: dom.find(">", dom.find("<html")) + 1]
    assert "<html" in root_tag and RAN not in root_tag, root_tag
    assert "<iframe" not in dom and "<svg onload" not in dom
    assert "data-pwned" in dom  # the payloads are on the page, as text
