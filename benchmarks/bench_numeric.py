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

    python benchmarks/bench_numeric.py --n 200000      # prints JSON (wall and CPU s), writes _data/
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


class _Clock:
    """Wall-clock and CPU seconds of each step since the previous one."""

    def __init__(self) -> None:
        self.steps: dict[str, tuple[float, float]] = {}
        self.at = (time.perf_counter(), time.process_time())

    def lap(self, step: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.steps[step] = (now[0] - self.at[0], now[1] - self.at[1])
        self.at = (time.perf_counter(), time.process_time())

    def summary(self, which: int, questions: int) -> dict[str, float]:
        got = {step: pair[which] for step, pair in self.steps.items()}
        got["total"] = sum(got.values())
        got["per_question"] = got["total"] / questions
        return {k: round(v, 3) for k, v in got.items()}


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
    # wall-clock seconds, and CPU seconds of the process (all its threads): on a shared
    # machine the CPU time is the steadier of the two
    seconds: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    for name, questions in groups.items():
        clock = _Clock()
        pub = poll.publication(questions=questions)
        clock.lap("publication")
        find(pub)
        clock.lap("findings")
        write_xlsx(banner_tables(pub, banners=["country"]), out / f"banners_{name}.xlsx")
        clock.lap("banners")
        seconds[name] = clock.summary(0, len(questions))
        cpu[name] = clock.summary(1, len(questions))

    def ratios(of: dict[str, dict[str, float]]) -> dict[str, float]:
        single = of["single"]["per_question"]
        return {
            "numeric / single": round(of["numeric"]["per_question"] / single, 2),
            "with net / single": round(of["nets"]["per_question"] / single, 2),
        }

    result = {
        "n": args.n,
        "countries": len(COUNTRIES),
        "waves": len(WAVES),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "ratio_per_question": ratios(seconds),
        "ratio_per_question_cpu": ratios(cpu),
        "peak_mb": round(_peak_mb()),
    }
    (DATA / f"numeric_{args.n}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
