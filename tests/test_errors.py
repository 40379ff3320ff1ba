"""Errors by kind: the one root, the layers, and kinds a caller can catch (barometer.errors)."""

from __future__ import annotations

import polars as pl
import pytest

import barometer as bm
from barometer.errors import BarometerError, column_not_found


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"w": [1.0, 2.0, 1.0, 3.0], "country": ["DE", "DE", "FR", "FR"], "y": [1.0, 2, 3, 4]}
    )


def test_every_layer_error_has_the_one_root() -> None:
    for kind in (bm.DesignError, bm.EstimationError, bm.WeightingError, bm.IngestError):
        assert issubclass(kind, BarometerError) and issubclass(kind, ValueError)
    assert issubclass(bm.SpecError, BarometerError)
    assert issubclass(bm.ColumnNotFoundError, bm.DesignError)


def test_a_missing_design_column_is_a_column_not_found_error() -> None:
    with pytest.raises(bm.ColumnNotFoundError, match=r"weights column 'ww'.*did you mean 'w'") as e:
        bm.Design(_frame(), weights="ww")
    assert e.value.column == "ww"
    assert e.value.candidates[0] == "w"
    assert isinstance(e.value, bm.DesignError)


def test_a_missing_estimation_column_is_both_kinds() -> None:
    d = bm.Design(_frame(), weights="w")
    with pytest.raises(bm.ColumnNotFoundError) as e:
        d.mean("y", by="contry")
    # code written against the layer error keeps catching it
    assert isinstance(e.value, bm.EstimationError)
    assert e.value.column == "contry" and e.value.candidates == ("country",)
    assert "by column 'contry' is not in the data (did you mean 'country'?)" in str(e.value)


def test_a_missing_weighting_column_is_both_kinds() -> None:
    d = bm.Design(_frame(), weights="w")
    with pytest.raises(bm.WeightingError, match="raking variable 'contry' is not in the data") as e:
        d.rake({"contry": {"DE": 5.0, "FR": 5.0}})
    assert isinstance(e.value, bm.ColumnNotFoundError)
    with pytest.raises(bm.ColumnNotFoundError, match="post-stratification variable 'sex'"):
        d.poststratify("sex", {"f": 1.0})


def test_one_column_error_class_per_layer() -> None:
    assert column_not_found(bm.EstimationError) is column_not_found(bm.EstimationError)
    assert column_not_found(bm.DesignError) is bm.ColumnNotFoundError
    kind = column_not_found(bm.WeightingError)
    assert issubclass(kind, bm.ColumnNotFoundError) and issubclass(kind, bm.WeightingError)
    assert not issubclass(kind, bm.EstimationError)
