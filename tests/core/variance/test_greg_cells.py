"""GREG calibration on categorical margins as a projection on its calibration cells
(``calibrated.GregProjection``) equals R's row-by-row regression residuals (the dense
path, ``linearisation._greg_residual``); what stays off the cell path is named there and
in ``variance.cells``. The R fixtures are the ``cells_calibrate_*`` cases of
weighting.json."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.variance import calibrated
from barometer.core.variance.steps import GregStep
from tests.core.variance.test_calibrated import margins, poll
from tests.core.variance.test_cells import assert_paths_agree, family

#: the totals of ``cal_margins`` add up to about the sample's weighted total (~1,050), so
#: that logit bounds can be met
CAL = {
    "country": {"DE": 340.0, "FR": 350.0, "KR": 360.0},
    "gender": {"f": 546.0, "m": 504.0},
    "age": {"18-34": 472.5, "35-54": 336.0, "55+": 241.5},
}
METHODS: dict[str, dict] = {
    "linear": {},
    "linear_bounded": {"bounds": (0.8, 1.25)},
    "logit": {"method": "logit", "bounds": (0.3, 3.0)},
    "raking": {"method": "raking"},
}
#: domains that cut across the calibration cells (strata, gender x stratum, the
#: question's own levels) and ones that are unions of them (country)
FAMILIES = (
    ("proportion", "q", "country"),
    ("proportion", "q", ["stratum", "gender"]),
    ("mean", "score", "stratum"),
    ("total", "q", "gender"),
    ("proportion", "gender", "q"),
)


def calibrated_design(d: bm.Design, method: str, chain: str) -> bm.Design:
    kw = METHODS[method]
    if chain == "rake_then":
        d = d.rake(margins(), by="country")
        if "bounds" in kw:  # raked weights already meet the totals: a wide pair of bounds
            kw = kw | {"bounds": (0.2, 5.0)}
    d = d.calibrate(CAL, **kw)
    if chain == "then_rake":
        d = d.rake(margins(), by="country")
    return d


def assert_cell_path_equals_dense(d: bm.Design) -> None:
    plan = calibrated.plan(d)
    assert plan is not None and plan.cells is not None
    s = d.structure
    assert s is not None
    kinds = ("q", "scaled") if s.element else ("q",)
    for method, var, by in FAMILIES:
        fam = family(d, method, var, by)
        assert calibrated.table_sums(plan, fam, kinds) is not None  # the cell path ran
        assert_paths_agree(fam)


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("chain", ["alone", "then_rake", "rake_then"])
def test_greg_cell_path_equals_dense_path(clustered: bool, method: str, chain: str) -> None:
    assert_cell_path_equals_dense(calibrated_design(poll(13, clustered), method, chain))


def test_the_bounds_bind_in_the_bounded_case() -> None:
    """Bounds on g keep the g-weights a function of the cell: still the cell path."""
    d = calibrated_design(poll(13, True), "linear_bounded", "alone")
    step = d.calibration[-1]
    assert isinstance(step, GregStep)
    assert np.isclose(step.g.min(), 0.8) or np.isclose(step.g.max(), 1.25)


@pytest.mark.parametrize("lonely", ["adjust", "average", "certainty", "remove"])
def test_lonely_psus(lonely: str) -> None:
    base = poll(17, True)
    df = base.data.with_columns(
        # stratum KR1 keeps a single PSU
        psu=pl.when(pl.col("stratum") == "KR1").then(0).otherwise(pl.col("psu"))
    )
    d = bm.Design(df, weights="w", strata="stratum", psu="psu", lonely_psu=lonely)
    s = d.structure
    assert s is not None and (s.n_psu == 1).any()
    assert_cell_path_equals_dense(d.calibrate(CAL, method="logit", bounds=(0.3, 3.0)))


def test_calibration_cells_share_one_model_row() -> None:
    d = poll(13, True).calibrate(CAL)
    step = d.calibration[-1]
    assert isinstance(step, GregStep) and step.cells is not None
    cells = step.cells
    n_cells = int(cells.max()) + 1
    assert n_cells == 3 * 2 * 3 == step.matrix.shape[0]  # country x gender x age, all present
    for c in range(n_cells):
        rows = step.model_matrix[cells == c]
        assert (rows == rows[0]).all()
        assert np.ptp(step.g[cells == c]) == 0.0


def test_a_numeric_auxiliary_has_no_cells() -> None:
    d = poll(3, True)
    cal = d.calibrate({"gender": {"f": 546.0, "m": 504.0}, "w": 1900.0})
    step = cal.calibration[-1]
    assert isinstance(step, GregStep) and step.cells is None
    assert calibrated.plan(cal) is None  # estimators._calibrated_sums: the dense path


@pytest.mark.parametrize("clustered", [False, True])
def test_weights_changed_after_calibration(clustered: bool) -> None:
    """Final weights that are no longer the step's (trimmed, say): the request ``q = 1 / g``
    is still a cell constant against the basis ``w`` (the cell path, for PSU totals), but an
    element design's second moments (``scale a w``, ``a`` the step's weights) are not: the
    family's cell sums are then formed from its rows, the projections unchanged."""
    d0 = poll(19, clustered)
    d = d0.calibrate(CAL, method="logit", bounds=(0.3, 3.0))
    step = d.calibration[-1]
    jitter = np.random.default_rng(1).uniform(0.9, 1.1, d.weights.size)
    changed = d0.with_weights(d.weights * jitter, step)
    plan = calibrated.plan(changed)
    assert plan is not None
    for method, var, by in FAMILIES:
        fam = family(changed, method, var, by)
        assert calibrated.table_sums(plan, fam, ("q",)) is not None
        if not clustered:
            assert calibrated.table_sums(plan, fam, ("q", "scaled")) is None
        assert_paths_agree(fam)


def test_a_zero_g_weight_goes_the_dense_path() -> None:
    """R's residual divides by the g-weights: with one of them 0 the dense path keeps
    R's arithmetic."""
    d0 = poll(19, True)
    d = d0.calibrate(CAL)
    step = d.calibration[-1]
    assert isinstance(step, GregStep)
    g = step.g.copy()
    g[step.cells == 0] = 0.0
    zeroed = GregStep(step.matrix, step.old_weights, g, step.cells)
    assert calibrated.greg_projection(zeroed) is None
    assert calibrated.greg_projection(step) is not None


def test_redundant_margins_drop_a_direction_as_the_row_path_does() -> None:
    """A margin that is a coarsening of another (``young`` = age 18-34) makes the model
    matrix rank-deficient: both paths project on the same column space (the rank rule of
    the row path's pivoted QR, on singular values)."""
    base = poll(13, True)
    df = base.data.with_columns(
        young=pl.when(pl.col("age") == "18-34").then(pl.lit("y")).otherwise(pl.lit("n"))
    )
    margins = {
        "age": CAL["age"],
        "young": {"y": CAL["age"]["18-34"], "n": 1050.0 - CAL["age"]["18-34"]},
        "gender": CAL["gender"],
    }
    d = bm.Design(df, weights="w", strata="stratum", psu="psu").calibrate(margins, method="raking")
    plan = calibrated.plan(d)
    assert plan is not None
    (greg,) = plan.distinct
    assert isinstance(greg, calibrated.GregProjection)
    step = d.calibration[-1]
    assert isinstance(step, GregStep)
    assert step.matrix.shape[1] == 5 and greg.basis.shape[1] == 4
    for method, var, by in FAMILIES:
        assert_paths_agree(family(d, method, var, by))
