"""Benchmark of issue 13: loading and validating a spec is linear in its size.

Writes a spec of N questions (five levels each, one source mapping every question with
numeric codes, two countries, one wave) as YAML, then times :func:`barometer.poll.spec.
load_spec` on it — reading, strict YAML parsing, pydantic validation and every
cross-reference check — at 10,000 and 20,000 questions (``--sizes`` to change), the
fastest of ``--repeat`` runs each (wall clock, and the process's CPU time, which a
machine shared with other jobs inflates less).  Targets (issue 13): 20,000 questions in
at most 5 s, and at most 2.5× the time of 10,000.  Exits 1 when a target is missed.

Recorded (2026-12-01, a 2-core machine shared by ~6 sessions, load average 14):
20,000 questions 4.6 s of CPU (18 s wall); 20,000 / 10,000 = 1.3–1.7× in wall time.

Usage::

    python benchmarks/bench_spec.py            # 10000 20000
    python benchmarks/bench_spec.py --sizes 2000 4000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from barometer.poll.spec import load_spec
from barometer.poll.spec_yaml import dump_yaml

LEVELS = ["ally", "partner", "rival", "adversary", "dont_know"]
SECONDS_AT_20000 = 5.0
GROWTH_PER_DOUBLING = 2.5


def spec_dict(n: int) -> dict:
    """A spec of ``n`` questions, each mapped by one source."""
    questions = [
        {
            "id": f"q{i:05d}",
            "wording": f"Question {i}: which of these best describes the United States?",
            "levels": [{"code": c, "label": c.replace("_", " ").title()} for c in LEVELS],
            "non_substantive": ["dont_know"],
        }
        for i in range(n)
    ]
    codes = {k + 1: c for k, c in enumerate(LEVELS)} | {9: None}
    return {
        "name": f"Benchmark spec of {n} questions",
        "countries": [
            {"code": "DE", "name": "Germany", "population": 69.4e6},
            {"code": "FR", "name": "France", "population": 52.5e6},
        ],
        "regions": [{"id": "EU", "name": "EU", "members": ["DE", "FR"]}],
        "waves": [{"id": "2025-11"}],
        "questions": questions,
        "sources": [
            {
                "id": "de-2025-11",
                "file": "data/de.sav",
                "wave": "2025-11",
                "country": "DE",
                "respondent_id": "id",
                "variables": {
                    q["id"]: {"column": f"Q{i}", "codes": dict(codes)}
                    for i, q in enumerate(questions)
                },
            }
        ],
    }


def time_load(path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        spec = load_spec(path)
        best = min(best, time.perf_counter() - start)
    assert len(spec.questions) > 0
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"spec_{n}.yaml"
            # Inner mappings in flow style, as barometer's starter spec writes them.
            text = dump_yaml(spec_dict(n), sort_keys=False, default_flow_style=None)
            path.write_text(text, encoding="utf-8")
            seconds = time_load(path, args.repeat)
            results[n] = {"seconds": round(seconds, 3), "mb": round(path.stat().st_size / 1e6, 2)}
            print(f"{n:>7,} questions ({results[n]['mb']} MB): {seconds:.2f} s", flush=True)
    ok = True
    if 20_000 in results:
        ok &= results[20_000]["seconds"] <= SECONDS_AT_20000
    if 10_000 in results and 20_000 in results:
        ratio = results[20_000]["seconds"] / results[10_000]["seconds"]
        print(f"20,000 / 10,000: {ratio:.2f}× (target at most {GROWTH_PER_DOUBLING}×)")
        ok &= ratio <= GROWTH_PER_DOUBLING
    print("RESULT " + json.dumps({"load_spec": results, "ok": bool(ok)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
