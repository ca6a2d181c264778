"""Graceful stop: SIGTERM and SIGINT become a request that the trainer honours at its next safe point.

A session's time limit (SIGTERM, often followed by SIGKILL after a grace period) or Ctrl-C (SIGINT) would
otherwise lose the work done since the last periodic checkpoint. While :class:`StopSignals` is active the first
signal is only recorded; the trainer finishes its step, writes ``last.pt`` and stops (``Trainer.fit``). A second
signal means "now": ``on_second`` is called from the handler (the trainer raises there), and the checkpoint being
written, if any, is left unfinished, which ``atomic_write`` makes harmless: the previous ``last.pt`` stays.

DataLoader worker processes ignore SIGINT (``kdpose.engine.loader.seed_worker``), so Ctrl-C reaching the process
group leaves them working while the main process finishes its step. A SIGTERM sent to every process of the job ends
the workers (torch's own handler, which is also how their parent stops them); after the first stop signal torch's
SIGCHLD handler is set aside (it would raise mid-step), so the loader reports the dead worker at its next batch and
the trainer takes that failure for the stop it is: ``last.pt`` of the last finished step (``Trainer._loader_batches``).

Under torchrun a scheduler that signals every process of the job (SLURM's time limit, ``scancel``) reaches each
worker twice: directly, and through torchrun, which forwards its own SIGTERM to the workers (and kills them 30 s
later). A second SIGTERM within :data:`TORCHRUN_DUPLICATE_S` of the first is therefore taken for that copy, not for
"now"; SIGINT (Ctrl-C twice) keeps its meaning.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable

import torch

from . import dist

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
TORCHRUN_DUPLICATE_S = 10.0  # a second SIGTERM this soon under torchrun is its forwarded copy of the first


class StopSignals:
    """Context manager: while active, SIGTERM / SIGINT set :attr:`signum` instead of ending the process.

    Handlers are installed only in the main thread (``signal.signal`` refuses any other; elsewhere the signals keep
    their usual effect), and the previous handlers are restored on exit, also when the body raises.

    Args:
        on_second: called with the signal number when a second signal arrives; it should raise. The previous
            handlers are restored before it is called, so a third signal has its usual effect.
    """

    def __init__(self, on_second: Callable[[int], None]):
        self.on_second = on_second
        self.signum: int | None = None  # the first signal received, None while there was none
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            # None: the handler was not installed from Python; the default is the closest we can put back
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Python runs this in the main thread between bytecodes: keep it to plain assignments, no I/O (a print
        # could re-enter a half-done write to the same stream).
        if self.signum is None:
            self.signum = signum
            self._first_at = time.monotonic()
            # torch's SIGCHLD handler raises wherever the main thread is when a DataLoader worker dies (a SIGTERM to
            # every process of the job ends them too), possibly halfway through a step. From now on a dead worker is
            # reported by the loader at its next batch instead, where the trainer takes it for this stop.
            if hasattr(signal, "SIGCHLD") and signal.SIGCHLD not in self._previous:
                self._previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return
        if (signum == self.signum == signal.SIGTERM and os.environ.get("TORCHELASTIC_RUN_ID")
                and time.monotonic() - self._first_at < TORCHRUN_DUPLICATE_S):
            return  # torchrun's forwarded copy of the scheduler's SIGTERM (module docstring)
        self._restore()
        self.on_second(signum)


def agreed_signal(local: int | None, device: torch.device) -> int | None:
    """The stop signal every rank acts on: the largest signal number any rank received, None when none did.

    Each rank gets the signal at its own moment (torchrun forwards it to every worker; a rank may be a step ahead
    in its forward pass). Stopping on the local flag alone would let one rank start saving (a collective) while
    another starts the next step's gradient all-reduce, which deadlocks. So the flag is all-reduced at the same
    points of the loop on every rank, and all of them stop at the first point where any rank has seen a signal.
    Collective: every rank must call it at the same point. One process: ``local`` itself, at no cost.
    """
    if not dist.is_distributed():
        return local
    flag = torch.tensor([local or 0], dtype=torch.int64, device=device)  # NCCL needs a tensor on the device
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    value = int(flag.item())
    return value or None


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the number itself for a signal Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
