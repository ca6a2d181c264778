"""The CPU-scale depth setting shared by ``kdpose demo --method stagewise`` and the depth benchmark drivers
(``benchmarks/pose_machines/cpu_table*.py``): image / crop / evaluation sizes, the two synthetic domains, seeds, the
MPM teacher and student, fixed-step batches, and the paper's metric on held-out scenes.

Scale: the table drivers' "half scale" (``benchmarks/pose_machines``): 320x240 synthetic depth images, 184x184
training crops, whole-image evaluation letterboxed to 248x184, stride-8 maps. Sigma 7 px and an NMS radius of 6 px
are the settings of the drivers' measured learning check (``learning_curve.py``): wider peaks than the paper's
scaled sigma (3.5), so that the networks leave the "background everywhere" phase sooner.

Domains (the drivers' two configurations of :mod:`kdpose.data.synth`, depth mode):
- ``synthetic``: the training source (moderate sensor noise, background fusion, silhouette dropout on half the
  images); the demo's held-out set is its ``val`` split (another seed stream than training);
- ``real``: the "real-like" domain (noise 1.0, no dropout, more clutter and occlusion, people 1.3-6 m away),
  reported as a second, harder held-out set.

Networks: the teacher is an MPM-2S at the paper's width Nw = 64 (169 K parameters; shipped, pretrained tag
:data:`TEACHER_TAG`), the student the same cascade at half the width (Nw = 32, 53 K parameters), both with the
synthetic data's COCO-17 layout. (At Nw = 16 neither student had left the all-background phase after the demo's 600
steps; at Nw = 32 the distilled one had.) The recipes ``configs/*synth-depth*.yaml`` are this setting for
``kdpose train``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..data.bottomup import DepthBatches, DepthScene, render_depth_scenes  # noqa: F401  (DepthBatches: the setting's)
from ..data.synth import SynthConfig
from ..evaluation.pck_pr import PrCurve, evaluate_people, ground_truth_heights
from ..inference.bottomup import DEFAULT_ETAS
from ..layouts import get_layout

IMAGE_SIZE = (320, 240)  # rendered depth images (w, h)
CROP_SIZE = (184, 184)  # training input (w, h)
EVAL_SIZE = (248, 184)  # whole-image evaluation input (w, h), 4:3 letterbox
SIGMA, NMS_RADIUS = 7.0, 6.0
MAX_PEOPLE = 3
ETAS = DEFAULT_ETAS  # detection thresholds of the PR curve
TRAIN_SEED, VAL_SEED, REAL_SEED = 1, 2, 3
MAX_VAL_SCENES, MAX_REAL_SCENES = 60, 30  # decoding 8 thresholds costs ~0.25 s per scene and network
TEACHER_TAG = "mpm-2s.synth-depth-demo_184x184"  # the shipped teacher (kdpose/assets, float16)


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
    return render_depth_scenes(cfg, n, seed, split)


def build_pose_machine(spec: PoseMachineSpec, seed: int | None = None, input_size: tuple[int, int] = CROP_SIZE):
    """A fresh pose machine of ``spec`` at the demo's scale (``seed``: initialise deterministically; ``input_size``:
    the codec's (w, h), the training crop unless an export needs the whole-image size)."""
    from ..models.pose_machines import create_pose_machine

    if seed is not None:
        torch.manual_seed(seed)
    return create_pose_machine(spec.kind, spec.stages, width=spec.width, layout="coco", input_size=input_size,
                               sigma=SIGMA, nms_radius=NMS_RADIUS)


def load_teacher():
    """The shipped teacher (:data:`TEACHER_TAG`): float32, eval mode, the setting's codec."""
    from ..models import load_model

    return load_model(TEACHER_TAG)


def predict(model, scenes: Sequence[DepthScene], etas: Sequence[float] = ETAS, batch_size: int = 8
            ) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
    """Whole-image inference (letterboxed to :data:`EVAL_SIZE`), decoded at each eta, keypoints in image pixels
    (the library's :func:`kdpose.inference.bottomup.predict_people`).

    Returns ({eta: [(keypoints (N, K, 2), scores (N, K)) per scene]}, largest keypoint confidence seen)."""
    from ..inference.bottomup import predict_people, torch_forward

    return predict_people(torch_forward(model), model.codec, [s.depth for s in scenes], EVAL_SIZE,
                          model.info.in_channels, etas, batch_size)


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
    """PCK precision / recall (kappa averaged over [0.05, 0.15]) at each eta; summarised at the best F
    (:func:`kdpose.evaluation.pck_pr.evaluate_people`)."""
    preds, peak = predict(model, scenes, etas)
    result = evaluate_people(preds, [s.keypoints for s in scenes], [s.visible for s in scenes], person_heights(scenes),
                             get_layout(model.info.layout).upper_body)
    return DepthEval(result.best, result.upper, result.curve, peak, preds[result.best["eta"]])


def person_heights(scenes: Sequence[DepthScene]) -> list[np.ndarray]:
    """h of the metric's d = kappa x h: the height of each ground-truth person box."""
    return [ground_truth_heights(s.keypoints, s.visible, s.boxes) for s in scenes]


__all__ = ["CROP_SIZE", "DepthBatches", "DepthEval", "ETAS", "EVAL_SIZE", "IMAGE_SIZE", "MAX_REAL_SCENES",
           "MAX_VAL_SCENES", "PoseMachineSpec",
           "REAL_SEED", "STUDENT", "TEACHER", "TEACHER_TAG", "TRAIN_SEED", "VAL_SEED", "build_pose_machine",
           "evaluate", "load_teacher", "person_heights", "predict", "real_like_cfg", "render_scenes", "synthetic_cfg"]
