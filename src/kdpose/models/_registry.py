"""The model zoo registry: a model is a named factory function (timm style)."""
from __future__ import annotations

from typing import Callable

from ..registry import Registry

MODELS: Registry[Callable] = Registry("model")


def register_model(fn: Callable | None = None, *, name: str | None = None):
    """Register a factory ``fn(**kwargs) -> nn.Module`` under ``name`` (default: the function name with '_' -> '-')."""

    def _add(f: Callable) -> Callable:
        return MODELS.register(f, name=name or f.__name__.replace("_", "-"))

    return _add(fn) if fn is not None else _add


def create_model(name: str, **kwargs):
    """Build the zoo model ``name`` (randomly initialised) with the factory's keyword arguments."""
    return MODELS.get(name)(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    import fnmatch

    return [n for n in MODELS.names() if fnmatch.fnmatch(n, pattern)]
