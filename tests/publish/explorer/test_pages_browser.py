"""The explorer's pages on the demo poll, in headless Chromium, served live by uvicorn
and exported static (opened from ``file://``): a reader's choices drive the view, the
chart and the table show the API's numbers, the permalink restores the view, the CSV
download equals the table, the images download, the keyboard reaches every control,
nothing is logged as an error, and every kind of view paints a non-blank screenshot.

One demo poll (built once per session, tests/support/report_demo.py), one cube, one
server and one browser per module keep this to a few seconds per test.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.support import explorer_browser as eb
from tests.support.report_demo import demo_poll

pytestmark = pytest.mark.browser

Q = "defence_spending"
SEARCH = "defence"
COUNTRIES = ["FR", "DE"]
WAVES = ["2024-11", "2025-11"]
BY = "age"
#: The same view as a permalink (the tests that start from a view open it directly).
VIEW = f"#q={Q}&c={','.join(COUNTRIES)}&w={','.join(WAVES)}&by={BY}"
#: Share of a screenshot that must be painted (not near-white) to count as non-blank.
MIN_INK = 0.02
#: Pixels of one level's colour a chart's screenshot must show.
MIN_COLOUR_PIXELS = 200
#: Seconds a download may take to land.
DOWNLOAD_SECONDS = 20.0


@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from barometer.publish.explorer.cube import build_cube

    poll = demo_poll(tmp_path_factory)
    return build_cube(poll.publication(breakdowns=poll.spec.publication.breakdowns))


@pytest.fixture(scope="module")
def sites(cube: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, eb.Site]]:
    yield from eb.sites(cube, tmp_path_factory.mktemp("explorer_site"))


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def chrome(downloads: Path) -> Iterator[Any]:
    yield from eb.driver(downloads)


@pytest.fixture(params=["live", "static"])
def site(request: pytest.FixtureRequest, sites: dict[str, eb.Site], chrome: Any) -> eb.Site:
    yield sites[request.param]
    assert eb.errors(chrome) == []  # no console error in any test


def _choose(chrome: Any, values: list[str], box: str) -> None:
    """Tick exactly ``values`` among the checkboxes of ``box`` (ticking first, so the
    choice is never empty on the way)."""
    from selenium.webdriver.common.by import By

    boxes = chrome.find_elements(By.CSS_SELECTOR, f"#{box} input[type=checkbox]")
    for wanted in (True, False):
        for b in boxes:
            if (b.get_attribute("value") in values) == wanted and b.is_selected() != wanted:
                eb.act(chrome, b.click)


def _set_view(chrome: Any, site: eb.Site, chart: str = "bars") -> dict:
    """The reader's steps: search the wording, pick the question, two countries, both
    waves and a breakdown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    eb.open_view(chrome, site.url)
    search = chrome.find_element(By.ID, "search")
    search.send_keys(SEARCH)
    listed = Select(chrome.find_element(By.ID, "question")).options
    options = [o.get_attribute("value") for o in listed]
    assert options == [Q]  # the search leaves only the question whose wording matches
    eb.act(chrome, lambda: Select(chrome.find_element(By.ID, "question")).select_by_value(Q))
    _choose(chrome, COUNTRIES, "scopes")
    _choose(chrome, WAVES, "waves")
    eb.act(chrome, lambda: Select(chrome.find_element(By.ID, "by")).select_by_value(BY))
    if chart != "bars":
        state = eb.act(chrome, chrome.find_element(By.ID, f"chart-{chart}").click)
    else:
        state = eb.ready(chrome)
    return state


def _expected(cube: Any, site: eb.Site) -> tuple[list[list[str]], set[str]]:
    """The table and the chart's mark descriptions the API's rows call for."""
    rows = site.estimates(Q, COUNTRIES, WAVES, BY)
    q = cube.question(Q)
    names = {s.id: s.name for s in cube.scopes}
    levels = dict(q.levels)
    groups = dict(next(b for b in cube.breakdowns if b.id == BY).levels)
    table, marks = [], set()
    for r in rows:
        share = "suppressed" if r["suppressed"] else r["percent"] + ("*" if r["flagged"] else "")
        moe = "" if r["suppressed"] else r["moe"].lstrip("±")
        table.append([names[r["scope"]], r["wave"], groups[r["breakdown_level"]],
                      levels[r["level"]], share, moe, str(r["n"])])  # fmt: skip
        if not r["suppressed"]:
            where = f"{names[r['scope']]} · {groups[r['breakdown_level']]} · {r['wave']}"
            marks.add(
                f"{where} | {r['wave']} | {levels[r['level']]}: "
                f"{r['percent']}% {r['moe']} points, base {r['n']}"
            )
    assert len(rows) == len(COUNTRIES) * len(WAVES) * len(groups) * len(levels)
    return table, marks


def test_the_view_shows_the_api_numbers(chrome: Any, site: eb.Site, cube: Any) -> None:
    state = _set_view(chrome, site)
    assert (state["q"], state["scopes"], state["waves"], state["by"]) == (
        Q, ["FR", "DE"], WAVES, BY,
    )  # fmt: skip
    table, marks = _expected(cube, site)
    shown = eb.table(chrome)
    assert shown[0][:7] == ["Country or region", "Wave", "Age group", "Answer", "Share (%)",
                            "Margin of error (± points)", "Unweighted base"]  # fmt: skip
    assert sorted(r[:7] for r in shown[1:]) == sorted(table)
    # Reading order: countries as the spec lists them (France before Germany), then waves.
    order = ["France", "Germany"]
    assert [r[0] for r in shown[1:]] == sorted((r[0] for r in table), key=order.index)
    described = {m for m in eb.chart_marks(chrome) if " | " in m}
    assert described == marks
    # The question's exact wording and the methodology are on the page.
    facts = chrome.execute_script(
        "return [document.getElementById('question-facts').textContent,"
        " document.getElementById('methodology-body').textContent];"
    )
    assert cube.question(Q).wording in facts[0]
    assert cube.methodology["margins"] in facts[1] and cube.methodology["suppression"] in facts[1]


def test_hovering_a_bar_shows_its_share_margin_and_base(chrome: Any, site: eb.Site) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    eb.open_view(chrome, site.url + VIEW)
    bar = chrome.find_element(By.CSS_SELECTOR, '#chart svg path[aria-label*=" | "]')
    described = bar.get_attribute("aria-label")
    ActionChains(chrome).move_to_element(bar).perform()
    tip = chrome.find_element(By.ID, "tooltip")
    deadline = time.monotonic() + 5
    while not tip.is_displayed() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = dict(line.split(": ", 1) for line in tip.text.splitlines())
    share, rest = described.rsplit(": ", 1)[1].split("% ", 1)
    assert lines["Share"] == share + "%"
    assert lines["Margin of error"] == rest.split(",")[0]
    assert lines["Unweighted base"] == rest.rsplit("base ", 1)[1]
    assert lines["Where"] == described.split(" | ")[0]


def test_the_permalink_restores_the_view(chrome: Any, site: eb.Site) -> None:
    from selenium.webdriver.common.by import By

    eb.open_view(chrome, site.url + VIEW)
    state = eb.act(chrome, chrome.find_element(By.ID, "chart-trend").click)
    eb.act(chrome, chrome.find_element(By.ID, "display-table").click)
    link = chrome.find_element(By.ID, "permalink").get_attribute("value")
    shown = eb.table(chrome)
    restored = eb.open_view(chrome, link)
    assert restored == {**state, "display": "table"}
    assert eb.table(chrome) == shown
    assert chrome.find_element(By.ID, "table-wrap").is_displayed()
    assert not chrome.find_element(By.ID, "chart").is_displayed()


def _download(downloads: Path, suffix: str, click: Any) -> Path:
    for old in downloads.glob(f"*{suffix}"):
        old.unlink()
    click()
    deadline = time.monotonic() + DOWNLOAD_SECONDS
    while time.monotonic() < deadline:
        done = [p for p in downloads.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done:
            time.sleep(0.2)
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded in {DOWNLOAD_SECONDS} s")


def test_downloads_equal_the_view(chrome: Any, site: eb.Site, downloads: Path) -> None:
    from selenium.webdriver.common.by import By

    eb.open_view(chrome, site.url + VIEW)
    path = _download(downloads, ".csv", chrome.find_element(By.ID, "download-csv").click)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert rows == eb.table(chrome)
    png = _download(downloads, ".png", chrome.find_element(By.ID, "download-png").click)
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 200
    svg = _download(downloads, ".svg", chrome.find_element(By.ID, "download-svg").click)
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<svg") and "France · 18-29" in text


def test_the_keyboard_reaches_every_control(chrome: Any, site: eb.Site) -> None:
    """Tab walks every control (one stop per radio group, as browsers do), and the
    keyboard alone changes the view."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    state = eb.open_view(chrome, site.url)
    controls = chrome.execute_script(
        "return Array.from(document.querySelectorAll('input, select, button'))"
        ".filter(function (e) { return e.type !== 'radio' || e.checked; })"
        ".map(function (e) { return e.id; });"
    )
    assert len(controls) >= 20
    seen = []
    chrome.find_element("tag name", "body").click()
    for _ in range(len(controls) + 10):
        ActionChains(chrome).send_keys(Keys.TAB).perform()
        seen.append(chrome.execute_script("return document.activeElement.id"))
    assert set(controls) <= set(seen), set(controls) - set(seen)
    # Keyboard only: focus the chart-kind radios and arrow to the trend.
    chrome.find_element("id", "chart-bars").send_keys(" ")
    after = eb.act(chrome, lambda: ActionChains(chrome).send_keys(Keys.ARROW_RIGHT).perform())
    assert (state["chart"], after["chart"]) == ("bars", "trend")
    assert len(after["waves"]) == 2  # a trend takes every wave


def _ink(png: bytes) -> tuple[np.ndarray, float]:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return pixels, float((pixels < 235).any(axis=2).mean())


@pytest.mark.parametrize("kind", ["bars", "trend", "breakdown", "table"])
def test_a_screenshot_of_each_view(chrome: Any, sites: dict, cube: Any, kind: str) -> None:
    site = sites["static" if kind in ("trend", "table") else "live"]
    views = {
        "bars": "#q=us_relationship&chart=bars",
        "trend": "#q=us_relationship&c=DE,FR,EU&chart=trend",
        "breakdown": "#q=us_relationship&c=DE&by=gender&w=2024-11,2025-11",
        "table": "#q=us_relationship&c=DE,FR&display=table",
    }
    eb.open_view(chrome, site.url + views[kind])
    shot = chrome.find_element("id", "view").screenshot_as_png
    pixels, ink = _ink(shot)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500, pixels.shape
    assert ink > MIN_INK, f"{kind}: screenshot nearly blank ({ink:.1%} ink)"
    if kind != "table":
        colours = cube.question("us_relationship").colors
        first = [int(colours[0][k : k + 2], 16) for k in (1, 3, 5)]
        near = (np.abs(pixels.astype(int) - first) <= 6).all(axis=2).sum()
        assert near > MIN_COLOUR_PIXELS, f"{kind}: no {colours[0]} in the chart"
    assert eb.errors(chrome) == []


@pytest.mark.parametrize("width", [380])
def test_a_phone_reads_the_page(chrome: Any, sites: dict, width: int) -> None:
    """At a phone's width the page does not scroll sideways; the controls stack."""
    chrome.set_window_size(width, 900)
    try:
        eb.open_view(chrome, sites["live"].url + "#q=us_relationship&c=DE,FR")
        overflow = chrome.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
        controls = chrome.find_element("id", "controls").rect
        view = chrome.find_element("id", "view").rect
        assert view["y"] >= controls["y"] + controls["height"] - 1  # stacked, not side by side
    finally:
        chrome.set_window_size(1280, 1400)
    assert eb.errors(chrome) == []


def _cells(rows: list[dict], numeric: bool = False) -> list[tuple[str, str, str, str]]:
    """(wave, figure, margin, base) of the API's rows, as the table prints them."""
    out = []
    for r in rows:
        flag = "*" if r["flagged"] and not r["suppressed"] else ""
        figure = "suppressed" if r["suppressed"] else r["percent"] + flag
        moe = "" if r["suppressed"] else str(r["moe"]).removeprefix("±")
        out.append((r["wave"], figure, moe, str(r["n"])))
    return sorted(out)


#: The demo's views of each new kind: a numeric question, a multiple-response question,
#: a grid (issue 18 on issues 11-12), with the countries and waves they show.
KIND_VIEWS = {
    "numeric": ("trust_eu", ["DE", "FR", "EU"]),
    "multiple": ("allies", ["DE", "PL"]),
    "grid": ("views", ["DE", "FR"]),
}


@pytest.mark.parametrize("kind", ["numeric", "multiple", "grid"])
def test_each_kind_shows_the_api_numbers(chrome: Any, site: eb.Site, cube: Any, kind: str) -> None:
    """A numeric question prints means (no %), a multiple-response question one row per
    option with the 'do not sum to 100%' note, a grid one stacked bar per item and
    country: the table's figures are the API's, part by part; the chart paints."""
    qid, countries = KIND_VIEWS[kind]
    info = cube.question(qid)
    assert info.kind == kind
    state = eb.open_view(chrome, site.url + f"#q={qid}&c={','.join(countries)}&w={','.join(WAVES)}")
    assert state["q"] == qid
    head, *body = eb.table(chrome)
    parts = [(p[0], p[2]) for p in info.parts] or [(None, qid)]
    expected, shown = [], []
    for code, stored in parts:
        rows = site.estimates(stored, countries, WAVES, "")
        if kind == "multiple":
            rows = [r for r in rows if r["level"] == "selected"]
        expected += [(code, *c) for c in _cells(rows)]
    names = {s.id: s.name for s in cube.scopes}
    labels = {c: lb for c, lb, _ in info.parts}
    for line in body:
        cell = dict(zip(head, line, strict=True))
        code = None
        if kind == "multiple":
            code = next(c for c, lb in labels.items() if lb == cell["Option"])
        if kind == "grid":
            code = next(c for c, lb in labels.items() if lb == cell["Item"])
        figure = cell.get("Mean", cell.get("Share (%)"))
        moe = cell.get("Margin of error (±)", cell.get("Margin of error (± points)"))
        shown.append((code, cell["Wave"], figure, moe, cell["Unweighted base"]))
        assert cell["Country or region"] in {names[c] for c in countries}
    assert sorted(shown) == sorted(expected) and len(shown) > 0
    if kind == "numeric":
        assert "Mean" in head and "Share (%)" not in head
        assert all("%" not in line[head.index("Mean")] for line in body)
    if kind == "multiple":
        assert "do not sum to 100%" in chrome.find_element("id", "note").text
        # Ranked by the first row's shares (the first country and wave), largest first.
        first = {
            lb: site.estimates(stored, countries[:1], WAVES[:1], "") for _, lb, stored in info.parts
        }
        share = {lb: next(r["estimate"] for r in rows if r["level"] == "selected")
                 for lb, rows in first.items()}  # fmt: skip
        axis = chrome.execute_script(
            "return Array.from(document.querySelectorAll('#chart svg .role-axis-label text'))"
            ".map(function (t) { return t.textContent; });"
        )
        assert [a for a in axis if a in share] == sorted(share, key=lambda lb: -share[lb])
    if kind == "grid":
        assert head[0] == "Item"
    marks = [m for m in eb.chart_marks(chrome) if " | " in m]
    assert len(marks) == sum(1 for s in shown if s[2] != "suppressed") > 0
    shot = chrome.find_element("id", "view").screenshot_as_png
    _, ink = _ink(shot)
    assert ink > MIN_INK, f"{kind}: screenshot nearly blank ({ink:.1%} ink)"


def test_parts_are_chosen_through_their_set(chrome: Any, sites: dict, cube: Any) -> None:
    """A set's options and items are not offered one by one; a link to a part opens its
    set; the trend of a mean draws."""
    eb.open_view(chrome, sites["live"].url)
    offered = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#question option')).map(function (o) {"
        " return o.value; });"
    )
    assert {"trust_eu", "allies", "views"} <= set(offered)
    assert not any("__" in q for q in offered)
    assert eb.open_view(chrome, sites["live"].url + "#q=allies__us")["q"] == "allies"
    eb.open_view(chrome, sites["live"].url + "#q=trust_eu&c=DE,FR&chart=trend")
    # Two countries x two waves: four points (each line also carries its first point's).
    assert len({m for m in eb.chart_marks(chrome) if " | " in m}) == 4
    # The trends of a set: a line per option (per level within each item), points per wave.
    for qid, points in (("allies", 5 * 2), ("views", 3 * 5 * 2)):
        eb.open_view(chrome, sites["live"].url + f"#q={qid}&c=DE&chart=trend")
        assert len({m for m in eb.chart_marks(chrome) if " | " in m}) == points, qid
    assert eb.errors(chrome) == []
