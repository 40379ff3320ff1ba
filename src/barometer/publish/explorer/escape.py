"""JSON that is safe wherever it lands: in a response, a file, or an HTML ``<script>``.

Labels (question wording, answer labels, country names) are data written by whoever
made the spec or the respondent files; they may hold ``</script>``, ``<!--`` or markup.
Every JSON the explorer writes escapes ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``
and ``\\u0026`` (and the JavaScript line separators U+2028/U+2029), so no payload can
close a script element or open an HTML comment, whatever the page does with it; the
text a JSON parser reads back is unchanged. Non-finite floats become ``null`` (JSON has
no NaN).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "json_safe"]

#: Each character and its escape, applied by ``str.replace`` (a C loop per character;
#: ``str.translate`` with a mapping looks every character up in Python, 25x slower).
_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_COMPACT = (",", ":")


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and tuples as lists (JSON-ready)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, string_keys: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON with the HTML-significant characters escaped.

    With ``string_keys`` (the caller knows every mapping key is a string, as in rows of
    a table) the value is encoded as it is, and made JSON-safe first only when it holds
    a non-finite float: the same bytes, without a walk over every value (the cube's
    tens of thousands of rows at start-up).

    Examples
    --------
    >>> dumps({"label": "</script><!--"})
    b'{"label":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = None
    if string_keys:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=_COMPACT)
        except ValueError:  # a NaN or an infinity: null, as json_safe makes it
            text = None
    if text is None:
        safe = json_safe(value)
        text = json.dumps(safe, ensure_ascii=False, allow_nan=False, separators=_COMPACT)
    for char, escape in _ESCAPES:
        text = text.replace(char, escape)
    return text.encode("utf-8")
