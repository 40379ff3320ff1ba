"""The one reduction (core/reduce.py): weighted sums by (domain, PSU) pair, against a
direct computation of the same sums from the rows.

The pair sums are all the point estimates and the linearisation variance read, so each is
checked cell by cell: for every (domain, PSU) pair that holds rows, the weighted count of
each answer level (or the weighted sum of a numeric variable), the weighted base where the
variable is observed, and the rows observed per domain.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer.core import reduce

#: The sums are the same additions in another order: float rounding only.
RTOL = 1e-12


def _poll(seed: int, n: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 4, n)
    answer = rng.integers(1, 6, n).astype(float)
    answer[rng.random(n) < 0.1] = np.nan
    score = rng.normal(5, 2, n)
    score[rng.random(n) < 0.08] = np.nan
    group = rng.choice(["a", "b", "c"], n)
    return pl.DataFrame(
        {
            "stratum": stratum,
            "psu": stratum * 100 + rng.integers(0, 7, n),
            "w": rng.uniform(0.2, 5.0, n),
            "answer": pl.Series(answer).cast(pl.Int8, strict=False),
            "score": score,
            "group": group,
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 37 == 0).then(None).otherwise(pl.col("group")).alias("group")
    )


def _direct(
    design: bm.Design, by: list[str], values: np.ndarray, observed: np.ndarray
) -> dict[tuple[int, int], tuple[float, float]]:
    """(domain code, PSU code) -> (sum w * value, sum w) over observed rows, row by row."""
    dom = reduce.domains(design, by).codes
    psu = design.structure.psu
    out: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for i in np.flatnonzero(observed & (dom >= 0)):
        cell = out[int(dom[i]), int(psu[i])]
        cell[0] += design.weights[i] * values[i]
        cell[1] += design.weights[i]
    return {k: (v[0], v[1]) for k, v in out.items()}


def _pairs(design: bm.Design, by: list[str]) -> tuple[reduce.PsuPairs, np.ndarray]:
    pairs = reduce.psu_pairs(design, by)
    dom = reduce.domains(design, by).codes
    return pairs, dom


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_level_sums_by_pair_equal_the_rows(seed: int) -> None:
    d = bm.Design(_poll(seed), weights="w", strata="stratum", psu="psu")
    pairs, dom = _pairs(d, ["group"])
    sums = reduce.column_pair_sums(d, "answer", True, pairs, dom)
    answer = d.data.get_column("answer").to_numpy()
    observed = ~np.isnan(answer.astype(float))
    levels = sums.var.levels
    assert levels is not None
    for row, level in enumerate(levels.to_list()):
        direct = _direct(d, ["group"], (answer == level).astype(float), observed)
        got = {
            (int(pairs.domain[m]), int(pairs.psu[m])): sums.num[row, m] for m in range(pairs.size)
        }
        assert set(direct) <= set(got)
        for key, value in got.items():
            assert value == pytest.approx(direct.get(key, (0.0, 0.0))[0], rel=RTOL, abs=1e-12)
    base = _direct(d, ["group"], np.ones(d.data.height), observed)
    for m in range(pairs.size):
        key = (int(pairs.domain[m]), int(pairs.psu[m]))
        assert sums.den[m] == pytest.approx(base.get(key, (0.0, 0.0))[1], rel=RTOL, abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_numeric_sums_by_pair_leave_out_missing_values(seed: int) -> None:
    d = bm.Design(_poll(seed), weights="w", strata="stratum", psu="psu")
    pairs, dom = _pairs(d, ["group"])
    sums = reduce.column_pair_sums(d, "score", False, pairs, dom)
    score = d.data.get_column("score").to_numpy()
    observed = ~np.isnan(score)
    direct = _direct(d, ["group"], np.nan_to_num(score), observed)
    for m in range(pairs.size):
        num, den = direct.get((int(pairs.domain[m]), int(pairs.psu[m])), (0.0, 0.0))
        assert sums.num[0, m] == pytest.approx(num, rel=RTOL, abs=1e-12)
        assert sums.den[m] == pytest.approx(den, rel=RTOL, abs=1e-12)
    # rows observed per domain: a row with a null domain or a missing score is in none
    dom_codes = reduce.domains(d, ["group"]).codes
    expected = np.bincount(dom_codes[observed & (dom_codes >= 0)], minlength=pairs.n_domains)
    np.testing.assert_array_equal(sums.count, expected)


def test_pairs_are_contiguous_by_domain_and_stratum() -> None:
    d = bm.Design(_poll(6), weights="w", strata="stratum", psu="psu")
    pairs, _ = _pairs(d, ["group"])
    assert np.all(np.diff(pairs.domain) >= 0)
    for start, stop in zip(pairs.starts, [*pairs.starts[1:], pairs.size], strict=True):
        strata = d.structure.psu_stratum[pairs.psu[start:stop]]
        assert np.all(np.diff(strata) >= 0), "a domain's pairs are in stratum order"
    # the rows outside every domain (null group) go to the spare pair
    outside = d.data.get_column("group").is_null().to_numpy()
    assert np.all(pairs.codes[outside] == pairs.size)
    assert np.all(pairs.codes[~outside] < pairs.size)


def test_sums_drop_negative_codes_and_keep_empty_bins() -> None:
    codes = np.array([0, 2, -1, 2, 4, -1])
    w = np.array([1.0, 2.0, 100.0, 3.0, 4.0, 100.0])
    np.testing.assert_array_equal(reduce.sums(codes, 6, w), [1.0, 0.0, 5.0, 0.0, 4.0, 0.0])
    np.testing.assert_array_equal(reduce.sums(np.array([1, 1]), 3), [0.0, 2.0, 0.0])
