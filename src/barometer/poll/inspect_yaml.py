"""YAML scalars and comments for ``barometer inspect``'s draft.

The draft is written as text (its layout, comments and key order are part of what the
analyst reads), so its scalars are quoted here: texts as YAML double-quoted strings, codes
as the numbers the file holds (``1``, not ``1.0``), comments on one line.  Shared by the
draft of questions with levels (:mod:`barometer.poll.inspect`) and of numeric questions
(:mod:`barometer.poll.inspect_numeric`).
"""

from __future__ import annotations

import json

__all__ = ["code_text", "code_yaml", "comment", "yaml_text"]

#: A value as the file holds it: a number (SPSS, Stata, numeric CSV) or a text.
Code = float | str


def yaml_text(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's; its line breaks too)."""
    quoted = json.dumps(text, ensure_ascii=False)
    for char in ("\u0085", "\u2028", "\u2029", "\ufeff"):
        quoted = quoted.replace(char, f"\\u{ord(char):04x}")
    return quoted


def comment(text: str) -> str:
    """``text`` on one line, fit for a YAML comment (a line break would end it)."""
    return " ".join(str(text).split())


def code_yaml(value: Code) -> str:
    """A code as a YAML scalar: a whole number without ``.0``, a text quoted."""
    if isinstance(value, str):
        return yaml_text(value)
    return str(int(value)) if value.is_integer() else repr(value)


def code_text(value: Code) -> str:
    """A code as the analyst reads it in a comment or a label: ``9``, ``2.5``, ``yes``."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
