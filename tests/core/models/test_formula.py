"""The model matrix assembled from codes equals formulaic's on the same data (issue 19).

``formula.build`` codes terms whose factors are columns (bare or in ``C()``) from their
integer codes, through a prototype that formulaic codes; these tests materialise the same
formulas through formulaic on the whole data and ask for the same column names and values
(exactly: both are 0/1 dummies times the same numbers), and for cells that give the matrix
back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from formulaic import Formula

import barometer as bm
from barometer.core.models import formula as fm


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(19)
    n = 600
    return pl.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "z": rng.integers(0, 5, n).astype(float),
            "g": rng.choice(["b", "a", "c"], n),
            "h": pl.Series(rng.choice(["lo", "mid", "hi"], n)).cast(pl.Enum(["lo", "mid", "hi"])),
            "k": rng.integers(1, 4, n),
            "odd name": rng.choice(["p", "q"], n),
        }
    )


def _reference(frame: pl.DataFrame, formula: str) -> pd.DataFrame:
    """formulaic on the whole data, text as categoricals over sorted levels and the enum
    over its declared levels (R's factor levels)."""
    data = {}
    for name in frame.columns:
        col = frame.get_column(name)
        if isinstance(col.dtype, pl.Enum):
            data[name] = pd.Categorical(
                col.cast(pl.String).to_list(), categories=col.dtype.categories
            )
        elif col.dtype == pl.String:
            data[name] = pd.Categorical(col.to_list(), categories=sorted(set(col.to_list())))
        else:
            data[name] = col.to_numpy()
    return Formula(formula).rhs.get_model_matrix(pd.DataFrame(data), na_action="ignore")


FORMULAS = [
    "y ~ x + g",
    "y ~ x * C(g)",
    "y ~ x:C(g)",
    "y ~ C(g) * h",
    "y ~ 0 + g + h",
    "y ~ g:h + x:z",
    "y ~ C(k) + z + `odd name`",
    "y ~ g * h * x",
    "y ~ 1",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_coded_matrix_equals_formulaic(frame: pl.DataFrame, formula: str) -> None:
    mf = fm.build(frame, formula, np.ones(frame.height, dtype=bool))
    want = _reference(frame, formula)
    assert mf.blocks, "the formula should be coded from its columns' codes"
    assert mf.columns == tuple(str(c) for c in want.columns)
    np.testing.assert_array_equal(mf.x, np.asarray(want, dtype=float))
    if mf.cells is not None:
        np.testing.assert_array_equal(mf.cells.dense(), mf.x)


def test_an_enum_keeps_its_declared_order(frame: pl.DataFrame) -> None:
    """The reference level is the enum's first (R's factor), not the first sorted."""
    mf = fm.build(frame, "y ~ h", np.ones(frame.height, dtype=bool))
    assert mf.columns == ("Intercept", "h[T.mid]", "h[T.hi]")


def test_other_factors_go_through_formulaic(frame: pl.DataFrame) -> None:
    mf = fm.build(frame, "y ~ I(x ** 2) + np.log(z + 1) + C(g, Treatment('c'))", np.ones(600, bool))
    assert not mf.blocks
    want = _reference(frame, "y ~ I(x ** 2) + np.log(z + 1) + C(g, Treatment('c'))")
    np.testing.assert_allclose(mf.x, np.asarray(want, dtype=float), rtol=0, atol=0)


def test_both_routes_fit_the_same_model(frame: pl.DataFrame) -> None:
    """The coded route (cells, PSU sums by term) and the dense one give one fit."""
    d = bm.Design(
        frame.with_columns(w=pl.lit(1.0), psu=pl.arange(0, 600) // 6), weights="w", psu="psu"
    )
    coded = d.glm("y ~ x * C(g) + h")
    dense = d.glm("y ~ I(x * 1) * C(g, Treatment('a')) + C(h, Treatment('lo'))")
    a, b = coded.to_polars(), dense.to_polars()
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-10)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-10)
