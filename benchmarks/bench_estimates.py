"""Benchmark of issue 2: shares by country x wave, and a replicate-weight mean.

Task ``shares``: the share of every level of all 20 questions by country x wave with
Taylor-linearisation SEs (stratified, clustered design; missing answers out of the base):

* barometer: ``bm.Design(...)`` then ``d.proportion(q, by=["country", "wave"])`` per question;
* svy: ``svy.Sample(...)`` then ``estimation.prop(q, by=("country", "wave"),
  drop_nulls=True)`` per question;
* R survey: ``svydesign`` then ``svyby(~q, ~country+wave, design, svymean, na.rm=TRUE)``
  per question (``bench_estimates.R``, timed inside R);
* floor: a bare ``np.bincount`` of the weighted counts by (country, wave, level) per
  question, on integer codes prepared beforehand (no SEs: the cost of reading the data once).

Task ``sdr``: the mean of a 0/1 indicator by country with 80 successive-difference
replicate weights — barometer ``bm.ReplicateDesign(..., type="sdr")`` vs svy
``SdrWgts(prefix="rw", n_reps=80)`` with ``method="replication"``.

Task ``raked``: the same shares on the design raked within country on age, gender,
education and region (tolerance 1e-10, so that the weights agree with R's to ~1e-10 and the
SEs can be compared at 1e-8), with calibration-aware SEs:

* barometer: ``bm.Design(...).rake(targets, by="country")`` then ``d.proportion(q, by=[
  "country", "wave"])`` for the 20 questions (the ratio against ``shares``) and for the
  first two (the comparison with R);
* R survey: ``rake(design, list(~country+age, ...), <totals>)`` then ``svyby(~q,
  ~country+wave, design, svymean, na.rm=TRUE)`` for q01 and q02 (``bench_raked.R``).

Task ``calibrated``: the same 20 calls on the design calibrated linearly (``calibrate()``,
GREG) on national margins of country, age, gender, education and region (main effects:
each level's total summed over the countries' raking targets), with calibration-aware SEs
(``--calfun logit``: logit calibration with bounds (0.3, 3.0), to each country's level
shares of its own weighted sample total).

Timings cover design construction plus estimation on data already in memory. Each tool
runs in its own process (``--child``). barometer's estimates and SEs are compared with R's
(shares) and svy's (sdr); the largest relative differences are printed.

Usage::

    python benchmarks/bench_estimates.py --n 100000                 # all tools, both tasks
    python benchmarks/bench_estimates.py --n 100000 --tool barometer --task shares --child
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import PYTHON, SVY_PYTHON, emit, peak_rss_mb, pkg_version, run_child, timed

import data

HERE = Path(__file__).resolve().parent
SHARES_TOOLS = ("barometer", "svy", "r", "floor")
SDR_TOOLS = ("barometer", "svy")
RAKED_TOOLS = ("barometer", "r")
RAKED_TOL = 1e-10
CALIBRATED_LOGIT_BOUNDS = (0.3, 3.0)
#: the questions R answers in the raked task (it takes over a minute per question at 200,000)
RAKED_R_QUESTIONS = 2
BY = ["country", "wave"]


def out_path(task: str, tool: str, n: int) -> Path:
    """Where a tool's estimates are written for the agreement check."""
    ext = "csv" if tool == "r" else "parquet"
    return data.DATA_DIR / f"est_{task}_{tool}_{n}.{ext}"


def _result(
    tool: str, version: str, n: int, runs: list[tuple[float, float, float]], **extra: Any
) -> dict:
    totals = [t for t, _, _ in runs]
    best = int(np.argmin(totals))
    return {
        "tool": tool,
        "version": version,
        "n": n,
        "times": totals,
        "seconds": totals[best],
        "cpu_seconds": runs[best][2],
        "setup_seconds": runs[best][1],
        "peak_mb": peak_rss_mb(),
        **extra,
    }


def _two_step(setup: Any, work: Any) -> tuple[list[tuple[float, float, float]], Any]:
    """Time ``work(setup())``; return [(total, setup, cpu)] per run and the last result."""
    setups: list[float] = []

    def once() -> Any:
        t0 = time.perf_counter()
        obj = setup()
        setups.append(time.perf_counter() - t0)
        return work(obj)

    walls, cpus, res = timed(once)
    return list(zip(walls, setups, cpus, strict=True)), res


# --- shares ------------------------------------------------------------------------------


def shares_barometer(df: pl.DataFrame, n: int, questions: list[str]) -> dict:
    import barometer as bm

    load_mb = peak_rss_mb()
    runs, res = _two_step(
        lambda: bm.Design(df, weights="w", strata="stratum", psu="psu"),
        lambda d: [d.proportion(q, by=BY) for q in questions],
    )
    tidy = pl.concat([e.to_polars() for e in res]).select(
        *BY, "variable", "level", "estimate", "se"
    )
    tidy.write_parquet(out_path("shares", "barometer", n))
    peak = peak_rss_mb()
    tracemalloc.start()
    d = bm.Design(df, weights="w", strata="stratum", psu="psu")
    for q in questions:
        d.proportion(q, by=BY)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return _result(
        "barometer", pkg_version("barometer"), n, runs, load_mb=load_mb, traced_work_mb=traced
    ) | {"peak_mb": peak}


def shares_svy(df: pl.DataFrame, n: int, questions: list[str]) -> dict:
    import svy

    load_mb = peak_rss_mb()
    runs, res = _two_step(
        lambda: svy.Sample(df, svy.Design(stratum="stratum", psu="psu", wgt="w")),
        lambda s: [s.estimation.prop(q, by=tuple(BY), drop_nulls=True) for q in questions],
    )
    tidy = pl.concat(
        [
            r.to_polars()
            .select(*BY, pl.col(q).cast(pl.String).alias("level"), "est", "se")
            .rename({"est": "estimate"})
            .with_columns(variable=pl.lit(q))
            for q, r in zip(questions, res, strict=True)
        ]
    )
    tidy.write_parquet(out_path("shares", "svy", n))
    return _result("svy", pkg_version("svy"), n, runs, load_mb=load_mb)


def shares_floor(df: pl.DataFrame, n: int, questions: list[str]) -> dict:
    """Weighted counts by (country, wave, level): the irreducible pass over the data."""
    load_mb = peak_rss_mb()
    _, ci = np.unique(df.get_column("country").to_numpy(), return_inverse=True)
    waves, wi = np.unique(df.get_column("wave").to_numpy(), return_inverse=True)
    cw = ci * len(waves) + wi
    n_cw = int(cw.max()) + 1
    w = df.get_column("w").to_numpy()
    codes = [df.get_column(q).fill_null(0).to_numpy().astype(np.int64) for q in questions]

    def work(_: None) -> list[np.ndarray]:
        out = []
        for c in codes:
            k = 6  # codes 0 (missing) .. 5
            counts = np.bincount(cw * k + c, weights=w, minlength=n_cw * k).reshape(n_cw, k)
            counts = counts[:, 1:]
            out.append(counts / counts.sum(axis=1, keepdims=True))
        return out

    runs, _ = _two_step(lambda: None, work)
    return _result("NumPy bincount floor", np.__version__, n, runs, load_mb=load_mb)


# --- raked ------------------------------------------------------------------------------


def raked_barometer(df: pl.DataFrame, n: int, questions: list[str], targets: dict) -> dict:
    import barometer as bm

    def design() -> Any:
        d = bm.Design(df, weights="w", strata="stratum", psu="psu")
        return d.rake(targets, by="country", tol=RAKED_TOL, max_iter=1000)

    load_mb = peak_rss_mb()
    runs, _ = _two_step(design, lambda d: [d.proportion(q, by=BY) for q in questions])
    short = questions[:RAKED_R_QUESTIONS]
    runs_short, res = _two_step(design, lambda d: [d.proportion(q, by=BY) for q in short])
    tidy = pl.concat([e.to_polars() for e in res]).select(
        *BY, "variable", "level", "estimate", "se"
    )
    tidy.write_parquet(out_path("raked", "barometer", n))
    best = min(runs_short)
    return _result("barometer", pkg_version("barometer"), n, runs, load_mb=load_mb) | {
        "questions": len(questions),
        "short": {
            "questions": len(short),
            "seconds": best[0],
            "setup_seconds": best[1],
            "cpu_seconds": best[2],
        },
    }


def national_margins(targets: dict) -> dict[str, dict[str, float]]:
    """Main-effect calibration totals: each country's total and, per raking variable, each
    level's total over the countries."""
    out: dict[str, dict[str, float]] = {"country": {}}
    for country, margins in targets.items():
        first = next(iter(margins.values()))
        out["country"][country] = float(sum(first.values()))
        for var, levels in margins.items():
            for level, total in levels.items():
                out.setdefault(var, {})
                out[var][level] = out[var].get(level, 0.0) + float(total)
    return out


def calibrated_barometer(
    df: pl.DataFrame, n: int, questions: list[str], targets: dict, calfun: str
) -> dict:
    import barometer as bm

    margins = national_margins(targets)
    kw: dict[str, Any] = {"method": calfun, "tol": RAKED_TOL, "max_iter": 1000}
    if calfun == "logit":
        # bounded g-weights need totals on the base weights' scale, which differs from the
        # population's by country: each country's share of a level is applied to its own
        # weighted sample total
        kw["bounds"] = CALIBRATED_LOGIT_BOUNDS
        sample = df.group_by("country").agg(pl.col("w").sum())
        own = dict(zip(sample.get_column("country"), sample.get_column("w"), strict=True))
        margins = national_margins(
            {
                c: {
                    v: {lv: t * own[c] / sum(levels.values()) for lv, t in levels.items()}
                    for v, levels in m.items()
                }
                for c, m in targets.items()
            }
        )

    def design() -> Any:
        d = bm.Design(df, weights="w", strata="stratum", psu="psu")
        return d.calibrate(margins, **kw)

    load_mb = peak_rss_mb()
    runs, res = _two_step(design, lambda d: [d.proportion(q, by=BY) for q in questions])
    tidy = pl.concat([e.to_polars() for e in res]).select(
        *BY, "variable", "level", "estimate", "se"
    )
    tidy.write_parquet(out_path(f"calibrated_{calfun}", "barometer", n))
    return _result("barometer", pkg_version("barometer"), n, runs, load_mb=load_mb) | {
        "questions": len(questions),
        "calfun": calfun,
    }


# --- sdr ---------------------------------------------------------------------------------


def sdr_barometer(df: pl.DataFrame, n: int) -> dict:
    import barometer as bm

    # one-time costs out of the timing (README): one untimed run loads numba's compiled
    # replicate sums (on a loaded machine the first run alone can pass the 10 s under
    # which runs are repeated)
    bm.ReplicateDesign(df, weights="w", replicates=data.REPLICATES, type="sdr").mean(
        "ind", by="country"
    )
    load_mb = peak_rss_mb()
    runs, res = _two_step(
        lambda: bm.ReplicateDesign(df, weights="w", replicates=data.REPLICATES, type="sdr"),
        lambda d: d.mean("ind", by="country"),
    )
    res.to_polars().select("country", "estimate", "se").write_parquet(
        out_path("sdr", "barometer", n)
    )
    return _result("barometer", pkg_version("barometer"), n, runs, load_mb=load_mb)


def sdr_svy(df: pl.DataFrame, n: int) -> dict:
    import svy

    load_mb = peak_rss_mb()
    design = svy.Design(wgt="w", rep_wgts=svy.SdrWgts(prefix="rw", n_reps=data.N_REPLICATES))
    runs, res = _two_step(
        lambda: svy.Sample(df, design),
        lambda s: s.estimation.mean("ind", by="country", method="replication"),
    )
    res.to_polars().select("country", pl.col("est").alias("estimate"), "se").write_parquet(
        out_path("sdr", "svy", n)
    )
    return _result("svy", pkg_version("svy"), n, runs, load_mb=load_mb)


# --- driver ------------------------------------------------------------------------------


def child(tool: str, task: str, n: int, calfun: str = "linear") -> dict:
    """Run one tool on one task in this process (the data are read first, untimed)."""
    files = data.ensure(n)
    if task == "sdr":
        df = pl.read_parquet(files["rep"])
        return {"barometer": sdr_barometer, "svy": sdr_svy}[tool](df, n)
    questions = data.QUESTIONS
    df = pl.read_parquet(files["parquet"])
    if task in ("raked", "calibrated"):
        import json

        targets = json.loads(files["targets"].read_text())["targets"]
        if task == "calibrated":
            return calibrated_barometer(df, n, questions, targets, calfun)
        return raked_barometer(df, n, questions, targets)
    fn = {"barometer": shares_barometer, "svy": shares_svy, "floor": shares_floor}[tool]
    return fn(df, n, questions)


def run(tool: str, task: str, n: int, calfun: str = "linear") -> dict:
    """Run one tool on one task in its own process and return its result."""
    files = data.ensure(n)
    if tool == "r" and task == "raked":
        cmd = ["Rscript", str(HERE / "bench_raked.R"), str(files["csv"]), str(files["targets"])]
        cmd.append(str(out_path(task, "r", n)))
    elif tool == "r":
        cmd = [
            "Rscript",
            str(HERE / "bench_estimates.R"),
            str(files["csv"]),
            str(out_path(task, "r", n)),
        ]
    else:
        python = SVY_PYTHON if tool == "svy" and SVY_PYTHON.exists() else PYTHON
        cmd = [str(python), str(Path(__file__))]
        cmd += ["--child", "--tool", tool, "--task", task, "--n", str(n), "--calfun", calfun]
    res = run_child(cmd)
    res.setdefault("n", n)
    return res


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, schema_overrides={"level": pl.String, "wave": pl.String})
    return pl.read_parquet(path)


def agreement(task: str, other: str, n: int) -> dict[str, float] | None:
    """Largest relative differences between barometer's estimates/SEs and ``other``'s."""
    ours, theirs = out_path(task, "barometer", n), out_path(task, other, n)
    if not (ours.exists() and theirs.exists()):
        return None
    a, b = _read(ours), _read(theirs)
    keys = [c for c in a.columns if c not in ("estimate", "se")]
    j = a.join(b, on=keys, how="full", suffix="_o", coalesce=True)
    matched = j.drop_nulls(["estimate", "estimate_o"])

    def rel(x: str) -> float:
        d = (matched[x] - matched[f"{x}_o"]).abs() / matched[f"{x}_o"].abs()
        return float(d.max())

    return {
        "rows": a.height,
        "unmatched": j.height - matched.height,
        "estimate": rel("estimate"),
        "se": rel("se"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tool", choices=sorted(set(SHARES_TOOLS) | set(SDR_TOOLS)))
    ap.add_argument("--task", choices=("shares", "sdr", "raked", "calibrated"))
    ap.add_argument("--calfun", choices=("linear", "logit"), default="linear")
    ap.add_argument("--child", action="store_true", help="run in this process (internal)")
    a = ap.parse_args()
    if a.child:
        emit(child(a.tool, a.task, a.n, a.calfun))
        return
    tasks = (("shares", SHARES_TOOLS), ("sdr", SDR_TOOLS), ("raked", RAKED_TOOLS))
    # the calibrated task has no peer: it runs only when asked for
    tasks += (("calibrated", ("barometer",)),) if a.task == "calibrated" else ()
    for task, tools in tasks:
        if a.task and task != a.task:
            continue
        for tool in tools:
            if a.tool and tool != a.tool:
                continue
            r = run(tool, task, a.n, a.calfun)
            msg = r.get("error") or f"{r['seconds']:.3f} s  peak {r['peak_mb']:.0f} MB"
            print(f"{task:7s} {tool:10s} n={r['n']:>9,}  {msg}", flush=True)
        if task != "calibrated":
            ref = "svy" if task == "sdr" else "r"
            print(f"{task:7s} agreement barometer vs {ref}: {agreement(task, ref, a.n)}")


if __name__ == "__main__":
    main()
