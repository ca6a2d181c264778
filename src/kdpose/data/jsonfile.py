"""Reading annotation JSON with errors that name the file and the problem (shared by every reader)."""
from __future__ import annotations

import json
import os
from typing import Any, Iterable

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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise DataError(f"{path}: malformed JSON ({msg}{where})") from None


def require(obj: Any, keys: Iterable[str], path: str, what: str) -> None:
    """Raise ``DataError`` if the mapping ``obj`` lacks one of ``keys``."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {what} is a {type(obj).__name__}, expected an object")
    missing = [k for k in keys if k not in obj]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DataError(f"{path}: {what} is missing field{plural} {', '.join(map(repr, missing))}")
