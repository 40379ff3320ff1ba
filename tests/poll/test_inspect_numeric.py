"""``barometer inspect`` drafts numeric questions (issue 14's ``kind: numeric``).

A column of many unlabelled numbers — a 0-10 scale, an age, a count — is drafted as a
numeric question with the range found in the file and its no-answer codes as
``missing``: SPSS user-missing codes, and codes labelled "Don't know"/"Refused" in a file
that declares none.  Ids, weights, free text and dates stay out of the draft with their
reason.  Each rule is checked on a small SPSS, Stata, CSV or Parquet file written here,
and each draft is ingested as an analyst would (ids renamed, a wave and a country filled
in) and compared value by value with the file (``check_round_trip``).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyreadstat
import yaml
from typer.testing import CliRunner

from barometer.cli import app
from barometer.poll.inspect import draft, inspect_file
from barometer.poll.inspect_numeric import LEVELS, Numeric, Skip, no_answer_codes, plan
from barometer.poll.poll import Poll
from tests.poll.test_inspect import REAL, check_round_trip, fill_in

runner = CliRunner()

#: The weighted mean computed here and barometer's differ by summation order only.
REL_TOL = 1e-12


def drafted(path: Path) -> tuple[dict[str, Any], str]:
    """The draft of ``path``: its questions by id, and its text."""
    text = draft(inspect_file(path))
    return {q["id"]: q for q in yaml.safe_load(text)["questions"]}, text


def skipped(text: str) -> dict[str, str]:
    """The closing comment's columns left out: name -> the line."""
    lines = text[text.index("# Not drafted") :].splitlines()[1:]
    return {line.split()[1]: line for line in lines}


def written(tmp: Path, name: str) -> tuple[Path, Path]:
    """A path for a file written by a test, and a separate folder for its round trip."""
    (tmp / "file").mkdir()
    (tmp / "work").mkdir()
    return tmp / "file" / name, tmp / "work"


# ---------------------------------------------------------------------------------------
# SPSS: user-missing codes


def scales_sav(path: Path) -> None:
    """A 0-10 scale with user-missing 98/99, one with a declared range -9..-1, one
    labelled at its ends (whose 0 nobody chose), one labelled at its middle too, and a
    short unlabelled count."""
    rng = np.random.default_rng(14)
    n = 90
    trust = rng.integers(0, 11, n).astype(float)
    trust[:6] = [98, 99, 98, 98, 99, 98]
    left = rng.integers(0, 11, n).astype(float)
    left[:3] = -1
    frame = pd.DataFrame(
        {
            "resp_id": np.arange(1, n + 1, dtype=float),
            "trust": trust,
            "lr": left,
            "sat": rng.integers(1, 11, n).astype(float),
            "mid": rng.integers(0, 11, n).astype(float),
            "kids": rng.integers(0, 4, n).astype(float),
        }
    )
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={"trust": "Trust in parliament (0-10)"},
        variable_value_labels={
            "trust": {98: "Don't know", 99: "Refused"},
            "lr": {-9: "Not asked", -1: "Don't know"},
            "sat": {0: "Not at all satisfied", 10: "Completely satisfied"},
            "mid": {0: "Left", 5: "Centre", 10: "Right"},
        },
        missing_ranges={"trust": [98, 99], "lr": [{"lo": -9.0, "hi": -1.0}]},
    )


def test_spss_user_missing_codes_are_the_questions_missing(tmp_path: Path) -> None:
    path, work = written(tmp_path, "scales.sav")
    scales_sav(path)
    questions, text = drafted(path)
    trust = questions["trust"]
    assert trust["kind"] == "numeric" and "levels" not in trust
    assert (trust["range"], trust["missing"]) == ([0, 10], [98, 99])
    assert trust["wording"] == "Trust in parliament (0-10)"
    assert "# no answer: 98 \"Don't know\" (4), 99 'Refused' (2)" in text
    # a declared range: the codes found in it (-1) and labelled in it (-9, absent)
    assert questions["lr"]["missing"] == [-9, -1]
    # labels only at a scale's ends (0 and 10) make it numeric, its range reaching the
    # unchosen 0; a label between them (5) keeps the levels, as do 4 unlabelled values
    assert questions["sat"]["kind"] == "numeric" and questions["sat"]["range"] == [0, 10]
    assert (
        "# a scale labelled at its ends: 0 'Not at all satisfied', 10 'Completely satisfied'"
        in text
    )
    assert len(questions["mid"]["levels"]) == 11 and "kind" not in questions["mid"]
    assert [lv["code"] for lv in questions["kids"]["levels"]] == ["0", "1", "2", "3"]
    assert yaml.safe_load(text)["sources"][0]["variables"]["trust"] == {"column": "trust"}
    check_round_trip(path, work)


def test_spss_user_missing_code_amid_the_answers(tmp_path: Path) -> None:
    # 5 declared user-missing on a 0-10 scale: read as missing by ingest, but not a
    # `missing:` code (those lie outside the range), so only noted
    path, work = written(tmp_path, "amid.sav")
    values = [float(v) for v in range(11) for _ in range(3)]
    frame = pd.DataFrame({"id": np.arange(1.0, 34.0), "q": values})
    pyreadstat.write_sav(frame, str(path), missing_ranges={"q": [5]})
    questions, text = drafted(path)
    assert questions["q"]["range"] == [0, 10] and "missing" not in questions["q"]
    assert "# user-missing in the file, read as missing: 5 (3)" in text
    check_round_trip(path, work)


# ---------------------------------------------------------------------------------------
# Stata: labelled no-answer codes and extended missing values


def ages_dta(path: Path) -> None:
    """Ages in years with 998 "Don't know", 999 "Refused" and .a "Not asked", a weight,
    and a scale whose "Don't know" (7) lies amid its answers."""
    rng = np.random.default_rng(7)
    n = 150
    age: list[Any] = [float(a) for a in rng.integers(18, 96, n)]
    age[:9] = [998.0, 999.0, "a", 998.0, "a", 999.0, 998.0, "a", 998.0]
    scale = [float(v) for v in rng.integers(1, 13, n)]
    frame = pd.DataFrame(
        {
            "caseid": np.arange(1, n + 1),
            "age": pd.Series(age, dtype=object),
            "wgt": rng.uniform(0.4, 2.5, n),
            "scale": scale,
        }
    )
    pyreadstat.write_dta(
        frame,
        str(path),
        column_labels={"age": "Age in years"},
        variable_value_labels={
            "age": {998: "Don't know", 999: "Refused", "a": "Not asked"},
            "scale": {7: "Don't know"},
        },
        missing_user_values={"age": ["a"]},
    )


def test_stata_labelled_no_answer_codes_are_missing(tmp_path: Path) -> None:
    path, work = written(tmp_path, "ages.dta")
    ages_dta(path)
    found = inspect_file(path)
    assert found.roles["weight"] == "wgt" and found.roles["respondent_id"] == "caseid"
    age = found.column("age")
    assert [(v.value, v.count) for v in age.no_answer] == [(998.0, 4), (999.0, 2)]
    questions, text = drafted(path)
    file_ages = [v for v in pyreadstat.read_dta(str(path))[0]["age"] if v < 998]
    assert questions["age"]["kind"] == "numeric"
    assert questions["age"]["range"] == [min(file_ages), max(file_ages)]
    assert questions["age"]["missing"] == [998, 999]
    assert "# Stata missing values, read as missing: .a 'Not asked'" in text
    # 7 "Don't know" amid the answers 1-12 cannot be a missing code: levels
    assert "levels" in questions["scale"]
    check_round_trip(path, work)


def test_a_drafted_numeric_question_is_estimated(tmp_path: Path) -> None:
    path, work = written(tmp_path, "ages.dta")
    ages_dta(path)
    spec_path = work / "spec.yaml"
    shutil.copyfile(path, work / path.name)
    spec, _ = fill_in(draft(inspect_file(work / path.name), file=path.name))
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    poll, _ = Poll.ingest(spec_path, work / "p.duckdb")
    qid = next(q["id"] for q in spec["questions"] if q.get("kind") == "numeric")
    mean = poll.estimate(qid, weights="base").to_polars()["estimate"].item()
    frame = pyreadstat.read_dta(str(path))[0]
    answered = frame[frame["age"] < 998]
    want = float(np.sum(answered["age"] * answered["wgt"]) / np.sum(answered["wgt"]))
    assert math.isclose(mean, want, rel_tol=REL_TOL)


# ---------------------------------------------------------------------------------------
# What stays out: ids, weights, free text, dates


def test_ids_weights_and_free_text_stay_out(tmp_path: Path) -> None:
    path, work = written(tmp_path, "panel.csv")
    rng = np.random.default_rng(5)
    n = 80
    pl.DataFrame(
        {
            "rid": np.arange(1, n + 1),
            "weight": rng.uniform(0.5, 2.0, n),
            "visits": rng.integers(0, 25, n),
            "hhid": rng.integers(1, 40, n),
            "ticket": rng.permutation(np.arange(5000, 5000 + n)),
            "wgt_trim": rng.uniform(0.5, 2.0, n),
            "comment": [f"said {i}" for i in rng.integers(0, 60, n)],
        }
    ).write_csv(path)
    questions, text = drafted(path)
    assert list(questions) == ["visits"]
    assert questions["visits"]["kind"] == "numeric" and "missing" not in questions["visits"]
    out = skipped(text)
    assert set(out) == {"hhid", "ticket", "wgt_trim", "comment"}
    assert out["hhid"].endswith(": named like an id)")
    assert out["ticket"].endswith(": every value distinct: an id)")
    assert out["wgt_trim"].endswith(": positive fractions named like a weight: a weight)")
    assert out["comment"].endswith(": free text, or too many levels to draft)")
    check_round_trip(path, work)


def test_a_date_stays_out_and_pond_is_a_weight(tmp_path: Path) -> None:
    path = tmp_path / "dated.parquet"
    n = 40
    pl.DataFrame(
        {
            "id": list(range(n)),
            "pond": [0.5 + i / n for i in range(n)],
            "interview": [dt.date(2025, 11, 1) + dt.timedelta(days=i % 20) for i in range(n)],
            "score": [float(i % 15) for i in range(n)],
        }
    ).write_parquet(path)
    found = inspect_file(path)
    assert found.roles["weight"] == "pond"  # French "pondération"
    assert isinstance(plan(found.column("interview"), n), Skip)
    questions, text = drafted(path)
    assert list(questions) == ["score"] and questions["score"]["range"] == [0, 14]
    assert skipped(text)["interview"].endswith(": a date or time)")


def test_nan_and_infinity_stay_out_and_respondent_is_no_weight(tmp_path: Path) -> None:
    # ingest refuses NaN and infinity in a numeric question: the draft leaves them out
    path = tmp_path / "odd.parquet"
    n = 30
    pl.DataFrame(
        {
            "id": list(range(n)),
            "respondent_age": [float(18 + i % 20) for i in range(n)],
            "x": [math.nan if i == 3 else i % 12 + 0.5 for i in range(n)],
            "y": [math.inf if i == 3 else float(i % 13) for i in range(n)],
        }
    ).write_parquet(path)
    found = inspect_file(path)
    assert "weight" not in found.roles  # "pond" is a weight, "respondent" is not
    questions, text = drafted(path)
    assert list(questions) == ["respondent_age"]
    for name in ("x", "y"):
        assert skipped(text)[name].endswith(
            ": NaN or infinite values, which ingest refuses: export them as missing)"
        )


def test_no_answer_labels() -> None:
    labels = {
        0.0: "Not at all",
        10.0: "Completely",
        97.0: "Don\u2019t know",  # a typographic apostrophe, as Word exports it
        98.0: "No opinion",
        99.0: "N/A",
        -1.0: "Refused",
        "a": "Not asked",  # a Stata .a: already missing, not a code
    }
    assert no_answer_codes(labels, ()) == [-1.0, 97.0, 98.0, 99.0]
    assert no_answer_codes(labels, ((97.0, 99.0),)) == [-1.0]  # declared: user-missing


def test_plan_follows_the_counts() -> None:
    # the rule itself on a real file's columns: every labelled one keeps its levels, and
    # its only many-valued unlabelled one (a population) is numeric
    found = inspect_file(REAL / "ces11.dta")
    kinds = {c.name: plan(c, found.n_rows) for c in found.columns}
    assert isinstance(kinds["population"], Numeric)
    labelled = [c.name for c in found.columns if c.value_labels]
    assert labelled and all(kinds[name] == LEVELS for name in labelled)


# ---------------------------------------------------------------------------------------
# The real files, as a new user meets them


def test_real_stata_draft_estimates_its_numeric_question(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(REAL / "ces11.dta"), "--draft-only"])
    assert result.exit_code == 0, result.output
    shutil.copyfile(REAL / "ces11.dta", tmp_path / "ces11.dta")
    spec, _ = fill_in(result.output.replace(str(REAL / "ces11.dta"), "ces11.dta"))
    population = next(q for q in spec["questions"] if q.get("kind") == "numeric")
    assert population["range"] == [105780, 9439960] and "missing" not in population
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    poll, report = Poll.ingest(tmp_path / "spec.yaml", tmp_path / "p.duckdb")
    assert report.respondents == 2231
    mean = poll.estimate(population["id"], weights="base").to_polars()["estimate"].item()
    frame = pyreadstat.read_dta(str(REAL / "ces11.dta"))[0]
    want = float(np.sum(frame["population"] * frame["weight"]) / np.sum(frame["weight"]))
    assert math.isclose(mean, want, rel_tol=REL_TOL)


def test_real_spss_draft_has_no_numeric_question() -> None:
    # NHANES's columns are design columns or labelled categories (HI_CHOL's 0/1 with
    # user-missing 9 included): the draft keeps them all as levels, and ingests
    # (test_inspect.test_round_trip_sav_with_user_missing_codes)
    questions, text = drafted(REAL / "nhanes.sav")
    assert list(questions) == ["hi_chol", "race", "agecat", "riagendr"]
    assert all("levels" in q for q in questions.values()) and "# Not drafted" not in text
