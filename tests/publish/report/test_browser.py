"""The report as a reader sees it: headless Chromium loads it with no errors, requests
nothing from the network, decodes every chart, and paints a non-blank page.

Needs Debian's ``chromium`` (installed by .ci/run); skipped when it is not installed.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.report_demo import DemoReport, demo_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Share of the first screen that must be painted (not white) for it to count as non-blank.
MIN_INK = 0.10
# Seconds Chromium may take for one page (a 1.3 MB file with ~20 inline SVGs).
TIMEOUT = 120

#: Injected at the top of <head> in a copy of the report: records script errors and
#: failed resource loads (capture phase), then on load how many images decoded and
#: which non-data: resources were requested, as attributes the dumped DOM shows.
PROBE = """<script>
document.documentElement.dataset.errors = "0";
window.addEventListener("error", function () {
  var el = document.documentElement;
  el.dataset.errors = String(Number(el.dataset.errors) + 1);
}, true);
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var ext = performance.getEntriesByType("resource").map(function (e) { return e.name; })
    .filter(function (n) { return n.indexOf("data:") !== 0; });
  var el = document.documentElement;
  el.dataset.images = String(imgs.length);
  el.dataset.imagesOk = String(ok.length);
  el.dataset.external = ext.join(" ");
  el.dataset.probe = "done";
});
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)


def _page_errors(stderr: bytes) -> list[str]:
    """Console errors and failed loads in Chromium's log (not its own D-Bus noise)."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    return [
        line
        for line in lines
        if ("CONSOLE" in line and re.search(r"error|uncaught", line, re.I))
        or "net::ERR" in line
        or "Failed to load resource" in line
    ]


def _render(html: str, tmp_path: Path) -> tuple[str, dict[str, str], bytes]:
    """Chromium's rendered DOM of ``html`` with :data:`PROBE` injected, the probe's
    attributes on ``<html>`` and Chromium's log."""
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    run = _chromium(
        tmp_path / "profile", "--virtual-time-budget=15000", "--dump-dom", probed.as_uri()
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    dom = run.stdout.decode("utf-8")
    root = re.search(r"<html[^>]*>", dom)
    assert root is not None
    return dom, dict(re.findall(r'data-([a-z-]+)="([^"]*)"', root.group(0))), run.stderr


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return demo_report(tmp_path_factory)


def test_report_loads_without_errors_and_decodes_every_chart(
    report: DemoReport, tmp_path: Path
) -> None:
    html = report.path.read_text(encoding="utf-8")
    dom, attrs, stderr = _render(html, tmp_path)
    assert attrs.get("probe") == "done", attrs
    assert attrs["errors"] == "0"
    assert attrs["external"] == ""  # nothing requested beyond the file itself
    expected_images = html.count("<img ")
    assert int(attrs["images"]) == expected_images >= 15
    assert int(attrs["images-ok"]) == expected_images
    assert dom.count('src="data:image/svg+xml;base64,') == expected_images
    assert 'id="methodology"' in dom
    assert _page_errors(stderr) == []


def test_screenshot_shows_the_report(report: DemoReport, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    run = _chromium(
        tmp_path / "profile",
        "--window-size=1280,2400",
        "--virtual-time-budget=15000",
        f"--screenshot={shot}",
        report.path.as_uri(),
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert _page_errors(run.stderr) == []
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1280)
    ink = (pixels < 245).any(axis=2).mean()
    assert ink > MIN_INK, f"screenshot nearly blank ({ink:.1%} ink)"
    # The first question's stacked bars are painted: each level's colour fills an area.
    style = report.data.questions[0].style
    for colour in style.colors:
        rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
        assert (pixels == rgb).all(axis=2).sum() > 500, f"no {colour} area in the screenshot"


def test_report_of_a_ragged_poll_loads_without_errors(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Issue 11: a question asked in one wave, a module asked in two countries, a question
    no source maps, a region member absent from a wave — the report opens cleanly."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from barometer.poll.poll import Poll
    from barometer.publish import write_report
    from barometer.publish.findings import find
    from tests.support.pollkit import make_ragged_poll

    root = tmp_path_factory.mktemp("ragged_report")
    make_ragged_poll(root)
    poll, _ = Poll.ingest(root / "spec.yaml", root / "poll.duckdb")
    poll.weight()
    pub = poll.publication()
    html = write_report(pub, root / "report.html", findings=find(pub).headlines(8))
    text = html.read_text(encoding="utf-8")
    dom, attrs, stderr = _render(text, tmp_path)
    assert attrs.get("probe") == "done" and attrs["errors"] == "0"
    assert int(attrs["images-ok"]) == int(attrs["images"]) == text.count("<img ") > 0
    assert "Not asked in" in dom
    assert _page_errors(stderr) == []


def _section(dom: str, question: str) -> str:
    """The rendered DOM of one question's section (up to the next section)."""
    start = dom.index(f'id="q-{question}"')
    ends = [i for i in (dom.find('id="q-', start + 1), dom.find('id="methodology"')) if i > 0]
    return dom[start : min(ends)]


def test_each_question_kind_is_rendered(report: DemoReport, tmp_path: Path) -> None:
    """Issues 14 and 15: the demo's numeric scale, its multiple-response question and its
    grid reach the page Chromium renders, each with its own table and decoded charts."""
    dom, attrs, stderr = _render(report.path.read_text(encoding="utf-8"), tmp_path)
    assert attrs.get("probe") == "done" and attrs["errors"] == "0"
    assert _page_errors(stderr) == []
    numeric = _section(dom, "trust_eu")
    assert "Mean" in numeric and "0–10" in numeric
    assert numeric.count('src="data:image/svg+xml;base64,') >= 2  # means by country, distribution
    options = _section(dom, "allies")
    assert "do not sum to 100%" in options
    assert options.count('src="data:image/svg+xml;base64,') >= 1  # ranked option bars
    for item in ("us", "cn", "ru"):
        assert f'id="q-views__{item}"' in dom
