"""The cube: every cell of the publication, its marks the findings' own, immutable.

Tolerance: EXACT = 0 — the cube copies the publication's figures; it computes none.
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from barometer.publish.explorer.cube import ROW_COLUMNS
from barometer.publish.explorer.marks import home_regions, marks_of
from barometer.publish.findings.find import find


def test_rows_have_the_published_columns_and_every_cell(explorer) -> None:
    rows = explorer.cube.rows
    assert tuple(rows.columns) == ROW_COLUMNS
    for b in (None, "age", "gender"):
        pub = explorer.pub.cells("us_relationship", b).estimates.to_polars()
        mine = rows.filter(pl.col("breakdown").is_null() if b is None else pl.col("breakdown") == b)
        assert mine.height == pub.height
    assert set(rows["scope_kind"]) == {"country", "region"}


def test_unsuppressed_figures_are_the_publications(explorer) -> None:
    pub = explorer.pub.cells("us_relationship", "age").estimates.to_polars()
    served = explorer.cube.rows.filter(pl.col("breakdown") == "age", ~pl.col("suppressed"))
    joined = served.join(
        pub.select(
            "scope", "wave", pl.col("age").cast(pl.String).alias("breakdown_level"), "level",
            pl.col("estimate").alias("e"), pl.col("se").alias("s"), pl.col("n").alias("m"),
        ),
        on=["scope", "wave", "breakdown_level", "level"],
    )  # fmt: skip
    assert joined.height == served.height > 0
    assert (joined["estimate"] == joined["e"]).all()
    assert (joined["se"] == joined["s"]).all()
    assert (joined["n"] == joined["m"]).all()


def test_suppressed_cells_carry_no_figure_or_mark(explorer) -> None:
    hidden = explorer.cube.rows.filter(pl.col("suppressed"))
    assert hidden.height > 0
    assert set(hidden["suppression"]) <= {"base", "secondary"}
    for c in ("estimate", "se", "ci_low", "ci_high", "change_mark", "region_mark"):
        assert hidden[c].null_count() == hidden.height, c
    base = explorer.cube.rows.filter(pl.col("suppression") == "base")
    assert (base["n"] < explorer.pub.rules.suppress_below).all()


def test_marks_are_the_findings(explorer) -> None:
    """Each change and each country-versus-its-region gap the findings report is marked
    in the hub, in its direction, and nothing else is."""
    found = find(explorer.pub)
    plain = explorer.cube.rows.filter(pl.col("breakdown").is_null())
    changes = {
        (f.first.id, f.first.wave, f.level, "up" if f.difference > 0 else "down")
        for f in found
        if f.kind == "change"
    }
    marked = {
        (r["scope"], r["wave"], r["level"], r["change_mark"])
        for r in plain.filter(pl.col("change_mark").is_not_null()).iter_rows(named=True)
    }
    assert marked == changes
    home = home_regions(explorer.pub.spec)
    gaps = marks_of((f for f in found if f.kind == "gap"), home)
    served = plain.filter(pl.col("region_mark").is_not_null())
    assert served.height == gaps.height


def test_breakdown_marks_point_the_right_way_and_follow_the_adjustment(explorer) -> None:
    rows = explorer.cube.rows.filter(pl.col("breakdown").is_not_null())
    countries = rows.filter(pl.col("scope_kind") == "country")
    marked = countries.filter(
        pl.col("change_mark").is_not_null() | pl.col("region_mark").is_not_null()
    )
    assert marked.height > 0, "the fixture poll should have a marked breakdown cell"
    key = ["breakdown", "breakdown_level", "level"]
    for r in marked.iter_rows(named=True):
        same = rows.filter(*(pl.col(c) == r[c] for c in key))
        if r["region_mark"] is not None:
            region = same.filter(pl.col("scope") == r["mark_region"], pl.col("wave") == r["wave"])
            assert (r["estimate"] > region["estimate"][0]) == (r["region_mark"] == "above")
        if r["change_mark"] is not None:
            before = same.filter(pl.col("scope") == r["scope"], pl.col("wave") != r["wave"])
            assert (r["estimate"] > before["estimate"][0]) == (r["change_mark"] == "up")
    # one family per breakdown: without adjustment at least as many cells are marked
    from barometer.poll.spec import publication_rules
    from barometer.publish.explorer.marks import breakdown_marks

    loose = explorer.poll.publication(
        breakdowns=["age"], rules=publication_rules(explorer.pub.rules, adjust="none")
    )
    strict = breakdown_marks(explorer.pub, "age")
    assert breakdown_marks(loose, "age").height >= strict.height > 0


def test_a_region_gap_mark_points_the_right_way(explorer) -> None:
    plain = explorer.cube.rows.filter(pl.col("breakdown").is_null())
    marked = plain.filter(pl.col("region_mark").is_not_null())
    assert marked.height > 0, "the fixture poll should have a country off its region"
    for r in marked.iter_rows(named=True):
        region = plain.filter(
            pl.col("scope") == r["mark_region"], pl.col("wave") == r["wave"],
            pl.col("level") == r["level"],
        )["estimate"][0]  # fmt: skip
        assert (r["estimate"] > region) == (r["region_mark"] == "above")


def test_the_cube_is_immutable(explorer) -> None:
    cube = explorer.cube
    with pytest.raises(dataclasses.FrozenInstanceError):
        cube.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cube.rules["suppress_below"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        cube.questions[0].asked["x"] = ()  # type: ignore[index]


def test_questions_say_where_and_when_asked(explorer) -> None:
    q = explorer.cube.question("us_relationship")
    assert q is not None
    assert q.asked["2024-11"] == ("DE", "FR", "IT", "PL")
    assert q.asked["2025-11"] == ("DE", "FR", "IT")
    assert q.breakdowns == ("age", "gender")
    assert [c for c, _ in q.levels] == ["ally", "partner", "dont_know"]


def test_a_breakdown_must_be_a_question_of_the_spec() -> None:
    from barometer.errors import SpecError
    from barometer.poll.spec import parse_spec
    from tests.support.pollkit import base_spec

    spec = base_spec()
    spec["publication"] = {"breakdowns": ["age", "educaton"]}
    with pytest.raises(SpecError, match=r"publication\.breakdowns\[1\].*'educaton'"):
        parse_spec(spec)
    spec["publication"] = {"breakdowns": ["age", "gender"]}
    assert parse_spec(spec).publication.breakdowns == ["age", "gender"]
