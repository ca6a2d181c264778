"""How many CPU threads a PyTorch inference call uses: one rule for the pose model and the person detector.

Torch's own default, every core, collapses when the machine is busy (measured on a loaded 2-core machine: 14.7 ms
per pose crop on 1 thread, 1043 ms on all; the built-in detector 840 ms a frame on 1 thread, 50 s on all), so
inference takes half the CPUs unless the user says otherwise."""
from __future__ import annotations

import contextlib
import os

MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """CPU threads of a torch inference call unless told otherwise: half the CPUs this process may run on, 1 to 4
    (the work per call is small, so a few threads lose little when the machine is idle)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_THREADS, cpus // 2))


def inference_threads(threads: int | None) -> int | None:
    """The threads a torch inference backend runs on: ``threads`` when given, else :func:`default_threads`, unless
    ``OMP_NUM_THREADS`` is set (None: torch's setting, which that variable fixed, is left alone)."""
    if threads is None and not os.environ.get("OMP_NUM_THREADS"):
        return default_threads()
    return threads


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run torch on ``n`` threads inside the block (None: leave torch's setting alone), then restore it."""
    import torch

    old = torch.get_num_threads()
    if n is None or n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
