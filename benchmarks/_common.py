"""Shared plumbing of the benchmark scripts: timing, memory, child processes.

Every tool runs in its own child process (so that peak memories do not mix); the child
prints one line ``RESULT {json}`` that the parent parses. Timings cover the work only
(design construction and estimation or raking on data already in memory), never file
I/O. A piece of work is run once; if that took under ``REPEAT_BELOW`` seconds it is run
again, at least three times in all and until the runs add up to ``BUDGET`` seconds (at most
``MAX_RUNS`` runs), and the fastest run is kept — the same rule for every tool, R
included. (A run of a few milliseconds on a shared machine needs more than three tries to
find its undisturbed time; a run of seconds does not.)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = Path(sys.executable)
BALANCE_PYTHON = HERE / "_venvs" / "balance" / "bin" / "python"
#: svy in its own virtual environment when there is one (its polars need not be ours)
SVY_PYTHON = HERE / "_venvs" / "svy" / "bin" / "python"
REPEAT_BELOW = 10.0
BUDGET = 2.0
MAX_RUNS = 25
MARK = "RESULT "


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux ``ru_maxrss`` is kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(work: Callable[[], Any]) -> tuple[list[float], list[float], Any]:
    """Run ``work`` once, or repeatedly when fast (see the module doc).

    Returns the wall-clock seconds of each run, the CPU seconds of each run (all threads of
    this process, user + system: a check on a machine shared with other jobs) and the last
    result.
    """
    walls: list[float] = []
    cpus: list[float] = []
    result = None
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if walls[0] >= REPEAT_BELOW or len(walls) >= MAX_RUNS:
            return walls, cpus, result
        if len(walls) >= 3 and sum(walls) >= BUDGET:
            return walls, cpus, result


def emit(result: dict[str, Any]) -> None:
    """Hand a result to the parent process."""
    print(MARK + json.dumps(result), flush=True)


def pkg_version(name: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def run_child(cmd: list[str], timeout: float = 1800.0) -> dict[str, Any]:
    """Run a benchmark child process and parse its ``RESULT`` line.

    A failure is returned as ``{"error": ...}`` (with the end of stderr) rather than
    raised, so one broken peer does not stop the side-by-side run.
    """
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
