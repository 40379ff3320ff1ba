"""The one column encoder (``core._frame.encode_series``): codes into sorted levels."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from barometer.core import _frame
from barometer.core._frame import encode, encode_series


def _reference(values: list[float | None]) -> tuple[list[int], list[float]]:
    """Codes into the sorted distinct values, -1 for a missing one (null or NaN)."""
    present = sorted({v for v in values if v is not None and not np.isnan(v)})
    index = {v: i for i, v in enumerate(present)}
    codes = [-1 if v is None or np.isnan(v) else index[v] for v in values]
    return codes, present


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.just(float("nan")),
            st.integers(-3, 12).map(float),  # an answer scale stored as floats
            st.sampled_from([0.5, 2.25, 1e17, -1e300, float("inf")]),  # not whole, or too wide
        ),
        max_size=30,
    )
)
def test_float_codes_are_the_sorted_distinct_values(values: list[float | None]) -> None:
    codes, levels = encode_series(pl.Series("x", values, dtype=pl.Float64))
    want_codes, want_levels = _reference(values)
    assert codes.tolist() == want_codes
    assert levels.dtype == pl.Float64 and levels.to_list() == want_levels


def test_whole_floats_keep_their_levels_as_floats() -> None:
    codes, levels = encode_series(pl.Series("x", [10.0, None, 0.0, 7.0, 0.0]))
    assert codes.tolist() == [2, -1, 0, 1, 0]
    assert levels.to_list() == [0.0, 7.0, 10.0] and levels.dtype == pl.Float64


def test_strings_in_runs_are_coded_from_their_runs_as_from_every_row() -> None:
    """``encode`` of text columns whose rows stand in runs (a poll's country and wave, read
    source by source) codes the runs' first rows: the codes and levels are those of the
    same rows in no order, which are coded row by row -- nulls (-1) included."""
    rng = np.random.default_rng(3)
    n = 50_000
    country = np.array(["FR", "DE", "KR", "US"])[rng.integers(0, 4, n)]
    wave = np.array(["2025-11", "2024-11"])[rng.integers(0, 2, n)]
    order = np.lexsort((wave, country))
    frame = pl.DataFrame({"country": country[order], "wave": wave[order]})
    # a whole run of nulls, the first one ("DE" sorts first)
    frame = frame.with_columns(pl.col("country").replace("DE", None))
    perm = rng.permutation(n)
    shuffled = frame[perm]
    for names in (["country"], ["country", "wave"], ["wave", "country"]):
        assert _frame._run_starts(frame.select(names)) is not None
        assert _frame._run_starts(shuffled.select(names)) is None
        runs, rows = encode(frame, names), encode(shuffled, names)
        np.testing.assert_array_equal(runs.codes[perm], rows.codes)
        assert runs.levels.equals(rows.levels) and runs.size == rows.size
        assert (runs.codes == -1).sum() == (frame.get_column("country").is_null()).sum()
    categorical = frame.with_columns(pl.col("country").cast(pl.Categorical))
    np.testing.assert_array_equal(
        encode(categorical, ["country"]).codes, encode(frame, ["country"]).codes
    )


_TEXT = st.sampled_from(["b", "a", "A", "", "zz", "a b", "ç", "é", None])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=40))
def test_text_codes_are_the_sorted_distinct_values(rows: list[tuple[str | None, ...]]) -> None:
    """Text (and categorical) columns are coded into their distinct values in sorted
    order, -1 for a null, alone (``encode_series``) and in combination (``encode``: the
    combinations present, sorted, a null in either column -1)."""
    x = [r[0] for r in rows]
    frame = pl.DataFrame({"x": x, "y": [r[1] for r in rows]}, schema=dict.fromkeys("xy", pl.String))
    present = sorted({v for v in x if v is not None})
    want = [-1 if v is None else present.index(v) for v in x]
    for column in (frame.get_column("x"), frame.get_column("x").cast(pl.Categorical)):
        codes, levels = encode_series(column)
        assert codes.tolist() == want
        assert levels.dtype == pl.String and levels.to_list() == present
    pairs = sorted({r for r in rows if None not in r})
    both = encode(frame, ["x", "y"])
    assert both.codes.tolist() == [-1 if None in r else pairs.index(r) for r in rows]
    assert both.levels.rows() == pairs and both.size == len(pairs)
