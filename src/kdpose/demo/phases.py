"""What every demo pipeline shares: the phase clock (wall time per phase, printed as each one ends) and the
``kdpose demo`` command line that reproduces a run."""
from __future__ import annotations

import shlex
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from .config import DemoOptions


class Clock:
    """Wall time per phase, printed as each one ends."""

    def __init__(self) -> None:
        self.phases: list[dict] = []
        self.start = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"[{len(self.phases) + 1}] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        self.phases.append({"name": name, "seconds": seconds})
        print(f"    done in {seconds:.0f} s", file=sys.stderr, flush=True)


def demo_command(opts: DemoOptions) -> str:
    """The ``kdpose demo`` command line that reproduces ``opts``."""
    args = ["kdpose", "demo", "--out", str(opts.out), "--minutes", f"{opts.minutes:g}", "--layout", opts.layout,
            "--method", opts.method, "--seed", str(opts.seed)]
    if opts.from_scratch:
        args.append("--from-scratch")
    if opts.detector:
        args += ["--detector", opts.detector]
    defaults = DemoOptions()
    for flag, name in (("--train-images", "train_images"), ("--val-images", "val_images"),
                       ("--threads", "threads")):
        if getattr(opts, name) != getattr(defaults, name):
            args += [flag, str(getattr(opts, name))]
    return shlex.join(args)


__all__ = ["Clock", "demo_command"]
