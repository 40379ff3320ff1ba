"""Post-stratification: hand-checked weights, table forms, replicates and every error.

R-exactness (weights and SEs after ``postStratify``) is in the reference fixtures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import barometer as bm
from barometer.core.variance.steps import PostStratStep


def data() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sex": ["f", "m", "m", "m", "f", "m"],
            "age": ["y", "y", "o", "o", "o", "y"],
            "w": [1.0, 1.0, 2.0, 2.0, 3.0, 1.0],
        }
    )


def test_one_variable_by_hand() -> None:
    d = bm.Design(data(), weights="w").poststratify("sex", {"f": 40, "m": 60})
    # f: weights 1, 3 (sum 4) -> x10; m: 1, 2, 2, 1 (sum 6) -> x10
    assert d.weights.tolist() == pytest.approx([10, 10, 20, 20, 30, 10])
    (step,) = d.calibration
    assert isinstance(step, PostStratStep)
    assert step.cells.tolist() == [0, 1, 1, 1, 0, 1]
    np.testing.assert_array_equal(step.old_weights, data()["w"].to_numpy())


@pytest.mark.parametrize(
    "table",
    [
        {("f", "y"): 10, ("f", "o"): 30, ("m", "y"): 20, ("m", "o"): 40},
        pl.DataFrame(
            {"sex": ["f", "f", "m", "m"], "age": ["y", "o", "y", "o"], "Freq": [10, 30, 20, 40]}
        ),
        pd.DataFrame(
            {"sex": ["f", "f", "m", "m"], "age": ["y", "o", "y", "o"], "N": [10, 30, 20, 40]}
        ),
        [
            {"sex": "f", "age": "y", "total": 10},
            {"sex": "f", "age": "o", "total": 30},
            {"sex": "m", "age": "y", "total": 20},
            {"sex": "m", "age": "o", "total": 40},
        ],
    ],
)
def test_two_variables_from_every_table_form(table) -> None:
    d = bm.Design(data(), weights="w").poststratify(["sex", "age"], table)
    assert d.weights.tolist() == pytest.approx([10, 10, 20, 20, 30, 10])


def test_shares_scale_to_the_weighted_total() -> None:
    d = bm.Design(data(), weights="w").poststratify("sex", {"f": 0.25, "m": 0.75})
    assert d.weights.sum() == pytest.approx(10.0)
    assert d.weights[[0, 4]].sum() == pytest.approx(2.5)


def test_partial_ignores_empty_population_cells_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="1 population cells have no respondents"):
        d = bm.weighting.poststratify(
            bm.Design(data()), "sex", {"f": 40, "m": 60, "x": 5}, partial=True
        )
    assert d.weights.sum() == pytest.approx(100)


def test_replicates_are_poststratified() -> None:
    df = data().with_columns(r1=pl.Series([1.0, 0, 2, 2, 1, 1]), r2=pl.lit(1.0))
    rd = bm.ReplicateDesign(df, weights="w", replicates=["r1", "r2"], type="bootstrap")
    out = rd.poststratify("sex", {"f": 40, "m": 60})
    f = (df["sex"] == "f").to_numpy()
    np.testing.assert_allclose(out.replicate_weights[f].sum(axis=0), [40, 40])
    np.testing.assert_allclose(out.replicate_weights[~f].sum(axis=0), [60, 60])


@pytest.mark.parametrize(
    ("variables", "table", "message"),
    [
        ("sex", {"f": 40, "m": 60, "x": 5}, "population cell sex='x' has no respondents"),
        ("sex", {"f": 40}, "sample cell sex='m' has respondents but no population total"),
        (
            "sex",
            {"f": 40, "m": 0},
            "sample cell sex='m' has respondents but a population total of 0",
        ),
        ("sex", {"f": -1, "m": 3}, "target for 'sex'='f' is -1.0"),
        ("sexx", {"f": 1}, "post-stratification variable 'sexx' is not in the data"),
        (["sex", "age"], {"f": 1}, "population cell 'f' does not give one level for each of"),
        ("sex", 42, "table must be a mapping"),
        (["sex", "age"], pl.DataFrame({"sex": ["f"], "Freq": [1]}), "needs the columns"),
        ([], {"f": 1}, "poststratify needs at least one variable"),
    ],
)
def test_bad_tables_raise_and_name_the_problem(variables, table, message) -> None:
    d = bm.Design(data(), weights="w")
    with pytest.raises(bm.WeightingError) as err:
        bm.weighting.poststratify(d, variables, table)
    assert message in str(err.value)
    assert d.calibration == ()


def test_missing_values_are_an_error() -> None:
    df = data().with_columns(sex=pl.Series(["f", None, "m", "m", "f", "m"]))
    with pytest.raises(bm.WeightingError, match="'sex' has missing values in 1 rows"):
        bm.Design(df).poststratify("sex", {"f": 1, "m": 1})


def test_a_cell_given_twice_is_an_error() -> None:
    table = pl.DataFrame({"sex": ["f", "f", "m"], "Freq": [1, 2, 3]})
    with pytest.raises(bm.WeightingError, match="population cell sex='f' is given twice"):
        bm.Design(data()).poststratify("sex", table)


def test_a_replicate_with_no_weight_in_a_cell_is_reported() -> None:
    df = data().with_columns(r1=pl.lit(1.0), r2=pl.Series([0.0, 1, 1, 1, 0, 1]))
    rd = bm.ReplicateDesign(df, weights="w", replicates=["r1", "r2"], type="bootstrap")
    with pytest.raises(bm.WeightingError, match="replicate 2 has no weight in cell sex='f'"):
        rd.poststratify("sex", {"f": 40, "m": 60})
