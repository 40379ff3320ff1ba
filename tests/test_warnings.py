"""Warnings by kind: every warning is a BarometerWarning attributed to the caller's line;
deprecated spellings warn and give the same numbers."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import barometer as bm
from barometer import errors

SRC = Path(bm.__file__).resolve().parent


def _warn_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls of ``warnings.warn``, of ``warn`` imported from ``warnings``, and of
    ``barometer.errors.warn``."""
    from_warnings = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "warnings"
        for alias in node.names
        if alias.name == "warn"
    }
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr == "warn") or (
            isinstance(f, ast.Name) and f.id in from_warnings | {"warn"}
        ):
            calls.append(node)
    return calls


def _category(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 2:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "category"), None)


def test_every_warning_in_src_is_a_barometer_warning() -> None:
    """No bare ``warnings.warn``: each goes through ``errors.warn`` (whose default category
    is BarometerWarning) or names a BarometerWarning class."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for call in _warn_calls(tree):
            where = f"{path.relative_to(SRC)}:{call.lineno}"
            stdlib = isinstance(call.func, ast.Attribute) and (
                isinstance(call.func.value, ast.Name) and call.func.value.id == "warnings"
            )
            if stdlib and path.name == "errors.py":
                continue  # errors.warn itself, which passes its checked category on
            if any(k.arg == "stacklevel" for k in call.keywords):
                bad.append(f"{where}: a hand-counted stacklevel (errors.warn finds it)")
            category = _category(call)
            if category is None:
                if stdlib:
                    bad.append(f"{where}: warnings.warn without a category")
                continue
            name = category.attr if isinstance(category, ast.Attribute) else None
            name = category.id if isinstance(category, ast.Name) else name
            kind = getattr(errors, name or "", None)
            if not (isinstance(kind, type) and issubclass(kind, errors.BarometerWarning)):
                bad.append(f"{where}: category {ast.unparse(category)} is not a BarometerWarning")
    assert not bad, "\n".join(bad)


def test_the_scan_finds_a_bare_warning() -> None:
    tree = ast.parse("import warnings\nwarnings.warn('x')\nwarnings.warn('y', UserWarning)\n")
    calls = _warn_calls(tree)
    assert len(calls) == 2 and _category(calls[0]) is None
    assert ast.unparse(_category(calls[1])) == "UserWarning"  # type: ignore[arg-type]


def test_warnings_point_at_the_callers_line() -> None:
    """errors.warn finds the first frame outside barometer, however deep the warning is."""
    df = pl.DataFrame({"sex": ["f", "m", "m"], "w": [1.0, 1.0, 1.0]})
    with pytest.warns(bm.BarometerWarning, match="population cells have no respondents") as got:
        bm.Design(df, weights="w").poststratify("sex", {"f": 5, "m": 5, "x": 5}, partial=True)
    assert got[0].filename == __file__
    pairs = pl.DataFrame({"h": [1, 1, 2, 2], "p": [1, 2, 3, 4], "f": [10] * 4, "y": [1.0] * 4})
    with pytest.warns(UserWarning, match="finite-population correction") as got:
        bm.Design(pairs, strata="h", psu="p", fpc="f").to_replicates("brr")
    assert got[0].filename == __file__ and issubclass(got[0].category, bm.BarometerWarning)


def test_warn_outside_barometer_points_at_its_caller() -> None:
    with pytest.warns(bm.BarometerWarning) as got:
        errors.warn("from a test")
    assert got[0].filename == __file__


def _api() -> bm.Design:
    from tests.support.designs import clus1

    return clus1()


def test_level_ci_is_deprecated_and_gives_the_same_numbers() -> None:
    d = _api()
    new = d.proportion("awards", by="stype", ci="logit", confidence=0.9).to_polars()
    with pytest.warns(bm.BarometerDeprecationWarning, match=r"use confidence=0.9") as got:
        old = d.proportion("awards", by="stype", ci="logit", level_ci=0.9).to_polars()
    assert issubclass(got[0].category, DeprecationWarning)
    assert got[0].filename == __file__
    assert old.equals(new)
    q_new = d.quantile("api00", [0.25, 0.5], confidence=0.8).to_polars()
    with pytest.warns(DeprecationWarning, match="quantile"):
        q_old = d.quantile("api00", [0.25, 0.5], level_ci=0.8).to_polars()
    assert q_old.equals(q_new)
    # a different level gives different limits: the deprecated spelling is really read
    assert not np.allclose(new["ci_low"], d.proportion("awards", by="stype", ci="logit")["ci_low"])


def test_level_of_comparisons_is_deprecated_and_gives_the_same_numbers() -> None:
    e = _api().mean("api00", by="stype")
    new = bm.difference(e, 0, e, 1, confidence=0.9)
    with pytest.warns(bm.BarometerDeprecationWarning, match=r"difference\(level="):
        old = bm.difference(e, 0, e, 1, level=0.9)
    assert (old.ci_low, old.ci_high) == (new.ci_low, new.ci_high)
    with pytest.warns(DeprecationWarning):
        pw_old = bm.pairwise_differences(e, "stype", level=0.8)
    assert pw_old.equals(bm.pairwise_differences(e, "stype", confidence=0.8))
    with pytest.warns(DeprecationWarning):
        c_old = e.contrast([1.0, -1.0, 0.0], level=0.8)
    assert c_old == e.contrast([1.0, -1.0, 0.0], confidence=0.8)


def test_no_warning_without_the_deprecated_spelling() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _api().proportion("awards", confidence=0.9)


def test_confidence_is_checked_at_the_door() -> None:
    d = _api()
    with pytest.raises(bm.DesignError, match=r"confidence=1\.5 must lie strictly between 0 and 1"):
        d.proportion("awards", confidence=1.5)
    with pytest.raises(bm.EstimationError, match="confidence='high'"):
        d.quantile("api00", 0.5, confidence="high")  # type: ignore[arg-type]
