"""Benchmark of issue 20: estimates and raking out of core, through DuckDB.

A streaming generator writes the benchmark poll as Parquet partitioned by country x wave
(``country=XX/wave=YY/part-K.parquet``), a chunk of at most 1,000,000 rows at a time, so
its memory does not grow with the size. The free disk is checked first; a size that would
not fit is skipped with the reason.

Task, per size: shares of every level of 20 questions by country x wave with
Taylor-linearisation SEs (stratified, clustered design; missing answers out of the base)
through ``bm.Design(connection.read_parquet(...))`` with DuckDB's ``memory_limit`` and
``temp_directory`` set; then raking within country to four margins, the weights written to
a new Parquet file keyed by respondent id. Each run is its own process, whose peak RSS
is reported (the target: at most 4 GB). The in-memory path (polars in memory, the same
estimates) runs beside it at the sizes given by ``--memory``. Cost per respondent is the
time over the rows (flat across sizes is the goal).

Usage::

    python benchmarks/bench_scale.py --sizes 10000000 30000000 --memory 1000000 10000000
    python benchmarks/bench_scale.py --sizes 10000000 --memory 10000000 --calibrated
    python benchmarks/bench_scale.py --sizes --memory --spark 10000000 --calibrated
    python benchmarks/bench_scale.py --child duckdb --n 10000000     # one run (internal)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "_data" / "scale"
COUNTRIES = ["BG", "DE", "DK", "EE", "ES", "FR", "GB", "HU", "IT", "KR", "PL", "PT"]
WAVES = ["2024-11", "2025-11"]
QUESTIONS = [f"q{i:02d}" for i in range(1, 21)]
RAKING = {"age": 5, "gender": 2, "education": 3, "region": 5}
CHUNK = 1_000_000
BYTES_PER_ROW = 40  # compressed Parquet of this poll, measured at 1M (~32), with margin
SEED = 20261201


def poll_dir(n: int) -> Path:
    return DATA_DIR / f"poll_{n}"


def generate(n: int) -> Path:
    """Write the poll of ``n`` respondents (if not there yet), one partition at a time."""
    out = poll_dir(n)
    done = out / "_done"
    if done.exists():
        return out
    need = n * BYTES_PER_ROW
    free = shutil.disk_usage(DATA_DIR.parent if DATA_DIR.parent.exists() else "/").free
    if need * 2 > free:  # the poll, and as much again for DuckDB's spill and the weights
        raise SystemExit(f"skipped n={n:,}: needs ~{need * 2 / 1e9:.1f} GB, {free / 1e9:.1f} free")
    shutil.rmtree(out, ignore_errors=True)
    rng = np.random.default_rng(SEED + n)
    cells = [(c, w) for c in COUNTRIES for w in WAVES]
    per_cell = np.full(len(cells), n // len(cells))
    per_cell[: n % len(cells)] += 1
    next_id, next_psu, next_stratum = 0, 0, 0
    for (country, wave), rows in zip(cells, per_cell, strict=True):
        part = out / f"country={country}" / f"wave={wave}"
        part.mkdir(parents=True)
        n_strata = int(rng.integers(4, 7))
        psus_per = rng.integers(35, 46, n_strata)
        psu_stratum = np.repeat(np.arange(n_strata), psus_per)
        stratum_weight = rng.uniform(0.6, 1.6, n_strata)
        for k, start in enumerate(range(0, int(rows), CHUNK)):
            m = min(CHUNK, int(rows) - start)
            psu = rng.integers(0, psu_stratum.size, m)
            h = psu_stratum[psu]
            cols: dict[str, Any] = {
                "id": np.arange(next_id, next_id + m, dtype=np.int64),
                "stratum": (h + next_stratum).astype(np.int32),
                "psu": (psu + next_psu).astype(np.int32),
                "w": stratum_weight[h] * rng.lognormal(0.0, 0.35, m),
            }
            for q in QUESTIONS:
                k_levels = 3 + int(q[1:]) % 3
                codes = rng.integers(1, k_levels + 1, m).astype(np.int8)
                cols[q] = pa.array(codes, mask=rng.random(m) < 0.03)
            for var, k_levels in RAKING.items():
                cols[var] = rng.integers(1, k_levels + 1, m).astype(np.int8)
            pq.write_table(pa.table(cols), part / f"part-{k}.parquet", compression="zstd")
            next_id += m
        next_psu += psu_stratum.size
        next_stratum += n_strata
    done.touch()
    return out


def margins() -> dict[str, dict[str, dict[int, float]]]:
    """Raking targets within each country: shares per level (the sample's tilted)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for i, country in enumerate(COUNTRIES):
        per: dict[str, dict[int, float]] = {}
        for var, k_levels in RAKING.items():
            raw = np.arange(1, k_levels + 1) + (i % 3)
            shares = np.round(raw / raw.sum(), 3)
            shares[-1] = round(1.0 - shares[:-1].sum(), 3)
            per[var] = {lv + 1: float(s) for lv, s in enumerate(shares)}
        out[country] = per
    return out


def child(
    engine: str, n: int, memory_limit: str, threads: int, calibrated: bool = False
) -> dict[str, Any]:
    """One timed run in this process; returns the timings and the peak RSS."""
    import polars as pl

    import barometer as bm
    from barometer.core.backends.duck import connect

    # warm-up outside the timings: the lazily imported estimators (scipy, numba)
    warm = pl.DataFrame({"w": [1.0, 2.0, 1.5], "h": [1, 1, 2], "p": [1, 2, 3], "q": [1, 2, 1]})
    bm.Design(warm, weights="w", strata="h", psu="p", lonely_psu="adjust").proportion("q")
    glob = str(poll_dir(n) / "*" / "*" / "*.parquet")
    spec = {"weights": "w", "strata": "stratum", "psu": "psu"}
    result: dict[str, Any] = {"engine": engine, "n": n, "load_average": os.getloadavg()}
    by = ["country", "wave"]
    spill = tempfile.mkdtemp(prefix=f"{engine}-spill-", dir=DATA_DIR)
    session = None
    t0 = time.perf_counter()
    if engine == "duckdb":
        con = connect(memory_limit=memory_limit, temp_directory=spill, threads=threads)
        rel = con.read_parquet(glob, hive_partitioning=True)
        design = bm.Design(rel, **spec)
    elif engine == "spark":
        session = _spark(memory_limit, threads, spill)
        # partition values as text (country, wave), as DuckDB's hive partitioning reads them
        frame = session.read.parquet(str(poll_dir(n)))
        design = bm.Design(frame, **spec)
    else:
        frame = pl.read_parquet(glob, hive_partitioning=True)
        result["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        design = bm.Design(frame, **spec)
    engine_side = engine != "memory"
    # all 20 questions' sums from one pass (GROUPING SETS) where a pass is dear: Spark (a
    # fixed cost per query) and, below, the raked design (a join per pass); over plain
    # Parquet, DuckDB's hashing is the cost, and one pass of 20 sets was slower at 10-30M
    if engine == "spark":
        design.prefetch(QUESTIONS, by=by)
    rows = 0
    for q in QUESTIONS:
        rows += design.proportion(q, by=by).to_polars().height
    result["shares_s"] = time.perf_counter() - t0
    result["share_rows"] = rows
    t1 = time.perf_counter()
    if engine_side:
        target = Path(spill) / "raked.parquet"
        raked = design.rake(margins(), by="country", id="id", to=target).design
    else:
        raked = design.rake(margins(), by="country")
    result["rake_s"] = time.perf_counter() - t1
    if calibrated:  # the shares again with calibrated SEs (DuckDB: from sums by cell)
        t2 = time.perf_counter()
        if engine_side:
            raked.prefetch(QUESTIONS, by=by)
        for q in QUESTIONS:
            raked.proportion(q, by=by)
        result["calibrated_shares_s"] = time.perf_counter() - t2
        result["calibrated_us_per_row"] = result["calibrated_shares_s"] / n * 1e6
    result["peak_rss_mb"] = _peak_rss_mb()
    if session is not None:
        session.stop()
    shutil.rmtree(spill, ignore_errors=True)
    result["shares_us_per_row"] = result["shares_s"] / n * 1e6
    return result


def _spark(memory_limit: str, threads: int, spill: str) -> Any:
    """A local Spark session of ``threads`` cores whose driver (executor too, in local
    mode) has a heap of ``memory_limit`` less a gigabyte for the JVM's own memory."""
    from pyspark.sql import SparkSession

    heap_gb = max(1, int(memory_limit.upper().removesuffix("GB")) - 1)
    session = (
        SparkSession.builder.master(f"local[{threads}]")
        .appName("barometer-bench-scale")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", f"{heap_gb}g")
        .config("spark.local.dir", spill)
        .config("spark.sql.shuffle.partitions", str(4 * threads))
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and its live children (Spark's JVM), from
    each one's ``VmHWM``; ``getrusage`` would miss a child that has not exited."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [me]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return max(total, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000_000])
    ap.add_argument("--memory", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spark", type=int, nargs="*", default=[], help="sizes for Spark (local)")
    ap.add_argument("--child", choices=["duckdb", "memory", "spark"])
    ap.add_argument("--n", type=int)
    ap.add_argument(
        "--calibrated", action="store_true", help="then the shares again on the raked design"
    )
    args = ap.parse_args()
    if args.child:
        found = child(args.child, args.n, args.memory_limit, args.threads, args.calibrated)
        print("RESULT " + json.dumps(found))
        return
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    runs = [("duckdb", n) for n in args.sizes] + [("memory", n) for n in args.memory]
    runs += [("spark", n) for n in args.spark]
    for engine, n in sorted(runs, key=lambda r: (r[1], r[0])):
        t0 = time.perf_counter()
        try:
            generate(n)
        except SystemExit as skip:
            print(json.dumps({"engine": engine, "n": n, "skipped": str(skip)}))
            continue
        gen_s = time.perf_counter() - t0
        cmd = [sys.executable, __file__, "--child", engine, "--n", str(n)]
        cmd += ["--memory-limit", args.memory_limit, "--threads", str(args.threads)]
        cmd += ["--calibrated"] if args.calibrated else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if not line:
            print(json.dumps({"engine": engine, "n": n, "error": out.stderr[-2000:]}))
            continue
        result = json.loads(line[0][7:])
        result["generate_s"] = gen_s
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
