"""Fixed-step comparison training: a fixed number of optimiser steps with a shared schedule, the protocol of
``kdpose demo --method stagewise`` and the CPU-scale depth tables (``benchmarks/pose_machines``).

It runs on :class:`kdpose.engine.trainer.Trainer` (the one training loop), set up for comparing students step for
step: batch ``t`` is ``batches.batch(t)`` for every run (the trainer's step-indexed batches, not a shuffled loader),
AdamW with the same weight decay on every parameter, warm-up + cosine (``schedule.kind: warmup_cosine``), no EMA, no
clipping, no validation, fp32, one epoch of ``steps`` iterations. A callback logs the largest predicted confidence
(whether the network has left the "background everywhere" phase). The published depth numbers came from the loop this
module had before it used the Trainer; the loss sequence and weights are bit-identical to it (checked on 30 steps of a
plain, a stagewise-distilled and a domain-adapted student).

The task is either a pose machine (loss = its intermediate-supervision loss L_PM) or a task module
(``forward(batch, progress) -> {"loss", ...}`` with ``.model``, e.g. :class:`kdpose.distill.stagewise.
StagewiseDistiller`).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn

from ..engine.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, RecipeCfg, ScheduleCfg, TrainCfg
from ..engine.trainer import Callback, Trainer
from ..models.pose_model import PoseModel
from ..models.task import PoseTask


class StepBatches(Protocol):
    """Batches by step (e.g. :class:`kdpose.data.bottomup.DepthBatches`): the same ``batch(step)`` in every run."""

    batch_size: int

    def batch(self, step: int) -> Any: ...


@dataclass
class StepSchedule:
    """AdamW (``weight_decay`` on every parameter) with a linear warm-up of ``warmup`` steps, then a cosine decay to
    ``final_factor`` x ``lr`` over the remaining steps (the trainer's ``WarmupCosineLR``)."""

    steps: int
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    final_factor: float = 0.05


@dataclass
class TrainLog:
    """Every ``interval`` steps: step, seconds since the start, losses and the largest keypoint confidence."""

    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


@torch.no_grad()
def max_confidence(model: nn.Module, inputs: torch.Tensor) -> float:
    """Largest keypoint confidence of the last stage on ``inputs`` (eval mode: BN statistics do not move)."""
    was_training = model.training
    model.eval()
    peak = float(model(inputs).heatmaps[:, -1, : model.codec.num_keypoints].max())
    model.train(was_training)
    return peak


class _StepLog(Callback):
    """Every ``interval`` steps (and the last): a row of the log with the largest confidence on that step's inputs."""

    replaces_console = True  # the callers draw their own progress

    def __init__(self, log: TrainLog, steps: int, interval: int, on_step: Callable[[int, dict], None] | None):
        self.log, self.steps, self.interval, self.on_step = log, steps, interval, on_step
        self.batch: Any = None  # the batch of the step in progress, as ``batches.batch`` made it
        self.start = 0.0

    def draw(self, batches: StepBatches) -> Callable[[int], Any]:
        def batch(step: int):
            self.batch = batches.batch(step)
            return self.batch

        return batch

    def on_fit_start(self, trainer: Trainer) -> None:
        self.start = time.perf_counter()

    def on_iteration_end(self, trainer: Trainer) -> None:
        step = trainer.iteration - 1
        if step % self.interval == 0 or step == self.steps - 1:
            row = {"step": step + 1, "s": round(time.perf_counter() - self.start, 1),
                   **{k: round(v, 3) for k, v in trainer.last_losses.items()},
                   "max_conf": round(max_confidence(trainer.model, self.batch.inputs), 3)}
            self.log.rows.append(row)
            if self.on_step is not None:
                self.on_step(step + 1, row)
        if step == self.steps - 1:
            self.log.seconds = time.perf_counter() - self.start


def step_recipe(model: nn.Module, schedule: StepSchedule, batch_size: int, interval: int) -> RecipeCfg:
    """The recipe the trainer runs for :func:`train_steps` (written to the run's ``config.yaml``)."""
    info = model.info
    return RecipeCfg(
        model=ModelCfg(name=info.name, layout=info.layout, input_size=tuple(info.input_size)),
        data=DataCfg(batch_size=batch_size, workers=0, persistent_workers=False),
        optim=OptimCfg(lr=schedule.lr, weight_decay=schedule.weight_decay, norm_decay_mult=1.0, bias_decay_mult=1.0),
        schedule=ScheduleCfg(kind="warmup_cosine", warmup_iters=schedule.warmup, eta_min_factor=schedule.final_factor),
        train=TrainCfg(max_epochs=1, epoch_iters=schedule.steps, device="cpu", threads=0, amp="none", ema=False,
                       log_interval=interval, tensorboard=False),
        eval=EvalCfg(interval=0))


def train_steps(task: nn.Module, batches: StepBatches, schedule: StepSchedule, interval: int = 25,
                on_step: Callable[[int, dict], None] | None = None, work_dir: str | Path | None = None) -> TrainLog:
    """Train ``task`` for ``schedule.steps`` steps on ``batches`` with the Trainer; returns the log
    (``on_step(step, row)`` is called at every logged step, e.g. to move a progress bar). ``work_dir`` keeps the
    trainer's files (``config.yaml``, ``log.jsonl``, ``last.pt``, ``final.safetensors``); None: a temporary folder."""
    task = PoseTask(task) if isinstance(task, PoseModel) else task
    log = TrainLog(steps=schedule.steps)
    logger = _StepLog(log, schedule.steps, interval, on_step)
    cfg = step_recipe(task.model, schedule, batches.batch_size, interval)
    with tempfile.TemporaryDirectory(prefix="kdpose-steps-") as tmp:
        # a stop signal saves last.pt only where someone can resume from it: not in a temporary folder
        trainer = Trainer(cfg, task, None, None, work_dir or tmp, callbacks=[logger], batches=logger.draw(batches),
                          stop_on_signals=work_dir is not None)
        trainer.fit()
    task.eval()
    return log


__all__ = ["StepBatches", "StepSchedule", "TrainLog", "max_confidence", "step_recipe", "train_steps"]
