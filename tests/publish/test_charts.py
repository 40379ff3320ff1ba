"""Charts: questionnaire order and colours, the three chart kinds, offline PNG and SVG.

Charts only read Estimates columns, so these tests build small Estimates tables by hand
(no poll needed) and check the Vega-Lite specs and the rendered images.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from PIL import Image

from barometer.core.estimates import Estimates
from barometer.errors import EstimationError
from barometer.publish.charts import (
    LevelStyle,
    VegaLite,
    gap_dots,
    save_png,
    save_svg,
    stacked_bars,
    to_png,
    to_svg,
    trend,
)

# A rendered chart is at least this many CSS pixels each way (scale=2 doubles them).
MIN_SIZE = (300, 100)
# Share of non-white pixels below which a PNG counts as blank.
MIN_INK = 0.05

CODES = ["ally", "partner", "rival", "dont_know"]
LABELS = ["An ally", "A necessary partner", "A rival", "Don't know"]
SHARES = {
    "EU": {"2024-11": (0.21, 0.50, 0.17, 0.12), "2025-11": (0.16, 0.51, 0.20, 0.13)},
    "DE": {"2024-11": (0.19, 0.52, 0.17, 0.12), "2025-11": (0.17, 0.48, 0.23, 0.12)},
    "KR": {"2024-11": (0.44, 0.46, 0.06, 0.04), "2025-11": (0.41, 0.48, 0.07, 0.04)},
    "FR": {"2025-11": (0.12, 0.50, 0.25, 0.13)},
}
NAMES = {"EU": "EU average", "DE": "Germany", "KR": "South Korea", "FR": "France"}


@pytest.fixture(scope="module")
def style() -> LevelStyle:
    return LevelStyle.from_levels(CODES, LABELS, non_substantive=["dont_know"])


@pytest.fixture(scope="module")
def est() -> Estimates:
    rows = []
    for country, waves in SHARES.items():
        for wave, shares in waves.items():
            n = 11000 if country == "EU" else 1000
            for code, p in zip(CODES, shares, strict=True):
                se = float(np.sqrt(p * (1 - p) / n))
                rows.append(
                    {
                        "country": country,
                        "wave": wave,
                        "variable": "us_relationship",
                        "level": code,
                        "estimate": p,
                        "se": se,
                        "ci_low": p - 1.96 * se,
                        "ci_high": p + 1.96 * se,
                        "n": n,
                        "deff": 1.5,
                    }
                )
    return Estimates(pl.DataFrame(rows), by=("country", "wave"), statistic="proportion")


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _has_colour(pixels: np.ndarray, hex_colour: str, at_least: int = 50) -> bool:
    rgb = [int(hex_colour[k : k + 2], 16) for k in (1, 3, 5)]
    return int((pixels == rgb).all(axis=2).sum()) >= at_least


def _check_png(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = _image(png)
    height, width, _ = pixels.shape
    assert width >= 2 * MIN_SIZE[0] and height >= 2 * MIN_SIZE[1]
    ink = (pixels < 245).any(axis=2).mean()
    assert ink > MIN_INK, f"PNG is nearly blank ({ink:.1%} ink)"
    return pixels


def _colour_scale(spec: dict) -> dict:
    """The colour scale of the level encoding, wherever it sits in the spec."""
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            enc = node.get("encoding", {})
            color = enc.get("color") if isinstance(enc, dict) else None
            if isinstance(color, dict) and "scale" in color:
                found.append(color["scale"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    return found[0]


# -- level styles ----------------------------------------------------------------------


def test_style_keeps_questionnaire_order_and_greys_non_substantive(style: LevelStyle) -> None:
    assert style.codes == tuple(CODES)
    assert style.labels == tuple(LABELS)
    assert len(set(style.colors)) == len(CODES)
    assert style.color("dont_know") == "#9a9a9a"  # the first grey
    for code in ("ally", "partner", "rival"):
        r, g, b = (int(style.color(code)[k : k + 2], 16) for k in (1, 3, 5))
        assert not r == g == b
    # Diverging: the first level is blue, the last substantive one red.
    first, last = style.color("ally"), style.color("rival")
    assert int(first[5:7], 16) > int(first[1:3], 16)
    assert int(last[1:3], 16) > int(last[5:7], 16)


def test_style_is_deterministic_and_from_question_matches() -> None:
    class Lv:
        def __init__(self, code: str, label: str) -> None:
            self.code, self.label = code, label

    question = SimpleNamespace(
        levels=[Lv(c, lab) for c, lab in zip(CODES, LABELS, strict=True)],
        non_substantive=["dont_know"],
    )
    expected = LevelStyle.from_levels(CODES, LABELS, ["dont_know"])
    assert LevelStyle.from_question(question) == expected
    two = LevelStyle.from_levels(["agree", "disagree"])
    assert two.colors[0] != two.colors[1]


def test_style_errors_name_the_level(style: LevelStyle) -> None:
    with pytest.raises(EstimationError, match=r"'aly'.*did you mean 'ally'"):
        style.color("aly")
    with pytest.raises(EstimationError, match="labels"):
        LevelStyle.from_levels(["a", "b"], ["A"])


# -- chart specs -----------------------------------------------------------------------


def test_every_chart_uses_the_same_colour_per_level(est: Estimates, style: LevelStyle) -> None:
    bars = stacked_bars(est, style, wave="2025-11", names=NAMES).to_dict()
    scale = _colour_scale(bars)
    assert scale["domain"] == list(LABELS)
    assert scale["range"] == list(style.colors)
    for chart in (
        trend(est, style, "partner", names=NAMES),
        gap_dots(est, style, "partner", wave="2025-11", reference="EU", names=NAMES),
    ):
        text = str(chart.to_dict())
        assert style.color("partner") in text
        assert style.color("ally") not in text


def test_stacked_bars_order_and_bases(est: Estimates, style: LevelStyle) -> None:
    chart = stacked_bars(est, style, wave="2025-11", order=["EU", "KR", "DE", "FR"], names=NAMES)
    spec = chart.to_dict()
    text = str(spec)
    assert "['EU average', 'South Korea', 'Germany', 'France']" in text
    assert "n = 11,000" in text and "n = 1,000" in text


def test_charts_refuse_ambiguous_or_unknown_input(est: Estimates, style: LevelStyle) -> None:
    with pytest.raises(EstimationError, match="pass wave="):
        stacked_bars(est, style)
    with pytest.raises(EstimationError, match="no estimates for wave '2023-11'"):
        stacked_bars(est, style, wave="2023-11")
    with pytest.raises(EstimationError, match="not a level"):
        trend(est, style, "adversary")
    with pytest.raises(EstimationError, match=r"reference 'EUU'.*did you mean 'EU'"):
        gap_dots(est, style, "ally", wave="2025-11", reference="EUU")
    other = LevelStyle.from_levels(["yes", "no"])
    with pytest.raises(EstimationError, match="not levels of the question style"):
        stacked_bars(est, other, wave="2025-11")
    single = Estimates(est.to_polars().drop("wave"), by=("country",))
    with pytest.raises(EstimationError, match="estimates by wave"):
        trend(single, style, "ally")


# -- rendering -------------------------------------------------------------------------


def test_stacked_bars_png_shows_every_level_colour(est: Estimates, style: LevelStyle) -> None:
    pixels = _check_png(to_png(stacked_bars(est, style, wave="2025-11", names=NAMES)))
    for colour in style.colors:
        assert _has_colour(pixels, colour), f"no bar of colour {colour} in the PNG"


def test_trend_and_dots_png(est: Estimates, style: LevelStyle, tmp_path: Path) -> None:
    path = save_png(trend(est, style, "ally", names=NAMES, title="Ally"), tmp_path / "t.png")
    pixels = _check_png(path.read_bytes())
    assert _has_colour(pixels, style.color("ally"), at_least=20)
    dots = gap_dots(est, style, "ally", wave="2025-11", reference="EU", names=NAMES)
    pixels = _check_png(save_png(dots, tmp_path / "d.png").read_bytes())
    assert _has_colour(pixels, style.color("ally"), at_least=20)


def test_svg_is_valid_and_labelled(est: Estimates, style: LevelStyle, tmp_path: Path) -> None:
    chart = gap_dots(est, style, "ally", wave="2025-11", reference="EU", names=NAMES, title="T")
    path = save_svg(chart, tmp_path / "d.svg")
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    assert float(root.get("width")) >= MIN_SIZE[0]
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert {"Germany", "South Korea", "France", "41", "EU average: 16%"} <= texts
    # The reference region is a line, not a dot row.
    assert "EU average" not in texts


# -- the specs and their rendering --------------------------------------------------------


def test_every_chart_kind_is_valid_vega_lite(est: Estimates, style: LevelStyle) -> None:
    from barometer.publish.charts import coefficient_dots

    charts = [
        stacked_bars(est, style, wave="2025-11", names=NAMES, title="T"),
        trend(est, style, "ally", names=NAMES),
        gap_dots(est, style, "ally", wave="2025-11", names=NAMES),
        gap_dots(est, style, "ally", wave="2025-11", reference="EU", names=NAMES),
        coefficient_dots(pl.DataFrame({"term": ["Intercept", "age"], "estimate": [0.1, 0.2],
                                       "ci_low": [0.0, 0.1], "ci_high": [0.2, 0.3]})),
    ]  # fmt: skip
    for chart in charts:
        spec = chart.to_dict()  # raises on a spec the Vega-Lite schema refuses
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    bad = VegaLite({**charts[0].spec, "mark": 5})
    with pytest.raises(Exception, match="5"):
        bad.to_dict()


def test_rendered_charts_are_kept_between_runs(
    est: Estimates, style: LevelStyle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vl_convert as vlc

    from barometer.publish import charts_vega

    monkeypatch.setenv(charts_vega.CACHE_ENV, str(tmp_path / "kept"))
    monkeypatch.setattr(charts_vega, "_RENDERED", {})
    chart = trend(est, style, "rival", names=NAMES, title="Kept")
    first = to_svg(chart)
    kept = list((tmp_path / "kept").glob("*.svg"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == first
    # a new process (an empty memory) reads the kept SVG and renders nothing
    monkeypatch.setattr(charts_vega, "_RENDERED", {})
    monkeypatch.setattr(vlc, "vegalite_to_svg", lambda spec: pytest.fail("rendered again"))
    assert to_svg(chart) == first
    # another spec is another file; a folder that cannot be written only costs time
    monkeypatch.undo()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(charts_vega.CACHE_ENV, str(blocked))
    assert "<svg" in to_svg(gap_dots(est, style, "rival", wave="2025-11", names=NAMES))
    monkeypatch.setenv(charts_vega.CACHE_ENV, "off")
    assert charts_vega.chart_cache() is None


def test_a_planted_chart_file_is_rendered_again(
    est: Estimates, style: LevelStyle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache folder is only as trusted as the user's home: a kept file with script,
    an event handler or a cut-off document is not passed on, the chart is rendered anew."""
    from barometer.publish import charts_vega

    monkeypatch.setenv(charts_vega.CACHE_ENV, str(tmp_path / "kept"))
    monkeypatch.setattr(charts_vega, "_RENDERED", {})
    chart = trend(est, style, "rival", names=NAMES, title="Planted")
    honest = to_svg(chart)
    (kept,) = (tmp_path / "kept").glob("*.svg")
    for planted in (
        honest.replace("</svg>", "<script>alert(1)</script></svg>"),
        honest.replace("<svg ", '<svg onload="alert(1)" ', 1),
        honest.replace("</svg>", '<a href="javascript:alert(1)">x</a></svg>'),
        honest[: len(honest) // 2],
    ):
        kept.write_text(planted, encoding="utf-8")
        monkeypatch.setattr(charts_vega, "_RENDERED", {})
        assert to_svg(chart) == honest


def test_png_is_the_rasterised_svg(est: Estimates, style: LevelStyle) -> None:
    import vl_convert as vlc

    chart = gap_dots(est, style, "ally", wave="2025-11", reference="EU", names=NAMES)
    assert to_png(chart) == vlc.vegalite_to_png(chart.to_dict(validate=False), scale=2.0)


def test_charts_rendered_ahead_in_parallel_are_the_ones_rendered_alone(
    est: Estimates, style: LevelStyle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """render_ahead splits new charts between this process and a spawned one: the SVGs are
    byte for byte vl-convert's of each spec alone, kept for to_svg (which renders nothing
    more) and in the cache folder; a planted kept file is rendered again, not passed on."""
    from barometer.publish import charts_vega
    from barometer.publish.charts_render import render_specs

    monkeypatch.setenv(charts_vega.CACHE_ENV, str(tmp_path / "kept"))
    monkeypatch.setattr(charts_vega, "_RENDERED", {})
    n = 2 * charts_vega.AHEAD_CHARTS
    charts = [trend(est, style, "rival", names=NAMES, title=f"Chart {i}") for i in range(n)]
    alone = [render_specs([c.to_dict(validate=False)])[0] for c in charts]
    (tmp_path / "kept").mkdir()
    planted = charts_vega._cache_key(charts[0].to_json())
    (tmp_path / "kept" / f"{planted}.svg").write_text("<svg><script>x</script></svg>")
    assert charts_vega.render_ahead([*charts, charts[1]], processes=2) == n
    monkeypatch.setattr(charts_vega, "render_specs", lambda specs: pytest.fail("rendered again"))
    assert [to_svg(c) for c in charts] == alone
    kept = {p.read_text(encoding="utf-8") for p in (tmp_path / "kept").glob("*.svg")}
    assert kept == set(alone)
    # all kept now: nothing to render; too few new charts for a worker: none started
    assert charts_vega.render_ahead(charts, processes=2) == 0
    monkeypatch.setattr(charts_vega, "_RENDERED", {})
    monkeypatch.setenv(charts_vega.CACHE_ENV, "off")
    few = charts[: 2 * charts_vega.AHEAD_CHARTS - 1]
    assert charts_vega.render_ahead(few, processes=2) == 0
