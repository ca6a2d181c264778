"""Data, networks and the paper's metric for ``kdpose demo --method stagewise`` (bottom-up depth pose machines).

Scale: the table drivers' "half scale" (``benchmarks/pose_machines``): 320x240 synthetic depth images, 184x184
training crops, whole-image evaluation letterboxed to 248x184, stride-8 maps. Sigma 7 px and an NMS radius of 6 px
are the settings of the drivers' measured learning check (``learning_curve.py``): wider peaks than the paper's
scaled sigma (3.5), so that the networks leave the "background everywhere" phase sooner.

Domains (the drivers' two configurations of :mod:`kdpose.data.synth`, depth mode):
- ``synthetic``: the training source (moderate sensor noise, background fusion, silhouette dropout on half the
  images); the demo's held-out set is its ``val`` split (another seed stream than training);
- ``real``: the "real-like" domain (noise 1.0, no dropout, more clutter and occlusion, people 1.3-6 m away),
  reported as a second, harder held-out set.

Networks: the teacher is an MPM-2S at the paper's width Nw = 64 (169 K parameters), the student the same cascade at
half the width (Nw = 32, 53 K parameters), both with the synthetic data's COCO-17 layout. (At Nw = 16 neither
student had left the all-background phase after the demo's 600 steps; at Nw = 32 the distilled one had.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..codecs.paf import PafOutput
from ..data.bottomup import BottomUpDepthDataset, DepthScene, collate_bottomup, scene_from_synth
from ..data.synth import SynthConfig, render_scene, scene_seed
from ..evaluation.pck_pr import PrCurve, pck_precision_recall, pr_curve
from ..layouts import get_layout

IMAGE_SIZE = (320, 240)  # rendered depth images (w, h)
CROP_SIZE = (184, 184)  # training input (w, h)
EVAL_SIZE = (248, 184)  # whole-image evaluation input (w, h), 4:3 letterbox
SIGMA, NMS_RADIUS = 7.0, 6.0
MAX_PEOPLE = 3
ETAS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6)  # detection thresholds of the PR curve
TRAIN_SEED, VAL_SEED, REAL_SEED = 1, 2, 3


@dataclass(frozen=True)
class PoseMachineSpec:
    """A pose machine of the zoo: kind (mpm/rpm/spm/cpm), stages S and width Nw."""

    kind: str
    stages: int
    width: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.stages}s (Nw={self.width})"


TEACHER = PoseMachineSpec("mpm", 2, 64)
STUDENT = PoseMachineSpec("mpm", 2, 32)


def synthetic_cfg(image_size: tuple[int, int] = IMAGE_SIZE) -> SynthConfig:
    """The training source domain (as ``benchmarks/pose_machines/common.py``)."""
    w, h = image_size
    return SynthConfig(width=w, height=h, modality="depth", max_people=MAX_PEOPLE, noise=0.3, dropout_prob=0.5,
                       dropout_rate=0.2, occlusion=0.4, clutter=4)


def real_like_cfg(image_size: tuple[int, int] = IMAGE_SIZE) -> SynthConfig:
    """The held-out "real-like" domain: another noise / clutter / occlusion / distance configuration."""
    w, h = image_size
    return SynthConfig(width=w, height=h, modality="depth", max_people=MAX_PEOPLE, noise=1.0, dropout_prob=0.0,
                       occlusion=0.6, clutter=10, distance_range=(1.3, 6.0), pose_extremity=0.6)


def render_scenes(cfg: SynthConfig, n: int, seed: int, split: str = "train") -> list[DepthScene]:
    """Render ``n`` depth scenes of ``split`` (deterministic per index) and keep them in memory without masks."""
    scenes = []
    for i in range(int(n)):
        scene = scene_from_synth(render_scene(cfg, scene_seed(seed, split, i)), image_id=i)
        scene.mask = None  # the silhouettes are not used after rendering (the dropout is the generator's)
        scenes.append(scene)
    return scenes


def build_pose_machine(spec: PoseMachineSpec, seed: int | None = None, input_size: tuple[int, int] = CROP_SIZE):
    """A fresh pose machine of ``spec`` at the demo's scale (``seed``: initialise deterministically; ``input_size``:
    the codec's (w, h), the training crop unless an export needs the whole-image size)."""
    from ..models.pose_machines import create_pose_machine

    if seed is not None:
        torch.manual_seed(seed)
    return create_pose_machine(spec.kind, spec.stages, width=spec.width, layout="coco", input_size=input_size,
                               sigma=SIGMA, nms_radius=NMS_RADIUS)


class DepthBatches:
    """Random training batches of augmented crops: step ``t`` draws ``batch_size`` scenes with its own rng and
    augments item ``i`` with ``(seed, i, t)``, so two runs with the same seed see exactly the same batches."""

    def __init__(self, scenes: Sequence[DepthScene], codec: Any, batch_size: int, seed: int):
        self.dataset = BottomUpDepthDataset(scenes, codec, train=True, seed=seed)
        self.batch_size, self.seed = int(batch_size), int(seed)

    def batch(self, step: int):
        rng = np.random.default_rng((self.seed, int(step), 7))
        self.dataset.set_epoch(step)
        idx = rng.integers(0, len(self.dataset), min(self.batch_size, len(self.dataset)))
        return collate_bottomup([self.dataset[int(i)] for i in idx])


@torch.no_grad()
def predict(model, scenes: Sequence[DepthScene], etas: Sequence[float] = ETAS, batch_size: int = 8
            ) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
    """Whole-image inference (letterboxed to :data:`EVAL_SIZE`), decoded at each eta, keypoints in image pixels.

    Returns ({eta: [(keypoints (N, K, 2), scores (N, K)) per scene]}, largest keypoint confidence seen)."""
    model.eval()
    data = BottomUpDepthDataset(scenes, model.codec, train=False, input_size=EVAL_SIZE)
    out: dict[float, list] = {eta: [] for eta in etas}
    peak = 0.0
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(len(data), start + batch_size))]
        output: PafOutput = model(collate_bottomup(items).inputs)
        output = PafOutput(output.heatmaps.float(), output.pafs.float())
        peak = max(peak, float(output.heatmaps[:, -1, : model.codec.num_keypoints].max()))
        for eta in etas:
            for item, people in zip(items, model.codec.decode(output, peak_threshold=eta)):
                inverse = np.linalg.inv(np.vstack([item.matrix, [0.0, 0.0, 1.0]]))[:2]
                kpts = people.keypoints @ inverse[:, :2].T + inverse[:, 2]
                out[eta].append((kpts.astype(np.float32), people.scores))
    return out, peak


def person_heights(scenes: Sequence[DepthScene]) -> list[np.ndarray]:
    """h of the metric's d = kappa x h: the height of each ground-truth person box."""
    return [s.boxes[:, 3] - s.boxes[:, 1] for s in scenes]


@dataclass
class DepthEval:
    """The paper's metric on a scene set: best-F operating point (all landmarks and upper body), the PR curve,
    the largest confidence the network produced, and the decoded people at the best eta (for drawing)."""

    best: dict[str, float]
    upper: dict[str, float]
    curve: PrCurve
    max_confidence: float
    people: list[tuple[np.ndarray, np.ndarray]]

    def summary(self) -> dict[str, float]:
        return {**{k: round(v, 4) for k, v in self.best.items()}, "F_upper": round(self.upper["F"], 4),
                "max_confidence": round(self.max_confidence, 4)}


def evaluate(model, scenes: Sequence[DepthScene], etas: Sequence[float] = ETAS) -> DepthEval:
    """PCK precision / recall (kappa averaged over [0.05, 0.15]) at each eta; summarised at the best F."""
    preds, peak = predict(model, scenes, etas)
    gt_kpts = [s.keypoints for s in scenes]
    gt_vis = [s.visible for s in scenes]
    heights = person_heights(scenes)
    results = [pck_precision_recall([p[0] for p in preds[e]], [p[1] for p in preds[e]], gt_kpts, gt_vis, heights)
               for e in etas]
    curve = pr_curve(results, etas)
    best = curve.best()
    upper = pr_curve(results, etas, get_layout(model.info.layout).upper_body).best()
    return DepthEval(best, upper, curve, peak, preds[best["eta"]])


__all__ = ["CROP_SIZE", "DepthBatches", "DepthEval", "ETAS", "EVAL_SIZE", "IMAGE_SIZE", "PoseMachineSpec", "STUDENT",
           "TEACHER", "build_pose_machine", "evaluate", "predict", "real_like_cfg", "render_scenes",
           "synthetic_cfg"]
