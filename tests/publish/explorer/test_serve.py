"""``barometer serve``: loopback by default, a warning otherwise, and a real uvicorn
server under a bounded load on the loopback interface.

Bounds of the load test (a poll of 100,000 respondents, ``conftest.LOAD_RESPONDENTS``, on
a shared CI machine): LOAD_REQUESTS requests from LOAD_CLIENTS keep-alive clients must all
succeed within LOAD_SECONDS.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from barometer.cli import app as cli
from barometer.errors import BarometerWarning
from barometer.publish.explorer.api import create_app
from barometer.publish.explorer.serve import is_loopback, warn_if_exposed

LOAD_CLIENTS = 4
LOAD_REQUESTS = 400
LOAD_SECONDS = 60.0
START_SECONDS = 120.0


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.10", False),
        ("example.org", False),
    ],
)  # fmt: skip
def test_loopback_hosts(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_a_non_loopback_host_warns() -> None:
    with pytest.warns(BarometerWarning, match="not a loopback address"):
        warn_if_exposed("0.0.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_exposed("127.0.0.1")


def test_the_command_warns_and_refuses_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--store", str(tmp_path / "none.duckdb"), "--host", "0.0.0.0"]
    )
    assert result.exit_code == 1
    assert "warning: serving on '0.0.0.0'" in result.output
    assert "is not a barometer store" in result.output
    assert "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(conn: http.client.HTTPConnection, url: str) -> tuple[int, bytes]:
    conn.request("GET", url)
    response = conn.getresponse()
    return response.status, response.read()


@pytest.mark.slow
def test_the_command_serves_the_store_read_only(explorer) -> None:
    """The real command in its own process: it answers, and the store is not changed."""
    before = explorer.store.stat().st_mtime_ns, explorer.store.stat().st_size
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from barometer.cli import app; sys.exit(app())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--store", str(explorer.store), "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                status, body = _get(conn, "/api/estimates?question=us_relationship&countries=EU")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
            finally:
                conn.close()
        assert status == 200 and b'"scope":"EU"' in body
        # The pages and the charting library, from the package and vl-convert.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for path, expected in (
                ("/", b'id="barometer-page"'),
                ("/static/vega.js", b"vegaEmbed"),
            ):
                status, body = _get(conn, path)
                assert status == 200 and expected in body, path
        finally:
            conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Serving" in err and "warning" not in err
    assert (explorer.store.stat().st_mtime_ns, explorer.store.stat().st_size) == before


@pytest.mark.slow
def test_bounded_load_over_loopback(large_explorer) -> None:
    """LOAD_REQUESTS estimates requests from LOAD_CLIENTS clients against uvicorn, on the
    cube of a poll of LOAD_RESPONDENTS: no error, all within LOAD_SECONDS."""
    import uvicorn

    from tests.publish.explorer.conftest import LOAD_RESPONDENTS

    explorer = large_explorer
    assert explorer.poll.design("base").n >= LOAD_RESPONDENTS

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(explorer.cube), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    urls = [
        "/api/estimates?question=us_relationship",
        "/api/estimates?question=us_relationship&by=age&countries=DE,FR,EU",
        "/api/estimates?question=us_relationship&waves=2025-11&by=gender",
        "/api/questions",
        "/api/estimates?question=nope",
    ]
    errors: list[str] = []
    times: list[float] = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(LOAD_REQUESTS // LOAD_CLIENTS):
            url = urls[(i + k) % len(urls)]
            t0 = time.perf_counter()
            try:
                status, body = _get(conn, url)
            except OSError as err:
                errors.append(f"{url}: {err}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            times.append(time.perf_counter() - t0)
            if status != (400 if "nope" in url else 200) or not body.startswith(b"{"):
                errors.append(f"{url}: {status}")
        conn.close()

    try:
        deadline = time.monotonic() + START_SECONDS
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        start = time.monotonic()
        clients = [threading.Thread(target=client, args=(k,)) for k in range(LOAD_CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(LOAD_SECONDS)
        elapsed = time.monotonic() - start
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not errors, errors[:5]
    assert len(times) == LOAD_REQUESTS
    assert elapsed < LOAD_SECONDS
