"""Start-up of ``barometer serve``: the cube's app on a uvicorn server.

uvicorn is the ASGI server (HTTP/1.1 on asyncio, the server Starlette is developed
against). The store is not opened here: the command (cli.py) opens the poll, builds the
publication with the spec's declared breakdowns and hands the cube over, so the publish
band never touches the store.
"""

from __future__ import annotations

import ipaddress

from barometer.errors import BarometerWarning, warn
from barometer.publish.explorer.api import create_app
from barometer.publish.explorer.cube import Cube

__all__ = ["is_loopback", "run", "warn_if_exposed"]


def is_loopback(host: str) -> bool:
    """True when ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str) -> None:
    """Warn when the server would listen beyond this machine."""
    if not is_loopback(host):
        warn(
            f"serving on {host!r}, which is not a loopback address: anyone who can reach "
            "this machine can read the explorer. Use --host 127.0.0.1 to keep it local, or "
            "put it behind a reverse proxy that terminates TLS.",
            BarometerWarning,
        )


def run(cube: Cube, host: str = "127.0.0.1", port: int = 8000, warn: bool = True) -> None:
    """Serve ``cube`` on ``host:port`` until interrupted (uvicorn, one process); with
    ``warn``, warn first when ``host`` is not a loopback address."""
    import uvicorn

    if warn:
        warn_if_exposed(host)
    config = uvicorn.Config(
        create_app(cube),
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        access_log=False,
    )
    uvicorn.Server(config).run()
