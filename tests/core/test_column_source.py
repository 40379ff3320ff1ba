"""A design over a frame plus a column source (barometer.core._columns): estimates read
only the columns they use, once, and equal those of a design over the whole table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.errors import ColumnNotFoundError, DesignError


def _table(n: int = 400, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "w": rng.uniform(0.5, 2.0, n),
            "h": rng.integers(0, 4, n),
            "g": rng.choice(["a", "b"], n),
            "sex": rng.choice(["f", "m"], n),
            "q1": pl.Series(rng.choice(["yes", "no", ""], n)).replace("", None),
            "q2": pl.Series(rng.choice(["x", "y", "z"], n)).cast(pl.Enum(["z", "y", "x"])),
            "y": rng.normal(size=n),
        }
    )


class Recording:
    """A column source over a table's columns, recording what it is asked for."""

    def __init__(self, table: pl.DataFrame, names: Sequence[str]) -> None:
        self.table = table
        self._names = list(names)
        self.asked: list[list[str]] = []

    @property
    def names(self) -> list[str]:
        return self._names

    def read(self, names: Sequence[str]) -> pl.DataFrame:
        self.asked.append(list(names))
        return self.table.select(names)


OWN = ["w", "h", "g", "sex"]
MORE = ["q1", "q2", "y"]


def _pair() -> tuple[bm.Design, bm.Design, Recording]:
    table = _table()
    source = Recording(table, MORE)
    lazy = bm.Design(table.select(OWN), weights="w", strata="h", column_source=source)
    return lazy, bm.Design(table, weights="w", strata="h"), source


def test_an_estimate_reads_only_its_column_once_and_equals_the_whole_tables() -> None:
    lazy, whole, source = _pair()
    assert lazy.columns == (*OWN, *MORE) and source.asked == []
    for _ in range(2):
        got = lazy.proportion("q2", by="g").to_polars()
        assert got.equals(whole.proportion("q2", by="g").to_polars())
    assert source.asked == [["q2"]]
    assert (
        lazy.mean("y", by=["g", "sex"])
        .to_polars()
        .equals(whole.mean("y", by=["g", "sex"]).to_polars())
    )
    assert lazy.bases(["q1", "y"], by="g").equals(whole.bases(["q1", "y"], by="g"))
    assert source.asked == [["q2"], ["y"], ["q1"]]


def test_load_reads_several_columns_in_one_call_and_data_keeps_the_order() -> None:
    lazy, whole, source = _pair()
    lazy.load(["y", "q1", "g"])  # g is the frame's own: not asked for
    assert source.asked == [["q1", "y"]]
    assert lazy.data.equals(whole.data)  # the rest read, every column in its place
    assert source.asked == [["q1", "y"], ["q2"]]


def test_a_raked_copy_shares_the_columns_read_and_its_estimates_equal() -> None:
    lazy, whole, source = _pair()
    margins = {"sex": {"f": 210.0, "m": 190.0}}
    raked, raked_whole = lazy.rake(margins), whole.rake(margins)
    assert source.asked == []  # raking reads its variables only, held in the frame
    est = raked.proportion("q1", by="g").to_polars()
    assert est.equals(raked_whole.proportion("q1", by="g").to_polars())
    lazy.proportion("q1")
    assert source.asked == [["q1"]]


def test_raking_on_a_source_column_reads_it() -> None:
    lazy, whole, source = _pair()
    margins = {"q2": {"x": 150.0, "y": 120.0, "z": 130.0}}
    np.testing.assert_array_equal(lazy.rake(margins).weights, whole.rake(margins).weights)
    assert source.asked == [["q2"]]


def test_a_column_neither_holds_is_the_usual_error() -> None:
    lazy, _, source = _pair()
    with pytest.raises(ColumnNotFoundError, match="'q3' is not in the data"):
        lazy.proportion("q3")
    assert source.asked == []


def test_the_frames_column_wins_over_the_sources_of_that_name() -> None:
    table = _table()
    source = Recording(table.with_columns(pl.col("g").reverse()), ["g", "q1"])
    design = bm.Design(table.select(OWN), weights="w", column_source=source)
    assert design.columns == (*OWN, "q1")
    design.proportion("q1", by="g")
    assert source.asked == [["q1"]]


def test_a_source_that_gives_other_rows_is_refused() -> None:
    table = _table()

    class Short(Recording):
        def read(self, names: Sequence[str]) -> pl.DataFrame:
            return self.table.select(names).head(10)

    design = bm.Design(table.select(OWN), weights="w", column_source=Short(table, MORE))
    with pytest.raises(DesignError, match="one row per row of the design"):
        design.proportion("q1")


def test_the_row_count_and_the_columns_read_nothing() -> None:
    lazy, whole, source = _pair()
    assert lazy.n == whole.n == 400 and lazy.columns == whole.columns
    assert source.asked == []


def test_threads_asking_for_the_same_column_read_it_once() -> None:
    import threading
    import time

    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"w": rng.random(500) + 0.5})
    extra = pl.DataFrame({"q": rng.choice(["a", "b"], 500)})
    reads: list[list[str]] = []

    class Slow:
        names = ("q",)

        def read(self, names: Sequence[str]) -> pl.DataFrame:
            reads.append(list(names))
            time.sleep(0.05)  # long enough for the other threads to arrive
            return extra.select(names)

    d = bm.Design(frame, weights="w", column_source=Slow())
    got: list[pl.DataFrame] = []
    threads = [
        threading.Thread(target=lambda: got.append(d.proportion("q").to_polars())) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [["q"]] and len(got) == 4
    assert all(g.equals(got[0]) for g in got)
