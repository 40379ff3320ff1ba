"""Ingest of numeric questions and range recodes (issue 14): every firm layout stores
numbers as DOUBLE and bands as levels; every bad value is located."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyreadstat
import pytest

from barometer.errors import IngestError
from barometer.poll.ingest import ingest
from barometer.poll.store import Store
from tests.support.pollkit import base_spec, write_spec

AGE_BANDS = [
    {"code": "18-29", "label": "18-29"},
    {"code": "30-59", "label": "30-59"},
    {"code": "60+", "label": "60 and over"},
]
RECODE = [
    {"range": [18, 29], "to": "18-29"},
    {"range": [30, 59], "to": "30-59"},
    {"range": [60, 120], "to": "60+"},
]


def _spec(sources: list[dict[str, Any]]) -> dict[str, Any]:
    spec = base_spec()
    spec["targets"] = []
    spec["questions"].append(
        {
            "id": "trust_eu",
            "kind": "numeric",
            "wording": "Trust in the EU (0-10)",
            "range": [0, 10],
            "missing": [98, 99],
        }
    )
    spec["questions"].append({"id": "ageband", "levels": AGE_BANDS})
    spec["sources"] = sources
    return spec


def _source(sid: str, file: str, variables: dict[str, Any], country: str = "DE") -> dict:
    return {
        "id": sid,
        "file": file,
        "wave": "2025-11",
        "country": country,
        "respondent_id": "rid",
        "variables": variables,
    }


def _write_sav(path: Path, trust: list[float], age: list[float]) -> None:
    frame = pl.DataFrame(
        {"rid": np.arange(1.0, len(trust) + 1), "TRUST": trust, "AGE": age}
    ).to_pandas()
    pyreadstat.write_sav(
        frame,
        str(path),
        variable_value_labels={"TRUST": {0: "No trust", 10: "Complete trust", 99: "Refused"}},
        missing_ranges={"TRUST": [97], "AGE": [999]},
    )


def _ingest(tmp_path: Path, spec: dict[str, Any]) -> Store:
    path = write_spec(tmp_path, spec)
    ingest(path, tmp_path / "poll.duckdb")
    return Store(tmp_path / "poll.duckdb")


def _stored(store: Store, sid: str, column: str) -> list[Any]:
    return (
        store.query(f'SELECT "{column}" FROM respondents WHERE source_id = ? ORDER BY _row', [sid])
        .to_series()
        .to_list()
    )


def test_every_layout_stores_numbers_and_bands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # SPSS: 99 refused (a declared missing code), 97 SPSS user-missing, ages in years
    _write_sav(data / "de.sav", [0.0, 5, 10, 99, 97, 7.5], [18.0, 29, 30, 59, 60, 999])
    # CSV: whole numbers (an integer column), ages already banded as text
    pl.DataFrame(
        {"rid": ["a", "b", "c"], "trust": [3, 98, None], "band": ["18-29", "60+", "30-59"]}
    ).write_csv(data / "fr.csv")
    # Parquet: floats, ages in years with an else rule catching 150
    pl.DataFrame({"rid": [1, 2, 3], "t": [1.5, 2.0, 10.0], "age": [17, 45, 150]}).write_parquet(
        data / "it.parquet"
    )
    spec = _spec(
        [
            _source(
                "de",
                "data/de.sav",
                {
                    "trust_eu": {"column": "TRUST"},
                    "ageband": {"column": "AGE", "recode": RECODE},
                },
            ),
            _source(
                "fr",
                "data/fr.csv",
                {
                    "trust_eu": {"column": "trust"},
                    "ageband": {
                        "column": "band",
                        "codes": {"18-29": "18-29", "30-59": "30-59", "60+": "60+"},
                    },
                },
                country="FR",
            ),
            _source(
                "it",
                "data/it.parquet",
                {
                    "trust_eu": {"column": "t"},
                    "ageband": {"column": "age", "recode": [*RECODE, {"else": None}]},
                },
                country="IT",
            ),
        ]
    )
    store = _ingest(tmp_path, spec)
    types = dict(
        store.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'respondents'"
        ).iter_rows()
    )
    assert types["trust_eu"] == "DOUBLE"
    # single-choice columns are ENUMs of the spec's level codes, in spec order
    assert types["ageband"] == "ENUM('18-29', '30-59', '60+')"
    assert _stored(store, "de", "trust_eu") == [0.0, 5.0, 10.0, None, None, 7.5]
    assert _stored(store, "de", "ageband") == ["18-29", "18-29", "30-59", "30-59", "60+", None]
    assert _stored(store, "fr", "trust_eu") == [3.0, None, None]
    assert _stored(store, "fr", "ageband") == ["18-29", "60+", "30-59"]
    assert _stored(store, "it", "trust_eu") == [1.5, 2.0, 10.0]
    assert _stored(store, "it", "ageband") == [None, "30-59", None]
    quality = store.column_quality(["de"]).filter(pl.col("question") == "trust_eu")
    assert quality.select("n_missing", "n_user_missing").row(0) == (2, 1)
    # an unchanged spec and files: nothing to do the second time
    again = ingest(tmp_path / "spec.yaml", tmp_path / "poll.duckdb")
    assert again.unchanged == ["de", "fr", "it"] and not again.changed


def _problem(tmp_path: Path, file_rows: dict[str, list[Any]], variables: dict[str, Any]) -> str:
    (tmp_path / "data").mkdir(exist_ok=True)
    pl.DataFrame(file_rows).write_csv(tmp_path / "data" / "x.csv")
    spec = _spec([_source("x", "data/x.csv", variables)])
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, spec)
    return str(err.value)


def test_a_value_outside_the_range_names_the_respondents(tmp_path: Path) -> None:
    text = _problem(
        tmp_path,
        {"rid": ["r1", "r2", "r3", "r4"], "T": [3, 11, 57, 11]},
        {"trust_eu": {"column": "T"}},
    )
    assert (
        "column 'T' (trust_eu): 3 value(s) outside the range [0, 10]: 11 (2 respondents), "
        "57 (1 respondent) (respondent id(s) 'r2', 'r3', 'r4'); correct the file, or list a "
        "don't-know code under questions[trust_eu].missing"
    ) in text
    assert "nothing was ingested" in text


def test_a_text_column_for_a_numeric_question(tmp_path: Path) -> None:
    text = _problem(
        tmp_path, {"rid": ["a", "b"], "T": ["5", "a lot"]}, {"trust_eu": {"column": "T"}}
    )
    assert "column 'T' (trust_eu) holds text ('5', 'a lot'); numeric question trust_eu needs" in (
        text
    )


def test_a_recode_over_a_text_column(tmp_path: Path) -> None:
    text = _problem(
        tmp_path,
        {"rid": ["a", "b"], "A": ["18-29", "60+"]},
        {"ageband": {"column": "A", "recode": RECODE}},
    )
    assert "column 'A' (ageband) holds text ('18-29', '60+'); a recode by range needs" in text


def test_a_value_in_no_range_without_else(tmp_path: Path) -> None:
    text = _problem(
        tmp_path,
        {"rid": ["a", "b", "c"], "A": [17.0, 29.5, 40.0]},
        {"ageband": {"column": "A", "recode": RECODE}},
    )
    assert (
        "column 'A' (ageband): 2 value(s) in no range of the recode: 17 (1 respondent), "
        "29.5 (1 respondent) (respondent id(s) 'a', 'b'); widen a range or add a last "
        "{else: level} rule to sources[0].variables.ageband.recode"
    ) in text


def test_changing_a_question_to_numeric_retypes_its_column(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    pl.DataFrame({"rid": ["a", "b"], "T": [3, 4]}).write_csv(tmp_path / "data" / "x.csv")
    spec = _spec([_source("x", "data/x.csv", {"trust_eu": {"column": "T"}})])
    spec["questions"][-2] = {
        "id": "trust_eu",
        "levels": [{"code": "3", "label": "3"}, {"code": "4", "label": "4"}],
    }
    store = _ingest(tmp_path, spec)
    assert _stored(store, "x", "trust_eu") == ["3", "4"]
    spec = _spec([_source("x", "data/x.csv", {"trust_eu": {"column": "T"}})])
    store = _ingest(tmp_path, spec)
    assert _stored(store, "x", "trust_eu") == [3.0, 4.0]
