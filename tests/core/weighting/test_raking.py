"""Raking: hand-checked examples, properties (Hypothesis) and every error message.

R-exactness of the weights and of post-raking standard errors is checked by the reference
fixtures (tests/test_reference_weighting.py); these tests check the behaviour around them.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import barometer as bm
from barometer.core.variance.steps import RakingStep
from barometer.core.weighting import RakeSpec

# Margins are met to tol x the group total; comparisons of two raked weight vectors allow
# a few tol of slack, as each carries its own convergence error.
TOL = 1e-10
SLACK = 1e-7


def grid(rows_per_cell: int = 1) -> pl.DataFrame:
    cells = list(itertools.product(["f", "m"], ["y", "o"]))
    return pl.DataFrame(
        {"sex": [s for s, _ in cells] * rows_per_cell, "age": [a for _, a in cells] * rows_per_cell}
    )


def margin_totals(df: pl.DataFrame, w: np.ndarray, var: str) -> dict[object, float]:
    out: dict[object, float] = {}
    for level, weight in zip(df[var].to_list(), w, strict=True):
        out[level] = out.get(level, 0.0) + float(weight)
    return out


# --- hand-checked ---------------------------------------------------------------------------


def test_two_by_two_with_one_respondent_per_cell_gives_independence() -> None:
    # All cells equal: IPF's fixed point is w_ij = row_i * col_j / N (one sweep).
    d = bm.Design(grid()).rake({"sex": {"f": 60, "m": 40}, "age": {"y": 50, "o": 50}})
    assert d.weights.tolist() == pytest.approx([30, 30, 20, 20], rel=1e-12)
    assert d.weighting.iterations == 2  # the second sweep confirms nothing moves
    assert len(d.weighting.trace) == 2 and d.weighting.trace[-1] <= 1e-10


def test_base_weights_are_honoured() -> None:
    df = grid().with_columns(w=pl.Series([1.0, 3.0, 2.0, 2.0]))
    d = bm.Design(df, weights="w").rake({"sex": {"f": 8, "m": 4}})
    # one margin = post-stratification: f rows scaled by 8/4, m rows by 4/4
    assert d.weights.tolist() == pytest.approx([2.0, 6.0, 2.0, 2.0])


def test_shares_scale_to_the_weighted_total() -> None:
    df = grid(2).with_columns(w=pl.lit(2.5))
    d = bm.Design(df, weights="w").rake({"sex": {"f": 0.6, "m": 0.4}, "age": {"y": 0.5, "o": 0.5}})
    assert d.weights.sum() == pytest.approx(20.0)
    assert margin_totals(df, d.weights, "sex")["f"] == pytest.approx(12.0)


def test_shares_mixed_with_totals_take_the_totals_total() -> None:
    d = bm.Design(grid()).rake({"sex": {"f": 60, "m": 40}, "age": {"y": 0.5, "o": 0.5}})
    assert margin_totals(grid(), d.weights, "age") == pytest.approx({"y": 50.0, "o": 50.0})


def test_record_matches_what_r_keeps() -> None:
    d = bm.Design(grid(2)).rake({"sex": {"f": 60, "m": 40}, "age": {"y": 30, "o": 70}})
    (step,) = d.calibration
    assert isinstance(step, RakingStep)
    assert len(step.margins) == len(step.weights) == 2
    assert step.margins[0].tolist() == [0, 0, 1, 1] * 2  # sex codes, levels sorted f, m
    # at convergence the weights after every margin equal the final weights
    for w in step.weights:
        np.testing.assert_allclose(w, d.weights, rtol=1e-9)


def test_spec_is_kept_and_reapplies() -> None:
    margins = {"sex": {"f": 60, "m": 40}}
    d = bm.Design(grid()).rake(margins, tol=1e-9)
    spec = d.weighting.spec
    assert isinstance(spec, RakeSpec) and spec.tol == 1e-9
    np.testing.assert_allclose(spec.apply(bm.Design(grid())).weights, d.weights)
    margins["sex"]["f"] = 1  # the spec is a frozen copy
    assert spec.margins["sex"]["f"] == 60


def test_level_codes_from_integer_boolean_enum_and_categorical_columns() -> None:
    df = pl.DataFrame(
        {
            "i": [1, 2, 1, 2],
            "b": [True, True, False, False],
            "e": pl.Series(["x", "y", "y", "x"], dtype=pl.Enum(["y", "x"])),
            "c": pl.Series(["p", "q", "p", "q"], dtype=pl.Categorical),
        }
    )
    d = bm.Design(df).rake(
        {"i": {1: 5, 2: 5}, "b": {True: 4, False: 6}, "e": {"x": 5, "y": 5}, "c": {"p": 5, "q": 5}},
        max_iter=1000,
    )
    assert margin_totals(df, d.weights, "b")[True] == pytest.approx(4.0)
    # string keys match integer levels too
    d2 = bm.Design(df).rake({"i": {"1": 3, "2": 7}})
    assert d2.weights.tolist() == pytest.approx([1.5, 3.5, 1.5, 3.5])


def test_by_group_rakes_each_group_to_its_own_margins() -> None:
    df = pl.concat([grid(2).with_columns(c=pl.lit("KR")), grid(3).with_columns(c=pl.lit("DE"))])
    margins = {
        "KR": {"sex": {"f": 60, "m": 40}, "age": {"y": 30, "o": 70}},
        "DE": {"sex": {"f": 0.5, "m": 0.5}, "age": {"y": 0.2, "o": 0.8}},
    }
    d = bm.Design(df).rake(margins, by="c")
    for group in ("KR", "DE"):
        rows = (df["c"] == group).to_numpy()
        alone = bm.Design(df.filter(pl.col("c") == group)).rake(margins[group])
        np.testing.assert_allclose(d.weights[rows], alone.weights, rtol=SLACK)
    assert d.weights[(df["c"] == "DE").to_numpy()].sum() == pytest.approx(12.0)


def test_a_group_may_skip_a_variable() -> None:
    df = pl.concat([grid().with_columns(c=pl.lit("A")), grid().with_columns(c=pl.lit("B"))])
    df = df.with_columns(age=pl.when(pl.col("c") == "B").then(None).otherwise(pl.col("age")))
    d = bm.Design(df).rake(
        {"A": {"sex": {"f": 6, "m": 4}, "age": {"y": 5, "o": 5}}, "B": {"sex": {"f": 1, "m": 3}}},
        by="c",
    )
    assert d.weights[4:].tolist() == pytest.approx([0.5, 0.5, 1.5, 1.5])


def skewed_sample(seed: int, n: int, age: list[float]) -> pl.DataFrame:
    """A sample with too few women and a skewed age mix, and varying base weights."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n, p=[0.3, 0.7]),
            "age": rng.choice(["y", "m", "o"], n, p=age),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )


def test_cap_and_floor_hold_and_margins_still_hold() -> None:
    n = 400
    df = skewed_sample(7, n, [0.15, 0.3, 0.55])
    margins = {"sex": {"f": 500, "m": 500}, "age": {"y": 300, "m": 300, "o": 400}}
    free = bm.Design(df, weights="w").rake(margins)
    mean = 1000 / n
    assert free.weights.max() > 3 * mean
    d = bm.Design(df, weights="w").rake(margins, cap=3, floor=0.4)
    assert d.weights.max() <= 3 * mean * (1 + 1e-12)
    assert d.weights.min() >= 0.4 * mean * (1 - 1e-12)
    assert margin_totals(df, d.weights, "age") == pytest.approx({"y": 300, "m": 300, "o": 400})
    info = d.weighting
    assert info.n_capped > 0 and info.n_capped == int((info.held == 1).sum())
    assert d.weight_summary().overall.n_capped == info.n_capped


def test_replicates_are_raked_to_the_same_targets() -> None:
    df = grid(3).with_columns(
        w=pl.lit(1.0), r1=pl.Series([0.0, 2, 1, 1] * 3), r2=pl.Series([1.0, 1, 2, 0.5] * 3)
    )
    rd = bm.ReplicateDesign(df, weights="w", replicates=["r1", "r2"], type="bootstrap")
    margins = {"sex": {"f": 60, "m": 40}, "age": {"y": 30, "o": 70}}
    out = rd.rake(margins)
    for r in range(2):
        assert margin_totals(df, out.replicate_weights[:, r], "sex") == pytest.approx(
            {"f": 60, "m": 40}
        )
        assert margin_totals(df, out.replicate_weights[:, r], "age") == pytest.approx(
            {"y": 30, "o": 70}
        )


# --- properties -----------------------------------------------------------------------------


@st.composite
def raking_problems(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[str, dict[str, float]]]:
    """Data with every cell of the cross present (so raking is feasible) and targets."""
    sizes = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3))
    names = [f"v{j}" for j in range(len(sizes))]
    cells = list(itertools.product(*[range(k) for k in sizes]))
    extra = draw(st.lists(st.integers(0, len(cells) - 1), max_size=30))
    rows = cells + [cells[i] for i in extra]
    base = draw(st.lists(st.floats(0.2, 5.0), min_size=len(rows), max_size=len(rows)).map(np.array))
    total = draw(st.floats(10.0, 1e6))
    margins = {}
    for name, k in zip(names, sizes, strict=True):
        raw = draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))
        margins[name] = {f"L{j}": total * x / sum(raw) for j, x in enumerate(raw)}
    df = pl.DataFrame({name: [f"L{r[j]}" for r in rows] for j, name in enumerate(names)})
    return df.with_columns(w=pl.Series(base)), margins


PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(raking_problems())
def test_after_raking_every_margin_meets_its_target(problem) -> None:
    df, margins = problem
    d = bm.Design(df, weights="w").rake(margins, tol=TOL, max_iter=5000)
    total = sum(next(iter(margins.values())).values())
    for var, targets in margins.items():
        got = margin_totals(df, d.weights, var)
        for level, t in targets.items():
            assert abs(got[level] - t) <= 10 * TOL * total
    assert d.weighting.max_error <= TOL


@PROPS
@given(raking_problems())
def test_raking_twice_changes_nothing(problem) -> None:
    df, margins = problem
    once = bm.Design(df, weights="w").rake(margins, tol=TOL, max_iter=5000)
    twice = once.rake(margins, tol=TOL, max_iter=5000)
    np.testing.assert_allclose(twice.weights, once.weights, rtol=SLACK)


@PROPS
@given(raking_problems(), st.floats(0.01, 1000.0))
def test_weights_are_scale_free(problem, factor) -> None:
    df, margins = problem
    a = bm.Design(df, weights="w").rake(margins, tol=TOL, max_iter=5000)
    b = bm.Design(df.with_columns(pl.col("w") * factor), weights="w").rake(
        margins, tol=TOL, max_iter=5000
    )
    np.testing.assert_allclose(a.weights, b.weights, rtol=SLACK)


@PROPS
@given(raking_problems(), st.randoms(use_true_random=False))
def test_weights_do_not_depend_on_row_order(problem, rnd) -> None:
    df, margins = problem
    order = list(range(df.height))
    rnd.shuffle(order)
    a = bm.Design(df, weights="w").rake(margins, tol=TOL, max_iter=5000)
    b = bm.Design(df[order], weights="w").rake(margins, tol=TOL, max_iter=5000)
    np.testing.assert_allclose(a.weights[order], b.weights, rtol=SLACK)


@PROPS
@given(raking_problems(), st.floats(1.5, 6.0))
def test_a_cap_is_never_exceeded(problem, cap) -> None:
    df, margins = problem
    try:
        d = bm.Design(df, weights="w").rake(margins, tol=1e-9, max_iter=2000, cap=cap)
    except bm.WeightingError as e:  # infeasible caps are reported, never silently broken
        assert "cap=" in str(e)
        return
    total = sum(next(iter(margins.values())).values())
    assert d.weights.max() <= cap * total / df.height * (1 + 1e-12)
    for var, targets in margins.items():
        got = margin_totals(df, d.weights, var)
        assert all(abs(got[lv] - t) <= 1e-8 * total for lv, t in targets.items())


def _lp_feasible(df: pl.DataFrame, margins: dict, lower: float, upper: float) -> bool:
    """Is there any weight vector within [lower, upper] meeting every margin? (an LP)"""
    from scipy.optimize import linprog

    rows, b = [], []
    for var, targets in margins.items():
        values = df[var].to_numpy()
        for level, t in targets.items():
            rows.append((values == level).astype(float))
            b.append(t)
    lp = linprog(
        np.zeros(df.height),
        A_eq=np.array(rows),
        b_eq=np.array(b),
        bounds=[(lower, upper)] * df.height,
        method="highs",
    )
    return lp.status == 0


@PROPS
@given(raking_problems(), st.floats(1.5, 4.0), st.floats(0.1, 0.8))
def test_bounds_that_can_be_met_are_met(problem, cap, floor) -> None:
    df, margins = problem
    total = sum(next(iter(margins.values())).values())
    mean = total / df.height
    try:
        bm.Design(df, weights="w").rake(margins, tol=1e-9, max_iter=2000, cap=cap, floor=floor)
    except bm.WeightingError:
        # then no weights fit strictly inside the bounds (boundary cases aside)
        assert not _lp_feasible(df, margins, floor * mean * (1 + 1e-6), cap * mean * (1 - 1e-6))
    else:
        assert _lp_feasible(df, margins, floor * mean * (1 - 1e-9), cap * mean * (1 + 1e-9))


# --- errors: each names what is wrong, and nothing changes -----------------------------------


def data() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "country": ["KR", "KR", "KR", "DE", "DE", "DE"],
            "sex": ["f", "m", "m", "f", "m", "f"],
            "age": ["y", "y", "o", "o", "y", "o"],
        }
    )


GOOD = {"sex": {"f": 50, "m": 50}, "age": {"y": 40, "o": 60}}


@pytest.mark.parametrize(
    ("margins", "kwargs", "message"),
    [
        ({"sexx": {"f": 1}}, {}, "'sexx' is not in the data (did you mean 'sex'?)"),
        ({"sex": {"f": 50, "m": 40, "x": 10}}, {}, "target level 'sex'='x' has no respondents"),
        ({"sex": {"f": 50}}, {}, "level 'sex'='m' has 3 respondents but no target"),
        ({"sex": {"f": 50, "m": 0}}, {}, "'sex'='m' has 3 respondents but a target of 0"),
        (
            {"sex": {"f": 50, "m": 50}, "age": {"y": 40, "o": 61}},
            {},
            "margins disagree on the total: 'sex' sums to 100 but 'age' to 101",
        ),
        ({"sex": {"f": -5, "m": 50}}, {}, "target for 'sex'='f' is -5.0"),
        ({"sex": {"f": float("nan"), "m": 50}}, {}, "target for 'sex'='f' is nan"),
        ({"sex": {"f": None, "m": 50}}, {}, "target for 'sex'='f' is None"),
        ({"sex": {"f": "many", "m": 50}}, {}, "target for 'sex'='f' is 'many'"),
        ({}, {}, "margins must be a non-empty mapping"),
        ({"sex": [50, 50]}, {}, "targets for 'sex' must be a non-empty mapping"),
        (GOOD, {"tol": 0}, "tol must be a positive number"),
        (GOOD, {"max_iter": 0}, "max_iter must be a positive integer"),
        (GOOD, {"cap": 0.5}, "cap=0.5: a cap is a multiple of the mean weight and must be >= 1"),
        (GOOD, {"floor": 2}, "floor=2: a floor is a multiple of the mean weight"),
    ],
)
def test_bad_margins_raise_and_name_the_problem(margins, kwargs, message) -> None:
    d = bm.Design(data())
    before = d.weights.copy()
    with pytest.raises(bm.WeightingError) as err:
        d.rake(margins, **kwargs)
    assert message in str(err.value)
    np.testing.assert_array_equal(d.weights, before)
    assert d.calibration == ()


def test_missing_values_in_a_raking_variable() -> None:
    df = data().with_columns(age=pl.Series(["y", None, "o", "o", None, "o"]))
    msg = r"'age' has missing values in rows 1, 4 \(2 in all\)"
    with pytest.raises(bm.WeightingError, match=msg):
        bm.Design(df).rake(GOOD)


@pytest.mark.parametrize(
    ("margins", "by", "message"),
    [
        ({"KR": GOOD}, "country", "groups of 'country' with respondents but no margins: 'DE'"),
        (
            {"KR": GOOD, "DE": GOOD, "FR": GOOD},
            "country",
            "margins are given for group country='FR', which has no respondents",
        ),
        (
            {"KR": GOOD, "DE": {"sex": {"f": 50, "m": 50}, "age": {"y": 45, "o": 50, "z": 5}}},
            "country",
            "target level 'age'='z' (group country='DE') has no respondents",
        ),
        ({"KR": GOOD}, "contry", "by column 'contry' is not in the data (did you mean 'country'?)"),
        ({"KR": GOOD, "DE": 5}, "country", "margins must be keyed by group"),
    ],
)
def test_by_group_errors_name_the_group(margins, by, message) -> None:
    with pytest.raises(bm.WeightingError) as err:
        bm.Design(data()).rake(margins, by=by)
    assert message in str(err.value)


def test_a_level_present_elsewhere_but_not_in_the_group() -> None:
    # DE has no 'y' respondents: a positive target for it is an error naming the group
    df = data().with_columns(age=pl.Series(["y", "y", "o", "o", "o", "o"]))
    margins = {"KR": GOOD, "DE": {"sex": {"f": 50, "m": 50}, "age": {"y": 40, "o": 60}}}
    with pytest.raises(bm.WeightingError) as err:
        bm.Design(df).rake(margins, by="country")
    assert "target level 'age'='y' (group country='DE') has no respondents" in str(err.value)


def test_non_convergence_names_the_largest_margin_error() -> None:
    # f only in y: sex f=50 needs the (f, y) cell at 50 but age y=40 caps it.
    df = pl.DataFrame({"sex": ["f", "m", "m", "m"], "age": ["y", "y", "o", "o"]})
    with pytest.raises(bm.WeightingError) as err:
        bm.Design(df).rake({"sex": {"f": 50, "m": 50}, "age": {"y": 40, "o": 60}}, max_iter=50)
    msg = str(err.value)
    assert "raking did not converge in 50 sweeps" in msg
    assert "the largest margin error left is 0.1 of the total, at 'sex'=" in msg


def test_an_infeasible_cap_is_reported() -> None:
    df = pl.DataFrame({"sex": ["f"] + ["m"] * 9})
    with pytest.raises(
        bm.WeightingError, match="raking with cap=2 x the mean weight cannot be met"
    ):
        bm.Design(df).rake({"sex": {"f": 50, "m": 50}}, cap=2)


def test_replicates_are_capped_like_the_full_sample() -> None:
    rng = np.random.default_rng(11)
    n = 300
    df = skewed_sample(11, n, [0.2, 0.3, 0.5])
    drop = rng.integers(0, 3, n)  # three jackknife-like replicates dropping a third each
    reps = {f"r{k}": np.where(drop == k, 0.0, 1.5) * df["w"].to_numpy() for k in range(3)}
    df = df.with_columns(**{k: pl.Series(v) for k, v in reps.items()})
    rd = bm.ReplicateDesign(df, weights="w", replicates=list(reps), type="bootstrap")
    margins = {"sex": {"f": 500, "m": 500}, "age": {"y": 300, "m": 300, "o": 400}}
    out = rd.rake(margins, cap=3.5, floor=0.3)
    mean = 1000 / n
    for r in range(3):
        w = out.replicate_weights[:, r]
        assert (w[drop == r] == 0).all()
        kept = w[drop != r]
        assert kept.max() <= 3.5 * mean * (1 + 1e-12) and kept.min() >= 0.3 * mean * (1 - 1e-12)
        assert margin_totals(df, w, "age") == pytest.approx({"y": 300, "m": 300, "o": 400})


def test_a_replicate_with_no_weight_in_a_level_is_reported() -> None:
    df = grid().with_columns(w=pl.lit(1.0), r1=pl.Series([0.0, 0.0, 2.0, 2.0]), r2=pl.lit(1.0))
    rd = bm.ReplicateDesign(df, weights="w", replicates=["r1", "r2"], type="bootstrap")
    with pytest.raises(bm.WeightingError, match="replicate 1 has no weight in 'sex'='f'"):
        rd.rake({"sex": {"f": 1, "m": 1}})


def test_targets_from_a_long_table() -> None:
    df = pl.concat([grid().with_columns(c=pl.lit("KR")), grid().with_columns(c=pl.lit("DE"))])
    table = pl.DataFrame(
        {
            "c": ["KR"] * 4 + ["DE"] * 4,
            "variable": ["sex", "sex", "age", "age"] * 2,
            "level": ["f", "m", "y", "o"] * 2,
            "target": [60.0, 40, 50, 50, 0.5, 0.5, 0.3, 0.7],
        }
    )
    d = bm.Design(df).rake(table, by="c")
    nested = bm.Design(df).rake(
        {
            "KR": {"sex": {"f": 60, "m": 40}, "age": {"y": 50, "o": 50}},
            "DE": {"sex": {"f": 0.5, "m": 0.5}, "age": {"y": 0.3, "o": 0.7}},
        },
        by="c",
    )
    np.testing.assert_allclose(d.weights, nested.weights)
    with pytest.raises(bm.WeightingError, match="needs the columns"):
        bm.Design(df).rake(table.drop("c"), by="c")
    with pytest.raises(bm.WeightingError, match="twice"):
        bm.Design(df).rake(pl.concat([table, table.head(1)]), by="c")
