"""Banner tables: a question's answers down the side, breakdowns across, with letters.

A banner table is the crosstab fieldwork firms deliver: the levels of one question down
the side; across the top a total column and one or several *banners* (country, age,
gender, education, …), each a set of columns; in every column the weighted percentages,
the unweighted and weighted bases, and column-proportion significance letters — under a
share, the letters of the columns of the same banner it is significantly higher than,
upper case at the 95% level and lower case at 90%.

Everything comes from the core: shares from ``Design.proportion`` (by the banner), bases
from ``Estimates.n`` and ``Design.total``, the tests from
:func:`barometer.core.comparisons.pairwise_differences` — design-based z tests of the
difference of two columns' shares with their covariance from the design (not unweighted
counts), adjusted within each row of a banner (Bonferroni by default, or
Benjamini-Hochberg). Written to ``.xlsx`` (:func:`write_xlsx`: a contents sheet and one
sheet per question) and to CSV (:func:`write_csv`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from barometer.atomic import atomic_path, write_bytes
from barometer.core.comparisons import pairwise_differences
from barometer.errors import EstimationError, did_you_mean
from barometer.options import PAdjustMethod, check_option
from barometer.publish.cells import WORKBOOK_OPTIONS, csv_frame, sheet_name

__all__ = ["BannerColumn", "BannerTable", "banner", "banner_tables", "write_csv", "write_xlsx"]

#: Significance levels of the letters: upper case below the first, lower case below the
#: second (adjusted p-values).
LETTER_LEVELS = (0.05, 0.10)
TOTAL = "total"
_SUPPRESSED = "–"


@dataclass(frozen=True)
class BannerColumn:
    """One column of a banner table: which banner, which value, its letter and bases.

    ``flagged``: unweighted base under the flag threshold (shown, marked);
    ``suppressed``: under the minimum base (shares not shown, not tested).
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
            "flag", "letters",
        )  # fmt: skip

    def to_csv(self, path: str | Path) -> Path:
        """Write the long table (:meth:`to_polars`) as CSV."""
        return write_csv([self], path)

    def to_xlsx(self, path: str | Path) -> Path:
        """Write this table as a workbook (contents sheet and one table sheet)."""
        return write_xlsx([self], path)


# ---------------------------------------------------------------------------------------
# Building a table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A design and the labels to print (from a poll's spec, or the raw values)."""

    design: Any
    title: str
    levels: tuple[tuple[str, str], ...]
    value_labels: Mapping[str, Mapping[str, str]]
    banner_names: Mapping[str, str]
    value_order: Mapping[str, Sequence[str]]


def _poll_source(poll: Any, question: str, weights: str) -> _Source:
    spec = poll.spec
    q = spec.question(question)
    labels: dict[str, dict[str, str]] = {"country": {c.code: c.name for c in spec.countries}}
    names = {"country": "Country", "wave": "Wave"}
    order: dict[str, list[str]] = {"country": [c.code for c in spec.countries]}
    order["wave"] = [w.id for w in spec.waves]
    for other in spec.questions:
        labels[other.id] = {lv.code: lv.label for lv in other.levels}
        order[other.id] = other.level_codes
        names[other.id] = other.wording if other.kind == "weighting" and other.wording else other.id
    title = f"{q.id}: {q.wording}" if q.wording else q.id
    return _Source(
        poll.design(weights),
        title,
        tuple((lv.code, lv.label) for lv in q.levels),
        labels,
        names,
        order,
    )


def _design_source(design: Any, question: str) -> _Source:
    columns = design.data.columns
    if question not in columns:
        raise EstimationError(
            f"banner: no question {question!r} in the data{did_you_mean(question, columns)}"
        )
    return _Source(design, question, (), {}, {}, {})


def _check_names(
    source: _Source, question: str, banners: Sequence[str], where: Mapping[str, Any]
) -> None:
    columns = source.design.data.columns
    if isinstance(banners, str):
        banners = [banners]
    if not banners:
        raise EstimationError("banner: give at least one banner (e.g. banners=['country'])")
    for b in [*banners, *where]:
        if b not in columns or b.startswith("_"):
            usable = [c for c in columns if not c.startswith("_")]
            raise EstimationError(
                f"banner: no variable {b!r} to break {question!r} down by"
                f"{did_you_mean(b, usable)}; banners are columns such as country, wave or "
                "another question"
            )
        if b == question:
            raise EstimationError(f"banner: {question!r} cannot be a banner of itself")
    dupes = sorted({b for b in banners if list(banners).count(b) > 1})
    if dupes:
        raise EstimationError(f"banner: banner {dupes[0]!r} is listed twice")
    clash = [b for b in banners if b in where]
    if clash:
        raise EstimationError(
            f"banner: {clash[0]!r} is both a banner and fixed by where=; drop one of them"
        )


def _restrict(est: Any, where: Mapping[str, Any]) -> Any:
    """The rows of ``est`` in the domain ``where`` (by-columns fixed to a value)."""
    for column, value in where.items():
        hit = pl.col(column).cast(pl.String) == str(value)
        kept = est.filter(hit)
        if kept.to_polars().height == 0:
            seen = est.to_polars().get_column(column).cast(pl.String).unique().to_list()
            raise EstimationError(
                f"banner: where {column}={value!r} selects no respondent"
                f"{did_you_mean(str(value), seen)}"
            )
        est = kept
    return est


def _weighted_bases(design: Any, question: str, by: list[str], where: Mapping[str, Any]) -> Any:
    """Sum of weights of the respondents answering, per value of the by-columns (the
    sum over levels of ``Design.total`` of the question)."""
    totals = _restrict(design.total(question, by=by or None), where).to_polars()
    keys = [c for c in by if c not in where]
    if not keys:
        return {None: float(totals.get_column("estimate").sum())}
    summed = totals.group_by(keys[0], maintain_order=True).agg(pl.col("estimate").sum())
    return {str(k): float(v) for k, v in summed.iter_rows()}


def _is_poll(source: Any) -> bool:
    """A :class:`~barometer.poll.Poll` (told apart without importing the poll layer)."""
    return callable(getattr(source, "design", None)) and hasattr(source, "estimate")


def _column_letters(k: int) -> str:
    """Spreadsheet-style letters: 0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(65 + r) + out
    return out


def banner(
    source: Any,
    question: str,
    banners: str | Sequence[str] = ("country",),
    where: Mapping[str, Any] | None = None,
    adjust: PAdjustMethod = "bonferroni",
    flag_base: int = 100,
    min_base: int = 30,
    weights: str = "raked",
    total: bool = True,
) -> BannerTable:
    """The banner table of ``question``: weighted shares by each banner, with bases and
    column-proportion letters.

    Shares and their covariance come from ``design.proportion(question, by=[*where,
    banner])`` (the domain ``where`` is fixed by estimating by its columns and keeping
    its rows, so variances are domain estimates of the full design). Within a banner,
    every pair of columns is compared with the design-based z test of
    :func:`barometer.core.comparisons.pairwise_differences` (the difference of two shares
    with the covariance of the design, R ``svycontrast`` on ``svyby(..., covmat=TRUE)``);
    the p-values of a row of a banner are adjusted together (``adjust``); a share shows
    the letter of every column of its banner it is higher than, upper case when the
    adjusted p-value is below 0.05, lower case below 0.10. The total column is not
    tested. Columns with an unweighted base under ``flag_base`` are flagged; under
    ``min_base`` their shares are suppressed and they are left out of the tests (and of
    the adjustment).

    Parameters
    ----------
    source : Poll or Design
        A poll (labels from its spec; ``where`` defaults to the latest wave unless
        ``wave`` is a banner) or a core ``Design``.
    question : str
        The question (a categorical column) down the side.
    banners : str or list of str
        Variables across the top, e.g. ``["country"]`` or ``["age", "gender"]``.
    where : mapping, optional
        A domain, e.g. ``{"country": "DE", "wave": "2025-11"}``.
    adjust : {"bonferroni", "bh", "holm", "none"}
        Multiple-comparison adjustment within each row of a banner (SPSS's column
        proportion tests default to Bonferroni).
    flag_base, min_base : int
        Thresholds on the unweighted base: flagged below ``flag_base``, suppressed and
        untested below ``min_base``.
    weights : {"raked", "base"}
        For a poll: which weights (see :meth:`Poll.design`).
    total : bool
        Start with a total column (the whole domain).

    Returns
    -------
    BannerTable

    Examples
    --------
    >>> import polars as pl, barometer as bm
    >>> from barometer.publish.banner.tables import banner
    >>> df = pl.DataFrame({"q": ["yes", "no"] * 60, "g": ["a"] * 70 + ["b"] * 50})
    >>> t = banner(bm.Design(df), "q", ["g"], min_base=10, flag_base=60)
    >>> [(c.label, c.letter, c.n, c.flagged) for c in t.columns]
    [('Total', '', 120, False), ('a', 'A', 70, False), ('b', 'B', 50, True)]
    """
    adjust = check_option(adjust, PAdjustMethod, "adjust", EstimationError)  # type: ignore[assignment]
    if not 0 <= min_base <= flag_base:
        raise EstimationError(
            f"banner: need 0 <= min_base <= flag_base, got min_base={min_base}, "
            f"flag_base={flag_base}"
        )
    banner_list = [banners] if isinstance(banners, str) else list(banners)
    where = dict(where or {})
    if _is_poll(source):
        src = _poll_source(source, question, weights)
        if "wave" not in banner_list and "wave" not in where:
            polled = source.bases().get_column("wave").unique().to_list()
            where["wave"] = [w for w in src.value_order["wave"] if w in polled][-1]
    else:
        src = _design_source(source, question)
    _check_names(src, question, banner_list, where)
    design = src.design
    fixed = list(where)
    parts = []
    columns: list[BannerColumn] = []
    letter = 0
    groups = ([None] if total else []) + banner_list
    for b in groups:
        by = fixed + ([b] if b else [])
        est = _restrict(design.proportion(question, by=by or None), where)
        est = est.filter(pl.col("n") > 0)
        if est.to_polars().height == 0:
            raise EstimationError(f"banner: no respondent answers {question!r} in {where}")
        wbase = _weighted_bases(design, question, by, where)
        table = est.to_polars()
        values = (
            table.get_column(b).cast(pl.String).unique(maintain_order=True).to_list()
            if b
            else [None]
        )
        order = src.value_order.get(b or "", [])
        values.sort(key=lambda v: order.index(v) if v in order else len(order))
        n_of = (
            dict(zip(table.get_column(b).cast(pl.String), table.get_column("n"), strict=True))
            if b
            else {None: int(table.get_column("n")[0])}
        )
        first = len(columns)
        for v in values:
            n = int(n_of[v])
            columns.append(
                BannerColumn(
                    banner=b or TOTAL,
                    value=v,
                    label="Total" if v is None else src.value_labels.get(b or "", {}).get(v, v),
                    letter="" if b is None else _column_letters(letter),
                    banner_label=src.banner_names.get(b, b) if b else "Total",
                    n=n,
                    weighted_base=wbase[v],
                    flagged=n < flag_base,
                    suppressed=n < min_base,
                )
            )
            letter += b is not None
        index = {v: first + i for i, v in enumerate(values)}
        letters = _letters(est, b, columns, index, adjust) if b else {}
        key = table.get_column(b).cast(pl.String) if b else pl.Series([None] * table.height)
        parts.append(
            table.select("level", "estimate", "se", "ci_low", "ci_high", "n").with_columns(
                column=pl.Series([index[v] for v in key], dtype=pl.Int64),
                letters=pl.Series(
                    [
                        letters.get((index[v], lv), "")
                        for v, lv in zip(key, table["level"], strict=True)
                    ],
                    dtype=pl.String,
                ),
            )
        )
    level_pairs = src.levels or tuple(
        (lv, lv) for lv in pl.concat(parts).get_column("level").unique(maintain_order=True)
    )
    label_of = dict(level_pairs)
    cells = (
        pl.concat(parts)
        .with_columns(label=pl.col("level").replace_strict(label_of, default=pl.col("level")))
        .select("column", "level", "label", "estimate", "se", "ci_low", "ci_high", "n", "letters")
    )
    seen = set(cells.get_column("level").to_list())
    base = "Respondents answering the question"
    if where:
        base += " (" + ", ".join(f"{k}: {v}" for k, v in where.items()) + ")"
    settings = {
        "adjust": adjust,
        "flag_base": flag_base,
        "min_base": min_base,
        "letter_levels": list(LETTER_LEVELS),
        "banners": banner_list,
        "where": {k: str(v) for k, v in where.items()},
    }
    return BannerTable(
        question=question,
        title=src.title,
        levels=tuple(p for p in level_pairs if p[0] in seen),
        columns=tuple(columns),
        cells=cells,
        base=base,
        settings=settings,
    )


def _letters(
    est: Any,
    b: str,
    columns: list[BannerColumn],
    index: Mapping[str, int],
    adjust: str,
) -> dict[tuple[int, str], str]:
    """(column, level) -> the letters of the columns of banner ``b`` it is higher than."""
    tested = [v for v, i in index.items() if not columns[i].suppressed]
    if len(tested) < 2:
        return {}
    kept = est.filter(pl.col(b).cast(pl.String).is_in(tested))
    pw = pairwise_differences(kept, b, adjust=adjust)  # type: ignore[arg-type]
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for row in pw.iter_rows(named=True):
        p = row["p_adjusted"]
        if p is None or not np.isfinite(p) or p >= LETTER_LEVELS[1]:
            continue
        hi, lo = (row["first"], row["second"])
        if row["difference"] < 0:
            hi, lo = lo, hi
        mark = columns[index[str(lo)]].letter
        mark = mark if p < LETTER_LEVELS[0] else mark.lower()
        out.setdefault((index[str(hi)], row["level"]), []).append((index[str(lo)], mark))
    return {k: "".join(m for _, m in sorted(v)) for k, v in out.items()}


def banner_tables(
    source: Any,
    questions: Sequence[str] | None = None,
    banners: str | Sequence[str] = ("country",),
    **options: Any,
) -> list[BannerTable]:
    """The banner tables of several questions (default: every question of a poll's spec
    that is not a weighting variable), with the same banners and options."""
    if questions is None:
        if not _is_poll(source):
            raise EstimationError("banner_tables: name the questions of a design")
        questions = [q.id for q in source.spec.questions if q.kind == "question"]
    return [banner(source, q, banners, **options) for q in questions]


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
    for note in _method_notes(tables[0]):
        contents.write_string(row, 0, note)
        row += 1
    contents.set_column(0, 0, 24)
    contents.set_column(1, 1, 80)
    contents.set_column(2, 3, 40)
    wb.close()
    return write_bytes(path, buffer.getvalue())


def _method_notes(t: BannerTable) -> list[str]:
    s = t.settings
    adjust = {"bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg (false discovery rate)"}
    how = adjust.get(s["adjust"], s["adjust"])
    return [
        "Weighted column percentages; bases are respondents answering the question.",
        "Letters: the share is significantly higher than the share in the column with that "
        "letter, within the same banner; UPPER CASE at the 95% level (adjusted p < 0.05), "
        "lower case at 90% (adjusted p < 0.10).",
        "Tests: design-based z tests of the difference between two columns' shares, with "
        "their covariance from the survey design (weights, strata, clusters, weighting); "
        f"p-values adjusted within each row of a banner: {how}.",
        "Total: every respondent in the base, weighted; across countries each counts in "
        "proportion to its weighted total (its adult population when the weights gross up "
        "to it), unlike a regional figure, which is the simple average of its countries.",
        f"* Unweighted base under {s['flag_base']}: read with caution. "
        f"Under {s['min_base']}: shares suppressed (–) and not tested.",
    ]


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
        self.sig = wb.add_format({"align": "center", "font_color": "#1F4E79", "font_size": 9})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})


def _write_sheet(ws: Any, t: BannerTable, fmt: _Formats) -> None:
    """One question's table: title, base, headers (rows 3-5), bases (6-7), levels."""
    ws.write_string(0, 0, t.title, fmt.title)
    ws.write_string(1, 0, f"Base: {t.base}. Weighted column percentages.")
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
        ws.write_string(4, 1 + j, c.label + (" *" if c.flagged else ""), fmt.column)
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
                ws.write_string(row, 1 + j, _SUPPRESSED, fmt.pct)
            else:
                ws.write_number(row, 1 + j, est, fmt.low_pct if c.flagged else fmt.pct)
                if letters:
                    ws.write_string(row + 1, 1 + j, letters, fmt.sig)
        row += 2
    for note in _method_notes(t):
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
