"""How every kdpose entry point ends: the ``kdpose`` command and the ``python -m kdpose.<module>`` tools print a
user's mistake as one line (``kdpose: error: <file or key>: <problem>``) and exit non-zero, never with a traceback.

Here, below every other package, so that a tool module anywhere can use it without importing the CLI."""
from __future__ import annotations

import os
import sys
from typing import Callable

# optional packages -> the pyproject extra that installs them (a missing one is a one-line error with the hint)
EXTRAS: dict[str, str] = {"onnx": "onnx", "onnxruntime": "onnx", "matplotlib": "report", "tensorboard": "logging"}


def missing_extra_message(module: str, extra: str, what: str = "this", alternative: str = "") -> str:
    """One line naming the missing optional package and the pip command that installs it."""
    root = module.split(".")[0]
    text = f"{what} needs the optional package '{root}', which is not installed: pip install \"kdpose[{extra}]\""
    return f"{text} ({alternative})" if alternative else text


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` for an OSError. For a two-path call (``os.replace(tmp, dst)``) the destination is the path the
    user named; the temporary source is an implementation detail."""
    path = exc.filename2 if exc.filename2 is not None else exc.filename
    reason = exc.strerror or str(exc)
    if reason[:1].isupper() and not reason[1:2].isupper():
        reason = reason[0].lower() + reason[1:]
    return f"{path}: {reason}" if path is not None else reason


def guarded(run: Callable[[], int | None]) -> int:
    """``run()``'s exit code, with kdpose's errors, a missing optional package, OS errors and Ctrl-C turned into one
    line on stderr and a non-zero code (2; a requested stop: 128 + its signal). Anything else is a bug: it raises."""
    from kdpose.errors import KdposeError, TrainingStopped

    try:
        return int(run() or 0)
    except TrainingStopped as exc:   # a stop asked for (time limit, Ctrl-C), not an error
        if os.environ.get("RANK", "0") == "0":   # under torchrun every rank stops: one line is enough
            print(f"kdpose: {exc}", file=sys.stderr)
        return exc.exit_code
    except KdposeError as exc:
        print(f"kdpose: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:   # an optional package imported deep inside the library
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"kdpose: error: {missing_extra_message(exc.name, extra)}", file=sys.stderr)
        return 2
    except OSError as exc:   # permission denied, is a directory, not a directory, disk full, ...
        print(f"kdpose: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kdpose: interrupted", file=sys.stderr)
        return 130
