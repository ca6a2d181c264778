"""How every kdpose entry point ends: the ``kdpose`` command and the ``python -m kdpose.<module>`` tools print a
user's mistake as one line (``kdpose: error: <file or key>: <problem>``) and exit non-zero, never with a traceback.

Here, below every other package, so that a tool module anywhere can use it without importing the CLI."""
from __future__ import annotations

import os
import shlex
import subprocess
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
    """``run()``'s exit code, with kdpose's errors, a missing optional package, OS errors, a failed child command
    (``subprocess.run(..., check=True)``, which printed its own error: the line names the command) and Ctrl-C turned
    into one line on stderr and a non-zero code (2; a requested stop: 128 + its signal; a failed child: its code, or
    128 + the signal that killed it). Anything else is a bug: it raises."""
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
    except subprocess.CalledProcessError as exc:   # a benchmark driver's training run that failed
        cmd = exc.cmd if isinstance(exc.cmd, str) else shlex.join(map(str, exc.cmd))
        how = f"exited with code {exc.returncode}" if exc.returncode > 0 else f"was killed by signal {-exc.returncode}"
        print(f"kdpose: error: this command {how}: {cmd}", file=sys.stderr)
        return exc.returncode if exc.returncode > 0 else 128 - exc.returncode
    except KeyboardInterrupt:
        print("kdpose: interrupted", file=sys.stderr)
        return 130


def require_at_least(parser, args, **minimums: int) -> None:
    """``parser.error`` (usage, then one ``error:`` line, exit 2) for the first option of ``args`` below its minimum:
    ``require_at_least(parser, args, images=1)`` refuses ``--images 0`` as "--images must be >= 1, got 0", before
    any work (a negative count otherwise fails deep inside, or quietly does nothing). A list value (``nargs``) is
    checked item by item; None (an option left out) passes."""
    for dest, low in minimums.items():
        value = getattr(args, dest)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and item < low:
                parser.error(f"--{dest.replace('_', '-')} must be >= {low}, got {item}")


def not_a_command(path: str, driver: str, command: str) -> None:
    """Exit 2 with one line when a module of a benchmark driver (loaded by ``driver``, which puts its imports on
    ``sys.path``) is run on its own: it would fail on those imports with a traceback. ``command``: what to run."""
    print(f"kdpose: error: {path} is a part of {driver}, not a command: run '{command}' (see its --help)",
          file=sys.stderr)
    raise SystemExit(2)
