"""The banner table of a multiple-response question: its options as rows.

Each option is a question of the publication (``allies__us``) with its own banner
table — shares by column, bases, and letters from the design-based z test of that
option's share between two columns (:func:`barometer.publish.banner.build.banner`).
This table stacks each option's "selected" row under one set of columns, ranked by the
first column's share (an exclusive option such as "None of these" last), and says that
the shares do not sum to 100%. No chi-square is computed across the options: they are
not categories of one variable (a respondent may choose several).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from barometer.errors import EstimationError
from barometer.poll.publication import Publication
from barometer.poll.spec_sets import SELECTED
from barometer.publish.banner.tables import BannerTable

__all__ = ["set_banner"]


def set_banner(
    pub: Publication,
    question: str,
    banners: str | Sequence[str] = ("country",),
    where: Mapping[str, Any] | None = None,
    **options: Any,
) -> BannerTable:
    """The banner table of multiple-response ``question``: one row per option.

    Every cell is the option's own banner cell, unchanged (share, interval, letters);
    the columns and their bases are the options' (one base: the respondents asked the
    question). Options are ranked by the share in the first column.
    """
    from barometer.publish.banner.build import banner

    view = pub.sets.get(question)
    if view is None or view.kind != "multiple":
        raise EstimationError(f"banner: {question!r} is not a multiple-response question")
    tables = [(code, label, banner(pub, sid, banners, where, **options))
              for code, label, sid in view.parts]  # fmt: skip
    first = tables[0][2]
    key_of = {(c.banner, c.value): j for j, c in enumerate(first.columns)}
    rows = []
    for code, label, t in tables:
        remap = {j: key_of.get((c.banner, c.value)) for j, c in enumerate(t.columns)}
        cells = t.cells.filter(pl.col("level") == SELECTED).with_columns(
            column=pl.col("column").replace_strict(remap, default=None, return_dtype=pl.Int64),
            level=pl.lit(code),
            label=pl.lit(label),
        )
        rows.append(cells.filter(pl.col("column").is_not_null()))
    cells = pl.concat(rows)
    lead = cells.filter(pl.col("column") == 0)
    share = dict(zip(lead["level"].to_list(), lead["estimate"].to_list(), strict=True))
    ranked = sorted(
        ((code, label) for code, label, _ in tables),
        key=lambda p: (p[0] in view.exclusive, -(share.get(p[0]) or 0.0)),
    )
    title = f"{view.question}: {view.wording}" if view.wording else view.question
    return replace(
        first,
        question=view.question,
        title=title,
        levels=tuple(ranked),
        cells=cells,
        base=f"{first.base}. {view.note}",
        settings={
            **first.settings,
            "set": "multiple",
            "tests": "each option's share tested between columns on its own "
            "(design-based z test); no chi-square across options",
        },
    )
