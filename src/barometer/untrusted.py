"""Text that came from someone else's file: made printable and quoted briefly.

Labels, codes, ids and names in a respondent file or a spec are data, not markup and
not terminal commands.  Every band cleans them here before they reach a message, a
terminal or a document: control characters (ESC sequences, carriage returns, NULs,
bidirectional overrides) are dropped, and an error message quotes at most
:data:`MAX_QUOTED` values of at most :data:`MAX_CHARS` characters each, so that a crafted
file cannot make an error print the file (issue 13).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_CHARS", "MAX_QUOTED", "printable", "quote_value", "quote_values", "shorten"]

#: Longest value an error message quotes, in characters (longer ones are cut with "…").
MAX_CHARS = 80
#: How many values read from a file one error message quotes at most.
MAX_QUOTED = 3

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidirectional overrides and isolates, zero-width joiners): Trojan-source tricks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def printable(text: Any, keep_newlines: bool = False) -> str:
    """``str(text)`` with control and direction-changing characters removed.

    Tabs and newlines become spaces (kept when ``keep_newlines``), so a value cannot
    start a new line of a message or of a Markdown document.
    """
    out = str(text)
    if keep_newlines:
        parts = out.split("\n")
        return "\n".join(_CONTROL.sub("", p.replace("\t", " ")) for p in parts)
    out = out.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    out = _CONTROL.sub("", out)
    # Unassigned and private-use code points print as nothing useful either.
    return "".join(ch for ch in out if unicodedata.category(ch) not in ("Cn", "Co", "Cs"))


def shorten(value: Any, limit: int = MAX_CHARS) -> str:
    """A value read from a file, printable and at most ``limit`` characters (cut
    with "…")."""
    text = printable(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote_value(value: Any, limit: int = MAX_CHARS) -> str:
    """A value read from a file as it may appear in a message: :func:`shorten`, and
    quoted when it is text."""
    text = shorten(value, limit)
    return repr(text) if isinstance(value, str) else text


def quote_values(values: Iterable[Any], total: int | None = None) -> str:
    """At most :data:`MAX_QUOTED` values, quoted, then "and N more" when ``total``
    (the number of values there are) says some were left out."""
    shown = [quote_value(v) for _, v in zip(range(MAX_QUOTED), values, strict=False)]
    more = (total - len(shown)) if total is not None else 0
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
