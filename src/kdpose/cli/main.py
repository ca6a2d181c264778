"""``kdpose`` command line: a thin dispatcher. Each sub-command is one module in this package exposing

    NAME: str                      # the sub-command name
    HELP: str                      # one line for ``kdpose --help``
    def add_arguments(parser)      # fills its argparse parser (put examples in parser.epilog)
    def run(args) -> int           # does the work through the public API; returns the exit code

Add a sub-command by writing the module and adding its name to ``COMMANDS``."""
from __future__ import annotations

import argparse
import importlib
import sys

from kdpose.utils.entry import EXTRAS, guarded, missing_extra_message, os_error_message  # noqa: F401 (re-exported)

# module names inside kdpose.cli, in the order shown by --help
COMMANDS: list[str] = ["demo", "infer", "export", "bench", "synth", "train", "distill", "eval"]


EPILOG = """Run 'kdpose COMMAND --help' for the options and examples of each command.

exit status:
  0    done; also an infer / synth job that skipped some of its inputs (infer names each on stderr, "kdpose:
       skipped ...", synth lists them in the JSON's info.skipped_images; both count them in the summary line)
  1    an infer / synth job that skipped every input; an export whose parity check or accuracy guard failed
       (files kept)
  2    a usage or input error: one line on stderr, "kdpose: error: ..."
  130  interrupted (Ctrl-C; infer keeps what it wrote; train / distill saved last.pt: --auto-resume continues)
  143  train / distill stopped by SIGTERM (last.pt saved: --auto-resume continues)"""


def _load(name: str):
    return importlib.import_module(f"kdpose.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    from kdpose import __version__

    parser = argparse.ArgumentParser(
        prog="kdpose",
        description="kdpose: real-time multi-person 2D pose estimation and knowledge distillation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if argv is None and len(sys.argv) <= 1 else 2
    return guarded(lambda: args._run(args))


def require_extra(module: str, what: str, alternative: str = "") -> None:
    """Fail early, before any slow work, when the optional package ``module`` is not installed.

    Raises:
        MissingExtraError: naming ``what`` needs it and the ``pip install "kdpose[extra]"`` command.
    """
    import importlib.util

    from kdpose.errors import MissingExtraError

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(missing_extra_message(module, EXTRAS[module], what, alternative))


if __name__ == "__main__":
    raise SystemExit(main())
