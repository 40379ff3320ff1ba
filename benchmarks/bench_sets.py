"""Benchmark of issue 15: publishing multiple-response questions and grids.

A 12-country, 2-wave poll of N respondents (200,000 for the recorded run) with five
multiple-response questions of 8 options (0/1 columns, ``selected: [1]``; 3% not asked)
and two grids of 5 items (5 levels), and — for comparison — one single-choice question
per option (two levels) and per item (the grid's five levels), drawn alike. Written as
Parquet sources with a spec, ingested and raked per country x wave (untimed), then in
this process:

* ``sets``: ``poll.publication(questions=[the 5 multiple + 2 grids])`` — 50 parts, plus
  the grids' item-versus-item differences (10 pairs x 5 levels each);
* ``single``: ``poll.publication(questions=[the 50 single-choice questions])``;

and the cost per option/item of each, and their ratio.

Usage::

    python benchmarks/bench_sets.py --n 200000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import emit, peak_rss_mb, timed

import data
from data import PollShape

HERE = Path(__file__).resolve().parent
N_MULTIPLE, N_OPTIONS = 5, 8
N_GRIDS, N_ITEMS = 2, 5
LEVELS = ["a", "b", "c", "d", "dont_know"]
RAKING = {"age": ["18-34", "35-54", "55+"], "gender": ["female", "male"]}
SEED = 20251115


def _answers(
    rng: np.random.Generator, per: int, c_i: int, w_i: int, cols: dict[str, Any]
) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for m in range(N_MULTIPLE):
        asked = rng.random(per) >= 0.03
        opts = {}
        for k in range(N_OPTIONS):
            p = rng.uniform(0.05, 0.6)
            pick = (rng.random(per) < p).astype(float)
            pick[~asked] = np.nan
            cols[f"m{m}_{k}"] = pl.Series(pick).fill_nan(None).cast(pl.Int8)
            opts[f"o{k}"] = f"m{m}_{k}"
            # the single-choice twin: the same draw, a question of two levels
            twin = np.where(np.isnan(pick), None, np.where(pick == 1, "yes", "no"))
            cols[f"s{m}_{k}"] = pl.Series(twin.tolist(), dtype=pl.String)
            variables[f"s{m}_{k}"] = {"column": f"s{m}_{k}"}
        variables[f"m{m}"] = {"columns": opts, "selected": [1]}
    for g in range(N_GRIDS):
        items = {}
        for k in range(N_ITEMS):
            p = rng.dirichlet(np.full(len(LEVELS), 3.0))
            answer = np.array(LEVELS, dtype=object)[rng.choice(len(LEVELS), per, p=p)]
            answer[rng.random(per) < 0.04] = None
            cols[f"g{g}_{k}"] = pl.Series(answer.tolist(), dtype=pl.String)
            items[f"i{k}"] = f"g{g}_{k}"
            cols[f"t{g}_{k}"] = cols[f"g{g}_{k}"]
            variables[f"t{g}_{k}"] = {"column": f"t{g}_{k}"}
        variables[f"g{g}"] = {"columns": items}
    return variables


def _questions() -> list[dict[str, Any]]:
    levels = [{"code": lv, "label": lv} for lv in LEVELS]
    questions: list[dict[str, Any]] = []
    for m in range(N_MULTIPLE):
        questions.append(
            {"id": f"m{m}", "kind": "multiple", "wording": f"Multiple {m}",
             "options": [{"code": f"o{k}", "label": f"Option {k}"} for k in range(N_OPTIONS)]}
        )  # fmt: skip
        questions += [
            {"id": f"s{m}_{k}", "levels": [{"code": "yes", "label": "yes"},
                                           {"code": "no", "label": "no"}]}
            for k in range(N_OPTIONS)
        ]  # fmt: skip
    for g in range(N_GRIDS):
        questions.append(
            {"id": f"g{g}", "kind": "grid", "wording": f"Grid {g}", "levels": levels,
             "items": [{"code": f"i{k}", "label": f"Item {k}"} for k in range(N_ITEMS)],
             "non_substantive": ["dont_know"]}
        )  # fmt: skip
        questions += [
            {"id": f"t{g}_{k}", "levels": levels, "non_substantive": ["dont_know"]}
            for k in range(N_ITEMS)
        ]
    return questions


def _margins(rng: np.random.Generator) -> dict[str, dict[str, float]]:
    return {
        "age": dict(zip(RAKING["age"], (0.3, 0.35, 0.35), strict=True)),
        "gender": {"female": 0.52, "male": 0.48},
    }


def write_poll(n: int, out: Path) -> Path:
    """Parquet sources and spec of the benchmark poll; returns the spec's path."""
    shape = PollShape(
        "Sets benchmark", RAKING, _questions(), _answers, margins=_margins, skewed=False,
        region="EU",
    )  # fmt: skip
    return data.write_poll(shape, n, out, SEED)


def measure(n: int) -> dict[str, Any]:
    from barometer.poll.poll import Poll

    out_dir = HERE / "_data" / f"sets_{n}"
    store = out_dir / "poll.duckdb"
    done = out_dir / "weighted.ok"
    if not done.exists():
        store.unlink(missing_ok=True)
        poll, _ = Poll.ingest(write_poll(n, out_dir), store)
        poll.weight(tol=1e-6)
        done.write_text("ok")
    sets = [f"m{m}" for m in range(N_MULTIPLE)] + [f"g{g}" for g in range(N_GRIDS)]
    singles = [f"s{m}_{k}" for m in range(N_MULTIPLE) for k in range(N_OPTIONS)]
    singles += [f"t{g}_{k}" for g in range(N_GRIDS) for k in range(N_ITEMS)]
    parts = N_MULTIPLE * N_OPTIONS + N_GRIDS * N_ITEMS
    poll = Poll.open(store)
    poll.design("raked")  # the raked design once, outside both timings
    result: dict[str, Any] = {"n": n, "parts": parts}
    for name, questions in (("sets", sets), ("single", singles)):
        walls, cpus, pub = timed(lambda q=questions: poll.publication(questions=q))
        i = min(range(len(walls)), key=walls.__getitem__)
        result[name] = {
            "seconds": walls[i], "cpu_seconds": cpus[i], "runs": len(walls),
            "per_part": walls[i] / parts, "questions": len(pub.questions),
        }  # fmt: skip
    result["ratio"] = result["sets"]["seconds"] / result["single"]["seconds"]
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    result = measure(args.n)
    emit(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
