"""GREG calibration: hand-checked examples, properties and every error message.

R-exactness (linear, raking, logit with bounds; weights and SEs) is in the reference
fixtures; here: the algebra by hand, totals met, bounds held, replicates, errors.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import barometer as bm
from barometer.core.variance.steps import GregStep
from barometer.core.weighting.calibration import CALFUNS, grake, linear_g

TOL = 1e-10  # calibration tolerance on |misfit| / (1 + |total|)


def small() -> pl.DataFrame:
    return pl.DataFrame({"sex": ["f", "m", "m", "m"], "x": [1.0, 2.0, 3.0, 4.0]})


def test_linear_calibration_by_hand() -> None:
    # f alone gets 40; for m, w = 1 + a + b x with 3(1+a) + 9b = 60 and 9(1+a) + 29b = 190
    # -> b = 5, 1 + a = 5 -> w = 5 + 5x.
    d = bm.Design(small()).calibrate({"sex": {"f": 40, "m": 60}, "x": 230})
    assert d.weights.tolist() == pytest.approx([40.0, 15.0, 20.0, 25.0], rel=1e-12)
    (step,) = d.calibration
    assert isinstance(step, GregStep)
    # intercept, sexm, x: the span of R's model.matrix(~sex + x)
    np.testing.assert_array_equal(step.model_matrix[:, 1], [0, 1, 1, 1])
    np.testing.assert_allclose(step.old_weights * step.g, d.weights)


@pytest.mark.parametrize("method", ["linear", "raking", "logit"])
def test_every_method_meets_the_totals(method: str) -> None:
    rng = np.random.default_rng(1)
    n = 200
    df = pl.DataFrame(
        {
            "g": rng.choice(["a", "b", "c"], n),
            "x": rng.normal(10, 2, n),
            "w": rng.uniform(1, 3, n),
        }
    )
    targets = {"g": {"a": 150, "b": 140, "c": 130}, "x": 4250.0}
    d = bm.Design(df, weights="w").calibrate(targets, method=method, bounds=(0.3, 3.0))
    w = d.weights
    x = df["x"].to_numpy()
    assert w @ x == pytest.approx(4250.0, rel=1e-9)
    for level, t in targets["g"].items():
        assert w[(df["g"] == level).to_numpy()].sum() == pytest.approx(t, rel=1e-9)
    g = w / df["w"].to_numpy()
    assert g.min() >= 0.3 - 1e-12 and g.max() <= 3.0 + 1e-12


def test_linear_unbounded_matches_newton() -> None:
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    w = rng.uniform(1, 2, 50)
    pop = np.array([100.0, 5.0])
    closed = linear_g(X, w, pop)
    newton = grake(X, w, pop, "linear", -np.inf, np.inf, tol=1e-12, max_iter=50)
    assert newton.converged
    np.testing.assert_allclose(newton.g, closed, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(1.1, 5.0), st.floats(-3.0, 3.0))
def test_calibration_functions_are_one_at_zero_and_increasing(lo, hi, u) -> None:
    for fm1, df in CALFUNS.values():
        assert fm1(np.array([0.0]), lo, hi)[0] == pytest.approx(0.0, abs=1e-12)
        assert df(np.array([u]), lo, hi)[0] >= -1e-12  # R's logit dF cancels near 0


def test_replicates_are_recalibrated() -> None:
    df = small().with_columns(w=pl.lit(1.0), r1=pl.Series([1.0, 2.0, 1.0, 1.0]), r2=pl.lit(2.0))
    rd = bm.ReplicateDesign(df, weights="w", replicates=["r1", "r2"], type="bootstrap")
    out = rd.calibrate({"sex": {"f": 40, "m": 60}, "x": 230})
    x = df["x"].to_numpy()
    for r in range(2):
        assert out.replicate_weights[:, r] @ x == pytest.approx(230)
        assert out.replicate_weights[1:, r].sum() == pytest.approx(60)


def test_numeric_totals_alone_need_an_intercept_total() -> None:
    d = bm.Design(small()).calibrate({"(Intercept)": 8, "x": 20})
    assert d.weights.sum() == pytest.approx(8)
    assert d.weights @ small()["x"].to_numpy() == pytest.approx(20)


def test_margins_table_lists_categories_and_totals() -> None:
    d = bm.Design(small()).calibrate({"sex": {"f": 40, "m": 60}, "x": 230})
    t = d.weighting.margins
    assert t["variable"].to_list() == ["sex", "sex", "x"]
    assert t["after"].to_list() == pytest.approx([40, 60, 230])


@pytest.mark.parametrize(
    ("margins", "kwargs", "message"),
    [
        ({"sex": {"f": 40, "m": 60}}, {"method": "probit"}, "method='probit' is not one of"),
        ({"sex": {"f": 40, "m": 60}}, {"method": "logit"}, "logit calibration needs finite bounds"),
        ({"sex": {"f": 40, "m": 60}}, {"bounds": (1.2, 3)}, "must satisfy lower < 1 < upper"),
        ({"sex": {"f": 40, "m": 60}}, {"bounds": "wide"}, "bounds must be a pair"),
        (
            {"sex": {"f": 40, "m": 60}},
            {"bounds": (0.5, 2.0)},
            "bounds (0.5, 2) cannot be met: 'sex'='f' needs its weights multiplied by 40",
        ),
        ({"sex": {"f": 40, "m": 60}, "xx": 3}, {}, "'xx' is not in the data (did you mean 'x'?)"),
        ({"sex": 3}, {}, "calibration variable 'sex' is String, not numeric"),
        ({"x": "lots"}, {}, "calibration target for 'x' is 'lots'"),
        ({"x": float("inf")}, {}, "calibration total for 'x' is inf"),
        (
            {"sex": {"f": 40, "m": 60}, "(Intercept)": 99},
            {},
            "the '(Intercept)' total 99 disagrees with the category margins' total 100",
        ),
        ({"sex": {"f": 40}}, {}, "level 'sex'='m' has 3 respondents but no target"),
        ({}, {}, "margins must be a non-empty mapping"),
        ({"sex": {"f": 40, "m": 60}}, {"tol": -1}, "tol must be a positive number"),
        ({"sex": {"f": 40, "m": 60}}, {"max_iter": 0}, "max_iter must be a positive integer"),
    ],
)
def test_bad_calibration_raises_and_names_the_problem(margins, kwargs, message) -> None:
    d = bm.Design(small())
    with pytest.raises(bm.WeightingError) as err:
        bm.weighting.calibrate(d, margins, **kwargs)
    assert message in str(err.value)
    assert d.calibration == ()


def test_missing_numeric_values_are_an_error() -> None:
    df = small().with_columns(x=pl.Series([1.0, None, 3.0, float("nan")]))
    with pytest.raises(bm.WeightingError, match="'x' has missing values in 2 rows"):
        bm.Design(df).calibrate({"x": 10, "(Intercept)": 4})


def test_bounds_that_newton_cannot_meet_are_reported() -> None:
    # each level is reachable alone, but x forces g outside the bounds
    df = pl.DataFrame({"sex": ["f", "f", "m", "m"], "x": [0.0, 1.0, 0.0, 1.0]})
    with pytest.raises(bm.WeightingError) as err:
        bm.Design(df).calibrate(
            {"sex": {"f": 2.4, "m": 2.4}, "x": 4.5}, method="raking", bounds=(0.5, 1.5)
        )
    msg = str(err.value)
    assert "raking calibration did not converge in 100 iterations" in msg
    assert "the bounds (0.5, 1.5) may be too tight" in msg


def test_singular_model_is_reported() -> None:
    df = pl.DataFrame({"sex": ["f", "m", "m"], "x": [2.0, 2.0, 2.0]})
    with pytest.raises(bm.WeightingError, match="model matrix is singular"):
        bm.Design(df).calibrate({"sex": {"f": 1, "m": 2}, "x": 6})


def test_a_level_without_respondents_and_a_zero_target_has_no_column() -> None:
    d = bm.Design(small()).calibrate({"sex": {"f": 40, "m": 60, "x": 0}, "x": 230})
    assert d.weights.tolist() == pytest.approx([40.0, 15.0, 20.0, 25.0], rel=1e-12)
    assert d.calibration[0].model_matrix.shape == (4, 3)


def calibration_sample(base: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"g": ["a", "b", "c"] * 4, "x": [float(i % 5) for i in range(12)], "w": base}
    )


CAL_TARGETS = {"g": {"a": 40.0, "b": 30.0, "c": 30.0}, "x": 190.0}
BASES = st.lists(st.floats(0.5, 3.0), min_size=12, max_size=12)


@settings(max_examples=30, deadline=None)
@given(BASES, st.floats(0.01, 100.0), st.sampled_from(["linear", "raking"]))
def test_unbounded_calibration_is_scale_free(base, factor, method) -> None:
    # (bounds are on g = new / old weight, so bounded calibration is not scale-free)
    df = calibration_sample(base)
    try:
        once = bm.Design(df, weights="w").calibrate(CAL_TARGETS, method=method)
    except bm.WeightingError:
        return  # out of reach of these weights: reported
    scaled = bm.Design(df.with_columns(pl.col("w") * factor), weights="w")
    np.testing.assert_allclose(
        scaled.calibrate(CAL_TARGETS, method=method).weights, once.weights, rtol=1e-7
    )


@settings(max_examples=30, deadline=None)
@given(BASES, st.sampled_from(["linear", "raking", "logit"]))
def test_calibrating_twice_changes_nothing(base, method) -> None:
    bounds = (0.2, 5.0) if method == "logit" else None
    try:
        once = bm.Design(calibration_sample(base), weights="w").calibrate(
            CAL_TARGETS, method=method, bounds=bounds
        )
    except bm.WeightingError:
        return
    again = once.calibrate(CAL_TARGETS, method=method, bounds=bounds)
    np.testing.assert_allclose(again.weights, once.weights, rtol=1e-8)


@pytest.mark.parametrize(
    ("method", "bounds"),
    [("linear", None), ("linear", (0.7, 1.35)), ("raking", None), ("logit", (0.5, 2.0))],
)
def test_categorical_margins_are_solved_on_the_cell_table(
    method: str, bounds: tuple[float, float] | None
) -> None:
    """On categorical margins the equations run on one row per calibration cell: the same
    g-weights as solving on the respondents' rows (what a numeric total still does)."""
    rng = np.random.default_rng(5)
    n = 400
    df = pl.DataFrame(
        {
            "a": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
            "b": rng.choice(["p", "q"], n),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    total = float(df["w"].sum())
    margins = {
        "a": {"x": 0.4 * total, "y": 0.35 * total, "z": 0.25 * total},
        "b": {"p": 0.55 * total, "q": 0.45 * total},
    }
    d = bm.Design(df, weights="w").calibrate(margins, method=method, bounds=bounds, tol=1e-13)
    (step,) = d.calibration
    assert isinstance(step, GregStep) and step.cells is not None
    assert int(step.cells.max()) + 1 == 6  # the rows were solved as 6 cells
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    x, w = step.model_matrix, step.old_weights
    population = x.T @ d.weights
    if method == "linear" and bounds is None:
        rows = linear_g(x, w, population)
    else:
        rows = grake(x, w, population, method, lo, hi, tol=1e-13, max_iter=100).g
    np.testing.assert_allclose(step.g, rows, rtol=1e-11)
    if bounds is not None:
        assert step.g.min() >= lo - 1e-12 and step.g.max() <= hi + 1e-12
