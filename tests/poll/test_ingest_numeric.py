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


# ---------------------------------------------------------------------------------------
# Per-source missing codes: each firm codes don't-know / refused its own way.

#: The answers of three firms' respondents: a number, or "dk" / "ref".
_ANSWERS = {
    "de": [0, 3, "dk", 7, 10, "ref", 5, 5, 2, 8],
    "fr": [1, "ref", 4, 4, 9, "dk", "dk", 6, 10, 0],
    "it": [2, 2, 6, "dk", 7, 3, "ref", 10, 1, 4],
}
#: How each firm codes them (DE uses the question's own 98/99).
_FIRM_CODES = {"de": (98, 99), "fr": (-1, -2), "it": (11, 12)}


def _weight(i: int) -> float:
    """The base weight of a firm's i-th respondent."""
    return 1.0 + (i % 3) * 0.5


def _firm_files(data: Path, codes: dict[str, tuple[int, int]]) -> None:
    data.mkdir(exist_ok=True)
    for sid, answers in _ANSWERS.items():
        dk, ref = codes[sid]
        values = [dk if a == "dk" else ref if a == "ref" else a for a in answers]
        frame = pl.DataFrame(
            {
                "rid": [f"{sid}{i}" for i in range(len(values))],
                "T": values,
                "w": [_weight(i) for i in range(len(values))],
            }
        )
        if sid == "de":
            pyreadstat.write_sav(frame.to_pandas(), str(data / f"{sid}.sav"))
        elif sid == "fr":
            frame.write_csv(data / f"{sid}.csv")
        else:
            frame.write_parquet(data / f"{sid}.parquet")


def _firm_spec(own_codes: bool) -> dict[str, Any]:
    files = {"de": "data/de.sav", "fr": "data/fr.csv", "it": "data/it.parquet"}
    countries = {"de": "DE", "fr": "FR", "it": "IT"}
    sources = []
    for sid, file in files.items():
        trust: dict[str, Any] = {"column": "T"}
        if own_codes and sid != "de":
            trust["missing"] = list(_FIRM_CODES[sid])
        source = _source(sid, file, {"trust_eu": trust}, country=countries[sid])
        sources.append(source | {"weight": "w"})
    return _spec(sources)


def _one_recoded_file(root: Path) -> dict[str, Any]:
    """Every firm's respondents in one CSV, recoded to the question's 98 / 99 (what an
    analyst does by hand today), and its spec: one source with a country column."""
    (root / "data").mkdir()
    rows = [
        {
            "rid": f"{sid}{i}",
            "cc": sid.upper(),
            "T": {"dk": 98, "ref": 99}.get(a, a),
            "w": _weight(i),
        }
        for sid, answers in _ANSWERS.items()
        for i, a in enumerate(answers)
    ]
    pl.DataFrame(rows).write_csv(root / "data" / "all.csv")
    source = _source("all", "data/all.csv", {"trust_eu": {"column": "T"}})
    del source["country"]
    return _spec([source | {"country_column": "cc", "weight": "w"}])


def _estimates(root: Path, own_codes: bool | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The means by country and of the EU, from the firms' files (``own_codes``: with
    their own codes, declared per source; False: recoded to 98 / 99) or (None) from
    one recoded file."""
    import barometer as bm

    root.mkdir()
    if own_codes is None:
        spec = _one_recoded_file(root)
    else:
        codes = _FIRM_CODES if own_codes else dict.fromkeys(_ANSWERS, (98, 99))
        _firm_files(root / "data", codes)
        spec = _firm_spec(own_codes)
    store = _ingest(root, spec)
    poll = bm.Poll.open(store.path)
    means = poll.estimate("trust_eu", weights="base").to_polars().sort("country")
    region = poll.estimate("trust_eu", region="EU", weights="base").to_polars()
    return means, region


def test_each_firms_own_missing_codes_give_the_estimates_of_one_coding(tmp_path: Path) -> None:
    own, own_region = _estimates(tmp_path / "own", own_codes=True)
    recoded, recoded_region = _estimates(tmp_path / "recoded", own_codes=False)
    assert own.equals(recoded) and own_region.equals(recoded_region)
    one, one_region = _estimates(tmp_path / "one", own_codes=None)
    assert own.equals(one) and own_region.equals(one_region)
    # don't-know and refused are left out of each firm's mean (no code leaks into it)
    assert own["n"].to_list() == [8, 7, 8]
    for row, answers in zip(own.iter_rows(named=True), _ANSWERS.values(), strict=True):
        kept = [(a, _weight(i)) for i, a in enumerate(answers) if isinstance(a, int)]
        expected = sum(a * w for a, w in kept) / sum(w for _, w in kept)
        assert row["estimate"] == pytest.approx(expected, rel=1e-12)


def test_a_firms_own_codes_replace_the_questions(tmp_path: Path) -> None:
    """A source with its own ``missing`` no longer reads the question's 98/99 as missing:
    the range check applies to its codes, and the hint names the source's list."""
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"rid": ["a", "b", "c"], "T": [3, -1, 98]}).write_csv(data / "x.csv")
    spec = _spec([_source("x", "data/x.csv", {"trust_eu": {"column": "T", "missing": [-1]}})])
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, spec)
    assert (
        "column 'T' (trust_eu): 1 value(s) outside the range [0, 10]: 98 (1 respondent) "
        "(respondent id(s) 'c'); correct the file, or list a don't-know code under "
        "sources[0].variables.trust_eu.missing"
    ) in str(err.value)


def test_the_hint_offers_a_firms_own_codes(tmp_path: Path) -> None:
    text = _problem(tmp_path, {"rid": ["a", "b"], "T": [3, -1]}, {"trust_eu": {"column": "T"}})
    assert (
        "list a don't-know code under questions[trust_eu].missing (or, for this file only, "
        "sources[0].variables.trust_eu.missing)"
    ) in text


def test_changing_a_firms_missing_codes_reingests_its_source(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"rid": ["a", "b", "c"], "T": [3, -1, -2]}).write_csv(data / "x.csv")
    trust: dict[str, Any] = {"column": "T", "missing": [-1, -2]}
    spec = _spec([_source("x", "data/x.csv", {"trust_eu": trust})])
    store = _ingest(tmp_path, spec)
    assert _stored(store, "x", "trust_eu") == [3.0, None, None]
    report = ingest(write_spec(tmp_path, spec), tmp_path / "poll.duckdb")
    assert report.unchanged == ["x"]
    trust["missing"] = [-2]  # the source's digest holds its codes: read again, and refused
    with pytest.raises(IngestError, match=r"outside the range \[0, 10\]: -1"):
        ingest(write_spec(tmp_path, spec), tmp_path / "poll.duckdb")


def test_the_cli_gives_one_message_for_bad_missing_codes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from barometer.cli import app

    runner = CliRunner()
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"rid": ["a", "b"], "T": [3, 98]}).write_csv(data / "x.csv")
    trust: dict[str, Any] = {"column": "T", "missing": [5, -1]}
    path = write_spec(tmp_path, _spec([_source("x", "data/x.csv", {"trust_eu": trust})]))
    bad_spec = runner.invoke(app, ["ingest", str(path)])
    assert bad_spec.exit_code == 1 and "Traceback" not in bad_spec.output
    assert bad_spec.stderr.strip().startswith("error: ") and bad_spec.stderr.count("error: ") == 1
    assert (
        "sources[0].variables.trust_eu.missing: missing code 5 lies inside question "
        "trust_eu's range [0, 10]"
    ) in bad_spec.stderr
    trust["missing"] = [-1]  # valid, but the file's 98 is now out of range for this firm
    write_spec(tmp_path, _spec([_source("x", "data/x.csv", {"trust_eu": trust})]))
    bad_file = runner.invoke(app, ["ingest", str(path)])
    assert bad_file.exit_code == 1 and "Traceback" not in bad_file.output
    assert bad_file.stderr.count("error: ") == 1 and "nothing was ingested" in bad_file.stderr
    assert "98 (1 respondent) (respondent id(s) 'b')" in bad_file.stderr
    assert "sources[0].variables.trust_eu.missing" in bad_file.stderr
    assert not (tmp_path / "poll.duckdb").exists()


def test_values_out_of_range_show_their_labels(tmp_path: Path) -> None:
    """A labelled code out of the range (an SPSS 97 "Don't know" the spec does not list)
    or in no band of a recode (150 "Refused") is shown with its label, so it reads as
    the don't-know code it is."""
    data = tmp_path / "data"
    data.mkdir()
    frame = pl.DataFrame({"rid": [1.0, 2.0, 3.0], "TRUST": [3.0, 97, 97], "AGE": [20.0, 150, 30]})
    pyreadstat.write_sav(
        frame.to_pandas(),
        str(data / "x.sav"),
        variable_value_labels={"TRUST": {97: "Don't know"}, "AGE": {150: "Refused"}},
    )
    variables = {"trust_eu": {"column": "TRUST"}, "ageband": {"column": "AGE", "recode": RECODE}}
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, _spec([_source("x", "data/x.sav", variables)]))
    text = str(err.value)
    assert 'outside the range [0, 10]: 97 "Don\'t know" (2 respondents)' in text
    assert "in no range of the recode: 150 'Refused' (1 respondent)" in text
