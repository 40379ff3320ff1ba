"""Replicate sums from user-supplied columns (the grouped pass over a polars frame) against
the same replicates held as an array (one sparse product): every kind of variable the
grouped pass codes differently, with missing values and rows outside every domain."""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core.estimators import RatioFamily
from barometer.core.variance import replicate


@pytest.fixture(params=["compiled", "arrow"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both grouped passes: numba's loops (where installed) and the Arrow/polars one."""
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setattr(replicate, "_COMPILED_FROM", 0)
    else:
        monkeypatch.setattr(replicate, "_kernels", lambda cells: None)
    return str(request.param)


@pytest.fixture(scope="module")
def poll() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 403  # not a multiple of the loops' unrolling
    y_missing = rng.random(n) < 0.1
    g = rng.choice(["a", "b", "c"], n).astype(object)
    g[rng.random(n) < 0.05] = None
    cols = {
        "w": rng.uniform(0.5, 3.0, n),
        "g": g,
        "ind": np.where(y_missing, np.nan, rng.integers(0, 2, n).astype(float)),
        "scale": rng.integers(3, 8, n).astype(float),
        "halves": rng.choice([0.5, 1.5, 2.25], n),
        "cont": rng.normal(10, 3, n),
        "cat": rng.choice(["x", "y", "z"], n),
    }
    reps = rng.uniform(0.0, 2.0, (n, 10)) * cols["w"][:, None]  # 10: not a multiple of 4
    return pl.DataFrame(cols).with_columns(
        **{f"rw{r:02d}": reps[:, r] for r in range(reps.shape[1])}
    )


@pytest.mark.parametrize("var", ["ind", "scale", "halves", "cont"])
def test_frame_sums_match_array_sums(poll: pl.DataFrame, var: str, kernels: str) -> None:
    cols = bm.ReplicateDesign(poll, weights="w", replicates="rw", type="bootstrap")
    arr = bm.ReplicateDesign(poll, weights="w", replicates="rw", type="bootstrap")
    arr.replicate_weights = cols.replicate_weights.copy()
    for by in (None, "g"):
        a = cols.mean(var, by=by).to_polars()
        b = arr.mean(var, by=by).to_polars()
        np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-12)
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-10)


def test_frame_sums_match_array_sums_categorical(poll: pl.DataFrame, kernels: str) -> None:
    cols = bm.ReplicateDesign(poll, weights="w", replicates="rw", type="bootstrap")
    arr = bm.ReplicateDesign(poll, weights="w", replicates="rw", type="bootstrap")
    arr.replicate_weights = cols.replicate_weights.copy()
    a = cols.proportion("cat", by="g").to_polars()
    b = arr.proportion("cat", by="g").to_polars()
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-10)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 1001])
def test_kernels_match_bincount(n: int) -> None:
    pytest.importorskip("numba")
    from barometer.core.variance import kernels

    rng = np.random.default_rng(n)
    key = rng.integers(0, 7, n).astype(np.int32)
    xs, y = rng.random((4, n)) - 0.1, rng.normal(size=n)
    lows = xs.min(axis=1) if n else np.full(4, np.inf)
    for with_y in (False, True):
        sums, lo = kernels.key_sums(key, *xs, y, with_y, 7)
        assert sums.shape == (4, 1 + with_y, 7)
        np.testing.assert_array_equal(lo, lows)
        for x, got in zip(xs, sums, strict=True):
            np.testing.assert_allclose(got[-1], np.bincount(key, x, 7), rtol=1e-13, atol=1e-15)
            if with_y:
                want = np.bincount(key, x * y, 7)
                np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-14)


def test_loaded_kernels_serve_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the size that repays loading numba, a pass takes the compiled loops all the
    same once they are loaded in the process (their load is paid); before, it does not —
    until the process's small passes together reach that size."""
    import sys

    pytest.importorskip("numba")
    from barometer.core.variance import kernels

    assert replicate._kernels(10) is kernels
    monkeypatch.setattr(replicate, "_read_without", 0)
    monkeypatch.delitem(sys.modules, "barometer.core.variance.kernels")
    assert replicate._kernels(10) is None
    assert replicate._kernels(replicate._COMPILED_FROM) is not None
    monkeypatch.delitem(sys.modules, "barometer.core.variance.kernels", raising=False)
    monkeypatch.setattr(replicate, "_read_without", 0)
    third = replicate._COMPILED_FROM // 3
    assert replicate._kernels(third) is None
    assert replicate._kernels(third) is None
    assert replicate._read_without == 2 * third
    assert replicate._kernels(third + 2) is not None  # the three passes together repay it


def _thetas_and_check(
    design: bm.ReplicateDesign, fam: RatioFamily, monkeypatch: pytest.MonkeyPatch
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The family's replicate estimates from a first pass over unchecked weights, and the
    columns' minima that pass handed to the values' check (None: the check reads them)."""
    seen: list[np.ndarray | None] = []
    check = bm.ReplicateDesign.mark_checked
    monkeypatch.setattr(design, "_unchecked", True)
    monkeypatch.setattr(design, "mark_checked", lambda low: (seen.append(low), check(design, low)))
    return replicate.replicate_thetas(design, fam), seen


@pytest.mark.parametrize("var", ["ind", "scale", "halves", "cont", "cat"])
def test_arrow_pass_equals_compiled_pass(
    poll: pl.DataFrame, var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass without numba (Arrow's or polars' sums) gives the compiled loops' replicate
    estimates to 1e-12, for each kind of variable the grouped pass codes differently (by
    cell, by (cell, value), w * y), and both check the weights once, on the same minima."""
    pytest.importorskip("numba")
    from barometer.core.estimators import family
    from barometer.core.reduce import domains, variable
    from barometer.core.replication.weights import column_mins

    design = bm.ReplicateDesign(poll, weights="w", replicates="rw", type="sdr")
    coding = domains(design, ["g"])
    fam = family(design, variable(design, var, None), coding.codes, coding.size, True)
    monkeypatch.setattr(replicate, "_COMPILED_FROM", 0)
    compiled, compiled_lows = _thetas_and_check(design, fam, monkeypatch)
    monkeypatch.setattr(replicate, "_COMPILED_FROM", 2**62)
    monkeypatch.delitem(sys.modules, "barometer.core.variance.kernels")
    arrow, arrow_lows = _thetas_and_check(design, fam, monkeypatch)
    assert np.isfinite(compiled).all() and compiled.shape == arrow.shape
    np.testing.assert_allclose(arrow, compiled, rtol=1e-12, atol=0)
    want = poll.select(pl.col("^rw.*$").min()).row(0)
    assert arrow_lows == [None] and len(compiled_lows) == 1
    np.testing.assert_array_equal(compiled_lows[0], want)
    np.testing.assert_array_equal(column_mins(design.replicate_frame), want)
