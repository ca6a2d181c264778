"""Coordinate-regression codec (DeepPose, DistilPose's TokenReg head, RLE-style heads).

Targets are keypoints normalised by the input size (x / w, y / h), as MMPose's
``TopDownGenerateTargetRegression``; the head predicts the same normalised coordinates, plus optional per-keypoint
confidence and (sigma_x, sigma_y) (DistilPose, https://arxiv.org/abs/2303.02455).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch


class RegressionOutput(NamedTuple):
    """Head output of regression models.

    Attributes:
        coords: (B, K, 2) keypoints normalised by the input size, (x / w, y / h).
        scores: (B, K) per-keypoint confidence s_k (raw, unbounded; DistilPose trains it towards the teacher's
            heatmap value at the predicted location).
        sigma: (B, K, 2) (sigma_x, sigma_y) in heatmap pixels (input / 4), used by Simulated Heatmaps.
    """

    coords: torch.Tensor
    scores: torch.Tensor
    sigma: torch.Tensor


@dataclass
class RegressionTarget:
    """Per-sample regression target.

    Attributes:
        keypoints: (K, 2) float32 keypoints normalised by the input size.
        weight: (K,) float32, 1 for labelled keypoints inside the input crop, else 0.
    """

    keypoints: np.ndarray
    weight: np.ndarray


class RegressionCodec:
    """Keypoints in input-crop pixels <-> normalised coordinates.

    Args:
        input_size: (w, h) of the model input.
        use_confidence: decode scores from the head's confidence output; False gives score 1 for every keypoint
            (for regression students whose confidence was never supervised, see DistilPose issue #2).
        flip_shift: un-flip with the pixel-exact mirror ``x' = 1 - 1/w - x`` (True) or DistilPose's
            ``x' = 1 - x`` (False, a 1/w bias that MMPose's ``regression_flip_shift`` corrects).
    """

    def __init__(self, input_size: Sequence[int] = (192, 256), use_confidence: bool = True,
                 flip_shift: bool = True):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_confidence = bool(use_confidence)
        self.flip_shift = bool(flip_shift)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(w, h) of the heatmap grid that ``sigma`` is measured in (input / 4, as the teachers' heatmaps)."""
        return self.input_size[0] // 4, self.input_size[1] // 4

    def params(self) -> dict:
        """Codec parameters (written into exported model metadata)."""
        return {"type": "regression", "input_size": list(self.input_size),
                "use_confidence": self.use_confidence, "flip_shift": self.flip_shift}

    def __repr__(self) -> str:
        return f"RegressionCodec(input_size={self.input_size}, use_confidence={self.use_confidence})"

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> RegressionTarget:
        """(K, 2) keypoints in input-crop pixels and (K,) visibility -> RegressionTarget."""
        kpts = np.asarray(keypoints, np.float32).reshape(-1, 2)
        vis = np.asarray(visible, np.float32).reshape(-1)
        w, h = self.input_size
        inside = (kpts[:, 0] >= 0) & (kpts[:, 0] <= w - 1) & (kpts[:, 1] >= 0) & (kpts[:, 1] <= h - 1)
        weight = ((vis > 0) & inside).astype(np.float32)
        norm = kpts / np.array([w, h], np.float32)
        norm = np.where(np.isfinite(norm), norm, 0.0).astype(np.float32)
        return RegressionTarget(keypoints=norm, weight=weight)

    def decode(self, output: RegressionOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """RegressionOutput -> keypoints (B, K, 2) in input-crop pixels and scores (B, K)."""
        keypoints = output.coords * output.coords.new_tensor(self.input_size)
        if self.use_confidence:
            scores = output.scores
        else:
            scores = torch.ones_like(output.coords[..., 0])
        return keypoints, scores

    def unflip(self, output: RegressionOutput, flip_indices: Sequence[int]) -> RegressionOutput:
        """Map the output of a horizontally flipped input back: swap left/right keypoints and mirror x.

        Unlike DistilPose's code, the confidences are swapped too (its flipped s_k are averaged unswapped).
        """
        index = torch.as_tensor(list(flip_indices), dtype=torch.long, device=output.coords.device)
        coords = output.coords.index_select(1, index)
        shift = 1.0 / self.input_size[0] if self.flip_shift else 0.0
        x = 1.0 - shift - coords[..., 0]
        coords = torch.stack([x, coords[..., 1]], dim=-1)
        return RegressionOutput(coords=coords, scores=output.scores.index_select(1, index),
                                sigma=output.sigma.index_select(1, index))


def instance_score(bbox_scores: np.ndarray, keypoint_scores: np.ndarray, vis_thr: float | None = None) -> np.ndarray:
    """DistilPose Eq. 3: ``s_human = s_bbox * mean_k s_k``.

    Args:
        bbox_scores: (N,) detector scores.
        keypoint_scores: (N, K) keypoint confidences.
        vis_thr: if given, average only the scores above it (0 when none), as MMPose's COCO evaluator does with
            ``vis_thr=0.2``; None averages all K as Eq. 3 is written.
    Returns:
        (N,) instance scores.
    """
    bbox_scores = np.asarray(bbox_scores, np.float64).reshape(-1)
    s = np.asarray(keypoint_scores, np.float64).reshape(bbox_scores.shape[0], -1)
    if vis_thr is None:
        mean = s.mean(axis=1)
    else:
        keep = s > vis_thr
        mean = np.where(keep.any(1), (s * keep).sum(1) / np.maximum(keep.sum(1), 1), 0.0)
    return bbox_scores * mean
