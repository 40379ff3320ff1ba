"""What barometer last left in a store, kept in the user's cache, so that an ingest or a
weighting repeated on an unchanged poll (the second ``barometer demo``) does no work.

A record says: "the store at this path, with its files in this state (device, inode,
size, modification and change times of the file and its write-ahead log), is what an
ingest with this key wrote or found, holding this many respondents, and what a
weighting with this key left". It is trusted only while the store's files are in that
state: any write to the store — by barometer, by someone editing it with DuckDB, or a
file copied or planted in its place — changes the change time, which cannot be set
back, so the record no longer applies and the work is done in full. The record lives
outside the store's folder, in the user's cache (:func:`barometer.user_cache.cache_folder`,
``BAROMETER_STORE_CACHE``; ``off`` keeps none), so a record planted beside a planted store
cannot vouch for it; it is JSON of strings and numbers, read as data, never code.

A record is an optimisation: one unreadable, malformed or unwritable only costs the
full work.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from barometer.errors import BarometerError
from barometer.user_cache import cache_folder

__all__ = ["RECORDS_ENV", "content_key", "kept", "remember"]

#: The environment variable naming the folder of the stores' records (``off``: none;
#: default ``$XDG_CACHE_HOME/barometer/stores``).
RECORDS_ENV = "BAROMETER_STORE_CACHE"


def _record(store: Path) -> Path | None:
    folder = cache_folder(RECORDS_ENV, "stores")
    if folder is None:
        return None
    name = hashlib.sha256(str(store.resolve()).encode("utf-8")).hexdigest()
    return folder / f"{name}.json"


def _state(store: Path) -> list[Any]:
    """The state of the store's files as JSON data (:func:`barometer.poll.store.file_state`)."""
    from barometer.poll.store import file_state

    state: list[Any] = json.loads(json.dumps(file_state(store)))
    return state


def kept(store: Path) -> dict[str, Any]:
    """The entries recorded for ``store`` while its files are in the state recorded,
    else ``{}`` (no record, another state, or a record that cannot be read)."""
    record = _record(store)
    if record is None:
        return {}
    try:
        found = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict) or found.get("state") != _state(store):
        return {}
    entries = found.get("entries")
    return entries if isinstance(entries, dict) else {}


def remember(store: Path, entries: dict[str, Any]) -> None:
    """Record ``entries`` for ``store`` in the state its files are in now (call it right
    after barometer's own write or full check of the store)."""
    from barometer.atomic import write_text

    record = _record(store)
    if record is None:
        return
    text = json.dumps({"state": _state(store), "entries": entries}, sort_keys=True)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text(record, text + "\n")
    except (OSError, BarometerError):
        pass  # a read-only or full cache only costs the full work next time


def content_key(content: object) -> str:
    """SHA-256 of ``content`` as canonical JSON (the key of an ingest or weighting)."""
    blob = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
