"""The publish band: findings, banners, charts and the report (they read estimates; no statistics).

Import is lazy so that ``import barometer`` stays cheap: vl-convert and Jinja2
load only when a chart or report is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from barometer._lazy import lazy_exports

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
    from barometer.publish.charts import (
        LevelStyle,
        gap_dots,
        save_png,
        save_svg,
        stacked_bars,
        trend,
    )
    from barometer.publish.report.html import write_report

_WHERE = {name: "barometer.publish.charts" for name in __all__} | {
    "write_report": "barometer.publish.report.html"
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
