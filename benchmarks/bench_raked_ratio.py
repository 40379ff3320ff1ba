"""Issue 16's core ratio: the 20-question call on the raked design over the same call unraked.

The shares of every level of the 20 questions by country x wave (``bench_estimates.py``'s
tasks ``shares`` and ``raked``: ``data.py``'s poll, strata and PSUs; raked within country on
age, gender, education and region to tolerance 1e-10), estimates only: the 20 calls
``d.proportion(q, by=["country", "wave"])`` are timed on the plain and the raked design,
alternating, ``--reps`` rounds. Each round builds both designs anew, untimed (each from its
own ``bm.Design``: a raked copy shares its source's codings and PSU pairs), then times

* **cold**: the first call on each design — the figure of ``bench_estimates.py``'s runs
  less their design and raking (the raked design's calibration plan is built here);
* **warm**: the same call again, with what the first left in the design's cache (a
  banner's later questions).

The first round of a process runs on memory the process has never touched, which on this
machine (a virtual machine) costs up to twice the later rounds' CPU, the raked design's
more than the plain one's (it allocates more); ``--warmup`` rounds (default 1) run first
and are printed but left out of the summary (``--warmup 0`` keeps them).

CPU seconds are ``time.process_time()`` (all threads of this process, user + system); wall
is ``time.perf_counter()``. Each round prints both and the raked ÷ plain ratios; the
summary gives each one's range over the rounds. ``--save DIR`` writes the last cold run's
estimates and SEs (``plain.parquet``, ``raked.parquet``) for a bitwise comparison of two
trees (``--compare DIR_A DIR_B``).

Usage::

    python benchmarks/bench_raked_ratio.py --n 1000000 --reps 5
    python benchmarks/bench_raked_ratio.py --compare benchmarks/_data/a benchmarks/_data/b
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import data

BY = ["country", "wave"]
RAKED_TOL = 1e-10  # as bench_estimates.py's raked task


def call(design: Any, questions: list[str]) -> tuple[float, float, list[Any]]:
    """The 20-question call: (CPU s, wall s, the estimates)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = [design.proportion(q, by=BY) for q in questions]
    return time.process_time() - c0, time.perf_counter() - t0, out


def tidy(found: list[Any]) -> pl.DataFrame:
    return pl.concat([e.to_polars() for e in found]).select(
        *BY, "variable", "level", "estimate", "se"
    )


def run(n: int, reps: int, warmup: int, save: Path | None) -> dict[str, Any]:
    import barometer as bm

    files = data.ensure(n)
    df = pl.read_parquet(files["parquet"])
    targets = json.loads(files["targets"].read_text())["targets"]

    def build() -> dict[str, Any]:
        # each from its own bm.Design: a raked copy shares its source's codings and pairs,
        # which the plain calls would otherwise fill for it
        plain = bm.Design(df, weights="w", strata="stratum", psu="psu")
        raked = bm.Design(df, weights="w", strata="stratum", psu="psu").rake(
            targets, by="country", tol=RAKED_TOL, max_iter=1000
        )
        return {"plain": plain, "raked": raked}

    times: dict[str, list[tuple[float, float]]] = {
        f"{k}_{m}": [] for k in ("plain", "raked") for m in ("cold", "warm")
    }
    last: dict[str, list[Any]] = {}
    for r in range(-warmup, reps):
        designs = build()
        gc.collect()
        line = []
        for mode in ("cold", "warm"):
            got = {}
            for kind, d in designs.items():
                cpu, wall, found = call(d, data.QUESTIONS)
                got[kind] = (cpu, wall)
                if r >= 0:
                    times[f"{kind}_{mode}"].append((cpu, wall))
                if mode == "cold":
                    last[kind] = found
            (pc, pw), (rc, rw) = got["plain"], got["raked"]
            line.append(
                f"{mode}: plain {pc:.3f} CPU ({pw:.3f} wall), raked {rc:.3f} CPU "
                f"({rw:.3f} wall), ratio {rc / pc:.2f} CPU ({rw / pw:.2f} wall)"
            )
        name = f"round {r + 1}" if r >= 0 else "warm-up (not in the summary)"
        print(f"{name}: " + "; ".join(line), flush=True)
        del designs
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        for kind, found in last.items():
            tidy(found).write_parquet(save / f"{kind}.parquet")
    summary: dict[str, Any] = {"n": n, "reps": reps}
    for mode in ("cold", "warm"):
        p = np.array(times[f"plain_{mode}"])
        k = np.array(times[f"raked_{mode}"])
        ratio = k / p
        summary[mode] = {
            "plain_cpu": [float(p[:, 0].min()), float(p[:, 0].max())],
            "raked_cpu": [float(k[:, 0].min()), float(k[:, 0].max())],
            "ratio_cpu": [float(ratio[:, 0].min()), float(ratio[:, 0].max())],
            "ratio_cpu_median": float(np.median(ratio[:, 0])),
            "plain_wall": [float(p[:, 1].min()), float(p[:, 1].max())],
            "raked_wall": [float(k[:, 1].min()), float(k[:, 1].max())],
            "ratio_wall": [float(ratio[:, 1].min()), float(ratio[:, 1].max())],
        }
        s = summary[mode]
        print(
            f"{mode}: plain {s['plain_cpu'][0]:.3f}-{s['plain_cpu'][1]:.3f} CPU s, "
            f"raked {s['raked_cpu'][0]:.3f}-{s['raked_cpu'][1]:.3f} CPU s, "
            f"raked / plain {s['ratio_cpu'][0]:.2f}-{s['ratio_cpu'][1]:.2f} CPU "
            f"(median {s['ratio_cpu_median']:.2f}; wall {s['ratio_wall'][0]:.2f}-"
            f"{s['ratio_wall'][1]:.2f})"
        )
    return summary


def compare(a: Path, b: Path) -> None:
    """Whether two trees' saved estimates and SEs are bitwise equal, and their largest
    relative difference where not."""
    for kind in ("plain", "raked"):
        x, y = pl.read_parquet(a / f"{kind}.parquet"), pl.read_parquet(b / f"{kind}.parquet")
        same_keys = x.drop("estimate", "se").equals(y.drop("estimate", "se"))
        parts = []
        for col in ("estimate", "se"):
            u, v = x.get_column(col).to_numpy(), y.get_column(col).to_numpy()
            equal = np.array_equal(u, v, equal_nan=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.nanmax(np.abs(u - v) / np.abs(v)) if not equal else 0.0
            parts.append(f"{col} {'bitwise equal' if equal else f'max rel {rel:.2e}'}")
        print(f"{kind}: keys {'equal' if same_keys else 'DIFFER'}, " + ", ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--warmup", type=int, default=1, help="untimed rounds first (fresh memory; see above)"
    )
    ap.add_argument("--save", type=Path, help="write the last cold run's estimates here")
    ap.add_argument("--compare", type=Path, nargs=2, metavar=("DIR_A", "DIR_B"))
    ap.add_argument("--json", action="store_true", help="print the summary as JSON too")
    a = ap.parse_args()
    if a.compare:
        compare(*a.compare)
        return
    summary = run(a.n, a.reps, a.warmup, a.save)
    if a.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
