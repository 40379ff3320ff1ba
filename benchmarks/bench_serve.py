"""Benchmark of the explorer (issue 17): start-up, and estimates requests under load.

The poll of ``bench_publish.py`` (12 countries x 2 waves, 30 questions; N respondents,
1,000,000 for the recorded run) with ``publication.breakdowns: [age, gender,
education]``, ingested and weighted once (the store is reused when it exists). Then:

* **start-up**: ``Poll.open`` -> ``poll.publication(breakdowns=...)`` -> ``build_cube``
  -> ``create_app``, timed in this process (what ``barometer serve`` does before it
  listens);
* **load**: ``barometer serve`` in its own process on the loopback interface, and
  CLIENTS keep-alive clients (threads of this process) sending ``/api/estimates``
  requests (random question, breakdown, countries and waves) for SECONDS seconds.
  Recorded: requests, errors, p50/p95/p99 latency, and the server's resident memory
  (``/proc/<pid>/status``), mean of the first 5 s against mean of the last 5 s.

Targets (issue 17): start-up <= 30 s, p95 <= 50 ms per estimates request, zero errors,
resident memory growing <= 10% from the first to the last 5 s.

Usage::

    python benchmarks/bench_serve.py --n 1000000      # prints JSON, writes _data/serve_N.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_publish import DATA, WAVES, _questions, write_poll

BREAKDOWNS = ["age", "gender", "education"]
SCOPES = ["AT", "BE", "DE", "DK", "ES", "FR", "IT", "NL", "PL", "SE", "GB", "US", "EU"]


def _store(n: int) -> Path:
    """The benchmark poll's store, with the breakdowns declared (built when missing)."""
    from barometer.poll.poll import Poll

    out = DATA / f"serve_{n}"
    store = out / "poll.duckdb"
    if store.exists():
        return store
    spec = write_poll(n, out)
    data = yaml.safe_load(spec.read_text())
    data["publication"] = {"breakdowns": BREAKDOWNS}
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    poll, _ = Poll.ingest(spec, store)
    poll.weight(tol=1e-6)
    return store


def _startup(store: Path) -> dict[str, float]:
    from barometer.poll.poll import Poll
    from barometer.publish.explorer.api import create_app
    from barometer.publish.explorer.cube import build_cube

    times = {}
    t = time.perf_counter()
    poll = Poll.open(store)
    pub = poll.publication(breakdowns=poll.spec.publication.breakdowns)
    times["publication"] = time.perf_counter() - t
    t = time.perf_counter()
    cube = build_cube(pub)
    times["cube"] = time.perf_counter() - t
    t = time.perf_counter()
    create_app(cube)
    times["app"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["rows"] = cube.rows.height
    return times


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _url(rng: random.Random) -> str:
    q = rng.choice(_questions())
    parts = [f"question={q}"]
    if rng.random() < 0.7:
        parts.append("countries=" + ",".join(rng.sample(SCOPES, rng.randint(1, 6))))
    if rng.random() < 0.5:
        parts.append("waves=" + rng.choice(WAVES))
    if rng.random() < 0.6:
        parts.append("by=" + rng.choice(BREAKDOWNS))
    return "/api/estimates?" + "&".join(parts)


def _load(port: int, pid: int, clients: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    rss: list[tuple[float, float]] = []
    sizes: list[int] = []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(k: int) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        while time.monotonic() < stop:
            url = _url(rng)
            t0 = time.perf_counter()
            try:
                conn.request("GET", url)
                response = conn.getresponse()
                body = response.read()
            except OSError as err:
                with lock:
                    errors.append(f"{url}: {err}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine.append(time.perf_counter() - t0)
            sizes.append(len(body))
            if response.status != 200 or not body.startswith(b"{"):
                with lock:
                    errors.append(f"{url}: {response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    server_cpu, client_cpu = _cpu_s(pid), time.process_time()
    start = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        rss.append((time.monotonic() - start, _rss_mb(pid)))
        time.sleep(0.25)
    for t in threads:
        t.join()
    server_cpu, client_cpu = _cpu_s(pid) - server_cpu, time.process_time() - client_cpu
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    first = [m for s, m in rss if s <= 5]
    last = [m for s, m in rss if s >= seconds - 5]
    growth = (sum(last) / len(last)) / (sum(first) / len(first)) - 1
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:3],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        # where the time of a request goes: the server's CPU and the clients' (the 20
        # threads of this process, GIL-bound), per request, beside the machine's load
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(len(latencies), 1), 3),
        "client_cpu_ms_per_request": round(1000 * client_cpu / max(len(latencies), 1), 3),
        "mean_response_bytes": round(sum(sizes) / max(len(sizes), 1)),
        "load_average": os.getloadavg()[0],
        "rss_first_5s_mb": round(sum(first) / len(first), 1),
        "rss_last_5s_mb": round(sum(last) / len(last), 1),
        "rss_growth": round(growth, 4),
    }


def _serve(store: Path, port: int) -> subprocess.Popen[str]:
    code = "import sys; from barometer.cli import app; sys.exit(app())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--store", str(store), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server died"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/api/questions")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
        finally:
            conn.close()
    proc.kill()
    proc.communicate()
    raise RuntimeError("barometer serve did not start within 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    store = _store(args.n)
    startup = _startup(store)
    print(json.dumps({"n": args.n, "startup_s": startup}), flush=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _serve(store, port)
    try:
        load = _load(port, proc.pid, args.clients, args.seconds)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    result = {
        "n": args.n,
        "startup_s": {k: round(v, 2) for k, v in startup.items()},
        "load": load,
        "targets": {
            "startup <= 30 s": startup["total"] <= 30,
            "p95 <= 50 ms": load["p95_ms"] <= 50,
            "zero errors": load["errors"] == 0,
            "rss growth <= 10%": load["rss_growth"] <= 0.10,
        },
    }
    (DATA / f"serve_{args.n}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
