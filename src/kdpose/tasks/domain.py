"""Task ``domain``: adversarial domain adaptation of a pose machine (the depth paper's Sec. V, DANN style): the
pose loss on labelled synthetic scenes plus a domain classifier behind a gradient-reversal layer on the extractor
features of synthetic and unlabelled target-domain scenes.

Recipe: as ``bottomup`` (``kdpose.tasks.bottomup``), plus ``data.target`` (the unlabelled target-domain scenes:
their ``synthetic_settings`` make the other domain, e.g. stronger noise and clutter) and ``task_params``
``max_lambda`` (the paper's Lambda, 100) and ``gamma`` (the schedule's steepness, 10).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..engine.config import RecipeCfg
from ..errors import ConfigError
from .base import TaskKind, TrainParts, build_model, register_task
from .bottomup import build_depth_evaluator, check_depth_recipe
from .synthetic import depth_scenes


class DomainPairs(torch.utils.data.Dataset):
    """Item i = (labelled source item i, unlabelled target item i mod M)."""

    def __init__(self, source: torch.utils.data.Dataset, target: torch.utils.data.Dataset):
        self.source, self.target = source, target

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.source.set_epoch(epoch)
        self.target.set_epoch(epoch)

    def __getitem__(self, index: int):
        return self.source[index], self.target[index % len(self.target)]


def collate_domain(items):
    """(source item, target item) pairs -> ``DomainBatch`` (a bottom-up batch + the target inputs)."""
    from ..data.bottomup import collate_bottomup
    from ..distill.domain import DomainBatch

    source = collate_bottomup([s for s, _ in items])
    target = torch.from_numpy(np.stack([t.inputs for _, t in items]))
    return DomainBatch(source, target)


@register_task
class DomainTask(TaskKind):
    """Synthetic (labelled) + target-domain (unlabelled) scene pairs; ``DomainAdaptationTask``; PCK-PR on val."""

    name = "domain"
    model_tasks = ("bottomup",)
    params = {"max_lambda": 100.0, "gamma": 10.0}

    def check(self, cfg: RecipeCfg) -> None:
        self.task_params(cfg)
        check_depth_recipe(cfg)
        if cfg.data.target.synthetic_images <= 0:
            raise ConfigError("data.target.synthetic_images: domain adaptation needs unlabelled target-domain "
                              "scenes; set it > 0")
        if cfg.distill.method:
            raise ConfigError(f"distill.method: '{cfg.distill.method}': the domain task adapts one network and "
                              "does not distil")

    def build(self, cfg: RecipeCfg, work_dir: Path) -> TrainParts:
        from ..data.bottomup import BottomUpDepthDataset
        from ..distill.domain import DomainAdaptationTask

        self.check(cfg)
        params = self.task_params(cfg)
        model = build_model(cfg.model)
        task = DomainAdaptationTask(model, max_lambda=float(params["max_lambda"]), gamma=float(params["gamma"]))
        source = BottomUpDepthDataset(depth_scenes(cfg.data, cfg.data.train, "train"), model.codec, train=True,
                                      seed=cfg.train.seed)
        # the generator's test seed stream: target scenes never repeat a training scene of the same seed
        target_scenes = depth_scenes(cfg.data, cfg.data.target, "target", scene_split="test")
        target = BottomUpDepthDataset(target_scenes, model.codec, train=True, seed=cfg.train.seed + 7)
        return TrainParts(model, task, DomainPairs(source, target), collate_domain, build_depth_evaluator(cfg, model))


__all__ = ["DomainPairs", "DomainTask", "collate_domain"]
