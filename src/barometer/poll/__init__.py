"""The poll layer: spec, ingest, store and :class:`Poll` (countries × waves × questions).

Import is lazy: ``barometer.poll.Poll`` loads DuckDB only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from barometer._lazy import lazy_exports

__all__ = ["Poll", "PollSpec", "dump_spec", "ingest", "load_spec", "parse_spec"]

if TYPE_CHECKING:
    from barometer.poll.ingest import ingest
    from barometer.poll.poll import Poll
    from barometer.poll.spec import PollSpec, dump_spec, load_spec, parse_spec

_WHERE = {
    "Poll": "barometer.poll.poll",
    "ingest": "barometer.poll.ingest",
    "PollSpec": "barometer.poll.spec",
    "dump_spec": "barometer.poll.spec",
    "load_spec": "barometer.poll.spec",
    "parse_spec": "barometer.poll.spec",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
