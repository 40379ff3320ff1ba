"""Calibrated variances from sums by joint calibration cell equal the row path and the
dense projections; the cases named in ``variance.cells`` stay on the row path."""

from __future__ import annotations

import numpy as np
import pytest

import barometer as bm
from barometer.core import estimators
from barometer.core.variance import calibrated, cells
from barometer.core.variance.steps import RakingStep
from tests.core.variance.test_calibrated import margins, poll

REL = 1e-9
#: sums that cancel to zero (a post-stratum's residuals) are ~1e-18 on one path and 0 on
#: the other: the absolute floor, far below the influence values here (~1e-3)
FLOOR = 1e-13


def close(a: calibrated.Table, b: calibrated.Table) -> bool:
    a, b = calibrated.dense(a), calibrated.dense(b)
    scale = float(np.abs(b).max()) if b.size else 0.0
    return bool(np.allclose(a, b, rtol=REL, atol=max(REL * scale, FLOOR)))


def assert_paths_agree(fam: estimators.RatioFamily) -> None:
    """The family's sums (SEs and full covariance) equal the dense projections'."""
    for full in (False, True):
        fast = estimators.linearised_sums(fam, full)
        slow = estimators._calibrated_sums(fam, full)
        for a, b in zip(fast, slow, strict=True):
            assert close(a, b)


def chained(d: bm.Design) -> bm.Design:
    """Three calibration steps: post-stratify on gender, rake by country, post-stratify on
    country x age."""
    d = d.poststratify("gender", {"f": 5200.0, "m": 4800.0})
    d = d.rake(margins(), by="country")
    table = [
        {"country": c, "age": a, "total": t}
        for c in ("DE", "FR", "KR")
        for a, t in (("18-34", 900.0), ("35-54", 1100.0), ("55+", 1300.0))
    ]
    return d.poststratify(["country", "age"], table)


def designs(clustered: bool) -> dict[str, bm.Design]:
    d = poll(11, clustered)
    return {
        "rake": d.rake(margins(), by="country"),
        "poststratify": d.poststratify("gender", {"f": 5200.0, "m": 4800.0}),
        "chained": chained(d),
    }


def family(d: bm.Design, method: str, var: str, by: str | list[str]) -> estimators.RatioFamily:
    return getattr(d, method)(var, by=by).families[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("how", ["rake", "poststratify", "chained"])
def test_cell_sums_equal_row_sums(clustered: bool, how: str) -> None:
    d = designs(clustered)[how]
    plan = calibrated.plan(d)
    assert plan is not None and plan.cells is not None
    kinds = ("q",) if clustered else ("q", "scaled")
    # domains that cut across the calibration cells (q, gender) and ones that do not
    for method, var, by in (
        ("proportion", "q", "gender"),
        ("mean", "score", ["country", "age"]),
        ("total", "q", "country"),
        ("proportion", "gender", "q"),
    ):
        fam = family(d, method, var, by)
        table = calibrated.table_sums(plan, fam, kinds)
        assert table is not None
        rows = calibrated.row_sums(
            plan, calibrated.DomainRows.of(fam.influence(), fam.dom, fam.n_domains)
        )
        for kind in kinds:
            for v in range(len(plan.distinct)):
                assert close(table(kind, v), rows(kind, v))


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("full", [False, True])
def test_chained_cell_path_equals_dense_projections(clustered: bool, full: bool) -> None:
    d = designs(clustered)["chained"]
    for method, var, by in (("proportion", "q", "gender"), ("mean", "score", "age")):
        fam = family(d, method, var, by)
        fast = estimators.linearised_sums(fam, full)
        slow = estimators._calibrated_sums(fam, full)
        for a, b in zip(fast, slow, strict=True):
            assert close(a, b)


def test_sweep_matrix_equals_running_the_projections() -> None:
    d = designs(True)["chained"]
    fam = family(d, "proportion", "q", "country")
    plan = calibrated.plan(d)
    assert plan is not None
    sums = calibrated.table_sums(plan, fam, ("q",))
    assert sums is not None
    base = np.vstack([calibrated.dense(sums("q", v)) for v in range(len(plan.distinct))])
    for a, b in zip(
        calibrated.accumulate(sums, plan).parts,
        calibrated.run_projections(plan, base),
        strict=True,
    ):
        assert close(a, b)


def test_capped_raking_stays_on_the_row_path() -> None:
    d = poll(5, True)
    capped = d.rake(margins(), by="country", cap=2.5)
    plan = calibrated.plan(capped)
    assert plan is not None
    fam = family(capped, "proportion", "q", "country")
    step = capped.calibration[-1]
    assert isinstance(step, RakingStep) and step.fixed is not None and step.fixed.any()
    # weights held at the cap are not a cell factor times the base weight
    assert calibrated.table_sums(plan, fam, ("q",)) is None
    assert_paths_agree(fam)


def test_greg_on_a_numeric_auxiliary_goes_the_dense_way() -> None:
    d = poll(3, True)
    cal = d.calibrate({"gender": {"f": 5200.0, "m": 4800.0}, "w": 16_000.0})
    assert calibrated.plan(cal) is None


def test_kappa_rejects_a_ratio_that_varies_within_a_joint_cell() -> None:
    code = np.array([0, 0, 1, 1])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    joint = cells.JointCells(code, 2, np.array([0, 2]), [None, w])
    assert joint.kappa(("a",), np.array([2.0, 2.0, 5.0, 5.0])) is not None  # basis 1
    fit = joint.kappa(("b",), w * np.array([2.0, 2.0, 5.0, 5.0]))  # basis w
    assert fit is not None and fit[0] == 1 and np.allclose(fit[1], [2.0, 5.0])
    assert joint.kappa(("c",), np.array([1.0, 1.5, 5.0, 5.0])) is None
