"""The names a model formula uses, read without formulaic (which loads slowly): what a
spec checks when it is loaded, and what ``models.formula`` checks before it codes a term.

A name is a bare identifier or a backticked one (``` `sch.wide` ```); names inside quotes
are values (``I(q == 'ally')``), and the functions a formula may call (``C``, ``I``,
``np.log`` ...) are not columns.
"""

from __future__ import annotations

import keyword
import re

_NAME = re.compile(r"`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*)")
#: names a formula may use that are not columns (formulaic's transforms, NumPy)
KNOWN_FUNCTIONS = frozenset(
    {"C", "I", "np", "log", "exp", "sqrt", "center", "scale", "poly", "bs", "lag", "abs"}
    | {"Treatment", "Sum", "Helmert", "Diff", "True", "False", "None", "contr"}
)


def strip_strings(formula: str) -> str:
    """The formula without its string literals: names inside quotes are values."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", formula)


def formula_variables(formula: str, columns: list[str]) -> list[str]:
    """The ``columns`` the formula names (bare identifiers or backticked names)."""
    found: list[str] = []
    for quoted, bare in _NAME.findall(formula):
        name = quoted or bare
        if name in columns and name not in found:
            found.append(name)
    return found


def unknown_names(formula: str, columns: list[str]) -> list[str]:
    """Names in ``formula`` (string literals left out) that are neither ``columns`` nor
    functions it may call: each an unknown variable."""
    text = strip_strings(formula)
    out = []
    for quoted, bare in _NAME.findall(text.replace("'", " ' ").replace('"', ' " ')):
        name = quoted or bare
        if name in columns or name in KNOWN_FUNCTIONS or keyword.iskeyword(name) or bare.isdigit():
            continue
        if name not in out:
            out.append(name)
    return out


__all__ = ["KNOWN_FUNCTIONS", "formula_variables", "strip_strings", "unknown_names"]
