"""Design construction: validation messages name the column and rows at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import barometer as bm


def small() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "w": [1.0, 2.0, 1.5, 3.0, 2.0, 1.0],
            "st": ["a", "a", "a", "b", "b", "b"],
            "psu": [1, 1, 2, 3, 4, 4],
            "y": [1.0, 2.0, 3.0, 4.0, None, 6.0],
            "fpc": [10, 10, 10, 20, 20, 20],
        }
    )


def test_accepts_polars_pandas_and_pyarrow() -> None:
    df = small()
    results = [
        bm.Design(t, weights="w", strata="st", psu="psu").mean("y").to_polars()["se"][0]
        for t in (df, df.to_pandas(), df.to_arrow())
    ]
    assert results[0] == pytest.approx(results[1], rel=1e-12)
    assert results[0] == pytest.approx(results[2], rel=1e-12)
    assert isinstance(df.to_pandas(), pd.DataFrame) and isinstance(df.to_arrow(), pa.Table)


def test_never_modifies_the_users_data() -> None:
    pdf = small().to_pandas()
    before = pdf.copy()
    bm.Design(pdf, weights="w", strata="st", psu="psu").proportion("st")
    pd.testing.assert_frame_equal(pdf, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": "wt"}, "weights column 'wt' is not in the data (did you mean 'w'?)"),
        ({"weights": "w", "strata": "stt"}, "strata column 'stt' is not in the data"),
        ({"weights": "w", "psu": "ps"}, "psu column 'ps' is not in the data (did you mean 'psu'?)"),
        ({"weights": "w", "fpc": "fp"}, "fpc column 'fp' is not in the data"),
        ({"weights": "st"}, "weights column 'st' must be numeric"),
    ],
)
def test_unknown_or_wrong_columns(kwargs: dict, message: str) -> None:
    with pytest.raises(bm.DesignError) as err:
        bm.Design(small(), **kwargs)
    assert message in str(err.value)


def test_missing_weights_name_rows() -> None:
    df = small().with_columns(w=pl.Series([1.0, None, 1.0, 1.0, None, 1.0]))
    with pytest.raises(
        bm.DesignError, match=r"weights column 'w' has missing values in rows 1, 4 \(2 in all\)"
    ):
        bm.Design(df, weights="w")


def test_non_positive_weights() -> None:
    df = small().with_columns(w=pl.Series([1.0, 0.0, 1.0, -2.0, 1.0, 1.0]))
    with pytest.raises(bm.DesignError, match=r"must be positive; it is not in rows 1, 3"):
        bm.Design(df, weights="w")


def test_psu_in_two_strata_without_nest() -> None:
    df = small().with_columns(psu=pl.Series([1, 1, 2, 2, 4, 4]))
    with pytest.raises(
        bm.DesignError,
        match=r"psu column 'psu': PSU 2 lies in more than one stratum of 'st' "
        r"\('a' and 'b'; rows 2, 3 \(2 in all\)\)",
    ):
        bm.Design(df, weights="w", strata="st", psu="psu", nest=False)
    # with nest=True the same ids are distinct PSUs within each stratum
    d = bm.Design(df, weights="w", strata="st", psu="psu", nest=True)
    assert d.structure.n_psus == 4


def test_fpc_varying_within_stratum() -> None:
    df = small().with_columns(fpc=pl.Series([10, 10, 11, 20, 20, 20]))
    with pytest.raises(
        bm.DesignError, match=r"fpc column 'fpc' varies within a stratum of 'st' \(rows 2"
    ):
        bm.Design(df, weights="w", strata="st", psu="psu", fpc="fpc")


def test_fpc_smaller_than_sample() -> None:
    df = small().with_columns(fpc=pl.Series([1.5, 1.5, 1.5, 20, 20, 20]))
    with pytest.raises(bm.DesignError, match="smaller than the number of sampled PSUs"):
        bm.Design(df, weights="w", strata="st", psu="psu", fpc="fpc")


def test_missing_strata_values() -> None:
    df = small().with_columns(st=pl.Series(["a", None, "a", "b", "b", "b"]))
    with pytest.raises(bm.DesignError, match=r"strata column 'st' has missing values in rows 1 "):
        bm.Design(df, weights="w", strata="st")


def test_lonely_psu_fail_names_the_stratum() -> None:
    df = small().with_columns(psu=pl.Series([1, 1, 1, 3, 4, 4]))
    d = bm.Design(df, weights="w", strata="st", psu="psu")  # as R: found when a variance is
    with pytest.raises(bm.DesignError, match=r"stratum 'a' of 'st' has only one PSU .*lonely_psu="):
        d.mean("y")
    for option in ("adjust", "average", "certainty", "remove"):
        e = bm.Design(df, weights="w", strata="st", psu="psu", lonely_psu=option).mean("y")
        assert np.isfinite(e.to_polars()["se"][0])


def test_bad_option_is_one_clear_error() -> None:
    with pytest.raises(bm.DesignError, match=r"lonely_psu='drop' is not one of 'fail', 'adjust'"):
        bm.Design(small(), weights="w", lonely_psu="drop")  # type: ignore[arg-type]
    with pytest.raises(bm.DesignError, match=r"ci='exact' is not one of 'wald'"):
        bm.Design(small(), weights="w").proportion("st", ci="exact")  # type: ignore[arg-type]


def test_empty_data() -> None:
    with pytest.raises(bm.DesignError, match="data has no rows"):
        bm.Design(small().clear(), weights="w")


def test_estimator_errors_name_the_variable() -> None:
    d = bm.Design(small(), weights="w")
    with pytest.raises(
        bm.EstimationError, match=r"variable column 'yy' is not in the data \(did you mean 'y'\?\)"
    ):
        d.mean("yy")
    with pytest.raises(
        bm.EstimationError, match=r"variable 'st' is String, not numeric: use proportion\(\)"
    ):
        d.mean("st")
    with pytest.raises(bm.EstimationError, match=r"by column 'sst' is not in the data"):
        d.mean("y", by="sst")
    with pytest.raises(bm.EstimationError, match=r"level 'c' does not occur in variable 'st'"):
        d.proportion("st", level="c")


def test_extreme_integer_ids_code_as_small_ones() -> None:
    # ids near the int64 limits, and UInt64 ids beyond them, are strata and PSUs like any
    base = pl.DataFrame(
        {"st": [1, 1, 1, 2, 2, 2], "p": [1, 2, 3, 4, 5, 6], "y": [1.0, 2.0, 4.0, 3.0, 5.0, 9.0]}
    )
    big = 9_000_000_000_000_000_000
    near = base.with_columns(pl.col("st") + big, pl.col("p") - big)
    beyond = base.with_columns(pl.col("p").cast(pl.UInt64) + 2**63)
    want = bm.Design(base, strata="st", psu="p").mean("y").to_polars()
    for df in (near, beyond):
        got = bm.Design(df, strata="st", psu="p").mean("y").to_polars()
        assert got.select("estimate", "se").equals(want.select("estimate", "se"))
