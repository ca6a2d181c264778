"""A tiny name -> factory registry. Registries only map user-facing names to factory functions; they are
filled by explicit imports in each package's ``__init__`` (never by import side effects of user code)."""
from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually factory functions).

    >>> models = Registry("model")
    >>> @models.register
    ... def tiny(): ...
    >>> models.get("tiny") is tiny
    True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, obj: T | None = None, *, name: str | None = None):
        """Register ``obj`` under ``name`` (default: ``obj.__name__``); usable as a decorator with or without args."""

        def _add(o: T) -> T:
            key = name or getattr(o, "__name__")
            if key in self._items and self._items[key] is not o:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._items[key] = o
            return o

        return _add(obj) if obj is not None else _add

    def get(self, name: str) -> T:
        if not isinstance(name, str):  # difflib below would fail with "'int' object is not iterable"
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__} {name!r}")
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{hint} (available: {', '.join(sorted(self._items))})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
