"""Options once: every Literal declared in barometer.options, checked at the door."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

import barometer as bm
from barometer import options

SRC = Path(bm.__file__).resolve().parent


def _literals(path: Path) -> list[int]:
    """Lines of ``path`` that spell out a ``Literal[...]`` type."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "Literal")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "Literal")
        )
    ]


def test_the_core_declares_no_literal_of_its_own() -> None:
    """The core and the package root read every option type from options.py."""
    paths = [*sorted((SRC / "core").rglob("*.py")), *sorted(SRC.glob("*.py"))]
    found = [
        f"{p.relative_to(SRC)}:{line}"
        for p in paths
        if p.name != "options.py"
        for line in _literals(p)
    ]
    assert not found, f"Literal types outside options.py: {found}"


def test_the_options_of_every_band_are_declared() -> None:
    assert get_args(options.CombineRule) == ("mean", "population", "median")
    assert get_args(options.RegionRule) == get_args(options.CombineRule)
    assert set(get_args(options.RegionCombineRule)) < set(get_args(options.CombineRule))
    assert get_args(options.WeightsChoice) == ("raked", "base")
    assert get_args(options.PAdjustMethod) == ("holm", "bh", "bonferroni", "none")
    for name in ("SourceFormat", "QuestionKind", "FindingKind", "ScopeKind", "AdjustFamily"):
        assert get_args(getattr(options, name)), name


def test_check_option_raises_the_callers_error_listing_the_choices() -> None:
    assert options.check_option("holm", options.PAdjustMethod, "adjust", bm.SpecError) == "holm"
    with pytest.raises(bm.SpecError, match=r"adjust='hom' is not one of 'holm', 'bh'"):
        options.check_option("hom", options.PAdjustMethod, "adjust", bm.SpecError)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda d: d.rake({"stype": {"E": 1.0}}, tol=0), bm.WeightingError),
        (lambda d: d.calibrate({"stype": {"E": 1.0}}, method="probit"), bm.WeightingError),
        (lambda d: d.chisq("stype", "awards", statistic="G"), bm.EstimationError),
        (lambda d: d.to_replicates("jackknife"), bm.DesignError),
        (lambda d: d.mean("api00", by="stype").combine("stype", ["E"], "x", rule="max"), None),
    ],
)
def test_options_are_checked_at_the_door(call, error) -> None:
    from tests.support.designs import clus1

    with pytest.raises(error or bm.EstimationError, match=r"not one of|must be"):
        call(clus1())
