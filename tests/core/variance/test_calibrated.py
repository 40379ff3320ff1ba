"""The cell-table calibration residuals equal R's row-by-row projections (the dense path)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core import estimators

REL = 1e-9  # the two paths differ only in the order of floating-point sums


def poll(seed: int, clustered: bool) -> bm.Design:
    rng = np.random.default_rng(seed)
    n = 600
    country = rng.choice(["DE", "FR", "KR"], n)
    strata = np.array([f"{c}{k}" for c, k in zip(country, rng.integers(0, 2, n), strict=True)])
    q = rng.choice(["ally", "partner", "rival", "dont_know"], n).astype(object)
    q[rng.random(n) < 0.05] = None
    df = pl.DataFrame(
        {
            "w": rng.uniform(0.5, 3.0, n),
            "country": country,
            "stratum": strata,
            "psu": rng.integers(0, 8, n),
            "age": rng.choice(["18-34", "35-54", "55+"], n, p=[0.5, 0.3, 0.2]),
            "gender": rng.choice(["f", "m"], n),
            "q": pl.Series(q.tolist(), dtype=pl.String),
            "score": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
        }
    )
    return bm.Design(df, weights="w", strata="stratum", psu="psu" if clustered else None)


def margins() -> dict:
    return {
        c: {"age": {"18-34": 0.3, "35-54": 0.35, "55+": 0.35}, "gender": {"f": 0.52, "m": 0.48}}
        for c in ("DE", "FR", "KR")
    }


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("how", ["rake", "poststratify", "both"])
@pytest.mark.parametrize("full", [False, True])
def test_cell_path_equals_row_path(clustered: bool, how: str, full: bool) -> None:
    d = poll(7, clustered)
    if how in ("rake", "both"):
        d = d.rake(margins(), by="country")
    if how in ("poststratify", "both"):
        d = d.poststratify("gender", {"f": 5200.0, "m": 4800.0})
    for method, var in (("proportion", "q"), ("mean", "score"), ("total", "q")):
        est = getattr(d, method)(var, by="country")
        fam = est.families[0]
        fast = estimators.linearised_sums(fam, full)
        slow = estimators._calibrated_sums(fam, full)
        for a, b in zip(fast, slow, strict=True):
            scale = np.abs(b).max()
            assert np.allclose(a, b, rtol=REL, atol=REL * scale)
