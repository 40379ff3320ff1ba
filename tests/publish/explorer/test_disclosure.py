"""Disclosure control: primary and secondary suppression, and an attempt to undo it.

Tolerance: RECOVER = 1e-9 — a share recovered by subtraction from the weighted total
equals the hidden one up to rounding of sums of ~1e7 weights.
"""

from __future__ import annotations

import polars as pl

from barometer.publish.explorer.disclosure import CELL, FIGURES, protect, secondary

RECOVER = 1e-9


def _cells(rows: list[tuple[str | None, str, str | None, int, bool, str, list[str]]]):
    """Cells of one question and wave: (breakdown, scope, level, n, suppressed, kind, members)."""
    return pl.DataFrame(
        [("q", b, s, "w1", lv, n, sup, kind, m) for b, s, lv, n, sup, kind, m in rows],
        schema=[*CELL, "n", "suppressed", "scope_kind", "members"],
        orient="row",
    )


def test_one_suppressed_level_takes_the_next_smallest_with_it() -> None:
    cells = _cells([
        (None, "DE", None, 300, False, "country", ["DE"]),
        ("age", "DE", "young", 20, True, "country", ["DE"]),
        ("age", "DE", "middle", 120, False, "country", ["DE"]),
        ("age", "DE", "old", 80, False, "country", ["DE"]),
    ])  # fmt: skip
    assert secondary(cells) == {("q", "age", "DE", "w1", "old")}


def test_two_suppressed_levels_need_nothing_more() -> None:
    cells = _cells([
        (None, "DE", None, 300, False, "country", ["DE"]),
        ("age", "DE", "young", 20, True, "country", ["DE"]),
        ("age", "DE", "middle", 25, True, "country", ["DE"]),
        ("age", "DE", "old", 255, False, "country", ["DE"]),
    ])  # fmt: skip
    assert secondary(cells) == set()


def test_a_region_with_one_hidden_member_hides_another() -> None:
    cells = _cells([
        (None, "DE", None, 20, True, "country", ["DE"]),
        (None, "FR", None, 500, False, "country", ["FR"]),
        (None, "IT", None, 400, False, "country", ["IT"]),
        (None, "EU", None, 920, False, "region", ["DE", "FR", "IT"]),
    ])  # fmt: skip
    assert secondary(cells) == {("q", "", "IT", "w1", "")}


def test_rules_are_applied_until_nothing_changes() -> None:
    # hiding IT's total for the region leaves one hidden cell in IT's age group
    cells = _cells([
        (None, "DE", None, 20, True, "country", ["DE"]),
        (None, "IT", None, 400, False, "country", ["IT"]),
        (None, "EU", None, 420, False, "region", ["DE", "IT"]),
        ("age", "IT", "young", 150, False, "country", ["IT"]),
        ("age", "IT", "old", 250, False, "country", ["IT"]),
    ])  # fmt: skip
    hidden = secondary(cells)
    assert ("q", "", "IT", "w1", "") in hidden
    assert ("q", "age", "IT", "w1", "young") in hidden


def test_protect_blanks_figures_and_says_why() -> None:
    rows = _cells([
        (None, "DE", None, 300, False, "country", ["DE"]),
        ("age", "DE", "young", 20, True, "country", ["DE"]),
        ("age", "DE", "old", 280, False, "country", ["DE"]),
    ]).with_columns(
        level=pl.lit("ally"), estimate=pl.lit(0.3), se=pl.lit(0.02), ci_low=pl.lit(0.26),
        ci_high=pl.lit(0.34), change_mark=pl.lit("up"),
    )  # fmt: skip
    out = protect(rows)
    assert out["suppression"].to_list() == [None, "base", "secondary"]
    assert out["suppressed"].to_list() == [False, True, True]
    hidden = out.filter(pl.col("suppressed"))
    for c in (*FIGURES, "change_mark"):
        assert hidden[c].null_count() == hidden.height, c
    assert out["estimate"][0] == 0.3


def test_no_suppressed_share_can_be_recovered_by_subtraction(explorer) -> None:
    """The attack: a country's share is the weighted mean of its breakdown levels'
    shares. Given the total and every level but one — even with the exact weighted bases,
    which the API never gives — the missing level follows by subtraction. The test
    checks the attack works on the unprotected figures and fails on the cube: every
    breakdown group with a hidden cell has at least two, leaving two unknowns."""
    cube = explorer.cube.rows
    attacked = 0
    for breakdown in ("age", "gender"):
        cells = explorer.pub.cells("us_relationship", breakdown).estimates.to_polars()
        total = explorer.pub.cells("us_relationship").estimates.to_polars()
        served = cube.filter(pl.col("breakdown") == breakdown, pl.col("level") == "ally")
        for (scope, wave), group in served.group_by(["scope", "wave"]):
            hidden = group.filter(pl.col("estimate").is_null())
            if hidden.height == 0:
                continue
            assert hidden.height >= 2, (breakdown, scope, wave)
            truth = cells.filter(
                pl.col("scope") == scope, pl.col("wave") == wave, pl.col("level") == "ally"
            )
            whole = total.filter(
                pl.col("scope") == scope, pl.col("wave") == wave, pl.col("level") == "ally"
            )
            # the attack with one level hidden (what the primary rule alone would leave)
            target = truth.sort("n").row(0, named=True)
            others = truth.filter(pl.col(breakdown) != target[breakdown])
            w_total = others["base_weighted"].sum() + target["base_weighted"]
            guess = (
                whole["estimate"][0] * w_total
                - (others["estimate"] * others["base_weighted"]).sum()
            ) / target["base_weighted"]
            if scope in explorer.pub.countries:  # regions are not weighted means of levels
                assert abs(guess - target["estimate"]) < RECOVER
                attacked += 1
            # on the served cube the same subtraction has two unknowns: nothing to solve
            shown = group.filter(pl.col("estimate").is_not_null())
            assert shown.height <= group.height - 2
    assert attacked > 0, "the fixture should have suppressed cells to attack"


def test_served_regions_never_leave_one_member_hidden(explorer) -> None:
    rows = explorer.cube.rows.filter(pl.col("level") == "ally")
    hidden = {
        (r["breakdown"], r["breakdown_level"], r["wave"], r["scope"])
        for r in rows.filter(pl.col("suppressed")).iter_rows(named=True)
    }
    for r in rows.filter(pl.col("scope_kind") == "region").iter_rows(named=True):
        key = (r["breakdown"], r["breakdown_level"], r["wave"])
        shut = [m for m in r["members"] if (*key, m) in hidden]
        assert len(shut) != 1 or r["suppressed"], (r["scope"], key, shut)
