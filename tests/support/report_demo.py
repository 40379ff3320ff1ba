"""The demo poll, built, ingested and weighted once per test session, and its report.

Shared by tests/test_report_html.py and tests/test_report_browser.py (module globals
cache them, so the ~30 s of building happens once however many modules ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The findings passed to the report in tests (records as poll.findings() will give).
FINDINGS = [
    {
        "kind": "change",
        "sentence": "EU: 16% see the US as an ally in 2025-11, down from 21% in 2024-11 "
        "(−5 points, 95% CI −6.8 to −3.2).",
    },
    {"kind": "gap", "sentence": "South Korea: 41% see the US as an ally, 25 points above the EU."},
]


@dataclass(frozen=True)
class DemoReport:
    poll: Any
    data: Any
    path: Path


_CACHE: dict[str, Any] = {}


def demo_poll(factory: pytest.TempPathFactory) -> Any:
    """The weighted demo poll (built in a session temp dir)."""
    if "poll" not in _CACHE:
        from barometer.demo.build import build_demo
        from barometer.poll.poll import Poll

        root = factory.mktemp("report_demo")
        spec = build_demo(root / "demo")
        poll, _ = Poll.ingest(spec, root / "poll.duckdb")
        poll.weight()
        _CACHE["poll"] = poll
    return _CACHE["poll"]


def demo_report(factory: pytest.TempPathFactory) -> DemoReport:
    """The demo poll's report, written once with :data:`FINDINGS`."""
    if "report" not in _CACHE:
        from barometer.publish.report.html import collect, render_report

        poll = demo_poll(factory)
        data = collect(poll.publication())
        path = factory.mktemp("report_html") / "report.html"
        path.write_text(render_report(data, FINDINGS), encoding="utf-8")
        _CACHE["report"] = DemoReport(poll, data, path)
    return _CACHE["report"]
