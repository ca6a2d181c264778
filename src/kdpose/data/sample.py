"""The one sample type of the library and the batch the trainer consumes (see docs/design.md)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np

# MMPose's normalisation (RGB order) and the depth models' range: defined once, with the other model-input facts
from ..model_info import DEPTH_RANGE_M, MMPOSE_MEAN as MEAN_RGB, MMPOSE_STD as STD_RGB  # noqa: F401


@dataclass
class Sample:
    """One person instance in one image (top-down unit of data).

    Attributes:
        image_path: path of the image file ('' for in-memory images).
        image_id: id of the image (COCO ``image_id``).
        bbox: (4,) float32 person box, xyxy in image pixels.
        keypoints: (K, 2) float32 keypoint coordinates in image pixels.
        visible: (K,) float32 in [0, 1]; 0 = not labelled, > 0 = labelled (MMPose: min(1, v)).
        ann_id: annotation id (-1 when none, e.g. detector boxes).
        bbox_score: detector score of ``bbox`` (1.0 for ground-truth boxes).
        area: instance area (COCO ``area``), used by OKS.
        flags: (K,) raw visibility flags (0 outside/unlabelled, 1 occluded, 2 visible) when the source has them.
        image: decoded image (HxWx3 uint8 BGR or HxW uint16 depth) when already in memory.
        meta: anything else a reader wants to carry (e.g. whole-body part validity).
    """

    image_path: str
    image_id: int
    bbox: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    ann_id: int = -1
    bbox_score: float = 1.0
    area: float = 0.0
    flags: np.ndarray | None = None
    image: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[0])

    def copy(self) -> "Sample":
        return replace(
            self,
            bbox=self.bbox.copy(),
            keypoints=self.keypoints.copy(),
            visible=self.visible.copy(),
            flags=None if self.flags is None else self.flags.copy(),
            meta=dict(self.meta),
        )


def normalize_image(image_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (3, H, W) float32 RGB normalised with MMPose's mean/std."""
    rgb = image_bgr[..., ::-1].astype(np.float32)
    rgb -= np.asarray(MEAN_RGB, np.float32)
    rgb /= np.asarray(STD_RGB, np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def normalize_depth(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 millimetres -> (1, H, W) float32 in [-0.5, 0.5] (0 m -> -0.5, 8 m -> 0.5)."""
    lo, hi = DEPTH_RANGE_M
    d = depth_mm.astype(np.float32) / 1000.0
    d = np.clip((d - lo) / (hi - lo), 0.0, 1.0) - 0.5
    return d[None]


@dataclass
class Batch:
    """A collated batch of top-down items (see docs/design.md)."""

    inputs: Any  # (B, C, H, W) float32
    target: Any  # codec target dataclass with batched tensors
    keypoints: Any  # (B, K, 2) in input-crop pixels
    visible: Any  # (B, K)
    center: Any  # (B, 2)
    scale: Any  # (B, 2)
    image_id: Any  # (B,)
    bbox_score: Any  # (B,)

    def to(self, device, non_blocking: bool = False) -> "Batch":
        return Batch(**{f.name: _to(getattr(self, f.name), device, non_blocking) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def _to(value, device, non_blocking):
    if hasattr(value, "to"):
        return value.to(device, non_blocking=non_blocking)
    if is_dataclass(value):
        return type(value)(**{f.name: _to(getattr(value, f.name), device, non_blocking) for f in fields(value)})
    return value


def stack_dataclasses(items: list) -> Any:
    """Stack a list of dataclasses of numpy arrays field by field into one dataclass of torch tensors."""
    import torch

    first = items[0]
    out = {}
    for f in fields(first):
        vals = [getattr(it, f.name) for it in items]
        if vals[0] is None:
            out[f.name] = None
        else:
            out[f.name] = torch.from_numpy(np.stack([np.asarray(v) for v in vals]))
    return type(first)(**out)
