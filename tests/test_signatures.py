"""Typed seams: no ``Any`` in a public signature (a name ``barometer`` re-exports, the
public functions of a module it re-exports, and the methods of those classes)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator

import barometer as bm


def _public_callables() -> Iterator[tuple[str, Callable[..., object]]]:
    def members(name: str, klass: type) -> Iterator[tuple[str, Callable[..., object]]]:
        for base in klass.__mro__[:-1]:  # object's own methods are not barometer's
            for key, value in vars(base).items():
                if key.startswith("_") and key != "__init__":
                    continue
                fn = (
                    value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                )
                if callable(fn):
                    yield f"{name}.{key}", fn

    for name in bm.__all__:
        obj = getattr(bm, name)
        if inspect.ismodule(obj):
            for sub in obj.__all__:
                value = getattr(obj, sub)
                if inspect.isclass(value):
                    yield from members(f"{name}.{sub}", value)
                elif callable(value):
                    yield f"{name}.{sub}", value
        elif inspect.isclass(obj):
            if not issubclass(obj, BaseException | Warning):
                yield from members(name, obj)
        elif callable(obj):
            yield name, obj


def test_no_public_signature_says_any() -> None:
    found = []
    checked = 0
    for name, fn in _public_callables():
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature
            continue
        checked += 1
        annotations = [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]
        found += [f"{name}: {a}" for a in annotations if "Any" in str(a)]
    assert checked > 60  # the walk reaches Design, Estimates, Poll, weighting, comparisons
    assert not found, "\n".join(found)


def test_weighting_returns_the_design_kind() -> None:
    assert inspect.signature(bm.Design.rake).return_annotation == "Self"
    assert inspect.signature(bm.Design.calibrate).return_annotation == "Self"
    assert inspect.signature(bm.Design.poststratify).return_annotation == "Self"
