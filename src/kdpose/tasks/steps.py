"""Fixed-step comparison training: a fixed number of optimiser steps, in one process, with a shared schedule (the
protocol of ``kdpose demo --method stagewise`` and the CPU-scale depth tables, ``benchmarks/pose_machines``).

Not :class:`kdpose.engine.trainer.Trainer` (which ``kdpose.tasks.train`` runs for recipes): this protocol compares
two students step for step (same batches drawn by step, same warm-up + cosine schedule, same seed), logs the largest
predicted confidence (whether the network has left the "background everywhere" phase) and stays cheap on a 2-core
CPU (no worker processes, no per-epoch evaluation). The published depth numbers come from it, so it is kept as is.

The task is either a pose machine (loss = its intermediate-supervision loss L_PM) or a distiller
(``forward(batch, progress) -> {"loss", ...}``, e.g. :class:`kdpose.distill.stagewise.StagewiseDistiller`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..data.bottomup import DepthBatches
from ..utils.progress import TrainProgress


@dataclass
class StepSchedule:
    """AdamW with a linear warm-up then a cosine decay to ``final_factor`` x ``lr`` over ``steps``."""

    steps: int
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    final_factor: float = 0.05

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.final_factor + (1 - self.final_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@dataclass
class TrainLog:
    """Every ``interval`` steps: step, seconds since the start, losses and the largest keypoint confidence."""

    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def _student(task: nn.Module) -> nn.Module:
    return task if hasattr(task, "loss_fn") else task.model


@torch.no_grad()
def max_confidence(model: nn.Module, inputs: torch.Tensor) -> float:
    """Largest keypoint confidence of the last stage on ``inputs`` (eval mode: BN statistics do not move)."""
    was_training = model.training
    model.eval()
    peak = float(model(inputs).heatmaps[:, -1, : model.codec.num_keypoints].max())
    model.train(was_training)
    return peak


def train_steps(task: nn.Module, batches: DepthBatches, schedule: StepSchedule, interval: int = 25,
                on_step: Callable[[int, dict], None] | None = None) -> TrainLog:
    """Train ``task`` for ``schedule.steps`` steps on ``batches``; returns the log (``on_step(step, row)`` is
    called at every logged step, e.g. to move a progress bar)."""
    student = _student(task)
    params = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)
    log = TrainLog()
    task.train()
    start = time.perf_counter()
    for step in range(schedule.steps):
        batch = batches.batch(step)
        if task is student:
            losses = student.loss_fn(student(batch.inputs), batch)
        else:
            progress = TrainProgress(epoch=0, max_epochs=1, iteration=step, max_iterations=schedule.steps)
            losses = task(batch, progress)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        scheduler.step()
        if step % interval == 0 or step == schedule.steps - 1:
            row = {"step": step + 1, "s": round(time.perf_counter() - start, 1),
                   **{k: round(float(v.detach()), 3) for k, v in losses.items()},
                   "max_conf": round(max_confidence(student, batch.inputs), 3)}
            log.rows.append(row)
            if on_step is not None:
                on_step(step + 1, row)
    log.seconds = time.perf_counter() - start
    log.steps = schedule.steps
    task.eval()
    return log


__all__ = ["StepSchedule", "TrainLog", "train_steps"]
