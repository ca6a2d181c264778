"""One demo training phase: the engine's own Trainer on a recipe, shown as ONE progress bar for the whole phase
(instead of the trainer's bar per epoch) and summarised as a :class:`TrainRun` (final metrics, weights, curves)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.log import RunLogger


class _QuietLogger(RunLogger):
    """The engine's run logger (log.jsonl) without its per-epoch bars and messages: the demo draws its own bar."""

    def __init__(self, work_dir: str | Path):
        super().__init__(work_dir, enabled=True, tensorboard=False)

    def start_epoch(self, epoch: int, max_epochs: int, total: int, initial: int = 0) -> None:
        return None

    def info(self, message: str) -> None:
        return None


@dataclass
class TrainRun:
    """Summary of one finished training phase."""

    name: str
    work_dir: Path
    weights: Path  # final.safetensors (EMA weights)
    metrics: dict  # last validation metrics (flat, or per part for whole-body)
    seconds: float
    iterations: int
    curve: list[dict] = field(default_factory=list)  # log.jsonl records
    model_kwargs: dict = field(default_factory=dict)  # the recipe's model.kwargs (e.g. the codec's decode rule)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "work_dir": str(self.work_dir), "weights": str(self.weights),
                "metrics": self.metrics, "seconds": self.seconds, "iterations": self.iterations}


def read_curve(log_file: Path) -> list[dict]:
    """The records of a ``log.jsonl`` (``kind`` = ``train`` / ``val``); [] when absent."""
    if not log_file.is_file():
        return []
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]


def train_phase(name: str, recipe: dict, work_dir: Path, desc: str) -> TrainRun:
    """Train ``recipe`` (a YAML-shaped dict, see :mod:`kdpose.demo.config`) into ``work_dir`` with one bar.

    The work dir holds what ``kdpose train`` writes (config.yaml, log.jsonl, final.safetensors, ...), so that
    ``kdpose train WORK_DIR/config.yaml`` reproduces the phase."""
    import torch
    from tqdm import tqdm

    from ..data import collate_topdown
    from ..engine.build import build_datasets, build_evaluator, build_model, build_task
    from ..engine.trainer import Trainer, seed_everything
    from .config import to_recipe

    cfg = to_recipe(recipe, source=f"demo {name} recipe")
    cfg.work_dir = str(work_dir)
    if (work_dir / "last.pt").exists():  # a previous demo in the same --out: start this phase again
        for stale in ("last.pt", "best.pt", "log.jsonl"):
            (work_dir / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model)
    task = build_task(cfg, model)
    train_set, val_set, val_ann = build_datasets(cfg, model)
    evaluator = build_evaluator(cfg, model, val_set, val_ann, work_dir)
    seed_everything(cfg.train.seed)
    bar = tqdm(total=1, desc=desc, unit="it", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    trainer = Trainer(cfg, task, train_set, collate_topdown, work_dir, evaluator=evaluator,
                      device=torch.device("cpu"), on_iteration_end=lambda t: bar.update(1))
    trainer.logger.close()  # the trainer's own logger (bars per epoch, TensorBoard): replaced by a quiet one
    trainer.logger = _QuietLogger(work_dir)
    bar.reset(total=trainer.max_iterations)
    try:
        metrics = trainer.fit()
    finally:
        bar.close()
    return TrainRun(name, work_dir, work_dir / "final.safetensors", metrics, time.perf_counter() - start,
                    trainer.iteration, read_curve(work_dir / "log.jsonl"), dict(cfg.model.kwargs))


__all__ = ["TrainRun", "read_curve", "train_phase"]
