"""The explorer's pages on a hostile little poll, in headless Chromium, live and static:
script and markup in the wording, an answer label and a country name run nothing and
show as text; suppressed cells (primary and secondary) show no number in the table or
the chart.

The poll is tests/publish/explorer/conftest.py's (minimum base 140 on samples of 300,
so breakdown cells are suppressed; issue 13's payloads in its labels).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.publish.explorer.conftest import IMG, SCRIPT
from tests.support import explorer_browser as eb

pytestmark = pytest.mark.browser

Q = "us_relationship"


@pytest.fixture(scope="module")
def sites(explorer: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    yield from eb.sites(explorer.cube, tmp_path_factory.mktemp("hostile_site"))


@pytest.fixture(scope="module")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from eb.driver(tmp_path_factory.mktemp("hostile_downloads"))


@pytest.fixture(params=["live", "static"])
def site(request: pytest.FixtureRequest, sites: dict, chrome: Any) -> Iterator[eb.Site]:
    yield sites[request.param]
    assert eb.errors(chrome) == []


def _no_alert(chrome: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = chrome.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a payload ran: alert({text!r})")


@pytest.mark.parametrize("view", ["chart", "table"])
def test_payloads_run_nothing_and_show_as_text(
    chrome: Any, site: eb.Site, explorer: Any, view: str
) -> None:
    eb.open_view(chrome, f"{site.url}#q={Q}&display={view}&w=2024-11,2025-11")
    _no_alert(chrome)
    page = chrome.execute_script(
        "return {images: document.images.length,"
        " scripts: document.scripts.length,"
        " wording: document.getElementById('wording').textContent,"
        " scopes: document.getElementById('scopes').textContent,"
        " body: document.body.textContent,"
        " svg: Array.from(document.querySelectorAll('#chart svg text'))"
        "   .map(function (t) { return t.textContent; }).join('|')};"
    )
    assert page["images"] == 0  # the <img onerror> label made no element
    assert page["scripts"] == 3  # the page's own three; none added by a label
    assert page["wording"] == explorer.cube.question(Q).wording  # shown as text, whole
    assert f"Germany {SCRIPT}" in page["scopes"]
    assert f"A partner {IMG}" in page["body"]
    if view == "chart":
        assert f"A partner {IMG}"[:20] in page["svg"]  # Vega draws it as text, not markup


def test_a_suppressed_cell_shows_no_number(chrome: Any, site: eb.Site, explorer: Any) -> None:
    rows = site.estimates(Q, ["DE"], ["2024-11"], "age")
    hidden = [r for r in rows if r["suppressed"]]
    assert {r["suppression"] for r in hidden} == {"base", "secondary"}
    assert all(r["estimate"] is None and r["percent"] is None for r in hidden)
    eb.open_view(chrome, f"{site.url}#q={Q}&c=DE&w=2024-11&by=age&display=table")
    table = eb.table(chrome)
    header, body = table[0], table[1:]
    share, moe = header.index("Share (%)"), header.index("Margin of error (± points)")
    suppressed = [r for r in body if r[share] == "suppressed"]
    assert len(suppressed) == len(hidden)
    assert all(r[moe] == "" for r in suppressed)
    shown = [r for r in body if r[share] != "suppressed"]
    assert len(shown) == len(rows) - len(hidden)
    assert all(r[share].rstrip("*").isdigit() for r in shown)
    eb.open_view(chrome, f"{site.url}#q={Q}&c=DE&w=2024-11&by=age")
    marks = [m for m in eb.chart_marks(chrome) if " | " in m]
    assert len(marks) == len(rows) - len(hidden)
    texts = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#chart svg text'))"
        ".map(function (t) { return t.textContent; });"
    )
    assert sum(t.startswith("suppressed (base ") for t in texts) == len(
        {r["breakdown_level"] for r in hidden}
    )


def test_a_kind_without_a_chart_is_shown_as_a_table(
    chrome: Any, explorer: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A question's kind selects its view: a kind the pages draw no chart for (here a
    made-up ``ranking``) gets the table and a note, and nothing fails."""
    from dataclasses import replace

    from barometer.publish.explorer.api import CSP
    from barometer.publish.explorer.pages import write_site

    cube = explorer.cube
    ranking = replace(cube, questions=tuple(replace(q, kind="ranking") for q in cube.questions))
    root = tmp_path_factory.mktemp("ranking_site")
    write_site(ranking, root, CSP)
    eb.open_view(chrome, (root / "index.html").as_uri() + f"#q={Q}")
    note = chrome.find_element("id", "note").text
    assert "ranking" in note and "table" in note
    assert chrome.find_elements("css selector", "#chart svg") == []
    assert len(eb.table(chrome)) > 1
    assert eb.errors(chrome) == []


def test_a_multiple_response_question_gets_option_bars(
    chrome: Any, explorer: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Kind ``multiple`` (issue 12) selects the unstacked option bars: one bar per option
    and country, each with its figures, none for a suppressed cell."""
    from dataclasses import replace

    from barometer.publish.explorer.api import CSP
    from barometer.publish.explorer.pages import write_site

    cube = explorer.cube
    multiple = replace(cube, questions=tuple(replace(q, kind="multiple") for q in cube.questions))
    root = tmp_path_factory.mktemp("multiple_site")
    write_site(multiple, root, CSP)
    eb.open_view(chrome, (root / "index.html").as_uri() + f"#q={Q}&c=DE,FR,EU&w=2024-11,2025-11")
    rows = cube.estimates(Q, ["DE", "FR", "EU"], ["2024-11", "2025-11"])
    marks = [m for m in eb.chart_marks(chrome) if " | " in m]
    assert len(marks) == rows.filter(~rows["suppressed"]).height > 0
    assert all("suppressed" not in m for m in marks)
    assert chrome.find_element("id", "note").text == ""
    assert eb.errors(chrome) == []


@pytest.mark.parametrize("kind", ["numeric", "grid"])
def test_the_new_views_suppress_and_escape(
    chrome: Any, explorer: Any, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    """The mean view and the grid view (issue 18) draw no mark for a suppressed cell and
    say it is suppressed; a grid item's label with markup shows as text."""
    from dataclasses import replace

    from barometer.publish.explorer.api import CSP
    from barometer.publish.explorer.pages import write_site

    cube = explorer.cube
    base = cube.question(Q)
    if kind == "numeric":  # the question's rows drawn as means (the figures are shares)
        qid, extra = Q, replace(base, kind="numeric")
        questions = tuple(extra if q.id == Q else q for q in cube.questions)
    else:  # a grid of one item, the question itself, labelled with a payload
        qid, extra = "grid", replace(base, id="grid", kind="grid", parts=(("a", IMG, Q),))
        questions = (*cube.questions, extra)
    root = tmp_path_factory.mktemp(f"{kind}_site")
    write_site(replace(cube, questions=questions), root, CSP)
    rows = cube.estimates(Q, ["DE", "FR", "IT", "PL"], ["2024-11", "2025-11"], "age")
    hidden = rows.filter(rows["suppressed"])
    assert 0 < hidden.height < rows.height
    eb.open_view(
        chrome, (root / "index.html").as_uri() + f"#q={qid}&c=DE,FR,IT,PL&w=2024-11,2025-11&by=age"
    )
    _no_alert(chrome)
    marks = [m for m in eb.chart_marks(chrome) if " | " in m]
    assert len(marks) == rows.height - hidden.height > 0
    assert all("suppressed" not in m for m in marks)
    texts = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#chart svg text'))"
        ".map(function (t) { return t.textContent; });"
    )
    assert any(t.startswith("suppressed (base ") for t in texts)
    assert chrome.execute_script("return document.images.length") == 0
    if kind == "grid":
        assert any(t.startswith(IMG[:12]) for t in texts)
        assert all(line[0] == IMG for line in eb.table(chrome)[1:])
    assert eb.errors(chrome) == []
