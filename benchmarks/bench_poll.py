"""Benchmark of issue 16's Poll path: the 20-question call through ``Poll.design()``.

The poll of ``bench_publish.py`` (12 countries x 2 waves, 30 questions with five levels
stored as ordered enums, raked per country x wave) is written, ingested and weighted once
(untimed; kept in ``_data/publish_{n}/``). Then, in this process:

* ``poll``: ``Poll.open(store).design(weights)`` plus ``d.proportion(q, by=["country",
  "wave"])`` for 20 questions, for the raked design (``weights="raked"``: rakes again from
  the base weights, so SEs are calibration-aware) and the base-weight one;
* ``core``: the same 20 calls on a ``bm.Design`` built (and raked) over the very frame the
  poll hands the core — the core harness on the poll's data, so ``poll / core`` is what
  the Poll layer adds;
* ``estimate``: ``poll.estimate(q, by=["country", "wave"])`` once the design is cached;
* ``scan``: DuckDB alone reading the columns the Poll reads (every column of the
  respondents table but ``respondent_id``) into Arrow, on a connection of its own: what
  any reader of the store pays before barometer touches a value.  ``poll - scan`` is
  what barometer's Poll layer does itself, and ``(poll - scan) / core`` the ratio the Poll
  path would have with a store read that cost nothing.

Each figure is the fastest of repeated runs (``_common.timed``).  On a shared machine
``--pairs K`` runs the Poll, the core harness and the scan in turn K times instead (one
right after the other, so a burst of load from other processes falls on all three) and
reports for each the least and median CPU seconds and the least wall seconds, and
``poll / core`` (``ratio_*``) and ``(poll - scan) / core`` (``ratio_*_less_scan``) from
the least CPU seconds.

Usage::

    python benchmarks/bench_poll.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _common import emit, peak_rss_mb, timed

HERE = Path(__file__).resolve().parent
BY = ["country", "wave"]
N_ASKED = 20


def store_path(n: int) -> Path:
    """The weighted store of ``bench_publish``'s poll at ``n``, made once."""
    import bench_publish

    from barometer.poll.poll import Poll

    out = HERE / "_data" / f"publish_{n}"
    store = out / "poll.duckdb"
    done = out / "weighted.ok"
    if not done.exists():
        store.unlink(missing_ok=True)
        spec = bench_publish.write_poll(n, out)
        poll, _ = Poll.ingest(spec, store)
        poll.weight(tol=1e-6)
        done.write_text("ok")
    return store


def best(walls: list[float], cpus: list[float]) -> dict[str, float]:
    i = min(range(len(walls)), key=walls.__getitem__)
    return {"seconds": walls[i], "cpu_seconds": cpus[i], "runs": len(walls)}


def paired(*works: Any, k: int) -> list[dict[str, float]]:
    """``works`` run in turn ``k`` times: least and median CPU, and least wall, of each."""
    runs: list[list[tuple[float, float]]] = [[] for _ in works]
    for _ in range(k):
        for i, work in enumerate(works):
            t0, c0 = time.perf_counter(), time.process_time()
            work()
            runs[i].append((time.process_time() - c0, time.perf_counter() - t0))
    out = []
    for r in runs:
        cpus = sorted(c for c, _ in r)
        out.append(
            {
                "cpu_min": cpus[0],
                "cpu_median": cpus[len(cpus) // 2],
                "wall_min": min(w for _, w in r),
                "runs": len(r),
            }
        )
    return out


def scan_columns(store: Path) -> Any:
    """The store read of ``Poll.design()`` done by DuckDB alone: every respondent's columns
    (but ``respondent_id``, which an in-memory design of these sources never reads) as an
    Arrow table, on a read-only connection opened for it."""
    import duckdb

    from barometer.poll.store import _quote  # the store's own quoting of a column name

    with duckdb.connect(str(store), read_only=True) as con:
        names = [r[0] for r in con.sql("DESCRIBE respondents").fetchall()]
    cols = ", ".join(_quote(c) for c in names if c != "respondent_id")

    def scan() -> Any:
        with duckdb.connect(str(store), read_only=True) as con:
            return con.sql(f"SELECT {cols} FROM respondents").to_arrow_table()

    return scan


def measure(n: int, pairs: int = 0) -> dict[str, Any]:
    import polars as pl

    import barometer as bm
    from barometer.poll import weighting
    from barometer.poll.poll import Poll

    store = store_path(n)
    questions = [f"q{i:02d}" for i in range(N_ASKED)]
    out: dict[str, Any] = {"n": n, "questions": N_ASKED}
    # first-call costs (imports the estimators pull in) out of the timing, as for every tool
    warm = Poll.open(store)
    warm.design("raked").proportion(questions[0], by=BY)
    warm.estimate(questions[0], by=BY)
    scan = scan_columns(store)
    for weights in ("raked", "base"):

        def via_poll(weights: str = weights) -> list[Any]:
            d = Poll.open(store).design(weights)
            return [d.proportion(q, by=BY) for q in questions]

        if not pairs:
            walls, cpus, _ = timed(via_poll)
            out[f"poll_{weights}"] = best(walls, cpus)
        # the core harness on the same frame: build the design (and rake) from scratch
        p = Poll.open(store)
        d0 = p.design(weights)
        frame: pl.DataFrame = d0.data
        psu = weighting._PSU if frame.get_column("psu").null_count() < frame.height else None
        margins = weighting.margins(p.spec, frame) if weights == "raked" else None
        settings = p.weight_settings()

        def via_core(
            frame: pl.DataFrame = frame,
            margins: Any = margins,
            psu: str | None = psu,
            s: dict[str, Any] = settings,
        ) -> list[Any]:
            d = bm.Design(frame, weights="base_weight", strata=weighting._STRATUM, psu=psu)
            if margins is not None:
                d = d.rake(margins, by=weighting._GROUP, tol=s["tol"], max_iter=s["max_iter"])
            return [d.proportion(q, by=BY) for q in questions]

        if pairs:
            got = paired(via_poll, via_core, scan, k=pairs)
            out[f"poll_{weights}"], out[f"core_{weights}"], out[f"scan_{weights}"] = got
            out[f"ratio_{weights}"] = got[0]["cpu_min"] / got[1]["cpu_min"]
            own = got[0]["cpu_min"] - got[2]["cpu_min"]
            out[f"ratio_{weights}_less_scan"] = own / got[1]["cpu_min"]
        else:
            walls, cpus, _ = timed(via_core)
            out[f"core_{weights}"] = best(walls, cpus)
    if not pairs:
        walls, cpus, _ = timed(scan)
        out["scan"] = best(walls, cpus)
    p = Poll.open(store)
    p.design("raked")
    walls, cpus, _ = timed(lambda: p.estimate("q00", by=BY))
    out["estimate"] = best(walls, cpus)
    out["peak_mb"] = peak_rss_mb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--profile", type=Path, help="write a cProfile of one raked Poll call")
    ap.add_argument(
        "--pairs", type=int, default=0, help="run Poll, core and scan in turn this many times"
    )
    a = ap.parse_args()
    if a.profile:
        import cProfile

        from barometer.poll.poll import Poll

        store = store_path(a.n)
        t = time.perf_counter()

        def once() -> list[Any]:
            d = Poll.open(store).design("raked")
            return [d.proportion(f"q{i:02d}", by=BY) for i in range(N_ASKED)]

        once()  # first-call imports out of the profile
        cProfile.runctx("once()", {"once": once}, {}, str(a.profile))
        print(json.dumps({"profiled_seconds": time.perf_counter() - t}))
        return
    emit(measure(a.n, a.pairs))


if __name__ == "__main__":
    main()
