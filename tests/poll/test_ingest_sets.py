"""Ingest of multiple-response questions and grids: every layout and every rule
(barometer.poll.spec_sets states them), each validation error located."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyreadstat
import pytest

import barometer as bm
from barometer.errors import IngestError, SpecError
from barometer.poll.ingest import ingest
from barometer.poll.spec import parse_spec
from tests.support.pollkit import write_spec

OPTIONS = [
    {"code": "us", "label": "The United States"},
    {"code": "cn", "label": "China"},
    {"code": "none", "label": "None of these", "exclusive": True},
]
LEVELS = [
    {"code": "ally", "label": "An ally"},
    {"code": "rival", "label": "A rival"},
    {"code": "dk", "label": "Don't know"},
]


def spec_dict() -> dict[str, Any]:
    return {
        "name": "Sets",
        "countries": [{"code": "DE", "name": "Germany"}, {"code": "FR", "name": "France"}],
        "waves": [{"id": "w1"}],
        "questions": [
            {"id": "allies", "kind": "multiple", "wording": "Allies?", "options": OPTIONS},
            {
                "id": "views",
                "kind": "grid",
                "wording": "How do you see",
                "items": [{"code": "us", "label": "The US"}, {"code": "cn", "label": "China"}],
                "levels": LEVELS,
                "non_substantive": ["dk"],
            },
        ],
        "sources": [],
    }


def source(sid: str, file: str, country: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": sid, "file": file, "wave": "w1", "country": country,
        "respondent_id": "id", "variables": variables,
    }  # fmt: skip


def ingest_frames(root: Path, frames: dict[str, pl.DataFrame], sources: list[dict]) -> Any:
    """Write CSV files, a spec with ``sources``; ingest; return the stored respondents."""
    for name, frame in frames.items():
        frame.write_csv(root / name)
    spec = spec_dict()
    spec["sources"] = sources
    path = write_spec(root, spec)
    store = root / "poll.duckdb"
    ingest(path, store)
    return bm.Poll.open(store).store.respondents(
        ["respondent_id", "allies__us", "allies__cn", "allies__none", "views__us", "views__cn"]
    )


def test_parts_are_stored_questions() -> None:
    spec = parse_spec(spec_dict())
    ids = [q.id for q in spec.stored_questions()]
    assert ids == ["allies__us", "allies__cn", "allies__none", "views__us", "views__cn"]
    part = spec.question("allies__cn")
    assert part.level_codes == ["selected", "not_selected"]
    assert part.non_substantive == ["not_selected"]
    assert spec.question("views__us").level_codes == ["ally", "rival", "dk"]


def test_zero_one_columns_bases_and_none(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "q_us": [1, 0, 1, None, 0, None],
            "q_cn": [0, 1, 1, None, 0, 0],
            "q_no": [0, 0, 0, None, 1, 0],
        }
    )
    cols = {"us": "q_us", "cn": "q_cn", "none": "q_no"}
    got = ingest_frames(
        tmp_path,
        {"de.csv": frame},
        [source("de", "de.csv", "DE", {"allies": {"columns": cols, "selected": [1]}})],
    )
    # 4: every column missing -> out of the base; 6: nothing selected although "none"
    # exists -> no answer; 2's cn and 3's us/cn selected; 5 chose "none".
    assert got["allies__us"].to_list() == [
        "selected", "not_selected", "selected", None, "not_selected", None,
    ]  # fmt: skip
    assert got["allies__none"].to_list() == [
        "not_selected", "not_selected", "not_selected", None, "selected", None,
    ]  # fmt: skip


def test_all_unselected_is_none_without_an_exclusive_option(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "a": [1, 0, None], "b": [0, 0, None]})
    spec = spec_dict()
    spec["questions"][0]["options"] = OPTIONS[:2]
    spec["sources"] = [
        source("de", "de.csv", "DE",
               {"allies": {"columns": {"us": "a", "cn": "b"}, "selected": [1]}}),
    ]  # fmt: skip
    frame.write_csv(tmp_path / "de.csv")
    ingest(write_spec(tmp_path, spec), tmp_path / "p.duckdb")
    got = bm.Poll.open(tmp_path / "p.duckdb").store.respondents(["allies__us", "allies__cn"])
    assert got["allies__us"].to_list() == ["selected", "not_selected", None]
    assert got["allies__cn"].to_list() == ["not_selected", "not_selected", None]


def test_labelled_columns_from_spss(tmp_path: Path) -> None:
    df = {
        "id": np.array([1.0, 2.0, 3.0, 4.0]),
        "a": np.array([1.0, np.nan, 1.0, np.nan]),
        "b": np.array([np.nan, 2.0, 2.0, np.nan]),
        "c": np.array([np.nan, np.nan, np.nan, 3.0]),
    }
    import pandas as pd

    pyreadstat.write_sav(
        pd.DataFrame(df),
        str(tmp_path / "de.sav"),
        variable_value_labels={
            "a": {1: "The United States"}, "b": {2: "china"}, "c": {3: "None of these"},
        },
    )  # fmt: skip
    spec = spec_dict()
    cols = {"us": "a", "cn": "b", "none": "c"}
    spec["sources"] = [
        source("de", "de.sav", "DE", {"allies": {"columns": cols, "selected": "label"}})
    ]
    ingest(write_spec(tmp_path, spec), tmp_path / "p.duckdb")
    got = bm.Poll.open(tmp_path / "p.duckdb").store.respondents(
        ["allies__us", "allies__cn", "allies__none"]
    )
    assert got["allies__us"].to_list() == ["selected", "not_selected", "selected", "not_selected"]
    assert got["allies__cn"].to_list() == ["not_selected", "selected", "selected", "not_selected"]
    assert got["allies__none"].to_list() == [
        "not_selected", "not_selected", "not_selected", "selected",
    ]  # fmt: skip


def test_labelled_text_columns_and_shown(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "x": ["The United States", None, None],
            "y": [None, "China", None],
            "z": [None, None, "none of these "],
            "asked": [1, 1, 0],
        }
    )
    cols = {"us": "x", "cn": "y", "none": "z"}
    with pytest.raises(IngestError, match=r"1 respondent\(s\) \(id\(s\) 'c'\) answer it but"):
        ingest_frames(
            tmp_path,
            {"fr.csv": frame},
            [source("fr", "fr.csv", "FR",
                    {"allies": {"columns": cols, "selected": "label", "shown": "asked"}})],
        )  # fmt: skip
    got = ingest_frames(
        tmp_path,
        {"fr.csv": frame.with_columns(asked=pl.Series([1, 1, 1]))},
        [source("fr", "fr.csv", "FR",
                {"allies": {"columns": cols, "selected": "label", "shown": "asked"}})],
    )  # fmt: skip
    assert got["allies__none"].to_list() == ["not_selected", "not_selected", "selected"]


def test_delimited_column(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "q": ["1;2", "2", None, "9;99"]})
    got = ingest_frames(
        tmp_path,
        {"de.csv": frame},
        [source("de", "de.csv", "DE", {"allies": {
            "delimited": "q", "separator": ";",
            "codes": {1: "us", 2: "cn", 9: "none", 99: None},
        }})],
    )  # fmt: skip
    assert got["allies__us"].to_list() == ["selected", "not_selected", None, "not_selected"]
    assert got["allies__cn"].to_list() == ["selected", "selected", None, "not_selected"]
    assert got["allies__none"].to_list() == ["not_selected", "not_selected", None, "selected"]


def test_delimited_unknown_token_is_located(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "q": ["us,cn", "us,xx"]})
    with pytest.raises(IngestError, match=r"column 'q' \(allies\): 1 token\(s\) are not options"):
        ingest_frames(
            tmp_path, {"de.csv": frame},
            [source("de", "de.csv", "DE", {"allies": {"delimited": "q"}})],
        )  # fmt: skip


def test_exclusive_with_another_names_respondents(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [11, 12, 13], "a": [1, 1, 0], "b": [0, 0, 1], "c": [1, 0, 1]})
    cols = {"us": "a", "cn": "b", "none": "c"}
    with pytest.raises(IngestError) as err:
        ingest_frames(
            tmp_path, {"de.csv": frame},
            [source("de", "de.csv", "DE", {"allies": {"columns": cols, "selected": [1]}})],
        )  # fmt: skip
    text = str(err.value)
    assert "de.csv" in text
    assert "2 respondent(s) (id(s) '11', '13') select the exclusive option 'none'" in text


def test_labelled_column_with_another_value_is_an_error(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "a": ["USA", None], "b": [None, "China"],
                          "c": [None, None]})  # fmt: skip
    cols = {"us": "a", "cn": "b", "none": "c"}
    with pytest.raises(IngestError, match=r"neither blank nor the option's label"):
        ingest_frames(
            tmp_path, {"de.csv": frame},
            [source("de", "de.csv", "DE", {"allies": {"columns": cols, "selected": "label"}})],
        )  # fmt: skip


def test_grid_items_own_bases_and_codes(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "g1": [1, 2, None], "g2": [3, None, 1]})
    got = ingest_frames(
        tmp_path, {"de.csv": frame},
        [source("de", "de.csv", "DE", {"views": {
            "columns": {"us": "g1", "cn": "g2"}, "codes": {1: "ally", 2: "rival", 3: "dk"},
        }})],
    )  # fmt: skip
    assert got["views__us"].to_list() == ["ally", "rival", None]
    assert got["views__cn"].to_list() == ["dk", None, "ally"]


def test_grid_uncovered_code_is_located(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [1, 2], "g1": [1, 7], "g2": [1, 1]})
    with pytest.raises(IngestError, match=r"column 'g1' \(views, item 'us'\): 1 code\(s\)"):
        ingest_frames(
            tmp_path, {"de.csv": frame},
            [source("de", "de.csv", "DE", {"views": {
                "columns": {"us": "g1", "cn": "g2"}, "codes": {1: "ally", 2: "rival"},
            }})],
        )  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["questions"][0].update(levels=LEVELS),
            "questions[0]: question 'allies' is kind: multiple; give its 'options'",
        ),
        (
            lambda s: s["questions"][1].pop("levels"),
            "questions[1]: question 'views' (kind: grid) needs at least two 'items'",
        ),
        (
            lambda s: s["questions"][0]["options"].append({"code": "US!", "label": "x"}),
            "code 'US!' must be lower case",
        ),
        (
            lambda s: s["sources"][0]["variables"]["allies"].pop("selected"),
            "sources[0].variables.allies: say which codes mean 'selected'",
        ),
        (
            lambda s: s["sources"][0]["variables"]["allies"]["columns"].pop("cn"),
            "sources[0].variables.allies.columns: no column for option(s) cn",
        ),
        (
            lambda s: s["sources"][0]["variables"]["allies"]["columns"].update(ru="q9"),
            "sources[0].variables.allies.columns.ru: 'ru' is not an option of question allies",
        ),
        (
            lambda s: s["sources"][0]["variables"]["views"].update(codes={1: "aly"}),
            "level 'aly' (for code 1) is not a level of question views (did you mean 'ally'?)",
        ),
        (
            lambda s: s["sources"][0]["variables"]["views"].update(column="x"),
            "sources[0].variables.views: give exactly one of 'column', 'columns'",
        ),
        (
            lambda s: s["sources"][0]["variables"]["views"].update(delimited="q", columns=None),
            "question 'views' is a grid; map each item's column with 'columns'",
        ),
        (
            lambda s: s["questions"].append({"id": "allies__us", "levels": LEVELS}),
            "its part 'us' is stored as 'allies__us', which is the id of questions[2]",
        ),
    ],
)
def test_spec_errors_are_located(edit: Any, message: str) -> None:
    spec = spec_dict()
    spec["sources"] = [
        source("de", "de.csv", "DE", {
            "allies": {"columns": {"us": "a", "cn": "b", "none": "c"}, "selected": [1]},
            "views": {"columns": {"us": "g1", "cn": "g2"}, "codes": {1: "ally"}},
        })
    ]  # fmt: skip
    spec = copy.deepcopy(spec)
    edit(spec)
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert message in str(err.value)
