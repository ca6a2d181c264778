"""Reading annotation JSON with errors that name the file and the problem (shared by every reader)."""
from __future__ import annotations

import json
import numbers
import os
from typing import Any, Iterable

import numpy as np

from ..errors import DataError


def load_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; ``DataError`` ("<path>: annotation file not found" / "malformed JSON ...") otherwise."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a JSON file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except UnicodeDecodeError:  # json guesses UTF-16/32 from the first bytes: its codec message misleads
        raise DataError(f"{path}: not a JSON file (not UTF-8 text; an image or a checkpoint?)") from None


def require(obj: Any, keys: Iterable[str], path: str, what: str) -> None:
    """Raise ``DataError`` if the mapping ``obj`` lacks one of ``keys``."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {what} is a {type(obj).__name__}, expected an object")
    missing = [k for k in keys if k not in obj]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DataError(f"{path}: {what} is missing field{plural} {', '.join(map(repr, missing))}")


def is_id(value: Any, text: bool = False) -> bool:
    """An image or annotation id: an integer (COCO's), or also a string when ``text`` (some converters write them;
    pycocotools matches either), never a bool, None or a list."""
    return (isinstance(value, (numbers.Integral, str) if text else numbers.Integral)
            and not isinstance(value, bool))


def finite_numbers(value, name: str, what: str, field: str, size: int | None = None) -> np.ndarray:
    """``value`` (a list or array of numbers) as a flat float64 array; a ``DataError`` naming the file, the entry and
    the field when it is something else, holds a NaN / inf, or (``size`` given) has another length."""
    try:
        arr = None if isinstance(value, (str, bytes, dict)) or value is None else np.asarray(value)
    except ValueError:  # ragged nesting
        arr = None
    if arr is None or arr.ndim == 0 or arr.dtype.kind not in "biuf":
        flat = value if isinstance(value, (list, tuple)) else ()
        bad = [v for v in flat if not isinstance(v, numbers.Real)]  # a list: the bad value may be None itself
        shown = f"holds {bad[0]!r}" if bad else f"is {repr(value)[:40]}"
        raise DataError(f"{name}: {what} field '{field}' {shown}: expected a list of numbers")
    arr = arr.astype(np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise DataError(f"{name}: {what} field '{field}' holds a value that is not a finite number (NaN or inf)")
    if size is not None and arr.size != size:
        raise DataError(f"{name}: {what} field '{field}' has {arr.size} numbers, expected {size}")
    return arr


def finite_score(value, name: str, what: str, field: str) -> float:
    """``value`` as a float; a ``DataError`` naming the file, the entry and the field when it is not a finite number
    (a string, a bool, None, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise DataError(f"{name}: {what} field '{field}' is {value!r}, expected a finite number")
    return float(value)
