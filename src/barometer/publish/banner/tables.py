"""Banner tables: a question's answers down the side, breakdowns across, with letters.

A banner table is the crosstab fieldwork firms deliver: the levels of one question down
the side; across the top a total column and one or several *banners* (country, age,
gender, education, …), each a set of columns; in every column the weighted percentages,
the unweighted and weighted bases, and column-proportion significance letters — under a
share, the letters of the columns of the same banner it is significantly higher than,
upper case at the 95% level and lower case at 90% (``LETTER_LEVELS``, fixed: not the
publication's confidence).

Everything comes from a poll's :class:`~barometer.poll.publication.Publication` (shares,
covariance, bases and the publication rules' thresholds) or from a core ``Design``
(``Design.proportion`` by the banner, bases from ``Estimates.n`` and ``Design.total``);
the tests from
:func:`barometer.core.comparisons.pairwise_differences` — design-based z tests of the
difference of two columns' shares with their covariance from the design (not unweighted
counts), adjusted within each row of a banner (Bonferroni by default, or
Benjamini-Hochberg). Built by :func:`banner` (:mod:`barometer.publish.banner.build`);
written to ``.xlsx`` (:func:`write_xlsx`: a contents sheet and one sheet per question)
and to CSV (:func:`write_csv`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from barometer.atomic import atomic_path, write_bytes
from barometer.errors import EstimationError
from barometer.publish.cells import WORKBOOK_OPTIONS, csv_frame, sheet_name
from barometer.publish.numbers import format_level

__all__ = ["BannerColumn", "BannerTable", "write_csv", "write_xlsx"]

#: Significance levels of the letters: upper case below the first, lower case below the
#: second (adjusted p-values).
LETTER_LEVELS = (0.05, 0.10)
TOTAL = "total"
_SUPPRESSED = "–"
#: The mark of a column with a note (a region mostly made of one member).
_NOTE_MARK = "†"


@dataclass(frozen=True)
class BannerColumn:
    """One column of a banner table: which banner, which value, its letter and bases.

    ``flagged``: unweighted base under the flag threshold (shown, marked);
    ``suppressed``: under the minimum base (shares not shown, not tested); ``note``: a
    caution printed with the column (a region mostly made of one member, marked †).
    """

    banner: str
    value: str | None
    label: str
    letter: str
    #: The banner's heading (e.g. "Age group"); "Total" for the total column.
    banner_label: str
    n: int
    weighted_base: float
    flagged: bool
    suppressed: bool
    note: str = ""


@dataclass(frozen=True)
class BannerTable:
    """The banner table of one question: its columns and its cells.

    ``cells`` has one row per column × level: ``column`` (position in ``columns``),
    ``level``, ``label``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``n`` and
    ``letters`` — each number taken unchanged from the ``Estimates`` of its column.
    """

    question: str
    title: str
    levels: tuple[tuple[str, str], ...]
    columns: tuple[BannerColumn, ...]
    cells: pl.DataFrame
    base: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: "share": column percentages of levels and nets; "mean": a numeric question's
    #: mean per column (one row, level "mean"), its letters from tests of the means
    statistic: str = "share"

    def to_polars(self) -> pl.DataFrame:
        """The table in long form: one row per column × level, with the column's bases
        and flags; shares of suppressed columns are null."""
        cols = pl.DataFrame(
            {
                "column": list(range(len(self.columns))),
                "banner": [c.banner for c in self.columns],
                "value": [c.value for c in self.columns],
                "column_label": [c.label for c in self.columns],
                "letter": [c.letter for c in self.columns],
                "base_unweighted": [c.n for c in self.columns],
                "base_weighted": [c.weighted_base for c in self.columns],
                "flag": [
                    "suppressed" if c.suppressed else "low base" if c.flagged else ""
                    for c in self.columns
                ],
                "column_note": [c.note for c in self.columns],
            },
            schema_overrides={"value": pl.String},
        )
        out = self.cells.join(cols, on="column", how="left").with_columns(
            pl.lit(self.question).alias("question")
        )
        hidden = pl.col("flag") == "suppressed"
        out = out.with_columns(
            [
                pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c)
                for c in ("estimate", "se", "ci_low", "ci_high")
            ]
        )
        return out.select(
            "question", "banner", "value", "column_label", "letter", "level", "label",
            "estimate", "se", "ci_low", "ci_high", "base_unweighted", "base_weighted",
            "flag", "letters", "column_note",
        )  # fmt: skip

    def to_csv(self, path: str | Path) -> Path:
        """Write the long table (:meth:`to_polars`) as CSV."""
        return write_csv([self], path)

    def to_xlsx(self, path: str | Path) -> Path:
        """Write this table as a workbook (contents sheet and one table sheet)."""
        return write_xlsx([self], path)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write_csv(tables: Sequence[BannerTable], path: str | Path) -> Path:
    """Write the tables in long form (one row per question × column × level) as CSV.

    Text cells a spreadsheet would evaluate (``=…``, ``+…``, ``-…``, ``@…``) are
    neutralised and every text field is quoted (:func:`barometer.publish.cells.csv_frame`);
    numbers are written as numbers.  The file is replaced atomically."""
    path = Path(path)
    if not tables:
        raise EstimationError("write_csv: no banner table to write")
    frame = pl.concat([t.to_polars() for t in tables], how="vertical_relaxed")
    with atomic_path(path) as tmp:
        csv_frame(frame).write_csv(tmp, quote_style="non_numeric")
    return path


def _sheet_names(tables: Sequence[BannerTable]) -> list[str]:
    """Excel sheet names (31 characters, no []:*?/\\), unique, never "Contents"."""
    names: list[str] = ["Contents"]
    for i, t in enumerate(tables, start=1):
        fallback = f"{sheet_name(t.question, [], 'table')[:24]}_{i}"
        names.append(sheet_name(t.question, names, fallback))
    return names[1:]


def write_xlsx(
    tables: Sequence[BannerTable], path: str | Path, title: str = "Banner tables"
) -> Path:
    """Write banner tables to an ``.xlsx`` workbook (xlsxwriter), as fieldwork firms do:
    a contents sheet linking to one sheet per question; on each, the banner headers,
    column letters, unweighted and weighted bases, then for each level its weighted
    percentages (stored as the shares themselves, shown as percentages) and, below, the
    significance letters; headers frozen; low bases flagged, suppressed shares shown
    as "–".

    Every label is written as text, never as a formula, link or number
    (:data:`barometer.publish.cells.WORKBOOK_OPTIONS`); the file is replaced atomically."""
    import io

    import xlsxwriter

    if not tables:
        raise EstimationError("write_xlsx: no banner table to write")
    path = Path(path)
    names = _sheet_names(tables)
    # Built in memory, then written atomically: a full disk never meets xlsxwriter's
    # half-written zip file.
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS | {"in_memory": True})
    fmt = _Formats(wb)
    contents = wb.add_worksheet("Contents")
    contents.write_string(0, 0, title, fmt.title)
    for j, head in enumerate(["Table", "Question", "Base", "Banners"]):
        contents.write_string(2, j, head, fmt.header)
    for i, (t, name) in enumerate(zip(tables, names, strict=True)):
        # An internal link to the table's sheet (its name is sanitised above).
        contents.write_url(3 + i, 0, f"internal:'{name}'!A1", string=name)
        contents.write_string(3 + i, 1, t.title, fmt.wrap)
        contents.write_string(3 + i, 2, t.base, fmt.wrap)
        contents.write_string(3 + i, 3, ", ".join(t.settings["banners"]), fmt.wrap)
        _write_sheet(wb.add_worksheet(name), t, fmt)
    row = 5 + len(tables)
    if any(t.statistic == "mean" for t in tables):
        contents.write_string(row, 0, _MEAN_NOTE)
        row += 1
    for note in _method_notes(tables[0]):
        contents.write_string(row, 0, note)
        row += 1
    contents.set_column(0, 0, 24)
    contents.set_column(1, 1, 80)
    contents.set_column(2, 3, 40)
    wb.close()
    return write_bytes(path, buffer.getvalue())


#: What the Total column is, by the publication's ``total_rule``.
_TOTAL_WORDS = {
    "mean": "Total: the simple average of the countries shown (each country counts "
    "equally, as in the poll's regional figures); its base is theirs summed. Columns of "
    "other banners across countries (age, gender, …) are averages of the countries' own "
    "shares in the same way.",
    "population": "Total: every respondent in the base, weighted; across countries each "
    "counts in proportion to its weighted total (its adult population when the weights "
    "gross up to it), unlike a mean region, the simple average of its countries. Columns "
    "of other banners across countries pool their respondents in the same way.",
    "one country": "Total: every respondent of the country in the base, weighted.",
    "pooled": "Total: every respondent in the base, weighted.",
}


_MEAN_NOTE = (
    "Numeric questions (scales): the row is the weighted mean in each column; its letters "
    "come from design-based z tests of the difference between two columns' means."
)


def _method_notes(t: BannerTable) -> list[str]:
    s = t.settings
    adjust = {"bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg (false discovery rate)"}
    how = adjust.get(s["adjust"], s["adjust"])
    # The letters' levels are the banner's own fixed significance levels, not the
    # publication's confidence: word them from those.
    upper, lower = s.get("letter_levels", LETTER_LEVELS)
    return [
        "Weighted column percentages; bases are respondents answering the question.",
        "Letters: the share is significantly higher than the share in the column with that "
        "letter, within the same banner; "
        f"UPPER CASE at the {format_level(1 - upper)} level (adjusted p < {upper:g}), "
        f"lower case at {format_level(1 - lower)} (adjusted p < {lower:g}).",
        "Tests: design-based z tests of the difference between two columns' shares, with "
        "their covariance from the survey design (weights, strata, clusters, weighting); "
        f"p-values adjusted within each row of a banner: {how}.",
        _TOTAL_WORDS.get(s.get("total_rule", "population"), _TOTAL_WORDS["population"]),
        f"* Unweighted base under {s['flag_base']}: read with caution. "
        f"Under {s['min_base']}: shares suppressed (–) and not tested.",
    ]


def _column_notes(t: BannerTable) -> list[str]:
    """The columns' notes, each once, marked as their columns are."""
    return [f"{_NOTE_MARK} {n}" for n in dict.fromkeys(c.note for c in t.columns if c.note)]


class _Formats:
    def __init__(self, wb: Any) -> None:
        self.title = wb.add_format({"bold": True, "font_size": 12})
        self.header = wb.add_format({"bold": True, "bottom": 1, "text_wrap": True})
        self.group = wb.add_format(
            {"bold": True, "align": "center", "bottom": 1, "bg_color": "#DDE4EE"}
        )
        self.column = wb.add_format({"bold": True, "align": "center", "text_wrap": True})
        self.letter = wb.add_format({"align": "center", "font_color": "#555555"})
        self.label = wb.add_format({"text_wrap": True})
        self.base = wb.add_format({"num_format": "#,##0", "align": "center"})
        self.low_base = wb.add_format(
            {"num_format": "#,##0", "align": "center", "italic": True, "bg_color": "#FCE4D6"}
        )
        self.pct = wb.add_format({"num_format": "0%", "align": "center"})
        self.low_pct = wb.add_format({"num_format": "0%", "align": "center", "italic": True})
        self.mean = wb.add_format({"num_format": "0.0", "align": "center"})
        self.low_mean = wb.add_format({"num_format": "0.0", "align": "center", "italic": True})
        self.sig = wb.add_format({"align": "center", "font_color": "#1F4E79", "font_size": 9})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})


def _write_sheet(ws: Any, t: BannerTable, fmt: _Formats) -> None:
    """One question's table: title, base, headers (rows 3-5), bases (6-7), levels."""
    ws.write_string(0, 0, t.title, fmt.title)
    numeric = t.statistic == "mean"
    what = "Weighted means" if numeric else "Weighted column percentages"
    ws.write_string(1, 0, f"Base: {t.base}. {what}.")
    plain, low = (fmt.mean, fmt.low_mean) if numeric else (fmt.pct, fmt.low_pct)
    ncol = len(t.columns)
    # banner group headers, merged over their columns
    start = 0
    while start < ncol:
        b = t.columns[start].banner
        end = start
        while end + 1 < ncol and t.columns[end + 1].banner == b:
            end += 1
        name = t.columns[start].banner_label
        if end > start:
            ws.merge_range(3, 1 + start, 3, 1 + end, name, fmt.group)
        else:
            ws.write_string(3, 1 + start, name, fmt.group)
        start = end + 1
    ws.write_blank(4, 0, None, fmt.header)
    for j, c in enumerate(t.columns):
        mark = (" *" if c.flagged else "") + (f" {_NOTE_MARK}" if c.note else "")
        ws.write_string(4, 1 + j, c.label + mark, fmt.column)
        ws.write_string(5, 1 + j, f"({c.letter})" if c.letter else "", fmt.letter)
        base_fmt = fmt.low_base if c.flagged else fmt.base
        ws.write_number(6, 1 + j, c.n, base_fmt)
        ws.write_number(7, 1 + j, c.weighted_base, base_fmt)
    ws.write_string(6, 0, "Unweighted base", fmt.header)
    ws.write_string(7, 0, "Weighted base", fmt.header)
    cell = {
        (col, lv): (est, letters)
        for col, lv, est, letters in t.cells.select(
            "column", "level", "estimate", "letters"
        ).iter_rows()
    }
    row = 8
    for code, label in t.levels:
        ws.write_string(row, 0, label, fmt.label)
        for j, c in enumerate(t.columns):
            est, letters = cell.get((j, code), (None, ""))
            if c.suppressed or est is None:
                ws.write_string(row, 1 + j, _SUPPRESSED, plain)
            else:
                ws.write_number(row, 1 + j, est, low if c.flagged else plain)
                if letters:
                    ws.write_string(row + 1, 1 + j, letters, fmt.sig)
        row += 2
    for note in [*_method_notes(t), *_column_notes(t)]:
        row += 1
        ws.write_string(row, 0, note)
    ws.freeze_panes(6, 1)
    ws.set_landscape()
    ws.repeat_rows(3, 7)
    ws.repeat_columns(0)
    ws.fit_to_pages(1, 0)
    ws.set_column(0, 0, 42)
    ws.set_column(1, ncol, 11)
    ws.set_row(4, 30)


def __getattr__(name: str) -> Any:
    """``banner`` and ``banner_tables``, importable from here as before; they live in
    :mod:`barometer.publish.banner.build`, which needs the table types above."""
    if name in ("banner", "banner_tables"):
        from barometer.publish.banner import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
