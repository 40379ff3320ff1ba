"""The HTML report: self-contained, every number equal to the Estimates it came from,
methodology from the store, AAPOR wording for opt-in samples, findings dropped in.

The demo poll is built, weighted and reported once per session (tests/_report_demo.py).
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from barometer.errors import BarometerDeprecationWarning, BarometerError, EstimationError
from barometer.publish.numbers import format_count, format_moe, format_number, format_percent
from barometer.publish.report.html import collect, render_report, write_report
from tests.support.report_demo import FINDINGS, DemoReport, demo_report

# -- a small DOM ----------------------------------------------------------------------

_VOID = {"meta", "img", "br", "link", "input", "hr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    content: list[str | Node] = field(default_factory=list)

    @property
    def children(self) -> list[Node]:
        return [c for c in self.content if isinstance(c, Node)]

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.content)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        out = []
        for c in self.children:
            if (tag is None or c.tag == tag) and all(
                c.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()
            ):
                out.append(c)
            out.extend(c.find_all(tag, **attrs))
        return out


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].content.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].content.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


# -- independent formatting (the documented rule, written again) ----------------------


def pct(x: float) -> str:
    return str(Decimal(repr(100.0 * x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def moe(lo: float, hi: float) -> str:
    half = Decimal(repr(100.0 * ((hi - lo) / 2)))
    return "±" + str(half.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def count(n: float) -> str:
    return f"{int(Decimal(repr(float(n))).quantize(Decimal(1), rounding=ROUND_HALF_UP)):,}"


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return demo_report(tmp_path_factory)


@pytest.fixture(scope="session")
def html(report: DemoReport) -> str:
    return report.path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def dom(html: str) -> Node:
    return parse(html)


def _table_cells(table: Node) -> dict[tuple[str, str, str], dict[str, str]]:
    """{(subject, wave, level): {"pct": text, "moe": text, "n": text}} of one table."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for tr in table.find_all("tr"):
        if "data-subject" not in tr.attrs:
            continue
        subject, wave = tr.attrs["data-subject"], tr.attrs["data-wave"]
        n = tr.find_all("td", data_kind="n")[0].text
        for span in tr.find_all("span"):
            kind = span.attrs.get("data-kind")
            if kind in ("pct", "moe"):
                key = (subject, wave, span.attrs["data-level"])
                out.setdefault(key, {"n": n})[kind] = span.text
    return out


def mean(x: float) -> str:
    """A mean: one decimal (one more than the percentages' default none)."""
    return str(Decimal(repr(float(x))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def mean_moe(low: float, high: float) -> str:
    """A mean's margin: one decimal more than the mean (as a share's has)."""
    half = Decimal(repr(float(high - low) / 2))
    return "±" + str(half.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _expected(
    frame: pl.DataFrame, numeric: bool = False
) -> dict[tuple[str, str, str], dict[str, str]]:
    return {
        (r["country"], r["wave"], r["level"]): {
            "pct": mean(r["estimate"]) if numeric else pct(r["estimate"]),
            "moe": (
                mean_moe(r["ci_low"], r["ci_high"]) if numeric else moe(r["ci_low"], r["ci_high"])
            ),
            "n": count(r["n"]),
        }
        for r in frame.to_dicts()
    }


# -- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "digits", "text"),
    [(0.165, 0, "17"), (0.0449, 0, "4"), (0.125, 0, "13"), (0.5, 1, "50.0"), (0.0, 0, "0")],
)
def test_format_percent_rounds_half_up(share: float, digits: int, text: str) -> None:
    assert format_percent(share, digits) == text


def test_other_formats() -> None:
    assert format_percent(None) == "–"
    assert format_percent(-0.05) == "−5"
    assert format_moe(0.10, 0.1425) == "±2.1"
    assert format_moe(None, 0.1) == "–"
    assert format_count(11775) == "11,775"
    assert format_count(1093.5) == "1,094"
    assert format_number(1.375, 2) == "1.38"
    assert format_number(None) == "–"


# -- the report -----------------------------------------------------------------------


def test_report_is_self_contained(dom: Node, html: str) -> None:
    assert not dom.find_all("script")
    assert not dom.find_all("link")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    images = dom.find_all("img")
    assert len(images) >= 5 * 3  # bars, dots and trend for each of the five questions
    for img in images:
        src = img.attrs["src"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = ET.fromstring(base64.b64decode(src.split(",", 1)[1]))
        assert svg.tag.endswith("svg")
        assert "http" not in str(svg.attrib.get("href", ""))
        assert img.attrs["alt"]


def test_every_table_number_equals_its_estimates(report: DemoReport, dom: Node) -> None:
    checked = 0
    for q in report.data.questions:
        qid = q.question.id
        tables = dom.find_all("table", data_question=qid, data_table="wave")
        assert [t.attrs["data-wave"] for t in tables] == ["2025-11", "2024-11"]
        shown: dict[tuple[str, str, str], dict[str, str]] = {}
        for t in tables:
            shown |= _table_cells(t)
        numeric = q.kind == "mean"
        expected = _expected(q.countries.to_polars(), numeric)
        for est in q.regions.values():
            expected |= _expected(est.to_polars(), numeric)
        assert shown == expected, qid
        checked += len(expected)
        for rid, est in q.trends.items():
            (table,) = dom.find_all("table", data_question=qid, data_subject=rid)
            assert _table_cells(table) == _expected(est.to_polars(), numeric)
            checked += len(est)
    assert checked > 500


def test_report_numbers_match_fresh_estimates(report: DemoReport, dom: Node) -> None:
    """The same numbers come out of poll.estimate called directly (not via collect)."""
    est = report.poll.estimate("us_relationship", waves=["2025-11"])
    (table,) = dom.find_all("table", data_question="us_relationship", data_wave="2025-11")
    shown = _table_cells(table)
    for key, cells in _expected(est.to_polars()).items():
        assert shown[key] == cells
    eu = report.poll.estimate("us_relationship", region="EU").to_polars()
    ally = eu.filter(pl.col("level") == "ally").sort("wave")
    (trend_table,) = dom.find_all("table", data_question="us_relationship", data_subject="EU")
    trend_cells = _table_cells(trend_table)
    assert [trend_cells[("EU", w, "ally")]["pct"] for w in ally["wave"]] == [
        pct(x) for x in ally["estimate"]
    ]
    # SEED-FACTS: the like-for-like EU ally share rounds to the published 21% and 16%.
    assert [trend_cells[("EU", w, "ally")]["pct"] for w in ("2024-11", "2025-11")] == ["21", "16"]


def test_region_rows_name_their_members(report: DemoReport, dom: Node) -> None:
    (table,) = dom.find_all("table", data_question="us_relationship", data_wave="2024-11")
    (row,) = [tr for tr in table.find_all("tr") if tr.attrs.get("data-subject") == "EU"]
    assert "RO" in row.text  # 2024-11's own members include Romania
    (trend_table,) = dom.find_all("table", data_question="us_relationship", data_subject="EU")
    assert "RO" not in trend_table.text  # like-for-like leaves it out
    (section,) = dom.find_all("section", data_question="us_relationship")
    notes = [p.text for p in section.find_all("p", **{"class": "note"}) if "left out" in p.text]
    assert notes and all(n.rstrip(".").endswith("RO") for n in notes)


def test_questions_have_wording_and_levels(report: DemoReport, dom: Node) -> None:
    for q in report.data.questions:
        (section,) = dom.find_all("section", data_question=q.question.id)
        text = " ".join(section.text.split())
        assert " ".join(q.question.wording.split()) in text
        for lv in q.question.levels:
            assert lv.label in text


def test_methodology_numbers_come_from_the_store(report: DemoReport, dom: Node) -> None:
    poll = report.poll
    (bases,) = dom.find_all("table", data_table="bases")
    shown = {
        (tr.attrs["data-country"], td.attrs["data-wave"]): td.text
        for tr in bases.find_all("tr")
        if "data-country" in tr.attrs
        for td in tr.find_all("td", data_kind="base")
    }
    expected = {(c, w): count(n) for c, w, n in poll.bases().iter_rows()}
    assert {k: v for k, v in shown.items() if v != "–"} == expected
    assert shown[("RO", "2025-11")] == "–"
    (diag,) = dom.find_all("table", data_table="diagnostics")
    rows = {(tr.attrs["data-country"], tr.attrs["data-wave"]): tr for tr in diag.find_all("tr")[1:]}
    for r in poll.diagnostics().to_dicts():
        tr = rows[(r["country"], r["wave"])]
        deff = Decimal(repr(r["deff_kish"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert tr.find_all("td", data_kind="deff")[0].text == str(deff)
        assert tr.find_all("td", data_kind="n_effective")[0].text == count(r["n_effective"])
        assert tr.find_all("td", data_kind="diag-n")[0].text == count(r["n"])
    (targets,) = dom.find_all("table", data_table="targets")
    spec = poll.spec
    for t in spec.targets:
        (tr,) = targets.find_all("tr", data_country=t.country)
        for var, margin in t.margins.items():
            for level, share in margin.items():
                (td,) = tr.find_all("td", data_variable=var, data_level=level)
                assert td.text == str(
                    Decimal(repr(100.0 * share)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
                )
    (fieldwork,) = dom.find_all("table", data_table="fieldwork")
    text = fieldwork.text
    for firm in ("Datapraxis", "YouGov", "Norstat", "Gallup International"):
        assert firm in text
    assert "2025-11-05" in text and "2024-12-04" in text and "online panel" in text


def test_disclosure_items_and_aapor_wording(dom: Node) -> None:
    (method,) = dom.find_all("section", id="methodology")
    text = " ".join(method.text.split())
    for item in (
        "Sponsor",
        "Fieldwork",
        "Mode",
        "Population",
        "Sample sizes",
        "Weighting",
        "Design effect",
        "Effective sample size",
        "modelled margin of error",
        "opt-in",
        "not a probability sample",
    ):
        assert item.lower() in text.lower(), item
    # "margin of sampling error" appears only where it is denied.
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if "margin of sampling error" in sentence or "margin of sampling" in sentence:
            assert re.search(r"\bnot\b|\bno\b", sentence), sentence


def test_findings_drop_in(report: DemoReport, dom: Node) -> None:
    (section,) = dom.find_all("section", id="findings")
    items = [li.text for li in section.find_all("li")]
    assert items == [f["sentence"] for f in FINDINGS]


def test_findings_as_objects_or_absent(report: DemoReport) -> None:
    data = report.data
    sub = type(data)(**{**data.__dict__, "questions": data.questions[:1]})
    objs = [SimpleNamespace(sentence="A finding.", kind="gap")]
    with_objs = parse(render_report(sub, objs))
    assert [li.text for li in with_objs.find_all("li", **{"class": "finding"})] == ["A finding."]
    with pytest.warns(BarometerDeprecationWarning, match="sponsor=, probability_sample="):
        plain = parse(render_report(sub, None, sponsor="ECFR", probability_sample=True))
    assert not plain.find_all("section", id="findings")
    assert "ECFR" in plain.text
    assert "opt-in" not in plain.text
    with pytest.raises(BarometerError, match="finding 0 has no 'sentence'"):
        render_report(sub, [{"kind": "gap"}])


def test_write_report_checks_its_inputs(report: DemoReport, tmp_path: Path) -> None:
    with pytest.raises(BarometerError, match="does not exist"):
        write_report(report.poll.publication(), tmp_path / "missing" / "r.html")
    facts = SimpleNamespace(weighted=False, path=tmp_path / "p")
    unweighted = SimpleNamespace(spec=report.poll.spec, facts=facts)
    with pytest.raises(EstimationError, match="not weighted"):
        collect(unweighted)


def test_write_report_one_question(report: DemoReport, tmp_path: Path) -> None:
    with pytest.warns(BarometerDeprecationWarning, match="contact="):
        path = write_report(
            report.poll.publication(questions=["eu_equal_terms"]),
            tmp_path / "r.html",
            questions=["eu_equal_terms"],
            focus={"eu_equal_terms": "disagree"},
            contact="poll@example.org",
            charts_dir=tmp_path / "charts",
        )
    files = sorted(p.name for p in (tmp_path / "charts").iterdir())
    stems = ["eu_equal_terms_bars", "eu_equal_terms_gaps_EU", "eu_equal_terms_trend"]
    assert files == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    for stem in stems:
        assert (tmp_path / "charts" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    dom = parse(path.read_text(encoding="utf-8"))
    assert [s.attrs["data-question"] for s in dom.find_all("section", **{"class": "question"})] == [
        "eu_equal_terms"
    ]
    assert "poll@example.org" in dom.text
    assert any("Disagree" in img.attrs["alt"] for img in dom.find_all("img"))
