"""``barometer inspect``: a file's columns summarised, and a draft spec entry that ingests it.

The round trip (issue 12): the draft printed for a file, with its question ids filled in
(and a wave and a country), loads as a spec and ingests the file unchanged — every value
of a drafted column lands on the level whose label is the file's value label, and
user-missing codes are read as missing and counted.  Checked on real files (an SPSS file
with user-missing codes, a Stata file, a CSV) and on a small file written to hold the
awkward cases (blank texts, unlabelled codes, repeated labels, accents and quotes).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyreadstat
import pytest
import yaml
from typer.testing import CliRunner

from barometer.cli import app
from barometer.errors import IngestError
from barometer.poll.ingest import ingest
from barometer.poll.inspect import FileInspection, draft, inspect_file
from barometer.poll.spec import load_spec
from barometer.poll.store import Store

REAL = Path(__file__).parents[1] / "data" / "real"
API_CSV = Path(__file__).parents[1] / "reference" / "data" / "apistrat.csv"

runner = CliRunner()


# ---------------------------------------------------------------------------------------
# Helpers: fill in a draft, ingest it, compare the store with the file


def fill_in(
    text: str, country_codes: dict[Any, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A spec from a draft: question ids renamed q1, q2, ... in both sections (what an
    analyst does), wave and country filled in.  Returns the spec and {new id: column}."""
    drafted = yaml.safe_load(text)
    renamed = {q["id"]: f"q{i}" for i, q in enumerate(drafted["questions"], start=1)}
    for q in drafted["questions"]:
        q["id"] = renamed[q["id"]]
    (source,) = drafted["sources"]
    source["variables"] = {renamed[k]: v for k, v in source["variables"].items()}
    source["wave"] = "w1"
    if "country" in source:
        source["country"] = "US"
    else:
        source["country_codes"] = country_codes
    countries = sorted({"US", *(country_codes or {}).values()})
    spec = {
        "name": "Round trip",
        "countries": [{"code": c, "name": c} for c in countries],
        "waves": [{"id": "w1"}],
        "questions": drafted["questions"],
        "sources": [source],
    }
    return spec, {qid: v["column"] for qid, v in source["variables"].items()}


def round_trip(path: Path, tmp: Path, country_codes: dict[Any, str] | None = None) -> Any:
    """Inspect ``path``, fill in the draft, ingest; returns (inspection, spec, columns, store).

    The file is copied beside the spec first, as a user keeps them: a spec reads only
    files under its own folder.
    """
    local = tmp / path.name
    shutil.copyfile(path, local)
    found = inspect_file(local)
    spec_dict, columns = fill_in(draft(found, file=local.name), country_codes)
    spec_path = tmp / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec_dict, allow_unicode=True), encoding="utf-8")
    spec = load_spec(spec_path)
    ingest(spec, tmp / "poll.duckdb")
    return found, spec, columns, Store(tmp / "poll.duckdb")


def raw_values(path: Path) -> tuple[pd.DataFrame, dict[str, dict[Any, str]], dict[str, Any]]:
    """The file read independently of barometer: values, value labels, user-missing."""
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""]), {}, {}
    reader = pyreadstat.read_sav if path.suffix == ".sav" else pyreadstat.read_dta
    extra = {"user_missing": True} if path.suffix == ".sav" else {}
    frame, meta = reader(str(path), **extra)
    return frame, meta.variable_value_labels, getattr(meta, "missing_ranges", {}) or {}


def _is_user_missing(value: Any, spans: list[dict[str, float]]) -> bool:
    return isinstance(value, float) and any(s["lo"] <= value <= s["hi"] for s in spans)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_round_trip(path: Path, tmp: Path, country_codes: dict[Any, str] | None = None) -> None:
    found, spec, columns, store = round_trip(path, tmp, country_codes)
    frame, labels, missing = raw_values(path)
    rid = found.roles["respondent_id"]
    stored = store.respondents(["respondent_id", *columns])
    assert stored.height == len(frame)
    # rows are stored in file order
    assert stored["respondent_id"].to_list() == [_text(v) for v in frame[rid]]
    quality = {r["question"]: r for r in store.column_quality().iter_rows(named=True)}
    for qid, column in columns.items():
        question = spec.question(qid)
        label_of = {lv.code: lv.label for lv in question.levels}
        got = stored[qid].to_list()
        if not question.is_numeric:
            got = [None if c is None else label_of[c] for c in got]
        spans = missing.get(column, [])
        # a numeric question's missing codes are missing; SPSS user-missing ones listed
        # there count as the spec's missing codes, not as the file's user-missing
        declared = set(question.missing)
        want: list[Any] = []
        for value in frame[column].tolist():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                want.append(None)
            elif value == "" or _is_user_missing(value, spans) or value in declared:
                want.append(None)
            elif question.is_numeric:
                want.append(float(value))
            else:
                want.append(labels.get(column, {}).get(value, _text(value)))
        assert got == want, (path.name, column)
        summary = found.column(column)
        n_um = sum(_is_user_missing(v, spans) for v in frame[column].tolist())
        n_um_kept = sum(_is_user_missing(v, spans) and v not in declared for v in frame[column])
        assert summary.n_user_missing == n_um
        assert quality[qid]["n_user_missing"] == n_um_kept
        assert quality[qid]["n_missing"] == sum(w is None for w in want)


# ---------------------------------------------------------------------------------------
# The round trip


def test_round_trip_sav_with_user_missing_codes(tmp_path: Path) -> None:
    check_round_trip(REAL / "nhanes.sav", tmp_path)
    quality = Store(tmp_path / "poll.duckdb").column_quality()
    assert quality["n_user_missing"].sum() == 745  # HI_CHOL's code 9


def test_round_trip_dta(tmp_path: Path) -> None:
    check_round_trip(REAL / "ces11.dta", tmp_path)


def test_round_trip_csv(tmp_path: Path) -> None:
    check_round_trip(API_CSV, tmp_path)
    # acs.k3 (class size) is drafted with numeric codes and has empty cells: missing
    quality = Store(tmp_path / "poll.duckdb").column_quality()
    assert quality.filter(pl.col("column_name") == "acs.k3")["n_missing"].item() > 0


def awkward_sav(path: Path) -> None:
    """A file with what real fieldwork files hold: blanks, unlabelled codes, a code
    range declared user-missing, repeated labels, accents and quotes, an age in years."""
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(
        {
            "SERIAL": np.arange(1001, 1001 + n, dtype=float),
            "cntry": rng.choice([276.0, 250.0], n),
            "Q1": rng.choice([1.0, 2.0, 3.0, 7.0, 97.0, 98.0, np.nan], n),
            "q1_open": rng.choice(["yes", "no", "", "Très bien"], n),
            "agey": rng.integers(18, 90, n).astype(float),
            "Wave": rng.choice([1.0, 2.0], n),
        }
    )
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={"Q1": 'Is the "US" an ally? (\\ scale)', "agey": "Age in years"},
        variable_value_labels={
            "cntry": {276: "Germany", 250: "France"},
            # 3 and 7 share a label; 7 is not labelled at all in real files like this
            "Q1": {1: "Très d'accord", 2: "Other", 3: "Other", 97: "Refused", 98: "DK"},
            "Wave": {1: "Yes", 2: "No"},
        },
        missing_ranges={"Q1": [{"lo": 97.0, "hi": 99.0}]},
    )


def test_round_trip_awkward_file(tmp_path: Path) -> None:
    path = tmp_path / "awkward.sav"
    awkward_sav(path)
    (tmp_path / "work").mkdir()
    check_round_trip(path, tmp_path / "work", country_codes={276: "DE", 250: "FR"})
    found = inspect_file(path)
    text = draft(found)
    assert "user-missing in the file" in text and "97 'Refused'" in text
    # 72 unlabelled ages: a numeric question over the ages found
    ages = pyreadstat.read_sav(str(path))[0]["agey"]
    agey = next(q for q in yaml.safe_load(text)["questions"] if q["id"] == "agey")
    assert (agey["kind"], agey["range"]) == ("numeric", [ages.min(), ages.max()])
    assert found.roles == {"respondent_id": "SERIAL", "country_column": "cntry"}
    q1 = yaml.safe_load(text)["questions"][0]
    assert q1["wording"] == 'Is the "US" an ally? (\\ scale)'
    codes = [lv["code"] for lv in q1["levels"]]
    assert len(set(codes)) == len(codes) == 4  # 1, 2, 3 ("Other" twice), 7 (no label)
    assert codes[0] == "tres_daccord" and q1["levels"][0]["label"] == "Très d'accord"
    drafted = yaml.safe_load(text)
    ids = ["q1", "q1_open", "agey", "wave_q"]  # wave_q: "wave" is reserved
    assert [q["id"] for q in drafted["questions"]] == ids
    open_codes = drafted["sources"][0]["variables"]["q1_open"]["codes"]
    assert open_codes == {"Très bien": "tres_bien", "no": "no", "yes": "yes", "": None}


# ---------------------------------------------------------------------------------------
# The inspection itself


def test_inspection_of_an_spss_file() -> None:
    found = inspect_file(REAL / "nhanes.sav")
    assert (found.format, found.n_rows, len(found.columns)) == ("sav", 8591, 8)
    assert dict(found.roles) == {
        "respondent_id": "row_id",
        "weight": "WTMEC2YR",
        "strata": "SDMVSTRA",
        "psu": "SDMVPSU",
    }
    chol = found.column("HI_CHOL")
    assert (chol.n_missing, chol.n_user_missing, chol.n_distinct) == (0, 745, 2)
    assert (
        chol.user_missing == ((9.0, 9.0),) and chol.label == "Total cholesterol 240 mg/dl or more"
    )
    assert dict(chol.value_labels)[9.0] == "No cholesterol result"
    assert [(v.value, v.count, v.user_missing) for v in chol.values] == [
        (0.0, 7059, False),
        (1.0, 787, False),
        (9.0, 745, True),
    ]
    weight = found.column("WTMEC2YR")
    assert not weight.complete and weight.n_distinct > 1000 and weight.minimum > 4000
    with pytest.raises(dataclasses.FrozenInstanceError):
        chol.n_missing = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        found.roles["weight"] = "row_id"  # type: ignore[index]


def test_missing_values_of_a_stata_file(tmp_path: Path) -> None:
    path = tmp_path / "gaps.dta"
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "q": [1.0, np.nan, 2.0, np.nan]})
    pyreadstat.write_dta(frame, str(path), variable_value_labels={"q": {1: "Yes", 2: "No"}})
    q = inspect_file(path).column("q")
    assert (q.n_missing, q.n_user_missing, q.n_distinct) == (2, 0, 2)


def test_inspect_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "awkward.sav"
    awkward_sav(path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        inspect_file(tmp_path / "none.sav")
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(IngestError, match="cannot tell the format"):
        inspect_file(tmp_path / "notes.txt")
    assert inspect_file(tmp_path / "notes.txt", format="csv").n_rows == 1
    (tmp_path / "broken.sav").write_bytes(b"$FL2 not really an SPSS file")
    with pytest.raises(IngestError, match="cannot read this sav file"):
        inspect_file(tmp_path / "broken.sav")
    with pytest.raises(IngestError, match="format='xlsx' is not one of"):
        inspect_file(tmp_path / "notes.txt", format="xlsx")


# ---------------------------------------------------------------------------------------
# The command


def test_command_lists_columns_and_prints_the_draft() -> None:
    result = runner.invoke(app, ["inspect", str(REAL / "nhanes.sav")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "8,591 rows" in out and "HI_CHOL" in out and "745" in out
    assert "No cholesterol result" in out and "row_id (id)" in out
    draft_text = out[out.index("# Drafted by") :]
    assert yaml.safe_load(draft_text)["sources"][0]["weight"] == "WTMEC2YR"


def test_command_draft_only_is_yaml(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(REAL / "ces11.dta"), "--draft-only"])
    assert result.exit_code == 0, result.output
    drafted = yaml.safe_load(result.output)
    assert [q["id"] for q in drafted["questions"]][:3] == ["province", "population", "gender"]
    assert drafted["sources"][0]["variables"]["abortion"]["codes"] == {1: "yes", 2: "no"}


def test_command_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / "none.dta")])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output


def test_inspection_is_a_value() -> None:
    found = inspect_file(REAL / "ces11.dta")
    assert isinstance(found, FileInspection)
    assert found == inspect_file(REAL / "ces11.dta")
    assert draft(found) == draft(inspect_file(REAL / "ces11.dta"))


def test_stata_extended_missing_labels_are_not_levels(tmp_path: Path) -> None:
    # .a "Refused" and .b "Don't know" are labels of Stata missing values, which ingest
    # reads as null: the draft once sorted them among the numeric codes and failed
    (tmp_path / "file").mkdir()
    path = tmp_path / "file" / "ext.dta"
    answers = pd.Series([1.0, 2.0, "a", 1.0, "b", 2.0], dtype=object)
    pyreadstat.write_dta(
        pd.DataFrame({"id": range(1, 7), "q": answers}),
        str(path),
        variable_value_labels={"q": {1: "Yes", 2: "No", "a": "Refused", "b": "Don't know"}},
        missing_user_values={"q": ["a", "b"]},
    )
    text = draft(inspect_file(path))
    (question,) = yaml.safe_load(text)["questions"]
    assert [lv["label"] for lv in question["levels"]] == ["Yes", "No"]
    assert "# Stata missing values, read as missing: .a 'Refused', .b \"Don't know\"" in text
    check_round_trip(path, tmp_path)
