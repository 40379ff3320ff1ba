"""The explorer's pages in headless Chromium, driven by Selenium through Debian's
``chromedriver``: a live server on a loopback port, the static export, and the few
steps every browser test takes (wait for a view, read the table and the chart, collect
console errors).

Selenium never looks for a driver of its own here (the driver's path is given), so
nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: Seconds a view may take to draw (the demo's largest view is a few hundred marks).
VIEW_SECONDS = 30.0


@dataclass(frozen=True)
class Site:
    """Where the explorer is: the live server's root URL, or the export's index.html."""

    kind: str
    url: str
    api: str  # the live server's root, for the API's own numbers

    def estimates(
        self, question: str, countries: list[str], waves: list[str], by: str
    ) -> list[dict]:
        query = f"question={question}&countries={','.join(countries)}&waves={','.join(waves)}"
        if by:
            query += f"&by={by}"
        with urlopen(f"{self.api}api/estimates?{query}", timeout=30) as r:
            return json.loads(r.read())["rows"]


class LiveServer:
    """``create_app(cube)`` on uvicorn in a thread, on a free loopback port."""

    def __init__(self, cube: Any) -> None:
        import uvicorn

        from barometer.publish.explorer.api import create_app

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"
        config = uvicorn.Config(create_app(cube), log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, args=([self.socket],), daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


def sites(cube: Any, root: Path) -> Iterator[dict[str, Site]]:
    """The live server and the static export of ``cube`` (export under ``root``)."""
    from barometer.publish.explorer.api import CSP
    from barometer.publish.explorer.pages import write_site

    write_site(cube, root / "site", CSP)
    with LiveServer(cube) as live:
        yield {
            "live": Site("live", live.url, live.url),
            "static": Site("static", (root / "site" / "index.html").as_uri(), live.url),
        }


def driver(downloads: Path) -> Iterator[Any]:
    """One headless Chromium for a test module; downloads land in ``downloads``."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    if CHROMIUM is None or not Path(CHROMEDRIVER).exists():
        pytest.skip("chromium and chromedriver are needed (apt-get install chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    chrome.set_script_timeout(VIEW_SECONDS)
    try:
        yield chrome
    finally:
        chrome.quit()


def errors(chrome: Any) -> list[dict]:
    """The console's errors since the last call (warnings and info are not errors)."""
    return [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]


def ready(chrome: Any, after: str | None = None) -> dict:
    """Wait until the page has drawn a view (other than ``after``): its state."""
    deadline = time.monotonic() + VIEW_SECONDS
    while time.monotonic() < deadline:
        mark = chrome.execute_script("return document.documentElement.getAttribute('data-ready')")
        if mark and mark != after:
            return json.loads(mark)
        time.sleep(0.05)
    status = chrome.find_element("id", "status").text
    raise AssertionError(f"no view drawn in {VIEW_SECONDS} s; status: {status!r}")


def open_view(chrome: Any, url: str) -> dict:
    chrome.get("about:blank")
    chrome.get(url)
    return ready(chrome)


def act(chrome: Any, action: Any) -> dict:
    """Do ``action`` (a callable) and wait for the view it draws."""
    before = chrome.execute_script("return document.documentElement.getAttribute('data-ready')")
    action()
    return ready(chrome, before)


def table(chrome: Any) -> list[list[str]]:
    """The table as text, its header first (hidden or not)."""
    return chrome.execute_script(
        "return Array.from(document.querySelectorAll('#table tr')).map(function (tr) {"
        " return Array.from(tr.children).map(function (c) { return c.textContent; }); });"
    )


def chart_marks(chrome: Any) -> list[str]:
    """The descriptions of the chart's marks (what Vega writes as their aria-label)."""
    return chrome.execute_script(
        "return Array.from(document.querySelectorAll('#chart svg [aria-label]'))"
        ".map(function (n) { return n.getAttribute('aria-label'); });"
    )
