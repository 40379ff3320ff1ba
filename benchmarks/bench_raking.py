"""Benchmark of issue 3: raking every country to its own four margins, tolerance 1e-6.

Each of the 12 countries is raked separately on age (5), gender (2), education (3) and
region (5) to population totals (``targets_{n}.json``), starting from the base weights
``w``. Timed: from the table in memory to the final weights (design construction, the
split by country for tools without a ``by=``, and the raking); not file I/O.

* barometer: ``bm.Design(df, weights="w", strata="stratum", psu="psu").rake(targets,
  by="country", tol=1e-6)`` — one call for all countries;
* R survey: per country ``svydesign(ids=~psu, strata=~stratum, weights=~w)`` then
  ``rake(..., control=list(maxit=100, epsilon=1e-6))`` (``bench_raking.R``);
* svy: per country ``Sample(part, Design(stratum, psu, wgt)).weighting.rake(controls=...,
  tol=1e-6)``;
* samplics: per country ``SampleWeight().rake(w, margins, control, tol=1e-6,
  ctrl_tol=1e-6)``, given integer codes of the raking variables prepared untimed (with
  string labels it is ~10x slower);
* weightipy: per country ``weight(part, scheme_from_dict(shares))`` (it has no base-weight
  input and no margin tolerance: ``convcrit`` is set to 1e-6);
* balance: per country ``rake(part, w, None, None, target_margins=...,
  transformations=None, convergence_rate=1e-6)``; run with ``_venvs/balance`` (balance
  needs numpy < 2 on Python 3.11).

Every tool writes ``(id, weight)``; the parent then checks for each tool: the largest
error of a margin relative to its target, in totals and in shares (tools that normalise
the weights meet shares only), and whether the base weights were honoured (the final
weight over the base weight is constant within each country x raking cell).

Usage::

    python benchmarks/bench_raking.py --n 100000            # all tools
    python benchmarks/bench_raking.py --n 100000 --tool svy --child
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _common import BALANCE_PYTHON, PYTHON, emit, peak_rss_mb, pkg_version, run_child, timed

import data

HERE = Path(__file__).resolve().parent
TOL = 1e-6
MAX_ITER = 100
VARS = list(data.RAKING)
TOOLS = ("barometer", "barometer-strings", "r", "svy", "samplics", "weightipy", "balance")
PACKAGE = {"barometer": "barometer", "barometer-strings": "barometer", "svy": "svy"}
PACKAGE |= {"samplics": "samplics", "weightipy": "weightipy", "balance": "balance"}
# The form each tool gets the country and the raking variables in, prepared at load time
# and untimed: its natural categorical type, or whichever form it is fastest with (measured
# at 1,000,000 rows: weightipy 0.19 s with pandas categoricals vs 0.27 s with strings; svy
# 0.86 s with polars enums vs 0.94 s; balance 0.58 s with strings vs 0.77 s with
# categoricals). "barometer-strings" shows what string labels cost barometer; it is not a
# peer.
LABELS = {
    "barometer": "enum",
    "barometer-strings": "string",
    "svy": "enum",
    "samplics": "codes",
    "weightipy": "category",
    "balance": "string",
    "r": "factor",
}


def out_path(tool: str, n: int) -> Path:
    """Where a tool's final weights ``(id, weight)`` are written."""
    return data.DATA_DIR / f"rake_{tool}_{n}.{'csv' if tool == 'r' else 'parquet'}"


def _targets(n: int) -> dict[str, dict[str, dict[str, float]]]:
    return json.loads(data.paths(n)["targets"].read_text())["targets"]


# --- the tools (each returns (ids, weights)) ---------------------------------------------


def rake_barometer(df: Any, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    import barometer as bm

    d = bm.Design(df, weights="w", strata="stratum", psu="psu")
    raked = d.rake(targets, by="country", tol=TOL, max_iter=MAX_ITER)
    return df.get_column("id").to_numpy(), raked.weights


def rake_svy(df: Any, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    import polars as pl
    import svy

    ids, weights = [], []
    design = svy.Design(stratum="stratum", psu="psu", wgt="w")
    for (country,), part in df.partition_by("country", as_dict=True).items():
        s = svy.Sample(part, design).weighting.rake(
            controls=targets[country], tol=TOL, max_iter=MAX_ITER
        )
        out = s.data if isinstance(s.data, pl.DataFrame) else s.data.collect()
        ids.append(out.get_column("id").to_numpy())
        weights.append(out.get_column("rk_wgt").to_numpy())
    return np.concatenate(ids), np.concatenate(weights)


def samplics_input(df: Any, targets: dict) -> tuple[Any, dict]:
    """samplics compares numpy arrays level by level: with string labels it is ~10x slower
    than with integer codes, so it gets codes (prepared untimed) and targets keyed by them."""
    coded, keyed = {}, {c: {} for c in targets}
    for v in VARS:
        levels, coded[v] = np.unique(df.get_column(v).to_numpy(), return_inverse=True)
        for c in targets:
            keyed[c][v] = {i: targets[c][v][lv] for i, lv in enumerate(levels)}
    return (
        df.get_column("id").to_numpy(),
        df.get_column("country").to_numpy(),
        df.get_column("w").to_numpy(),
        coded,
    ), keyed


def rake_samplics(prepared: Any, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    from samplics.weighting import SampleWeight

    id_, country, w, cols = prepared
    ids, weights = [], []
    for c in np.unique(country):
        rows = np.flatnonzero(country == c)
        new = SampleWeight().rake(
            samp_weight=w[rows],
            margins={v: cols[v][rows] for v in VARS},
            control=targets[c],
            tol=TOL,
            ctrl_tol=TOL,
            max_iter=MAX_ITER,
        )
        ids.append(rows)
        weights.append(new)
    return id_[np.concatenate(ids)], np.concatenate(weights)


def rake_weightipy(pdf: Any, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    import weightipy as wp

    ids, weights = [], []
    for c, part in pdf.groupby("country", sort=True, observed=True):
        shares = {
            v: {lv: 100.0 * t / sum(tv.values()) for lv, t in tv.items()}
            for v, tv in targets[c].items()
        }
        scheme = wp.scheme_from_dict(
            shares, name=f"rake_{c}", rim_params={"convcrit": TOL, "max_iterations": 1000}
        )
        ids.append(part["id"].to_numpy())
        weights.append(wp.weight(part, scheme).to_numpy())
    return np.concatenate(ids), np.concatenate(weights)


def rake_balance(df: Any, targets: dict) -> tuple[np.ndarray, np.ndarray]:
    import logging

    from balance.weighting_methods.rake import rake

    logging.getLogger("balance").setLevel(logging.ERROR)
    ids, weights = [], []
    for c, part in df.groupby("country", sort=True):
        res = rake(
            part[VARS],
            part["w"],
            None,
            None,
            target_margins=targets[c],
            transformations=None,
            na_action="drop",
            convergence_rate=TOL,
            max_iteration=MAX_ITER,
        )
        ids.append(part["id"].to_numpy())
        weights.append(res["weight"].to_numpy())
    return np.concatenate(ids), np.concatenate(weights)


RAKERS = {
    "barometer": rake_barometer,
    "barometer-strings": rake_barometer,
    "svy": rake_svy,
    "samplics": rake_samplics,
    "weightipy": rake_weightipy,
    "balance": rake_balance,
}


def child(tool: str, n: int) -> dict:
    """Rake with one tool in this process; write its weights; return timings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = data.ensure(n)
    targets = _targets(n)
    table = pq.read_table(files["parquet"], columns=["id", "country", "stratum", "psu", "w", *VARS])
    if tool == "balance":  # its venv has pandas and pyarrow, not polars
        df: Any = table.to_pandas()
    else:
        import polars as pl

        df = pl.from_arrow(table).rechunk()  # contiguous, as pl.read_parquet gives
    if LABELS[tool] in ("enum", "category"):
        df = df.with_columns(
            pl.col(c).cast(pl.Enum(sorted(df.get_column(c).unique().to_list())))
            for c in ("country", *VARS)
        )
    if LABELS[tool] == "category":  # a pandas frame with categoricals
        df = df.select("id", "country", *VARS).to_pandas()
    if tool == "samplics":
        df, targets = samplics_input(df, targets)
    load_mb = peak_rss_mb()
    walls, cpus, (ids, w) = timed(lambda: RAKERS[tool](df, targets))
    best = int(np.argmin(walls))
    pq.write_table(
        pa.table({"id": ids, "weight": np.asarray(w, dtype=np.float64)}), out_path(tool, n)
    )
    return {
        "tool": tool,
        "version": pkg_version(PACKAGE[tool]),
        "n": n,
        "times": walls,
        "seconds": walls[best],
        "cpu_seconds": cpus[best],
        "peak_mb": peak_rss_mb(),
        "load_mb": load_mb,
    }


def run(tool: str, n: int) -> dict:
    """Rake with one tool in its own process, then verify its weights."""
    files = data.ensure(n)
    if tool == "r":
        cmd = ["Rscript", str(HERE / "bench_raking.R"), str(files["csv"]), str(files["targets"])]
        cmd.append(str(out_path(tool, n)))
    else:
        py = BALANCE_PYTHON if tool == "balance" and BALANCE_PYTHON.exists() else PYTHON
        cmd = [str(py), str(Path(__file__)), "--child", "--tool", tool, "--n", str(n)]
    res = run_child(cmd)
    res.setdefault("n", n)
    if "error" not in res:
        res["check"] = verify(tool, n)
    return res


def verify(tool: str, n: int) -> dict[str, Any]:
    """Margins met (totals and shares) and base weights honoured, for one tool's weights."""
    import polars as pl

    f = out_path(tool, n)
    got = pl.read_csv(f) if f.suffix == ".csv" else pl.read_parquet(f)
    df = pl.read_parquet(data.paths(n)["parquet"], columns=["id", "country", "w", *VARS])
    df = df.join(got, on="id", how="left")
    if df.get_column("weight").null_count():
        return {"error": f"{df.get_column('weight').null_count()} rows without a weight"}
    targets = _targets(n)
    err_total = err_share = 0.0
    for c, margins in targets.items():
        part = df.filter(pl.col("country") == c)
        total = part.get_column("weight").sum()
        for v, levels in margins.items():
            pop = sum(levels.values())
            got_v = dict(part.group_by(v).agg(pl.col("weight").sum()).iter_rows())
            for lv, t in levels.items():
                a = got_v.get(lv, 0.0)
                err_total = max(err_total, abs(a - t) / t)
                err_share = max(err_share, abs(a / total - t / pop) / (t / pop))
    ratio = df.group_by("country", *VARS).agg(
        (pl.col("weight") / pl.col("w")).max().alias("hi"),
        (pl.col("weight") / pl.col("w")).min().alias("lo"),
    )
    spread = float((ratio.get_column("hi") / ratio.get_column("lo") - 1.0).max())
    return {
        "max_rel_error_totals": err_total,
        "max_rel_error_shares": err_share,
        "totals_met": err_total <= TOL,
        "shares_met": err_share <= TOL,
        "base_weights_honoured": spread <= 1e-9,
        "factor_spread_within_cells": spread,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tool", choices=TOOLS)
    ap.add_argument("--child", action="store_true", help="run in this process (internal)")
    a = ap.parse_args()
    if a.child:
        emit(child(a.tool, a.n))
        return
    for tool in TOOLS:
        if a.tool and tool != a.tool:
            continue
        r = run(tool, a.n)
        msg = r.get("error") or f"{r['seconds']:.3f} s  peak {r['peak_mb']:.0f} MB  {r['check']}"
        print(f"rake {tool:10s} n={r['n']:>9,}  {msg}", flush=True)


if __name__ == "__main__":
    main()
