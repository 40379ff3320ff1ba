"""The explorer's pages without a browser: the static export's files, the cube
embedded safely, the charting library served from vl-convert, and no third-party
JavaScript in the repository."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from barometer.publish.explorer.api import CSP, create_app
from barometer.publish.explorer.pages import PAGE_FILES, page_file, vega_bundle, write_site
from tests.publish.explorer.conftest import COMMENT, IMG, SCRIPT

ROOT = Path(__file__).resolve().parents[3]
#: The JavaScript this project wrote: the only script files the repository may hold.
OWN_SCRIPTS = {"src/barometer/publish/explorer/static/explorer.js"}
#: Larger than any script this project writes by hand (the Vega bundle is ~900 kB).
MAX_OWN_SCRIPT = 64_000


def _page_json(html: str) -> dict:
    found = re.findall(
        r'<script type="application/json" id="barometer-page">(.*?)</script>', html, re.S
    )
    assert len(found) == 1
    return json.loads(found[0])


def test_no_third_party_javascript_is_committed() -> None:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [f for f in listed.split("\0") if f]
    scripts = {f for f in files if re.search(r"\.(m|c)?js$|\.jsx?$|\.ts$", f)}
    assert scripts == OWN_SCRIPTS
    for name in scripts:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert text.startswith("// The barometer explorer's pages: written for this project")
        assert len(text) < MAX_OWN_SCRIPT
    # Nor is the bundle hidden under another name: vl-convert's library ends by setting
    # the global vegaEmbed (the marker is built here so this file does not hold it).
    marker = "window." + "vegaEmbed="
    for name in files:
        path = ROOT / name
        if path.suffix in {".html", ".json", ".txt", ".py", ".css"} and path.is_file():
            assert marker not in path.read_text(encoding="utf-8", errors="replace"), name


def test_the_package_ships_only_its_own_page_files() -> None:
    for name in (*PAGE_FILES, "index.html"):
        assert page_file(name)
    static = ROOT / "src/barometer/publish/explorer/static"
    assert sorted(p.name for p in static.iterdir()) == sorted([*PAGE_FILES, "index.html"])


def test_the_export_embeds_the_cube_escaped(explorer, tmp_path: Path) -> None:
    written = write_site(explorer.cube, tmp_path / "site", CSP)
    names = sorted(p.relative_to(tmp_path / "site").as_posix() for p in written)
    assert names == ["cube.json", "index.html", "static/explorer.css", "static/explorer.js",
                     "static/vega.js"]  # fmt: skip
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for payload in (SCRIPT, COMMENT, IMG, "<script>alert"):
        assert payload not in html
    page = _page_json(html)
    assert page["mode"] == "static"
    assert page["rows"]["columns"][-2:] == ["percent", "moe"]
    assert len(page["rows"]["data"]) == explorer.cube.rows.height
    assert page["catalogue"]["questions"][0]["wording"] == explorer.cube.questions[0].wording
    # Suppressed rows carry no figure in the export either.
    cols = page["rows"]["columns"]
    for row in page["rows"]["data"]:
        rec = dict(zip(cols, row, strict=True))
        if rec["suppressed"]:
            assert {rec[c] for c in ("estimate", "se", "ci_low", "ci_high", "percent", "moe")} == {
                None
            }
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert meta is not None and "script-src 'self'" in meta.group(1)
    assert "unsafe" not in meta.group(1) and "frame-ancestors" not in meta.group(1)
    assert (tmp_path / "site" / "static" / "vega.js").read_bytes() == vega_bundle()
    assert json.loads((tmp_path / "site" / "cube.json").read_text(encoding="utf-8"))["rows"]


def test_the_server_serves_the_pages_and_the_library(explorer) -> None:
    client = TestClient(create_app(explorer.cube))
    r = client.get("/")
    assert _page_json(r.text)["mode"] == "live"
    assert r.headers["content-security-policy"] == CSP and "unsafe" not in CSP
    js = client.get("/static/vega.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.content == vega_bundle()
    assert client.get("/static/explorer.js").text.startswith("// The barometer explorer")
