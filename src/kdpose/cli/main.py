"""``kdpose`` command line: a thin dispatcher. Each sub-command is one module in this package exposing

    NAME: str                      # the sub-command name
    HELP: str                      # one line for ``kdpose --help``
    def add_arguments(parser)      # fills its argparse parser (put examples in parser.epilog)
    def run(args) -> int           # does the work through the public API; returns the exit code

Add a sub-command by writing the module and adding its name to ``COMMANDS``."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# module names inside kdpose.cli, in the order shown by --help
COMMANDS: list[str] = ["demo", "infer", "export", "bench", "synth", "train", "distill", "eval"]

# optional packages -> the pyproject extra that installs them (a missing one is a one-line error with the hint)
EXTRAS: dict[str, str] = {"onnx": "onnx", "onnxruntime": "onnx", "matplotlib": "report", "tensorboard": "logging"}


def _load(name: str):
    return importlib.import_module(f"kdpose.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    from kdpose import __version__

    parser = argparse.ArgumentParser(
        prog="kdpose",
        description="kdpose: real-time multi-person 2D pose estimation and knowledge distillation.",
        epilog="Run 'kdpose COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"kdpose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in COMMANDS:
        mod = _load(modname)
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=mod.HELP, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from kdpose.errors import KdposeError, TrainingStopped

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if argv is None and len(sys.argv) <= 1 else 2
    try:
        return int(args._run(args) or 0)
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


def missing_extra_message(module: str, extra: str, what: str = "this", alternative: str = "") -> str:
    """One line naming the missing optional package and the pip command that installs it."""
    root = module.split(".")[0]
    text = f"{what} needs the optional package '{root}', which is not installed: pip install \"kdpose[{extra}]\""
    return f"{text} ({alternative})" if alternative else text


def require_extra(module: str, what: str, alternative: str = "") -> None:
    """Fail early, before any slow work, when the optional package ``module`` is not installed.

    Raises:
        MissingExtraError: naming ``what`` needs it and the ``pip install "kdpose[extra]"`` command.
    """
    import importlib.util

    from kdpose.errors import MissingExtraError

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(missing_extra_message(module, EXTRAS[module], what, alternative))


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` for an OSError. For a two-path call (``os.replace(tmp, dst)``) the destination is the path the
    user named; the temporary source is an implementation detail."""
    path = exc.filename2 if exc.filename2 is not None else exc.filename
    reason = exc.strerror or str(exc)
    if reason[:1].isupper() and not reason[1:2].isupper():
        reason = reason[0].lower() + reason[1:]
    return f"{path}: {reason}" if path is not None else reason


if __name__ == "__main__":
    raise SystemExit(main())
