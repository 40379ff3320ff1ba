"""Run every benchmark side by side and write the run's report (``--out``).

One command, one run: the estimates benchmark (issue 2: shares by country x wave with
linearisation SEs, and a mean with 80 SDR replicate weights), the raking benchmark
(issue 3) and the ingest benchmark (issue 4), each tool in its own process. The data are
generated first (deterministic, untimed). A peer that is too slow at the full size can be
measured at a smaller one with ``--size TASK.TOOL=N``; barometer (and the NumPy floor) is
then also measured at that size, so every ratio compares like with like, and RESULTS.md
says which size each figure is for.

The report goes to ``benchmarks/_data/run_all.md`` (and its JSON beside it) unless
``--out`` says otherwise: benchmarks/RESULTS.md is a log kept by hand, section by section,
which a run must not overwrite; a recorded run is pasted into it as a section.

Usage::

    python benchmarks/run_all.py                       # recorded run: 1,000,000 respondents
    python benchmarks/run_all.py --n 100000            # quick run
    python benchmarks/run_all.py --size shares.r=200000 --skip ingest.barometer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import bench_estimates
import bench_ingest
import bench_models
import bench_raking
from _common import HERE, PYTHON, ROOT, pkg_version

import data

TASKS: dict[str, tuple[str, ...]] = {
    "shares": bench_estimates.SHARES_TOOLS,
    "sdr": bench_estimates.SDR_TOOLS,
    "raked": bench_estimates.RAKED_TOOLS,
    "poll": ("barometer",),
    "rake": bench_raking.TOOLS,
    "ingest": ("barometer",),
    "publish": ("barometer",),
    "models": bench_models.TOOLS,
}
# tools measured at every size any peer of the task is measured at (like-for-like ratios)
ANCHORS = {
    "shares": ("barometer", "floor"),
    "sdr": ("barometer",),
    "rake": ("barometer",),
    "raked": ("barometer",),
    "models": ("barometer",),
}
LABEL = {
    "barometer": "barometer",
    "barometer-strings": "barometer (string labels)",
    "svy": "svy",
    "r": "R survey",
    "floor": "NumPy bincount floor",
    "samplics": "samplics",
    "weightipy": "weightipy",
    "balance": "balance",
}
GB = 1024.0


def run_one(task: str, tool: str, n: int) -> dict[str, Any]:
    """Run one tool on one task at size ``n`` (in its own process)."""
    if task in ("shares", "sdr", "raked"):
        return bench_estimates.run(tool, task, n)
    if task == "poll":
        cmd = [str(PYTHON), str(HERE / "bench_poll.py"), "--n", str(n)]
        from _common import run_child

        res = run_child(cmd)
        return res | {"seconds": res.get("poll_raked", {}).get("seconds")}
    if task == "rake":
        return bench_raking.run(tool, n)
    if task == "publish":
        return run_publish(n)
    if task == "models":
        return bench_models.run(tool, n)
    return bench_ingest.run(n)


def run_publish(n: int) -> dict[str, Any]:
    """Issue 5's benchmark (``bench_publish.py``, its own process; it writes its JSON)."""
    out = data.DATA_DIR / f"publish_{n}.json"
    out.unlink(missing_ok=True)
    cmd = [str(PYTHON), str(HERE / "bench_publish.py"), "--n", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0 or not out.exists():
        tail = " | ".join(proc.stderr.strip().splitlines()[-6:])
        return {"error": f"exit {proc.returncode}: {tail}"}
    res = json.loads(out.read_text())
    steps = res.get("seconds", {})
    timed_steps = {k: v for k, v in steps.items() if k != "write files"}
    return res | {"steps": steps, "seconds": sum(timed_steps.values())}


def plan(n: int, sizes: dict[str, int], skip: set[str]) -> list[tuple[str, str, int]]:
    """Every (task, tool, size) to measure."""
    todo: list[tuple[str, str, int]] = []
    for task, tools in TASKS.items():
        size = {t: sizes.get(f"{task}.{t}", n) for t in tools if f"{task}.{t}" not in skip}
        anchor_sizes = sorted(set(size.values()), reverse=True)
        for tool in tools:
            if tool not in size:
                continue
            at = anchor_sizes if tool in ANCHORS.get(task, ()) else [size[tool]]
            todo += [(task, tool, m) for m in at]
    return todo


def machine() -> dict[str, Any]:
    """What the run ran on."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "src")),
        "versions": {p: pkg_version(p) for p in ("numpy", "polars", "pandas", "pyarrow", "scipy")},
    }


def _n(r: dict) -> int:
    return int(r["n"])


def _index(results: list[dict]) -> dict[tuple[str, str, int], dict]:
    return {(r["task"], r["tool"], r["n"]): r for r in results}


def _secs(r: dict | None) -> float | None:
    return None if r is None or "error" in r else r.get("seconds")


def _ratio(theirs: dict | None, ours: dict | None, key: str) -> float | None:
    """Their time over ours (wall-clock ``seconds`` or ``cpu_seconds``)."""
    if not theirs or not ours or "error" in theirs or "error" in ours:
        return None
    a, b = theirs.get(key), ours.get(key)
    return a / b if a and b else None


def ratios(results: list[dict], n: int) -> dict[str, Any]:
    """Each peer's time over barometer's at the peer's size, and the targets."""
    idx = _index(results)
    main: dict[str, dict[str, Any]] = {}
    for task, tools in TASKS.items():
        for tool in tools:
            rs = [r for r in results if r["task"] == task and r["tool"] == tool]
            if not rs:
                continue
            r = next((x for x in rs if x["n"] == n), rs[0])
            ours = idx.get((task, "barometer", r["n"]))
            main[f"{task}.{tool}"] = {
                "n": r["n"],
                "seconds": _secs(r),
                "ratio": _ratio(r, ours, "seconds"),
                "cpu_ratio": _ratio(r, ours, "cpu_seconds"),
            }
    return main


def _verdict(ok_wall: bool | None, ok_cpu: bool | None) -> str:
    if ok_wall is None:
        return "not measured"
    if ok_cpu is None or ok_cpu == ok_wall:
        return "PASS" if ok_wall else "**FAIL**"
    return (
        "PASS on wall time, **FAIL** on CPU time"
        if ok_wall
        else "**FAIL** on wall time, PASS on CPU time"
    )


def targets(results: list[dict], main: dict[str, Any], n: int) -> list[tuple[str, str, str]]:
    """The issues' targets: (target, measured, verdict). Speed targets are judged on
    wall-clock time and, as a check on a shared machine, on CPU time."""
    idx = _index(results)
    out: list[tuple[str, str, str]] = []

    def speed(name: str, wall: float | None, cpu: float | None, good: Any) -> None:
        shown = "n/a" if wall is None else f"{wall:,.1f}x"
        if cpu is not None:
            shown += f" (CPU time: {cpu:,.1f}x)"
        ok_wall = None if wall is None else bool(good(wall))
        out.append((name, shown, _verdict(ok_wall, None if cpu is None else bool(good(cpu)))))

    def memory(name: str, task: str, limit_mb: float) -> None:
        b = idx.get((task, "barometer", n))
        peak = b.get("peak_mb") if b and "error" not in b else None
        shown = "n/a" if peak is None else f"{peak:,.0f} MB"
        out.append((name, shown, _verdict(None if peak is None else peak < limit_mb, None)))

    def get(key: str, what: str = "ratio") -> float | None:
        return main.get(key, {}).get(what)

    speed(
        "shares: >= 50x faster than R survey",
        get("shares.r"),
        get("shares.r", "cpu_ratio"),
        lambda x: x >= 50,
    )
    speed(
        "shares: >= 30x faster than svy",
        get("shares.svy"),
        get("shares.svy", "cpu_ratio"),
        lambda x: x >= 30,
    )
    f, fc = get("shares.floor"), get("shares.floor", "cpu_ratio")
    speed(
        "shares: within 5x of the NumPy floor (barometer's time / floor's)",
        1 / f if f else None,
        1 / fc if fc else None,
        lambda x: x <= 5,
    )
    memory("shares: peak memory < 2 GB", "shares", 2 * GB)
    for r in sorted((r for r in results if r["task"] == "sdr" and r["tool"] == "svy"), key=_n):
        ours = idx.get(("sdr", "barometer", r["n"]))
        speed(
            f"SDR replicate mean: >= 2x faster than svy ({r['n']:,})",
            _ratio(r, ours, "seconds"),
            _ratio(r, ours, "cpu_seconds"),
            lambda x: x >= 2,
        )

    # issue 16: the raked design costs at most twice the unraked one (20 questions)
    raked, unraked = idx.get(("raked", "barometer", n)), idx.get(("shares", "barometer", n))
    if raked and unraked and "error" not in raked and "error" not in unraked:
        speed(
            "raked shares / unraked shares <= 2.0 (20 questions, core harness)",
            raked["seconds"] / unraked["seconds"],
            raked["cpu_seconds"] / unraked["cpu_seconds"],
            lambda x: x <= 2.0,
        )
    for r in results:
        if r["task"] == "raked" and r["tool"] == "r" and "error" not in r:
            ours = idx.get(("raked", "barometer", r["n"]), {}).get("short")
            if ours:
                speed(
                    f"raked shares: >= 1,000x faster than R survey ({r['n']:,}, two questions)",
                    r["seconds"] / ours["seconds"],
                    r["cpu_seconds"] / ours["cpu_seconds"],
                    lambda x: x >= 1000,
                )
    pr = idx.get(("poll", "barometer", n))
    if pr and "error" not in pr:
        for w in ("raked", "base"):
            speed(
                f"Poll path / core harness <= 1.5 ({w} weights, 20 questions)",
                pr[f"poll_{w}"]["seconds"] / pr[f"core_{w}"]["seconds"],
                pr[f"poll_{w}"]["cpu_seconds"] / pr[f"core_{w}"]["cpu_seconds"],
                lambda x: x <= 1.5,
            )
        speed(
            "Poll path: raked / base weights <= 2.0 (20 questions)",
            pr["poll_raked"]["seconds"] / pr["poll_base"]["seconds"],
            pr["poll_raked"]["cpu_seconds"] / pr["poll_base"]["cpu_seconds"],
            lambda x: x <= 2.0,
        )

    speed(
        "glm: >= 20x faster than R survey's svyglm",
        get("models.r"),
        get("models.r", "cpu_ratio"),
        lambda x: x >= 20,
    )
    speed(
        "glm: >= 2x faster than svy",
        get("models.svy"),
        get("models.svy", "cpu_ratio"),
        lambda x: x >= 2,
    )

    peers = [k for k in main if k.startswith("rake.") and not k.startswith("rake.barometer")]

    def sound(k: str) -> bool:
        c = idx.get(("rake", k.split(".")[1], main[k]["n"]), {}).get("check", {})
        return bool(c.get("totals_met") and c.get("base_weights_honoured"))

    for label, keep in (
        ("", peers),
        (" that honours base weights and totals", [k for k in peers if sound(k)]),
    ):
        wall = min((get(k) for k in keep if get(k)), default=None)
        cpu = min((get(k, "cpu_ratio") for k in keep if get(k, "cpu_ratio")), default=None)
        speed(f"raking: >= 20x faster than the fastest peer{label}", wall, cpu, lambda x: x >= 20)
    memory("raking: peak memory < 1 GB", "rake", GB)
    b = idx.get(("rake", "barometer", n))
    if b and "check" in b and "error" not in b["check"]:
        c = b["check"]
        ok = bool(c["totals_met"] and c["base_weights_honoured"])
        out.append(
            (
                "raking: every margin met to 1e-6 of its target, base weights honoured",
                f"max error {c['max_rel_error_totals']:.1e}, honoured: "
                f"{'yes' if c['base_weights_honoured'] else 'no'}",
                _verdict(ok, None),
            )
        )
    return out


# --- RESULTS.md ----------------------------------------------------------------------------

TITLES = {
    "shares": "Shares of every level of 20 questions by country x wave, linearisation SEs",
    "sdr": "Mean of an indicator by country, 80 SDR replicate weights",
    "raked": "Shares by country x wave on the design raked within country (age, gender, "
    "education, region; tolerance 1e-10), calibration-aware linearisation SEs",
    "rake": "Raking 12 countries separately on 4 margins (age 5, gender 2, education 3, "
    "region 5), tolerance 1e-6",
    "models": "Design-based logistic regression, 10 terms (28 coefficients), linearisation "
    "SEs with strata and PSUs (issue 19)",
}


def _f(x: Any, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _met(check: dict) -> str:
    if check["totals_met"]:
        return "yes"
    return "shares only" if check["shares_met"] else "**no**"


def _row_notes(task: str, r: dict) -> str:
    if "error" in r:
        return f"**failed**: {r['error'][:300]}"
    notes = []
    if r.get("traced_work_mb") is not None:
        notes.append(f"tracemalloc peak of the work {r['traced_work_mb']:.0f} MB")
    c = r.get("check")
    if c:
        if "error" in c:
            notes.append(c["error"])
        else:
            notes.append(
                f"margins: max rel. error {c['max_rel_error_totals']:.1e} (totals), "
                f"{c['max_rel_error_shares']:.1e} (shares); within 1e-6: "
                f"{_met(c)}; "
                f"base weights honoured: {'yes' if c['base_weights_honoured'] else '**no**'}"
            )
    return "; ".join(notes)


def render(results: list[dict], meta: dict[str, Any], n: int, command: str) -> str:
    """RESULTS.md."""
    main = ratios(results, n)
    m = meta["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Recorded {meta['date']} with `{command}` (total {meta['wall_seconds'] / 60:.1f} min).",
        "Reproduce: install the peers as benchmarks/README.md says (balance needs its own "
        f"virtual environment), then `.venv/bin/{command}`.",
        "",
        "## Machine and versions",
        "",
        f"- {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, {m['os']}; "
        f"load average before the run {', '.join(f'{x:.1f}' for x in m['load_before'])}, "
        f"after {', '.join(f'{x:.1f}' for x in meta['load_after'])} "
        "(a shared machine: timings of every tool carry the same contention).",
        f"- barometer {pkg_version('barometer')} at commit {m['commit']}"
        f"{' (with uncommitted changes in src/)' if m['dirty'] else ''}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
    ]
    peers = {}
    for r in results:
        if "error" not in r and not r["tool"].startswith("barometer"):
            peers[LABEL.get(r["tool"], r["tool"])] = r.get("version")
    lines.append("- Peers: " + ", ".join(f"{k} {v}" for k, v in sorted(peers.items())) + ".")
    r_info = next((r.get("r") for r in results if r.get("r")), None)
    if r_info:
        lines.append(f"- {r_info}.")
    lines += [
        "",
        "## Data",
        "",
        f"`benchmarks/data.py` (seed {data.SEED}): {n:,} respondents, 12 countries x 2 waves, "
        "4-6 strata per country-wave, 35-45 PSUs per stratum, 20 questions with 3-5 levels as "
        "integer codes with ~3% missing, raking variables as labels with an online panel's "
        "skew, base weights, 80 SDR replicate weights. Times cover design construction plus "
        "estimation (or raking) on data already in memory, never file I/O; a run under 10 s "
        "is repeated (at least three times and until the runs add up to 2 s, at most 25) and "
        "the fastest kept, for every tool alike. For raking, the country and raking "
        "variables come in each tool's categorical type or whichever form it is fastest with "
        "(polars enums for barometer and svy, pandas categoricals for weightipy, strings for "
        "balance, integer codes for samplics, factors for R; see `LABELS` in "
        "`bench_raking.py`). Peak memory is "
        "the peak resident set of the tool's own process, data included. CPU seconds "
        "(all threads of the process) are the check on a shared machine; svy is multi-threaded, "
        "so its CPU time exceeds its wall time.",
        "",
        "How each peer is called: svy `Sample(...).estimation.prop(q, by=(country, wave), "
        "drop_nulls=True)` and `weighting.rake(controls=..., tol=1e-6)` per country; R "
        "`svyby(~q, ~country+wave, design, svymean, na.rm=TRUE)` and per-country "
        "`rake(..., control=list(maxit=100, epsilon=1e-6))` (R's epsilon is relative to the "
        "sum of weights and bounds the change between sweeps, not the margin error); samplics "
        "`SampleWeight().rake(..., tol=1e-6, ctrl_tol=1e-6)` per country, given integer codes "
        "prepared untimed (it is ~10x slower on labels); weightipy `weight(df, "
        "scheme_from_dict(shares))` per country with `convcrit=1e-6` (it has no base-weight "
        "input: it starts from 1, so its weights meet the shares but neither the totals nor the "
        "base weights); balance `rake(..., target_margins=..., transformations=None, "
        "convergence_rate=1e-6)` per country, in its own virtual environment (numpy < 2).",
        "",
    ]
    for task in ("shares", "sdr", "raked", "rake", "models"):
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        lines += [f"## {TITLES[task]}", ""]
        lines += [
            "| tool | respondents | seconds | CPU s | setup s | x barometer (wall) "
            "| x barometer (CPU) | peak MB | notes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        idx = _index(results)
        for r in sorted(rows, key=lambda x: (TASKS[task].index(x["tool"]), -x["n"])):
            ours = idx.get((task, "barometer", r["n"]))
            lines.append(
                f"| {LABEL.get(r['tool'], r['tool'])} | {r['n']:,} | {_f(_secs(r))} | "
                f"{_f(r.get('cpu_seconds'))} | {_f(r.get('setup_seconds'))} | "
                f"{_f(_ratio(r, ours, 'seconds'), '.1f')} | "
                f"{_f(_ratio(r, ours, 'cpu_seconds'), '.1f')} | "
                f"{_f(r.get('peak_mb'), '.0f')} | {_row_notes(task, r)} |"
            )
        for key, value in meta.get("agreement", {}).items():
            if key.startswith(task + "."):
                lines.append("")
                lines.append(
                    f"Agreement, barometer vs {LABEL[key.split('.', 2)[1]]} at "
                    f"{key.split('.', 2)[2]} respondents: {value}"
                )
        lines.append("")
        if task == "raked":
            lines += _raked_notes(rows)
    pr = next((r for r in results if r["task"] == "poll"), None)
    if pr:
        lines += _poll_section(pr)
    ing = next((r for r in results if r["task"] == "ingest"), None)
    if ing:
        lines += ["## Ingest of one .sav and a full weighting (issue 4)", ""]
        if "error" in ing and "ingest_seconds" not in ing:
            lines.append(f"Not measured: {ing['error'][:300]}")
        else:
            lines += [
                f"{ing['n']:,} respondents in one SPSS file ({_f(ing.get('sav_mb'), '.0f')} MB, "
                "value labels, user-missing codes), written by `bench_ingest.py`.",
                "",
                "| step | seconds |",
                "|---|---:|",
                f"| `pyreadstat.read_sav` alone (floor) | {_f(ing.get('read_sav_seconds'))} |",
                f"| `barometer.poll.ingest(spec, store)` | {_f(ing.get('ingest_seconds'))} |",
                f"| `Poll.open(store).weight(tol=1e-6)` | {_f(ing.get('weight_seconds'))} |",
                "",
                f"Peak memory {_f(ing.get('peak_mb'), '.0f')} MB; weighting: "
                f"{ing.get('weight_settings')}.",
            ]
        lines.append("")
    pub = next((r for r in results if r["task"] == "publish"), None)
    if pub:
        lines += ["## Publishing: findings, banner workbook, report (issue 5)", ""]
        if "error" in pub:
            lines.append(f"Not measured: {pub['error'][:300]}")
        else:
            lines += [
                f"`bench_publish.py` (its own poll: {pub['n']:,} respondents, "
                f"{pub.get('countries')} countries x {pub.get('waves')} waves, "
                f"{pub.get('questions')} questions; {pub.get('findings'):,} findings).",
                "",
                "| step | seconds |",
                "|---|---:|",
                *(f"| {k} | {v:.2f} |" for k, v in pub["steps"].items()),
                "",
                f"Peak memory {_f(pub.get('peak_mb'), '.0f')} MB.",
            ]
        lines.append("")
    lines += ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
    for name, value, verdict in targets(results, main, n):
        lines.append(f"| {name} | {value} | {verdict} |")
    lines += [
        "",
        "Ratios compare each peer with barometer at the peer's size "
        "(barometer is measured at every size a peer was).",
        "",
    ]
    return "\n".join(lines)


def _raked_notes(rows: list[dict]) -> list[str]:
    """The raked task: barometer's 20 questions in the table; R answers two (over a
    minute each at 200,000), so barometer's two-question time is given beside it."""
    out = ["Barometer's row is the 20-question call; R's the first two questions (q01, q02)."]
    for r in rows:
        short = r.get("short")
        if r["tool"] == "barometer" and short and "error" not in r:
            out.append(
                f"barometer on the two questions at {r['n']:,}: {short['seconds']:.3f} s "
                f"(CPU {short['cpu_seconds']:.3f} s, setup incl. raking "
                f"{short['setup_seconds']:.3f} s)."
            )
    return ["", *out, ""]


def _poll_section(pr: dict) -> list[str]:
    lines = [
        "## The Poll path: 20 questions through `Poll.design()` (issue 16)",
        "",
        f"`bench_poll.py` on `bench_publish.py`'s weighted store ({pr.get('n', 0):,} "
        "respondents, no PSUs: an element design): `Poll.open(store).design(weights)` and "
        "20 `proportion(q, by=[country, wave])` calls, against the same calls on a "
        "`bm.Design` built (and raked) over the frame the poll hands the core.",
        "",
    ]
    if "error" in pr:
        return [*lines, f"Not measured: {pr['error'][:300]}", ""]
    lines += ["| call | seconds | CPU s |", "|---|---:|---:|"]
    for key, label in (
        ("poll_raked", "Poll.design('raked') + 20 proportions"),
        ("core_raked", "bm.Design(frame).rake(...) + 20 proportions"),
        ("poll_base", "Poll.design('base') + 20 proportions"),
        ("core_base", "bm.Design(frame) + 20 proportions"),
        ("estimate", "poll.estimate(q, by=[country, wave]), design cached"),
    ):
        r = pr.get(key, {})
        lines.append(f"| {label} | {_f(r.get('seconds'))} | {_f(r.get('cpu_seconds'))} |")
    return [*lines, ""]


def agreements(results: list[dict]) -> dict[str, Any]:
    """barometer vs R (shares) and vs svy (shares, sdr) at every size both ran."""
    out = {}
    for task, other in (("shares", "r"), ("shares", "svy"), ("sdr", "svy"), ("raked", "r")):
        for r in results:
            if r["task"] == task and r["tool"] == other and "error" not in r:
                a = bench_estimates.agreement(task, other, r["n"])
                if a:
                    out[f"{task}.{other}.{r['n']:,}"] = (
                        f"{a['rows']:,} estimates, max relative difference "
                        f"{a['estimate']:.1e} (estimates), {a['se']:.1e} (SEs)"
                        + (f", {a['unmatched']} unmatched" if a["unmatched"] else "")
                    )
    for r in results:
        if r["task"] == "models" and r["tool"] in ("r", "svy") and "error" not in r:
            a = bench_models.agreement(r["tool"], r["n"])
            if a and "estimate" in a:
                out[f"models.{r['tool']}.{r['n']:,}"] = (
                    f"{a['terms']} coefficients, max relative difference "
                    f"{a['estimate']:.1e} (estimates), {a['se']:.1e} (SEs)"
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--size", action="append", default=[], metavar="TASK.TOOL=N")
    ap.add_argument("--skip", action="append", default=[], metavar="TASK.TOOL")
    ap.add_argument("--out", type=Path, default=data.DATA_DIR / "run_all.md")
    ap.add_argument(
        "--render", type=Path, metavar="JSON", help="only re-render the report from a results JSON"
    )
    a = ap.parse_args()
    if a.render:
        saved = json.loads(a.render.read_text())
        a.out.write_text(
            render(saved["results"], saved["meta"], saved["meta"]["n"], saved["meta"]["command"])
        )
        print(f"wrote {a.out}")
        return
    sizes = {k: int(v) for k, v in (s.split("=", 1) for s in a.size)}
    todo = plan(a.n, sizes, set(a.skip))
    command = f"python benchmarks/run_all.py --n {a.n}"
    command += "".join(f" --size {x}" for x in a.size) + "".join(f" --skip {x}" for x in a.skip)
    meta: dict[str, Any] = {
        "n": a.n,
        "command": command,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    t0 = time.perf_counter()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for m in sorted({m for _, _, m in todo}):
        data.ensure(m)
    results = []
    for task, tool, m in todo:
        print(f"{task:7s} {tool:10s} n={m:>9,} ...", end=" ", flush=True)
        r = run_one(task, tool, m) | {"task": task, "tool": tool, "n": m}
        print(r.get("error") or f"{r.get('seconds', float('nan')):.3f} s", flush=True)
        results.append(r)
    meta["wall_seconds"] = time.perf_counter() - t0
    meta["load_after"] = os.getloadavg()
    meta["agreement"] = agreements(results)
    a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    a.out.write_text(render(results, meta, a.n, command))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
