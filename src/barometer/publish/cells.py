"""Cells that cannot be weaponised: spreadsheet, CSV and Markdown text from data.

A country name, answer label or banner label comes from a spec or a respondent file
someone sent.  Written as it is, ``=HYPERLINK("http://…?x="&A1, "Germany")`` becomes a
live formula in a workbook or a CSV opened in a spreadsheet program, and
``<img src=x onerror=…>`` or ``[click](http://…)`` becomes markup in a Markdown file.
Every writer of publish/ passes text from data through this module (issue 13):

* workbooks are opened with :data:`WORKBOOK_OPTIONS` (no string is turned into a
  formula, a link or a number) and write text with ``write_string``; sheet names go
  through :func:`sheet_name`;
* CSV text cells that a spreadsheet would evaluate (starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return, and their full-width forms) are prefixed with a single
  quote and every text field is quoted, as the OWASP "CSV Injection" page advises;
  numbers, negative ones included, stay numbers;
* Markdown text escapes every character CommonMark gives a meaning to, so data shows
  as the characters it holds — no tags, links, images or emphasis.
"""

from __future__ import annotations

import re

import polars as pl

from barometer.untrusted import printable

__all__ = [
    "FORMULA_START",
    "PLAIN_NUMBER",
    "WORKBOOK_OPTIONS",
    "csv_frame",
    "csv_text",
    "markdown_text",
    "sheet_name",
]

#: xlsxwriter ``Workbook`` options: strings stay strings.
WORKBOOK_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

#: First characters that make a spreadsheet program evaluate a cell (OWASP), with the
#: full-width forms some programs also accept.
FORMULA_START = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
PLAIN_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
#: Characters that start markup anywhere in a CommonMark (or GFM) line: emphasis, code,
#: links and images, raw HTML and entities, tables, strikethrough.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>&!|~])")
#: What starts a block when it opens a line (headings, lists, quotes, rules).
_MARKDOWN_BLOCK = re.compile(r"^(#|[-+=]|\d+[.)])")


def csv_text(value: str) -> str:
    """One CSV text cell, neutralised: a leading formula character gets a ``'`` before
    it, unless the text is a plain number such as ``-3`` or ``+1.5e2``."""
    if value and value[0] in FORMULA_START and not re.match(PLAIN_NUMBER, value):
        return "'" + value
    return value


def csv_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text column neutralised by :func:`csv_text` (vectorised);
    numeric columns are left as they are."""
    starts = "".join(re.escape(c) for c in FORMULA_START)
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(f"^[{starts}]") & ~pl.col(c).str.contains(PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def sheet_name(name: str, taken: list[str], fallback: str) -> str:
    """An Excel sheet name for ``name``: printable, none of ``[]:*?/\\``, no quote at
    either end, at most 31 characters, and not (case-insensitively) one of ``taken``
    — else ``fallback`` (itself at most 31 characters) is used."""
    clean = _SHEET_FORBIDDEN.sub("_", printable(name)).strip("'").strip()[:31]
    lowered = {t.lower() for t in taken}
    if not clean or clean.lower() in lowered or clean.lower() == "history":
        clean = fallback[:31]
    return clean


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown: control characters and line breaks dropped, the
    characters that start inline markup backslash-escaped (so ``<b>``, ``[x](y)``,
    ``![i](y)``, ``&amp;`` and ``**`` print as typed) and a leading block marker
    (``#``, ``-``, ``1.``) escaped; ordinary punctuation (``.``, ``(``, ``%``) is left
    alone so the file still reads as plain text."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", printable(text).strip())
    return _MARKDOWN_BLOCK.sub(lambda m: m[1][:-1] + "\\" + m[1][-1], escaped)
