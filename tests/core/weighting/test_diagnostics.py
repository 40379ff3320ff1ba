"""Weighting diagnostics: Kish figures by hand, per group, and the margins table."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import barometer as bm


def test_kish_figures_by_hand() -> None:
    df = pl.DataFrame({"w": [1.0, 1.0, 2.0, 4.0]})
    s = bm.Design(df, weights="w").weight_summary()
    o = s.overall
    # sum 8, sum of squares 22: n_eff = 64/22, deff = 4 * 22 / 64
    assert o.n_eff == pytest.approx(64 / 22)
    assert o.deff == pytest.approx(88 / 64)
    assert o.efficiency == pytest.approx(64 / 88)
    assert o.cv == pytest.approx(np.std([1, 1, 2, 4]) / 2)
    assert (o.min, o.max, o.ratio) == (1.0, 4.0, 4.0)
    assert s.method is None and s.groups == () and s.margins.is_empty()


def test_per_group_figures_and_margins_after_raking_by_group() -> None:
    df = pl.DataFrame(
        {
            "c": ["A"] * 4 + ["B"] * 3,
            "sex": ["f", "m", "m", "m", "f", "f", "m"],
        }
    )
    margins = {"A": {"sex": {"f": 0.5, "m": 0.5}}, "B": {"sex": {"f": 10, "m": 20}}}
    d = bm.Design(df).rake(margins, by="c")
    s = d.weight_summary()
    assert [g.group for g in s.groups] == ["A", "B"]
    a = s.groups[0]
    # A: f weight 2, m weights 2/3 each -> n_eff = 16 / (4 + 3 * 4/9)
    assert a.n_eff == pytest.approx(16 / (4 + 4 / 3))
    assert a.deff_before == pytest.approx(1.0)
    t = s.margins.filter(pl.col("group") == "A", pl.col("level") == "f")
    assert t["sample_share"][0] == pytest.approx(0.25)
    assert t["before_share"][0] == pytest.approx(0.25)
    assert t["after_share"][0] == pytest.approx(0.5)
    assert t["target_share"][0] == pytest.approx(0.5)
    table = s.to_polars()
    assert table["group"].to_list() == [None, "A", "B"]
    assert s.iterations >= 1 and s.max_margin_error <= 1e-10
    text = str(s)
    assert "design effect of weighting" in text and "last weighting: rake" in text
