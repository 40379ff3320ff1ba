"""A poll's respondents as its designs read them: their own columns at once, each question's
when an estimate first needs it.

``Poll.design()`` hands the core a frame of the design's own columns (country, wave,
weights, strata, PSUs, and the weighting variables raking reads) and a column source
(the core's ``ColumnSource``) for the questions.  The store is read once, every column
in one query, as today: a read per question would cost a connection to the store each
(~25-40 ms of CPU at 1,000,000 respondents, against ~5 ms for the column in the one
read; a connection held between calls would lock out ``barometer weight`` in another
process).  What waits is making a question's polars column (its enum codes, in the
store's fixed order): done when an estimate first uses it — several at once where a
caller asks for several (``Design.load``) — and kept for every design of the poll in
the same store state (raked and base weights, any scope).  Every column comes from
that one read, so a store changed meanwhile cannot mix its rows with the design's.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from barometer.poll.sets import pair_columns
from barometer.poll.spec import PollSpec
from barometer.poll.store import Store
from barometer.poll.weighting import (
    DESIGN_COLUMNS,
    blank_design_columns,
    design_columns,
    weighting_variables,
)

__all__ = ["PollColumns", "ScopedColumns"]


class PollColumns:
    """The respondents of a poll in one state of its store.

    ``frame``: every respondent (the store's fixed order), the design's own columns;
    the question columns are formed on demand (:meth:`columns`).
    """

    def __init__(self, store: Store, spec: PollSpec, stored: frozenset[str]) -> None:
        questions = [q for q in spec.stored_questions() if q.id in stored]
        own = [*design_columns(spec), *(v for v in weighting_variables(spec) if v in stored)]
        own = list(dict.fromkeys(own))
        self._stored = [q.id for q in questions if q.id not in own]
        self._rows = store.respondent_rows(
            [*own, *self._stored],
            levels={q.id: q.level_codes for q in questions if not q.is_numeric},
        )
        blank = blank_design_columns(spec)
        frame = self._rows.frame(own).with_columns(pl.lit(None, pl.String).alias(c) for c in blank)
        # (in the design's order, as if read)
        self.frame = frame.select(
            c for c in dict.fromkeys([*DESIGN_COLUMNS, *own]) if c in frame.columns
        )
        # grids' paired item differences (barometer.poll.sets) are formed from two items
        self._pairs = {e.meta.output_name(): e for e in pair_columns(spec, stored)}
        self._made: dict[str, pl.Series] = {}

    @property
    def names(self) -> list[str]:
        """The columns formed on demand: question columns, then the grids' pair columns."""
        return [*self._stored, *self._pairs]

    def columns(self, names: Sequence[str]) -> pl.DataFrame:
        """Columns ``names`` (of :attr:`names`) over every respondent, in ``frame``'s row
        order; those not formed yet are formed now, together."""
        items = [c for n in names if n in self._pairs for c in self._pairs[n].meta.root_names()]
        wanted = [c for c in dict.fromkeys([*names, *items]) if c in self._stored]
        missing = [c for c in wanted if c not in self._made]
        if missing:
            self._made.update((s.name, s) for s in self._rows.frame(missing).get_columns())
        plain = pl.DataFrame([self._made[c] for c in wanted], height=self.frame.height)
        pairs = [self._pairs[n] for n in names if n in self._pairs]
        return plain.with_columns(pairs).select(names)

    def source(self, rows: pl.Series | None = None) -> ScopedColumns:
        """The core's column source for a design over ``frame``'s rows where ``rows`` (a
        boolean mask over every respondent; None: all of them)."""
        return ScopedColumns(self, rows)


class ScopedColumns:
    """A :class:`PollColumns`' columns over the rows of one design (a ``ColumnSource``)."""

    def __init__(self, poll: PollColumns, rows: pl.Series | None) -> None:
        self._poll = poll
        self._rows = rows

    @property
    def names(self) -> list[str]:
        """The columns it can give."""
        return self._poll.names

    def read(self, names: Sequence[str]) -> pl.DataFrame:
        """Those columns over the design's rows, in its row order."""
        got = self._poll.columns(names)
        return got if self._rows is None else got.filter(self._rows)
