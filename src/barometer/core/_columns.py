"""A design's columns: the frame it was given, and those a column source reads on demand.

``Design(frame, ..., column_source=src)`` binds the frame's columns now and knows the
source's as columns too; an estimate asks for the columns it uses (``data_with``) and
only those the frame lacks are read, in one call, then held for every later estimate.
Copies of a design (reweighted, raked) share one :class:`Columns`, so a column read
for one is read for all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import polars as pl

from barometer.core._protocols import ColumnSource
from barometer.errors import DesignError

__all__ = ["Columns"]


class Columns:
    """The frame held so far and the source of the columns it still lacks."""

    def __init__(self, frame: pl.DataFrame, source: ColumnSource | None = None) -> None:
        self.frame = frame
        self._source = source
        held = set(frame.columns)
        # the frame's own column wins over a source's column of the same name
        self._pending = [] if source is None else [c for c in source.names if c not in held]
        self._order = (*frame.columns, *self._pending)
        # one reader at a time: a design may serve several threads (a web server's), and
        # two reading the same column would each add it
        self._lock = threading.Lock()

    @property
    def names(self) -> tuple[str, ...]:
        """Every column: the frame's, then the source's, in its order."""
        return self._order

    def with_names(self, names: Sequence[str]) -> pl.DataFrame:
        """The frame with ``names`` among its columns where the source gives them (read
        now, in one call); names neither holds are left for the caller's own check."""
        if not self._pending:
            return self.frame
        with self._lock:
            wanted = set(names).intersection(self._pending)
            if wanted:
                self._read([c for c in self._pending if c in wanted])
            return self.frame

    def full(self) -> pl.DataFrame:
        """The frame with every column (the ones still pending read in one call), in the
        order of :attr:`names` whichever were read first."""
        with self._lock:
            if self._pending:
                self._read(list(self._pending))
            if self.frame.columns != list(self._order):
                self.frame = self.frame.select(self._order)
            return self.frame

    def _read(self, names: list[str]) -> None:
        assert self._source is not None
        got = self._source.read(names)
        if got.height != self.frame.height or sorted(got.columns) != sorted(names):
            raise DesignError(
                f"the column source gave {got.height} rows of {sorted(got.columns)} for "
                f"{sorted(names)} over {self.frame.height} rows; it must give the columns "
                "asked, one row per row of the design"
            )
        self.frame = self.frame.hstack(got.select(names).get_columns())
        read = set(names)
        self._pending = [c for c in self._pending if c not in read]
