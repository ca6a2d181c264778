"""Training logs on rank 0: a tqdm progress bar, TensorBoard scalars (optional) and a JSON-lines file."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from ..utils.io import atomic_write


class RunLogger:
    """Writes ``log.jsonl`` (one record per log interval and per validation) and TensorBoard scalars.

    Does nothing on ranks other than 0 (``enabled=False``). TensorBoard is imported lazily; when it is missing the
    logger warns once and keeps the JSON-lines log. ``console=False`` leaves the terminal to the caller (no epoch
    bars, no messages), e.g. a training callback that draws its own progress.
    """

    def __init__(self, work_dir: str | Path, enabled: bool = True, tensorboard: bool = True, console: bool = True):
        self.enabled = enabled
        self.console = console
        self.path = Path(work_dir) / "log.jsonl"
        self._tb_dir = Path(work_dir) / "tensorboard"
        self._tb = None
        self._tb_wanted = False
        self._purge_step: int | None = None
        self._bar = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                import torch.utils.tensorboard  # noqa: F401
            except ImportError:
                warnings.warn("tensorboard is not installed: TensorBoard scalars are skipped (pip install tensorboard)")
            else:
                # the events file is opened with the first scalar: a run refused before it logs anything (a
                # checkpoint of another model) leaves no empty events file, and a resume opens one file, not two
                self._tb_wanted = True

    def _writer(self):
        if self._tb is None and self._tb_wanted:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self._tb_dir), purge_step=self._purge_step)
        return self._tb

    def drop_after(self, iteration: int) -> None:
        """Forget what was logged after ``iteration``: a run resumed from a checkpoint at ``iteration`` redoes that
        work and logs it again, so each iteration keeps one record. A line torn by a kill goes as well. TensorBoard
        hides the later events through ``purge_step``."""
        if not self.enabled:
            return
        if self.path.is_file():
            keep = []
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("iter", 0) <= iteration:
                    keep.append(line + "\n")
            with atomic_write(self.path, "w") as f:
                f.write("".join(keep))
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        self._purge_step = iteration + 1  # the next events file hides the older files' later steps

    def record(self, kind: str, iteration: int, values: dict[str, Any]) -> None:
        """Append one record ``{"kind": kind, "iter": iteration, **values}`` and the numeric values to TensorBoard."""
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"kind": kind, "iter": iteration, **values}) + "\n")
            f.flush()
        scalars = {key: value for key, value in _flatten(values).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
        if scalars and self._writer() is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(f"{kind}/{key}", value, iteration)
            self._tb.flush()

    def start_epoch(self, epoch: int, max_epochs: int, total: int, initial: int = 0) -> None:
        if not (self.enabled and self.console):
            return
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=initial, desc=f"epoch {epoch + 1}/{max_epochs}", unit="it",
                         dynamic_ncols=True, file=sys.stderr, leave=True, mininterval=1.0)

    def step(self, loss: float, lr: float) -> None:
        """Advance the bar by one iteration (tqdm shows it/s and the ETA of the epoch)."""
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
            self._bar.update(1)

    def end_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def info(self, message: str) -> None:
        if self.enabled and self.console:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        self.end_epoch()
        if self._tb is not None:
            self._tb.close()


def _flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out
