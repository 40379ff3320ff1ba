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

_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and tuples as lists (JSON-ready)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON with the HTML-significant characters escaped.

    Examples
    --------
    >>> dumps({"label": "</script><!--"})
    b'{"label":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_ESCAPES).encode("utf-8")
