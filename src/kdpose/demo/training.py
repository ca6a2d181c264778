"""One demo training phase: ``kdpose.tasks.train`` on a recipe, shown as ONE progress bar for the whole phase (a
training callback, instead of the trainer's bar per epoch) and summarised as a :class:`TrainRun` (final metrics,
weights, curves)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.trainer import Callback


class PhaseBar(Callback):
    """One tqdm bar over all the iterations of a run; the trainer's own epoch bars and messages stay off."""

    replaces_console = True

    def __init__(self, desc: str):
        self.desc = desc
        self.bar = None
        self.iterations = 0

    def on_fit_start(self, trainer) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=trainer.max_iterations, initial=trainer.iteration, desc=self.desc, unit="it",
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def on_iteration_end(self, trainer) -> None:
        self.bar.update(1)
        self.iterations = trainer.iteration

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
    from ..tasks import train
    from .config import to_recipe

    cfg = to_recipe(recipe, source=f"demo {name} recipe")
    cfg.work_dir = str(work_dir)
    cfg.train.tensorboard = False  # the report draws the curves from log.jsonl
    if (work_dir / "last.pt").exists() or (work_dir / "config.yaml").exists():
        # a previous demo in the same --out (maybe with another seed or budget, maybe stopped before its first
        # checkpoint): start this phase again; kdpose.tasks.train refuses a folder holding another recipe's run
        for stale in ("last.pt", "best.pt", "log.jsonl", "config.yaml"):
            (work_dir / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    bar = PhaseBar(desc)
    try:
        metrics = train(cfg, work_dir, callbacks=[bar])
    finally:
        bar.close()
    return TrainRun(name, work_dir, work_dir / "final.safetensors", metrics, time.perf_counter() - start,
                    bar.iterations, read_curve(work_dir / "log.jsonl"), dict(cfg.model.kwargs))


__all__ = ["PhaseBar", "TrainRun", "read_curve", "train_phase"]
