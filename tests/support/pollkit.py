"""Helpers for the poll-layer tests: a small poll written to disk in every file format.

``make_poll(dir)`` writes respondent files for four countries, one per format, and a
spec.yaml describing them:

* DE: SPSS .sav, numeric codes with value labels; 9 is a user-missing "refused" code
* FR: CSV, the question column holds the level codes as text (no mapping needed)
* IT: Stata .dta, numeric codes with value labels
* PL: Parquet, text codes ("A", "P", "D") mapped to levels

Two waves; PL is polled in the first wave only (for like-for-like regional trends).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyreadstat
import yaml

from barometer.poll.spec_yaml import dump_yaml

LEVELS = ["ally", "partner", "dont_know"]
WAVES = ["2024-11", "2025-11"]
COUNTRIES = {"DE": 69.4e6, "FR": 52.5e6, "IT": 50.5e6, "PL": 31.0e6}
#: Population shares of us_relationship by country (the truth raking should recover).
TRUTH = {
    "DE": (0.2, 0.6, 0.2),
    "FR": (0.3, 0.5, 0.2),
    "IT": (0.25, 0.5, 0.25),
    "PL": (0.4, 0.5, 0.1),
}
GENDER_TARGET = {"female": 0.52, "male": 0.48}
AGE_TARGET = {"young": 0.3, "old": 0.7}


def base_spec() -> dict[str, Any]:
    """The spec as a dict (sources added by :func:`make_poll`)."""
    return {
        "name": "Test poll",
        "countries": [
            {"code": c, "name": c.lower(), "population": p} for c, p in COUNTRIES.items()
        ],
        "regions": [
            {"id": "EU", "name": "EU", "members": list(COUNTRIES), "rule": "mean"},
            {"id": "EUP", "name": "EU pooled", "members": list(COUNTRIES), "rule": "population"},
        ],
        "waves": [
            {"id": WAVES[0], "start": "2024-11-01", "end": "2024-11-25"},
            {"id": WAVES[1], "start": "2025-11-01", "end": "2025-11-25"},
        ],
        "questions": [
            {
                "id": "us_relationship",
                "wording": "Is the US an ally or a partner?",
                "levels": [
                    {"code": "ally", "label": "An ally"},
                    {"code": "partner", "label": "A necessary partner"},
                    {"code": "dont_know", "label": "Don't know"},
                ],
                "non_substantive": ["dont_know"],
            },
            {
                "id": "gender",
                "kind": "weighting",
                "levels": [{"code": "female", "label": "F"}, {"code": "male", "label": "M"}],
            },
            {
                "id": "age",
                "kind": "weighting",
                "levels": [{"code": "young", "label": "18-34"}, {"code": "old", "label": "35+"}],
            },
        ],
        "sources": [],
        "targets": [
            {"country": c, "wave": None, "margins": {"gender": GENDER_TARGET, "age": AGE_TARGET}}
            for c in COUNTRIES
        ],
    }


def sample(country: str, wave: str, n: int, seed: int) -> pd.DataFrame:
    """Respondents with codes 1..3 for the answer, 1/2 gender, 1/2 age (young over-sampled)."""
    rng = np.random.default_rng(seed)
    young = rng.random(n) < 0.5
    female = rng.random(n) < 0.45
    p = np.array(TRUTH[country])
    shift = np.where(young, 0.1, -0.04)  # the young are more often "partner"
    u = rng.random(n)
    ally = u < p[0] - shift / 2
    partner = ~ally & (u < p[0] + p[1] + shift / 2)
    answer = np.where(ally, 1, np.where(partner, 2, 8)).astype(float)
    return pd.DataFrame(
        {
            "resp_id": np.arange(1, n + 1, dtype=float),
            "q7": answer,
            "sex": np.where(female, 2.0, 1.0),
            "agegrp": np.where(young, 1.0, 2.0),
        }
    )


def write_sav(df: pd.DataFrame, path: Path, refused: int = 0) -> None:
    df = df.copy()
    if refused:
        df.loc[df.index[:refused], "q7"] = 9.0
    pyreadstat.write_sav(
        df,
        str(path),
        column_labels={"q7": "Is the US an ally?", "sex": "Gender", "agegrp": "Age group"},
        variable_value_labels={
            "q7": {1: "Ally", 2: "Partner", 8: "Don't know", 9: "Refused"},
            "sex": {1: "Male", 2: "Female"},
        },
        missing_ranges={"q7": [9]},
    )


def make_poll(
    root: Path, n: int = 300, seed: int = 1, refused: int = 5, waves: list[str] | None = None
) -> Path:
    """Write the four files per wave and spec.yaml under ``root``; return the spec path."""
    spec = base_spec()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for w, wave in enumerate(waves or WAVES):
        tag = wave.replace("-", "")
        de = sample("DE", wave, n, seed + 10 * w)
        write_sav(de, data / f"de_{tag}.sav", refused=refused)
        fr = sample("FR", wave, n, seed + 10 * w + 1)
        pl.DataFrame(
            {
                "id": [f"fr{i}" for i in range(n)],
                "answer": [LEVELS[int(c) - 1] if c < 3 else "dont_know" for c in fr["q7"]],
                "sex": fr["sex"].astype(int).to_numpy(),
                "age": ["young" if a == 1 else "old" for a in fr["agegrp"]],
            }
        ).write_csv(data / f"fr_{tag}.csv")
        it = sample("IT", wave, n, seed + 10 * w + 2)
        pyreadstat.write_dta(
            it, str(data / f"it_{tag}.dta"), variable_value_labels={"q7": {1: "Ally"}}
        )
        sources = [
            _source(f"de-{wave}", f"data/de_{tag}.sav", wave, "DE", numeric=True),
            {
                "id": f"fr-{wave}",
                "file": f"data/fr_{tag}.csv",
                "wave": wave,
                "country": "FR",
                "respondent_id": "id",
                "variables": {
                    "us_relationship": {"column": "answer"},
                    "gender": {"column": "sex", "codes": {1: "male", 2: "female"}},
                    "age": {"column": "age"},
                },
            },
            _source(f"it-{wave}", f"data/it_{tag}.dta", wave, "IT", numeric=True),
        ]
        if w == 0:
            pl_ = sample("PL", wave, n, seed + 10 * w + 3)
            pl.DataFrame(
                {
                    "rid": pl_["resp_id"].astype(int).to_numpy(),
                    "q": [{1: "A", 2: "P", 8: "D"}[int(c)] for c in pl_["q7"]],
                    "g": [{1: "M", 2: "F"}[int(c)] for c in pl_["sex"]],
                    "a": pl_["agegrp"].astype(int).to_numpy(),
                }
            ).write_parquet(data / f"pl_{tag}.parquet")
            sources.append(
                {
                    "id": f"pl-{wave}",
                    "file": f"data/pl_{tag}.parquet",
                    "wave": wave,
                    "country": "PL",
                    "firm": "Norstat",
                    "mode": "online panel",
                    "respondent_id": "rid",
                    "variables": {
                        "us_relationship": {
                            "column": "q",
                            "codes": {"A": "ally", "P": "partner", "D": "dont_know"},
                        },
                        "gender": {"column": "g", "codes": {"M": "male", "F": "female"}},
                        "age": {"column": "a", "codes": {1: "young", 2: "old"}},
                    },
                }
            )
        spec["sources"].extend(sources)
    return write_spec(root, spec)


def _source(sid: str, file: str, wave: str, country: str, numeric: bool) -> dict[str, Any]:
    return {
        "id": sid,
        "file": file,
        "wave": wave,
        "country": country,
        "firm": "Datapraxis",
        "mode": "online panel",
        "respondent_id": "resp_id",
        "variables": {
            "us_relationship": {
                "column": "q7",
                "codes": {1: "ally", 2: "partner", 8: "dont_know"},
            },
            "gender": {"column": "sex", "codes": {1: "male", 2: "female"}},
            "age": {"column": "agegrp", "codes": {1: "young", 2: "old"}},
        },
    }


def write_spec(root: Path, spec: dict[str, Any]) -> Path:
    path = root / "spec.yaml"
    path.write_text(dump_yaml(spec, sort_keys=False), encoding="utf-8")
    return path


def edit_spec(path: Path, fn: Any) -> Path:
    """Apply ``fn`` to the spec dict at ``path`` and write it back."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    new = copy.deepcopy(spec)
    fn(new)
    path.write_text(dump_yaml(new, sort_keys=False), encoding="utf-8")
    return path


def snapshot(store: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a store, rows sorted: to assert a store is unchanged."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        out = {}
        for t in sorted(tables):
            rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


#: The ragged poll's extra questions (see :func:`make_ragged_poll`).
RAGGED_QUESTIONS = [
    {
        "id": "nato",
        "wording": "Should your country stay in NATO?",
        "levels": [
            {"code": "yes", "label": "Yes"},
            {"code": "no", "label": "No"},
            {"code": "unsure", "label": "Unsure"},
        ],
        "non_substantive": ["unsure"],
    },
    {
        "id": "trust",
        "wording": "Do you trust the government?",
        "levels": [{"code": "high", "label": "High"}, {"code": "low", "label": "Low"}],
    },
    {
        "id": "ghost",
        "wording": "A question no source maps",
        "levels": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}],
    },
]


def make_ragged_poll(root: Path, n: int = 300, seed: int = 1) -> Path:
    """:func:`make_poll` with a questionnaire that changed between waves.

    * ``nato`` (yes/no, with an "unsure" level nobody picks) is a module asked in DE and FR
      only, both waves;
    * ``trust`` is asked in the second wave only (DE, FR, IT); in DE everyone answers
      "high" (a domain share of exactly 1, and 0 for "low");
    * ``ghost`` is in the spec but no source maps it;
    * PL is polled in the first wave only, so the regions have a member absent from a wave.

    The extra answers are added as columns to each country's own file, in its format.
    """
    spec_path = make_poll(root, n=n, seed=seed, refused=5)
    rng = np.random.default_rng(seed + 100)
    data = root / "data"
    for w, wave in enumerate(WAVES):
        tag = wave.replace("-", "")
        late = w == 1
        for country, path in (("DE", data / f"de_{tag}.sav"), ("IT", data / f"it_{tag}.dta")):
            if path.suffix == ".sav":
                df, _ = pyreadstat.read_sav(str(path), user_missing=True)
            else:
                df, _ = pyreadstat.read_dta(str(path))
            m = len(df)
            if country == "DE":
                df["nato"] = np.where(rng.random(m) < 0.7, 1.0, 2.0)
            if late:
                df["trust"] = 1.0 if country == "DE" else np.where(rng.random(m) < 0.4, 1.0, 2.0)
            if path.suffix == ".sav":
                write_sav(df, path)
            else:
                pyreadstat.write_dta(df, str(path))
        fr_path = data / f"fr_{tag}.csv"
        fr = pl.read_csv(fr_path)
        m = fr.height
        fr = fr.with_columns(nato=pl.Series(np.where(rng.random(m) < 0.9, "yes", "no")))
        if late:
            fr = fr.with_columns(trust=pl.Series(np.where(rng.random(m) < 0.3, "high", "low")))
        fr.write_csv(fr_path)

    def ragged(spec: dict[str, Any]) -> None:
        spec["questions"][1:1] = copy.deepcopy(RAGGED_QUESTIONS)
        for source in spec["sources"]:
            country, late = source["country"], source["wave"] == WAVES[1]
            numeric = {1: "yes", 2: "no"}
            variables = source["variables"]
            if country == "DE":
                variables["nato"] = {"column": "nato", "codes": numeric}
            if country == "FR":
                variables["nato"] = {"column": "nato"}
            if late and country in ("DE", "IT"):
                variables["trust"] = {"column": "trust", "codes": {1: "high", 2: "low"}}
            if late and country == "FR":
                variables["trust"] = {"column": "trust"}

    return edit_spec(spec_path, ragged)
