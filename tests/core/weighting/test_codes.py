"""Integer codes for weighting columns: every dtype, missing values, the hash fast path."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from barometer.core.weighting._codes import combine, encode_column, split


@pytest.mark.parametrize(
    ("series", "codes", "levels"),
    [
        (pl.Series("a", ["b", "a", None, "c", "a"]), [1, 0, -1, 2, 0], ("a", "b", "c")),
        (
            pl.Series("a", ["b", "a", None, "c", "a"], dtype=pl.Categorical),
            [1, 0, -1, 2, 0],
            ("a", "b", "c"),
        ),
        (
            pl.Series("a", ["b", "a", None, "c", "a"], dtype=pl.Enum(["c", "b", "a"])),
            [1, 2, -1, 0, 2],
            ("c", "b", "a"),
        ),
        (pl.Series("a", [1.0, float("nan"), None, 2.0, 1.0]), [0, -1, -1, 1, 0], (1.0, 2.0)),
        (pl.Series("a", [5, 3, None, 5, 10**12]), [1, 0, -1, 1, 2], (3, 5, 10**12)),
        (pl.Series("a", [True, False, True, True, None]), [1, 0, 1, 1, -1], (0, 1)),
    ],
)
def test_every_dtype_is_coded_with_sorted_levels(series, codes, levels) -> None:
    col = encode_column(pl.DataFrame([series]), "a", "raking variable")
    assert col.codes.tolist() == codes
    assert col.levels == levels


def test_hash_path_agrees_with_the_general_path() -> None:
    rng = np.random.default_rng(4)
    values = rng.choice(["18-29", "30-44", "45+"], 1000)
    df = pl.DataFrame({"a": values})
    fast = encode_column(df, "a", "x", expected=["45+", "18-29", "30-44", "unused"])
    slow = encode_column(df, "a", "x")
    assert fast.levels == ("18-29", "30-44", "45+", "unused")
    np.testing.assert_array_equal(fast.codes, slow.codes)


def test_hash_path_falls_back_when_a_value_is_not_expected() -> None:
    df = pl.DataFrame({"a": ["x", "y", "z"]})
    col = encode_column(df, "a", "x", expected=["x", "y"])
    assert col.levels == ("x", "y", "z")  # the general path: the data's own levels


def test_combine_and_split_round_trip() -> None:
    df = pl.DataFrame({"a": ["p", "q", "p", "q", "p"], "b": [1, 1, 2, 2, 2]})
    cols = [encode_column(df, c, "x") for c in ("a", "b")]
    cell, present = combine(cols)
    assert cell.tolist() == [0, 2, 1, 3, 1]
    a, b = split(present, [2, 2])
    assert a.tolist() == [0, 0, 1, 1] and b.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    "series",
    [
        pl.Series("a", [3, 1, None, 3, 7]),
        pl.Series("a", [2**40, 5, 5, None]),
        pl.Series("a", [0.5, float("nan"), -1.0, 0.5]),
        pl.Series("a", ["b", None, "a", "b"]),
        pl.Series("a", ["b", "a", "b"], dtype=pl.Categorical),
        pl.Series("a", ["x", None, "y"], dtype=pl.Enum(["y", "x", "z"])),
        pl.Series("a", [True, None, False]),
    ],
)
def test_weighting_codes_are_the_doors(series: pl.Series) -> None:
    """One column encoder: weighting's codes and levels are those of core._frame."""
    from barometer.core._frame import encode_series

    col = encode_column(pl.DataFrame([series]), "a", "raking variable")
    codes, levels = encode_series(series)
    np.testing.assert_array_equal(col.codes, codes)
    assert col.levels == tuple(levels.to_list())
