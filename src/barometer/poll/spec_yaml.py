"""The strict YAML reader of poll specifications.

A spec is a file someone may have sent, so it is read defensively (issue 13):

* **duplicate keys are an error** naming both lines — YAML lets the second win
  silently, so ``codes: {1: ally, 1: rival}`` would store every "ally" as "rival";
* **aliases are refused** (``*a`` of an ``&a`` anchor, and ``<<:`` merges): the format has no
  use for them, and nested aliases (a "billion laughs" bomb) expand exponentially;
* **the file is bounded** (:data:`MAX_SPEC_BYTES`) and must be UTF-8;
* YAML 1.2 booleans only: ``NO`` (Norway), ``yes`` and ``on`` stay strings.

Parsing uses libyaml (``CSafeLoader``) when PyYAML has it, the pure-Python
``SafeLoader`` otherwise, to compose the node tree; plain data (strings, numbers,
booleans, null, dates, lists, mappings — never Python objects) is built from it here.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from barometer.errors import SpecError
from barometer.untrusted import printable

__all__ = ["MAX_SPEC_BYTES", "collector_paused", "dump_yaml", "read_yaml"]

#: Largest spec file read, in bytes (a 20,000-question spec is about 3 MB).
MAX_SPEC_BYTES = 10 * 1024 * 1024

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """Composes the node tree (in C with libyaml); YAML 1.2 booleans only.

    The tag of a plain scalar depends on its text alone, and a spec repeats the same
    few texts (level codes, field names) thousands of times: resolved tags are
    remembered per text.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, bool], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and isinstance(value, str):
            key = (value, implicit[1])
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    """A construct the strict reader does not accept."""


class _Builder:
    """Plain data from a composed node tree, in one pass, refusing aliases (a node met
    twice), merge keys, non-scalar keys and duplicate keys.

    Strings, mappings and sequences are built directly (most of a spec); other scalars
    (numbers, booleans, null, dates) by PyYAML's SafeConstructor, so they mean what
    they mean in any YAML reader.  Building from nodes, rather than through PyYAML's
    generator-based constructor, keeps a 20,000-question spec well within a second.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def _alias(self, node: yaml.Node) -> None:
        key = id(node)
        if key in self.seen:
            raise _Refused(
                f"line {node.start_mark.line + 1}: YAML aliases (*alias of an &anchor) are "
                "not allowed in a spec; write the value out"
            )
        self.seen.add(key)

    def build(self, node: yaml.Node) -> Any:
        self._alias(node)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return self.scalars.construct_object(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Refused(f"line {node.start_mark.line + 1}: tag {node.tag!r} not allowed")
            return [self.build(item) for item in node.value]
        if node.tag != _MAP:
            raise _Refused(f"line {node.start_mark.line + 1}: tag {node.tag!r} not allowed")
        out: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                raise _Refused(f"line {line}: YAML merge keys (<<) are not allowed in a spec")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(f"line {line}: a mapping key must be a plain value")
            key = self.build(key_node)
            # 1 and 1.0 are one key of a mapping of codes (as they are in a dict).
            if key in out:
                raise _Refused(
                    f"line {line}: key {printable(key_node.value)[:80]!r} is given twice "
                    f"(first on line {lines[key]}); YAML would let the second silently "
                    "replace the first — keep one"
                )
            lines[key] = line
            out[key] = self.build(value_node)
        return out


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block.

    Reading and validating a spec builds hundreds of thousands of small objects that
    all live to the end: the collector would rescan them again and again as they
    accumulate (time growing with the square of the spec's size), and none of them
    forms a cycle that needs it.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _parse(text: str, origin: str) -> Any:
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()  # SafeLoader's composer: no Python objects
        finally:
            loader.dispose()
        return None if node is None else _Builder().build(node)
    except _Refused as err:
        raise SpecError(f"{origin}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{origin}: not valid YAML: {where}{printable(problem)[:200]}") from None
    except RecursionError:
        raise SpecError(f"{origin}: the YAML is nested too deeply to be a spec") from None


def read_yaml(path: str | Path) -> Any:
    """The plain data of a YAML spec file, read strictly (see the module docstring).

    Raises
    ------
    SpecError
        The file cannot be read, is larger than :data:`MAX_SPEC_BYTES`, is not UTF-8,
        is not valid YAML, repeats a key or uses an alias.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise SpecError(f"cannot read spec {str(path)!r}: {err.strerror or err}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{path}: the spec is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MB; "
            "is it the right file?"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    return _parse(text, str(path))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes a shared object out each time (no &anchor / *alias),
    since :func:`read_yaml` refuses aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, **options: Any) -> str:
    """``data`` as YAML that :func:`read_yaml` reads back: plain data, no aliases
    (``options`` go to ``yaml.dump``: ``sort_keys``, ``width``, …)."""
    text: str = yaml.dump(data, Dumper=_Dumper, **options)
    return text
