"""Benchmark of issue 5: findings, banner workbook and report of a large poll.

A 12-country, 2-wave, 30-question poll of N respondents (1,000,000 for the recorded run),
written as one Parquet file per country x wave with a poll spec (an "EU" region of ten
members, raking targets per country), ingested and weighted through the public path, then
timed step by step in this process:

* ``pub = poll.publication()``: every question's estimates, once;
* ``find(pub)``: every question x level x country/region for changes and gaps;
* ``banner_tables(pub, banners=["country"])`` and ``write_xlsx`` (30 sheets);
* ``write_report(pub, ...)``: the HTML report with its 90 charts.

Usage::

    python benchmarks/bench_publish.py --n 1000000      # prints JSON, appends to _data/
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import data
from data import POLL_COUNTRIES as COUNTRIES
from data import WAVES, PollShape

DATA = Path(__file__).parent / "_data"
N_QUESTIONS = 30
LEVELS = ["a", "b", "c", "d", "dont_know"]
RAKING = {
    "age": ["18-29", "30-44", "45-59", "60-74", "75+"],
    "gender": ["female", "male"],
    "education": ["low", "middle", "high"],
    "region": ["r1", "r2", "r3", "r4", "r5"],
}
SEED = 20261124


def _answers(
    rng: np.random.Generator, per: int, c_i: int, w_i: int, cols: dict[str, Any]
) -> dict[str, Any]:
    tilt = (cols["education"] == "high").astype(float)
    for q in range(N_QUESTIONS):
        base = rng.dirichlet(np.full(len(LEVELS), 4.0))
        shift = 0.02 * (c_i - 5) + 0.01 * w_i
        p_hi = np.clip(base[0] + shift + 0.05 * tilt, 0.01, 0.9)
        u = rng.random(per)
        rest = rng.choice(len(LEVELS) - 1, per, p=base[1:] / base[1:].sum()) + 1
        code = np.where(u < p_hi, 0, rest)
        answer = np.array(LEVELS, dtype=object)[code]
        answer[rng.random(per) < 0.03] = None
        cols[f"q{q:02d}"] = pl.Series(answer.tolist(), dtype=pl.String)
    return {q: {"column": q} for q in _questions()}


def write_poll(n: int, out: Path) -> Path:
    """Parquet sources and spec of the benchmark poll; returns the spec's path."""
    questions = [
        {
            "id": q,
            "wording": f"Benchmark question {q}",
            "levels": [{"code": lv, "label": lv} for lv in LEVELS],
            "non_substantive": ["dont_know"],
        }
        for q in _questions()
    ]
    shape = PollShape(
        "Publishing benchmark", RAKING, questions, _answers,
        source={"firm": "Benchmark fieldwork", "mode": "online panel"},
    )  # fmt: skip
    return data.write_poll(shape, n, out, SEED)


def _questions() -> list[str]:
    return [f"q{q:02d}" for q in range(N_QUESTIONS)]


def _children_cpu() -> float:
    """CPU seconds of the ended child processes this process has waited for."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    from barometer.poll.poll import Poll
    from barometer.publish import write_report
    from barometer.publish.banner.build import banner_tables
    from barometer.publish.banner.tables import write_xlsx
    from barometer.publish.findings.find import find

    out = DATA / f"publish_{args.n}"
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    workers: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        t, c, w = time.perf_counter(), time.process_time(), _children_cpu()
        yield
        times[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
        workers[name] = _children_cpu() - w

    with step("write files"):
        spec = write_poll(args.n, out)
    store = out / "poll.duckdb"
    store.unlink(missing_ok=True)
    with step("ingest"):
        poll, _ = Poll.ingest(spec, store)
    with step("weight"):
        poll.weight(tol=1e-6)
    with step("publication"):
        pub = poll.publication()
    with step("findings"):
        found = find(pub)
        found.write(out)
    with step("banners"):
        write_xlsx(banner_tables(pub, banners=["country"]), out / "banners.xlsx")
    with step("report"):
        write_report(pub, out / "report.html", findings=found.headlines(8))
    result = {
        "n": args.n,
        "countries": len(COUNTRIES),
        "waves": len(WAVES),
        "questions": N_QUESTIONS,
        "seconds": {k: round(v, 2) for k, v in times.items()},
        # CPU seconds of this process (all its threads): the check on a shared machine
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        # CPU seconds of the worker processes the step started and ended (the report's
        # chart renderers): not in cpu_seconds, which counts this process alone
        "worker_cpu_seconds": {k: round(v, 2) for k, v in workers.items() if v > 0.005},
        "findings": len(found),
        "peak_mb": round(_peak_mb()),
    }
    (DATA / f"publish_{args.n}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
