"""The registry every kind of pluggable part uses (benchmarks, metrics, scenarios, selection rules).

Parts are kept by name in registration order. The parts that ship are registered by importing one
module (``builtins``), once, before the first lookup or addition, so they come first and a plug-in
comes after them. ``check(part)`` says what is wrong with a new part (a name taken, a field out of
range) or returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, builtins: str, check: Callable[[T], str | None]) -> None:
        self._builtins, self._check = builtins, check
        self._parts: dict[str, T] = {}
        self._loaded = False

    def parts(self) -> dict[str, T]:
        """Every registered part by name, in registration order (the registry's own dict: do not change it)."""
        self._load()
        return self._parts

    def add(self, part: T) -> T:
        """Register ``part`` after those before it; a part ``check`` finds fault with is refused (ValueError)."""
        self._load()
        problem = self._check(part)
        if problem:
            raise ValueError(problem)
        self._parts[part.name] = part
        return part

    def remove(self, name: str) -> None:
        self._parts.pop(name, None)

    @contextmanager
    def registered(self, part: T) -> Iterator[T]:
        """``part`` registered inside the block only (a plug-in tried out, a test's toy part)."""
        self.add(part)
        try:
            yield part
        finally:
            self.remove(part.name)

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            import_module(self._builtins)  # registers the shipped parts on import
