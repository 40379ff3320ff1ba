"""Benchmark of issue 19: a design-based logistic regression with 10 terms.

``ind ~ age + gender + education + region + country + wave + q01 + q02 + q03 + q04`` on the
generated poll (six categorical terms, four numeric 1-5 codes with ~3% missing each, so the
model uses ~88% of the rows; 28 coefficients), linearisation SEs under the stratified,
clustered design:

* barometer: ``bm.Design(df, weights="w", strata="stratum", psu="psu")`` then
  ``d.glm(FORMULA, family="quasibinomial").to_polars()``, the six factors given as polars
  enums with sorted levels (made untimed, as R's factors are; what ``Poll`` hands the
  core); ``barometer-strings`` the same on the plain string columns;
* svy: ``svy.Sample(df, svy.Design(stratum="stratum", psu="psu", wgt="w"))`` then
  ``s.glm.fit("ind", x=[Cat(...) x 6, "q01".."q04"], family="binomial").to_polars()``;
* R survey: ``svydesign`` then ``svyglm(FORMULA, design, family=quasibinomial())``
  (``bench_models.R``, timed inside R).

(The binomial and quasibinomial fits have the same coefficients and design-based SEs; R's
``binomial`` only adds warnings about non-integer successes.) Timings cover design
construction plus the fit and its coefficient table, on data already in memory, after one
untimed warm-up fit on 5,000 rows (one-time costs: imports, first calls). Each tool
runs in its own process (``--child``); coefficients and SEs are matched by position (every
tool orders the terms as the formula, levels sorted, the first level the reference) and the
largest relative differences from R's (and svy's) are printed.

Usage::

    python benchmarks/bench_models.py --n 1000000                     # all tools
    python benchmarks/bench_models.py --n 1000000 --size r=200000     # R at a smaller size
    python benchmarks/bench_models.py --n 100000 --tool barometer --child
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from _common import PYTHON, SVY_PYTHON, emit, peak_rss_mb, pkg_version, run_child, timed

import data

HERE = Path(__file__).resolve().parent
TOOLS = ("barometer", "barometer-strings", "svy", "r")
FACTORS = ["age", "gender", "education", "region", "country", "wave"]
NUMERIC = ["q01", "q02", "q03", "q04"]
FORMULA = "ind ~ " + " + ".join(FACTORS + NUMERIC)


def out_path(tool: str, n: int) -> Path:
    """Where a tool's coefficient table is written for the agreement check."""
    return data.DATA_DIR / f"glm_{tool}_{n}.csv"


def _result(tool: str, version: str, n: int, walls: list[float], cpus: list[float]) -> dict:
    best = int(np.argmin(walls))
    return {
        "tool": tool,
        "version": version,
        "n": n,
        "times": walls,
        "seconds": walls[best],
        "cpu_seconds": cpus[best],
        "peak_mb": peak_rss_mb(),
    }


def warm_up(work: Callable[[], object]) -> None:
    """One fit on 5,000 rows first, untimed: the kept run should not pay one-time costs
    (barometer's lazy imports of its modules and of formulaic; svy's first call)."""
    work()


def as_enums(df: pl.DataFrame) -> pl.DataFrame:
    """The factors as polars enums with sorted levels: what R's ``factor()`` makes of them
    (untimed, as R's), and what ``Poll`` hands the core."""
    return df.with_columns(
        pl.col(v).cast(pl.Enum(sorted(df.get_column(v).drop_nulls().unique().to_list())))
        for v in FACTORS
    )


def glm_barometer(df: pl.DataFrame, n: int, strings: bool = False) -> dict:
    import barometer as bm

    tool = "barometer-strings" if strings else "barometer"
    if not strings:
        df = as_enums(df)
    load_mb = peak_rss_mb()

    def work() -> pl.DataFrame:
        d = bm.Design(df, weights="w", strata="stratum", psu="psu")
        return d.glm(FORMULA, family="quasibinomial").to_polars()

    warm_up(
        lambda: bm.Design(df.head(5000), weights="w", strata="stratum", psu="psu").glm(
            FORMULA, family="quasibinomial"
        )
    )
    walls, cpus, tab = timed(work)
    tab.select("term", "estimate", "se").write_csv(out_path(tool, n))
    peak = peak_rss_mb()
    tracemalloc.start()
    work()
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    res = _result(tool, pkg_version("barometer"), n, walls, cpus)
    return res | {"peak_mb": peak, "load_mb": load_mb, "traced_work_mb": traced}


def glm_svy(df: pl.DataFrame, n: int) -> dict:
    import svy
    from svy import Cat

    load_mb = peak_rss_mb()
    x = [Cat(v) for v in FACTORS] + NUMERIC

    def work() -> pl.DataFrame:
        s = svy.Sample(df, svy.Design(stratum="stratum", psu="psu", wgt="w"))
        return s.glm.fit("ind", x=x, family="binomial").to_polars()

    warm_up(
        lambda: svy.Sample(
            df.head(5000), svy.Design(stratum="stratum", psu="psu", wgt="w")
        ).glm.fit("ind", x=x, family="binomial")
    )
    walls, cpus, tab = timed(work)
    tab.select("term", "estimate", pl.col("std_err").alias("se")).write_csv(out_path("svy", n))
    return _result("svy", pkg_version("svy"), n, walls, cpus) | {"load_mb": load_mb}


def child(tool: str, n: int) -> dict:
    """Run one tool in this process (the data are read first, untimed)."""
    df = pl.read_parquet(data.ensure(n)["parquet"]).select(
        "stratum", "psu", "w", "ind", *FACTORS, *NUMERIC
    )
    if tool == "barometer-strings":
        return glm_barometer(df, n, strings=True)
    return {"barometer": glm_barometer, "svy": glm_svy}[tool](df, n)


def run(tool: str, n: int) -> dict:
    """Run one tool in its own process and return its result."""
    files = data.ensure(n)
    if tool == "r":
        cmd = ["Rscript", str(HERE / "bench_models.R"), str(files["csv"]), str(out_path("r", n))]
    else:
        # svy in its own virtual environment when there is one (benchmarks/README.md)
        python = SVY_PYTHON if tool == "svy" and SVY_PYTHON.exists() else PYTHON
        cmd = [str(python), str(Path(__file__)), "--child", "--tool", tool, "--n", str(n)]
    res = run_child(cmd, timeout=3600.0)
    res.setdefault("n", n)
    return res


def agreement(other: str, n: int) -> dict[str, float] | None:
    """Largest relative differences of barometer's coefficients and SEs from ``other``'s."""
    ours, theirs = out_path("barometer", n), out_path(other, n)
    if not (ours.exists() and theirs.exists()):
        return None
    a, b = pl.read_csv(ours), pl.read_csv(theirs)
    if a.height != b.height:
        return {"rows": a.height, "other_rows": b.height}

    def rel(col: str) -> float:
        x, y = a.get_column(col).to_numpy(), b.get_column(col).to_numpy()
        return float(np.max(np.abs(x - y) / np.abs(y)))

    return {"terms": a.height, "estimate": rel("estimate"), "se": rel("se")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tool", choices=TOOLS)
    ap.add_argument("--size", action="append", default=[], help="TOOL=N: a slow peer's size")
    ap.add_argument("--child", action="store_true", help="run in this process (internal)")
    a = ap.parse_args()
    if a.child:
        emit(child(a.tool, a.n))
        return
    sizes = {t: int(v) for t, v in (s.split("=") for s in a.size)}
    ns = {t: sizes.get(t, a.n) for t in TOOLS}
    runs: list[tuple[str, int]] = [(t, ns[t]) for t in TOOLS if not a.tool or t == a.tool]
    # barometer also at every smaller size a peer is measured at, for a fair ratio
    runs += [("barometer", m) for m in sorted(set(ns.values()) - {ns["barometer"]})]
    for tool, n in runs:
        r = run(tool, n)
        msg = r.get("error") or (
            f"{r['seconds']:.3f} s (cpu {r['cpu_seconds']:.3f} s)  peak {r['peak_mb']:.0f} MB"
        )
        print(f"glm {tool:10s} n={n:>9,}  {msg}", flush=True)
    for other in ("r", "svy"):
        print(
            f"glm agreement barometer vs {other} (n={ns[other]:,}): {agreement(other, ns[other])}"
        )


if __name__ == "__main__":
    main()
