"""Outputs: charts and the self-contained HTML report (they read Estimates; no statistics).

Import is lazy so that ``import barometer`` stays cheap: Altair, vl-convert and Jinja2
load only when a chart or report is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "LevelStyle",
    "gap_dots",
    "save_png",
    "save_svg",
    "stacked_bars",
    "trend",
    "write_report",
]

if TYPE_CHECKING:
    from barometer.report.charts import (
        LevelStyle,
        gap_dots,
        save_png,
        save_svg,
        stacked_bars,
        trend,
    )
    from barometer.report.html import write_report

_WHERE = {name: "barometer.report.charts" for name in __all__} | {
    "write_report": "barometer.report.html"
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'barometer.report' has no attribute {name!r}")
