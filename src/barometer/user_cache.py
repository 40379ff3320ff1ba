"""Where barometer keeps what it may reuse between runs: a folder of the user's cache.

Each cache (rendered charts, the demo's record of its files, the record of the stores
barometer last wrote) is a folder named by its own environment variable, ``off`` for
none, by default ``$XDG_CACHE_HOME/barometer/<name>`` (``~/.cache`` when unset). The
user's cache is as trusted as the user's home: what is read from it is data (SVG text,
JSON of strings and numbers), never code.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_folder"]


def cache_folder(env: str, name: str) -> Path | None:
    """The folder the environment variable ``env`` names, ``None`` when it says ``off``,
    else ``$XDG_CACHE_HOME/barometer/<name>``."""
    given = os.environ.get(env, "")
    if given.lower() == "off":
        return None
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "barometer" / name
