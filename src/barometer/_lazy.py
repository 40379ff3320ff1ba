"""The one lazy-export mechanism of barometer's packages.

A package lists which module defines each public name; the name is imported on first
use, so that ``import barometer`` (and ``barometer --help``) does not load NumPy, DuckDB,
vl-convert or xlsxwriter until something needs them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` that import ``where[name]`` on first use.

    A name mapped to a module of its own name is the module itself. Each loaded value
    is stored in the package's namespace, so the import runs once.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        # A name mapped to a module of the same name is that module (``bm.weighting``).
        value = imported if module.endswith("." + name) else getattr(imported, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
