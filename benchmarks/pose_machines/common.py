"""Shared pieces of the depth-pose-machines reproduction in miniature (Tables I, II, IV, V of the paper).

Domains (both from ``kdpose.data.synth``, depth mode):
- ``synthetic``: the training source (moderate sensor noise, background fusion, 20 % silhouette dropout on half the
  images), optionally without background fusion (clean people layer on an empty background, Table II);
- ``real``: the held-out "real-like" domain: another noise / clutter / occlusion / distance configuration and
  another seed split. A small labelled part of it is used for finetuning (the paper's 1750 DIH images), an
  unlabelled part as the adaptation target, and a labelled test part for every number reported.

Scale: ``Scale(image, crop, eval_input)``; the paper's is 640x480-like images, 368x368 crops and whole-image
evaluation at 488x368 (sigma 7 px, NMS radius 6 px); smaller scales shrink sigma and the NMS radius in proportion.
Everything is a flag of ``run_table.py``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from kdpose.codecs.paf import PafCodec  # noqa: E402
from kdpose.data.bottomup import (BottomUpDepthDataset, DepthScene, collate_bottomup,  # noqa: E402,F401
                                  scene_from_synth)
from kdpose.data.synth import SynthConfig, render_scene, scene_seed  # noqa: E402
from kdpose.evaluation.pck_pr import PrCurve, evaluate_people, ground_truth_heights  # noqa: E402
from kdpose.inference.bottomup import DEFAULT_ETAS as ETAS, predict_people, torch_forward  # noqa: E402
from kdpose.layouts import get_layout  # noqa: E402
from kdpose.models.pose_machines import create_pose_machine  # noqa: E402
from kdpose.tasks.domain import DomainPairs, collate_domain  # noqa: E402,F401  (the drivers' domain batches)


@dataclass
class Scale:
    """Image / crop / evaluation sizes of a run (defaults: the paper's scale)."""

    image: tuple[int, int] = (640, 480)
    crop: tuple[int, int] = (368, 368)
    eval_input: tuple[int, int] = (488, 368)

    @property
    def factor(self) -> float:
        return self.crop[1] / 368.0

    def codec_kwargs(self) -> dict:
        return {"sigma": 7.0 * self.factor, "nms_radius": max(1.0, round(6.0 * self.factor))}


def synthetic_cfg(scale: Scale, max_people: int = 3) -> SynthConfig:
    w, h = scale.image
    return SynthConfig(width=w, height=h, modality="depth", max_people=max_people, noise=0.3, dropout_prob=0.5,
                       dropout_rate=0.2, occlusion=0.4, clutter=4)


def real_like_cfg(scale: Scale, max_people: int = 3) -> SynthConfig:
    w, h = scale.image
    return SynthConfig(width=w, height=h, modality="depth", max_people=max_people, noise=1.0, dropout_prob=0.0,
                       occlusion=0.6, clutter=10, distance_range=(1.3, 6.0), pose_extremity=0.6)


class SynthDepthScenes(torch.utils.data.Dataset):
    """``n`` depth scenes rendered on demand (deterministic per index) as :class:`DepthScene`.

    ``background=False`` keeps only the rendered people (no fused room) and applies the paper's 20 % silhouette
    dropout with probability ``dropout_prob`` itself. ``offset`` selects a disjoint index range of the split.
    """

    def __init__(self, cfg: SynthConfig, n: int, seed: int, split: str = "train", background: bool = True,
                 dropout_prob: float = 0.5, offset: int = 0):
        self.cfg, self.n, self.seed, self.split = cfg, int(n), int(seed), split
        self.background, self.dropout_prob, self.offset = background, dropout_prob, int(offset)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> DepthScene:
        i = self.offset + int(index)
        scene = render_scene(self.cfg, scene_seed(self.seed, self.split, i))
        rng = np.random.default_rng((self.seed, i, 99))
        rate = 0.2 if (not self.background and rng.random() < self.dropout_prob) else 0.0
        return scene_from_synth(scene, image_id=i, background=self.background, dropout_rate=rate, rng=rng)


def arch_error(arch: str, flag: str) -> str | None:
    """Why ``arch`` is not a pose machine name ``KIND-Ns`` (``rpm-2s``: kind, stage count), as one line naming the
    option ``flag``; None when it is one. The drivers check their names with it before any work."""
    from kdpose.models.pose_machines import KINDS

    kind, sep, stages = arch.partition("-")
    if sep and kind in KINDS and stages.rstrip("s").isdigit() and int(stages.rstrip("s")) >= 1:
        return None
    return f"{flag}: '{arch}' is not KIND-Ns (KIND one of {', '.join(KINDS)}, N stages >= 1; e.g. rpm-2s)"


def build_model(arch: str, width: int, layout: str, scale: Scale):
    kind, stages = arch.split("-")
    return create_pose_machine(kind, int(stages.rstrip("s")), width=width if kind != "cpm" else None,
                               layout=layout, input_size=scale.crop, **scale.codec_kwargs())


def train_dataset(scenes: Sequence, codec: PafCodec, seed: int) -> BottomUpDepthDataset:
    return BottomUpDepthDataset(scenes, codec, train=True, seed=seed)


def train(task: torch.nn.Module, dataset, collate, iters: int, work_dir: Path, seed: int, lr: float = 1e-3,
          batch_size: int = 8, workers: int = 2, device: str = "cpu") -> None:
    """Train ``task`` for about ``iters`` steps with kdpose's Trainer (AdamW, warm-up + cosine, no EMA)."""
    from kdpose.engine.config import DataCfg, EvalCfg, OptimCfg, RecipeCfg, ScheduleCfg, TrainCfg
    from kdpose.engine.trainer import Trainer

    batch_size = min(batch_size, len(dataset))  # tiny smoke runs
    per_epoch = max(1, len(dataset) // batch_size)
    epochs = max(1, math.ceil(iters / per_epoch))
    cfg = RecipeCfg(
        data=DataCfg(batch_size=batch_size, workers=workers, persistent_workers=workers > 0),
        optim=OptimCfg(lr=lr, weight_decay=1e-4),
        schedule=ScheduleCfg(warmup_iters=min(100, iters // 10), cosine_start_epoch=0),
        train=TrainCfg(max_epochs=epochs, stage2_epochs=0, epoch_iters=min(per_epoch, iters), seed=seed,
                       device=device, ema=False, log_interval=max(1, iters // 10)),
        eval=EvalCfg(interval=0))
    Trainer(cfg, task, dataset, collate, work_dir).fit()


def predict(model, scenes: Sequence[DepthScene], scale: Scale, etas: Sequence[float] = ETAS,
            batch_size: int = 8, device: str = "cpu") -> dict[float, list]:
    """Whole-image inference (letterbox to ``scale.eval_input``) decoded at each eta, in image pixels
    (:func:`kdpose.inference.bottomup.predict_people`)."""
    preds, _ = predict_people(torch_forward(model, device), model.codec, [s.depth for s in scenes], scale.eval_input,
                              model.info.in_channels, etas, batch_size)
    return preds


def ground_truth(scenes: Sequence[DepthScene]) -> tuple[list, list, list]:
    heights = [ground_truth_heights(s.keypoints, s.visible, s.boxes) for s in scenes]
    return [s.keypoints for s in scenes], [s.visible for s in scenes], heights


def evaluate(model, scenes: Sequence[DepthScene], scale: Scale, etas: Sequence[float] = ETAS,
             device: str = "cpu") -> tuple[dict[str, Any], PrCurve]:
    """The paper's metric on ``scenes``: best-F operating point over eta, all landmarks and upper body."""
    result = evaluate_people(predict(model, scenes, scale, etas, device=device), *ground_truth(scenes),
                             get_layout(model.info.layout).upper_body)
    return {"all": result.best, "upper": result.upper}, result.curve


def drop_mask(scene: DepthScene) -> DepthScene:
    scene.mask = None
    return scene


def materialise(scenes: Sequence) -> list[DepthScene]:
    """Render every scene now (kept in memory without silhouettes)."""
    return [drop_mask(scenes[i]) for i in range(len(scenes))]


def mean_std(values: Sequence[float]) -> str:
    v = np.asarray(values, np.float64)
    return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}"
