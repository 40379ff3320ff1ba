"""Benchmark of issue 4: ingest a 1,000,000-respondent ``.sav`` and weight it in full.

``prepare`` turns the benchmark poll (``data.py``) into what a fieldwork firm delivers:
one SPSS file (``poll_{n}.sav``, written with pyreadstat) with numeric codes and value
labels — country ``CNTRY`` 1..12, questions ``Q01..Q20`` with code 9 "Don't know /
refused" declared user-missing, demographics ``AGE``, ``GENDER``, ``EDUC``, ``REGION``,
design columns ``STRATUM``, ``PSU``, ``WEIGHT`` — plus a poll spec (``spec_{n}.yaml``)
that maps those codes to question levels and gives every country its raking targets.
All respondents are put in one wave (a source is one wave's file).

Timed, in one child process: reading the file with ``pyreadstat.read_sav`` alone (the
floor for any ``.sav`` ingest), ``barometer.poll.ingest(spec, store)`` into a fresh
DuckDB store, and ``Poll.open(store).weight(tol=1e-6)`` (raking every country to its
margins and storing the weights).

Usage::

    python benchmarks/bench_ingest.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import PYTHON, emit, peak_rss_mb, pkg_version, run_child

import data
from barometer.poll.spec_yaml import dump_yaml

WAVE = "2025-11"
DK = 9
DEMOGRAPHICS = {"age": "AGE", "gender": "GENDER", "education": "EDUC", "region": "REGION"}


def paths(n: int) -> dict[str, Path]:
    """The ``.sav``, spec and store of the ingest benchmark."""
    d = data.DATA_DIR
    return {
        "sav": d / f"poll_{n}.sav",
        "spec": d / f"spec_{n}.yaml",
        "store": d / f"ingest_{n}.duckdb",
    }


def prepare(n: int) -> dict[str, Path]:
    """Write the ``.sav`` and the spec (once)."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import pyreadstat

    p = paths(n)
    if p["sav"].exists() and p["spec"].exists():
        return p
    t = pq.read_table(data.ensure(n)["parquet"])
    k = {q: int(pc.max(t.column(q)).as_py()) for q in data.QUESTIONS}
    country_code = {c: i + 1 for i, c in enumerate(data.COUNTRIES)}
    frame: dict[str, Any] = {
        "RESPID": t.column("id").to_numpy(),
        "CNTRY": np.array([country_code[c] for c in t.column("country").to_pylist()]),
        "STRATUM": t.column("stratum").to_numpy(),
        "PSU": t.column("psu").to_numpy(),
        "WEIGHT": t.column("w").to_numpy(),
    }
    value_labels: dict[str, dict[int, str]] = {"CNTRY": {v: c for c, v in country_code.items()}}
    for var, col in DEMOGRAPHICS.items():
        levels = data.RAKING[var]
        lookup = {lv: i + 1 for i, lv in enumerate(levels)}
        frame[col] = np.array([lookup[x] for x in t.column(var).to_pylist()])
        value_labels[col] = {i + 1: lv for i, lv in enumerate(levels)}
    for q in data.QUESTIONS:
        col = q.upper()
        frame[col] = t.column(q).fill_null(DK).to_numpy()
        value_labels[col] = {i: f"Answer {i}" for i in range(1, k[q] + 1)} | {DK: "Don't know"}
    df = pd.DataFrame(frame)
    pyreadstat.write_sav(
        df,
        str(p["sav"]),
        column_labels={c: c.title() for c in df.columns},
        variable_value_labels=value_labels,
        missing_ranges={q.upper(): [DK] for q in data.QUESTIONS},
    )
    targets = json.loads(data.paths(n)["targets"].read_text())["targets"]
    population = {c: sum(targets[c]["gender"].values()) for c in data.COUNTRIES}
    questions = [
        {
            "id": q,
            "wording": f"Question {q}",
            "levels": [{"code": f"a{i}", "label": f"Answer {i}"} for i in range(1, k[q] + 1)],
        }
        for q in data.QUESTIONS
    ] + [
        {
            "id": var,
            "kind": "weighting",
            "levels": [{"code": lv, "label": lv} for lv in data.RAKING[var]],
        }
        for var in DEMOGRAPHICS
    ]
    variables = {
        q: {
            "column": q.upper(),
            "codes": {i: f"a{i}" for i in range(1, k[q] + 1)} | {DK: None},
        }
        for q in data.QUESTIONS
    } | {
        var: {"column": col, "codes": {i + 1: lv for i, lv in enumerate(data.RAKING[var])}}
        for var, col in DEMOGRAPHICS.items()
    }
    spec = {
        "name": f"Benchmark poll ({n:,} respondents)",
        "countries": [
            {"code": c, "name": c, "population": float(population[c])} for c in data.COUNTRIES
        ],
        "waves": [{"id": WAVE}],
        "questions": questions,
        "sources": [
            {
                "id": "bench",
                "file": p["sav"].name,
                "wave": WAVE,
                "country_column": "CNTRY",
                "country_codes": {v: c for c, v in country_code.items()},
                "respondent_id": "RESPID",
                "weight": "WEIGHT",
                "strata": "STRATUM",
                "psu": "PSU",
                "variables": variables,
            }
        ],
        "targets": [{"country": c, "margins": targets[c]} for c in data.COUNTRIES],
    }
    p["spec"].write_text(dump_yaml(spec, sort_keys=False))
    return p


def child(n: int) -> dict[str, Any]:
    """Time reading, ingesting and weighting in this process."""
    import pyreadstat

    p = prepare(n)
    out: dict[str, Any] = {"tool": "barometer", "version": pkg_version("barometer"), "n": n}
    out["sav_mb"] = p["sav"].stat().st_size / 1e6
    t0 = time.perf_counter()
    pyreadstat.read_sav(str(p["sav"]), user_missing=True)
    out["read_sav_seconds"] = time.perf_counter() - t0
    try:
        from barometer.poll.ingest import ingest
        from barometer.poll.poll import Poll
    except ImportError as exc:  # the poll layer is not there yet
        out["error"] = f"barometer.poll not available: {exc}"
        return out
    for suffix in ("", ".wal"):
        Path(str(p["store"]) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    report = ingest(p["spec"], p["store"])
    out["ingest_seconds"] = time.perf_counter() - t0
    out["ingest_report"] = str(getattr(report, "added", ""))
    t0 = time.perf_counter()
    poll = Poll.open(p["store"])
    diagnostics = poll.weight(tol=1e-6)
    out["weight_seconds"] = time.perf_counter() - t0
    out["weight_settings"] = poll.weight_settings()
    out["groups_weighted"] = diagnostics.height
    out["seconds"] = out["ingest_seconds"] + out["weight_seconds"]
    out["peak_mb"] = peak_rss_mb()
    return out


def run(n: int) -> dict[str, Any]:
    """Prepare the files (untimed), then time ingest and weighting in a child process."""
    prepare(n)
    res = run_child([str(PYTHON), str(Path(__file__)), "--child", "--n", str(n)])
    res.setdefault("n", n)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--child", action="store_true", help="run in this process (internal)")
    a = ap.parse_args()
    if a.child:
        emit(child(a.n))
        return
    print(json.dumps(run(a.n), indent=1))


if __name__ == "__main__":
    main()
