"""Checks of public-API arguments, shared by the entry points that take the same kind of argument (a name, an
input size, a file path, a number). Each raises at the boundary with a one-line message naming the function, the
argument and the problem, so that a wrong argument never surfaces as a raw error from deep inside ("'int' object is
not iterable"). A wrong Python type is a ``TypeError``; a value of the right type that cannot work is a
``ConfigError``. This module imports nothing heavy (the onnxruntime path uses it)."""
from __future__ import annotations

import math
import numbers
import os
from typing import Any

from .errors import ConfigError


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def check_name(value: Any, where: str, arg: str = "name", example: str = "") -> str:
    """A registry name must be a string (a registry lookup of another type fails inside ``difflib``)."""
    if not isinstance(value, str):
        such = f" such as {example!r}" if example else ""
        raise TypeError(f"{where}: {arg} must be a string{such}, got {_shown(value)}")
    return value


def check_path(value: Any, where: str, arg: str = "path") -> None:
    """A file argument must be a path (``str`` or ``os.PathLike``); ``os.fspath`` would say only "expected str,
    bytes or os.PathLike object"."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{where}: {arg} must be a file path (str or os.PathLike), got {_shown(value)}")


def check_input_size(value: Any, where: str, arg: str = "input_size") -> tuple[int, int]:
    """``(w, h)``: two positive whole numbers (a model built with 0 or a negative side fails deep in torch, and a
    third number would be dropped silently). Returns them as ints."""
    bad = ConfigError(f"{where}: {arg} must be (w, h), two positive integers, got {value!r}")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise bad
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not float(v).is_integer() or v <= 0:
            raise bad
    return int(value[0]), int(value[1])


def check_number(value: Any, where: str, arg: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False) -> None:
    """A finite number (an integer when ``integer``) within [low, high] (``low_open``: above ``low``)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{where}: {arg} must be {'an integer' if integer else 'a number'}, got {_shown(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {arg} must be a finite number, got {value}")
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        raise ConfigError(f"{where}: {arg} must be {' and '.join(p for p in (lo, hi) if p)}, got {value}")
