"""Benchmark of issue 14: what a numeric question and a net cost against a single-choice one.

A 12-country, 2-wave poll of N respondents (200,000 for the recorded run; the issue's
target is the 1,000,000-respondent poll of ``bench_publish.py``) with ten single-choice
questions (five levels each), ten numeric 0-10 scales and five nets (on five of the
single-choice questions), written as one Parquet file per country x wave, ingested and
weighted through the public path. Then, in this process, each group of questions is
published on its own — ``poll.publication(questions=...)``, ``find(pub)`` and the banner
workbook — and the time per question is compared:

* ``single``: the five single-choice questions without nets;
* ``nets``: the five single-choice questions with a net each;
* ``numeric``: the ten 0-10 scales (means, quartiles and distributions).

Usage::

    python benchmarks/bench_numeric.py --n 200000      # prints JSON, writes _data/
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import data
from data import POLL_COUNTRIES as COUNTRIES
from data import WAVES, PollShape

DATA = Path(__file__).parent / "_data"
LEVELS = ["a", "b", "c", "d", "dont_know"]
SINGLE = [f"q{i:02d}" for i in range(10)]
NETTED = SINGLE[5:]
SCALES = [f"s{i:02d}" for i in range(10)]
RAKING = {
    "age": ["18-29", "30-44", "45-59", "60-74", "75+"],
    "gender": ["female", "male"],
    "education": ["low", "middle", "high"],
}
SEED = 20261202


def _answers(
    rng: np.random.Generator, per: int, c_i: int, w_i: int, cols: dict[str, Any]
) -> dict[str, Any]:
    for q in SINGLE:
        p = rng.dirichlet(np.full(len(LEVELS), 4.0))
        answer = np.array(LEVELS, dtype=object)[rng.choice(len(LEVELS), per, p=p)]
        answer[rng.random(per) < 0.03] = None
        cols[q] = pl.Series(answer.tolist(), dtype=pl.String)
    for s in SCALES:
        p = np.clip(0.5 + 0.02 * (c_i - 5) + 0.02 * w_i, 0.05, 0.95)
        values = rng.binomial(10, p, per).astype(float)
        values[rng.random(per) < 0.03] = 99.0
        cols[s] = values
    return {q: {"column": q} for q in [*SINGLE, *SCALES]}


def write_poll(n: int, out: Path) -> Path:
    """Parquet sources and spec of the benchmark poll; returns the spec's path."""
    questions: list[dict[str, Any]] = [
        {
            "id": q,
            "levels": [{"code": lv, "label": lv} for lv in LEVELS],
            "non_substantive": ["dont_know"],
            **(
                {"nets": [{"code": "top_two", "label": "a or b", "levels": ["a", "b"]}]}
                if q in NETTED
                else {}
            ),
        }
        for q in SINGLE
    ]
    questions += [
        {"id": s, "kind": "numeric", "range": [0, 10], "missing": [99], "finding_label": s}
        for s in SCALES
    ]
    shape = PollShape("Numeric benchmark", RAKING, questions, _answers)
    return data.write_poll(shape, n, out, SEED)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    from barometer.poll.poll import Poll
    from barometer.publish.banner.build import banner_tables
    from barometer.publish.banner.tables import write_xlsx
    from barometer.publish.findings.find import find

    out = DATA / f"numeric_{args.n}"
    spec = write_poll(args.n, out)
    store = out / "poll.duckdb"
    store.unlink(missing_ok=True)
    poll, _ = Poll.ingest(spec, store)
    poll.weight(tol=1e-6)
    poll.publication(questions=SINGLE[:1])  # the design is built (and cached) once
    groups = {"single": SINGLE[:5], "nets": NETTED, "numeric": SCALES}
    seconds: dict[str, dict[str, float]] = {}
    for name, questions in groups.items():
        steps: dict[str, float] = {}
        t = time.perf_counter()
        pub = poll.publication(questions=questions)
        steps["publication"] = time.perf_counter() - t
        t = time.perf_counter()
        find(pub)
        steps["findings"] = time.perf_counter() - t
        t = time.perf_counter()
        write_xlsx(banner_tables(pub, banners=["country"]), out / f"banners_{name}.xlsx")
        steps["banners"] = time.perf_counter() - t
        steps["total"] = sum(steps.values())
        steps["per_question"] = steps["total"] / len(questions)
        seconds[name] = {k: round(v, 3) for k, v in steps.items()}
    single = seconds["single"]["per_question"]
    result = {
        "n": args.n,
        "countries": len(COUNTRIES),
        "waves": len(WAVES),
        "seconds": seconds,
        "ratio_per_question": {
            "numeric / single": round(seconds["numeric"]["per_question"] / single, 2),
            "with net / single": round(seconds["nets"]["per_question"] / single, 2),
        },
        "peak_mb": round(_peak_mb()),
    }
    (DATA / f"numeric_{args.n}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
