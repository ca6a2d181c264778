"""SimCC codec (Li et al. 2022, https://arxiv.org/abs/2107.03332) as configured by RTMPose: each keypoint
coordinate is a classification over ``split_ratio`` sub-pixel bins per input pixel, with Gaussian soft labels.

Encode (numpy, one instance) follows MMPose's ``SimCCLabel`` (gaussian smoothing, ``normalize=False``); decode
(torch, batched, export-friendly) takes the arg-max of the raw logits with score = the lower of the two maxima.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from kdpose.utils.gaussian import opencv_gaussian_kernel


class SimCCOutput(NamedTuple):
    """Raw SimCC logits. ``x``: (B, K, Wx) with Wx = round(w * split_ratio); ``y``: (B, K, Wy)."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass
class SimCCTarget:
    """SimCC training target: numpy arrays for one instance, or batched tensors after collation.

    Attributes:
        x_labels: (K, Wx) unnormalised Gaussian labels (peak 1) on the x bins ((B, K, Wx) batched).
        y_labels: (K, Wy) the same on the y bins.
        weights: (K,) per-keypoint loss weight (the visibility; 0 when unlabelled or far outside the crop).
    """

    x_labels: np.ndarray | torch.Tensor
    y_labels: np.ndarray | torch.Tensor
    weights: np.ndarray | torch.Tensor


def default_sigma(input_size: tuple[int, int], split_ratio: float = 2.0) -> tuple[float, float]:
    """RTMPose's sigma rule sqrt(bins / 16) per axis, rounded to 2 decimals as in the released configs:
    (192, 256) -> (4.9, 5.66); (288, 384) -> (6.0, 6.93); (256, 256) -> (5.66, 5.66)."""
    w, h = input_size
    return (round(math.sqrt(round(w * split_ratio) / 16), 2), round(math.sqrt(round(h * split_ratio) / 16), 2))


class SimCCCodec:
    """Keypoints <-> SimCC soft labels / logits.

    Args:
        input_size: model input (w, h) in pixels.
        sigma: Gaussian sigma in bins, (sigma_x, sigma_y) or one float; ``None`` -> :func:`default_sigma`.
        split_ratio: bins per input pixel (2.0 in RTMPose).
        use_dark: refine the arg-max with DARK-style sub-bin Taylor expansion at decode (off in RTMPose).
    """

    def __init__(self, input_size: tuple[int, int], sigma: float | Sequence[float] | None = None,
                 split_ratio: float = 2.0, use_dark: bool = False):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if sigma is None:
            sigma = default_sigma(self.input_size, split_ratio)
        elif isinstance(sigma, (int, float)):
            sigma = (float(sigma), float(sigma))
        self.sigma = (float(sigma[0]), float(sigma[1]))
        self.split_ratio = float(split_ratio)
        self.use_dark = bool(use_dark)

    @property
    def num_bins(self) -> tuple[int, int]:
        """(Wx, Wy): number of x and y bins."""
        return (int(round(self.input_size[0] * self.split_ratio)), int(round(self.input_size[1] * self.split_ratio)))

    def params(self) -> dict:
        """The codec parameters as plain data (written into exported files and weight metadata)."""
        return {"type": "simcc", "input_size": list(self.input_size), "sigma": list(self.sigma),
                "split_ratio": self.split_ratio, "use_dark": self.use_dark}

    def __repr__(self) -> str:
        return (f"SimCCCodec(input_size={self.input_size}, sigma={self.sigma}, split_ratio={self.split_ratio}, "
                f"use_dark={self.use_dark})")

    # ------------------------------------------------------------------ encode (numpy, data pipeline)
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> SimCCTarget:
        """Gaussian soft labels for one instance.

        Args:
            keypoints: (K, 2) keypoints in input-crop pixels.
            visible: (K,) visibility in [0, 1].
        Returns:
            SimCCTarget with float32 (K, Wx), (K, Wy) labels and (K,) weights.
        """
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)
        weights = np.asarray(visible, dtype=np.float32).reshape(-1).copy()
        if weights.shape[0] != keypoints.shape[0]:
            raise ValueError(f"keypoints (K={keypoints.shape[0]}) and visible (K={weights.shape[0]}) disagree")
        wx, wy = self.num_bins
        sx, sy = self.sigma
        mu = np.around(keypoints * self.split_ratio).astype(np.int64)  # (K, 2) bin of each keypoint
        # keypoints whose 3-sigma support lies entirely outside the bins get no label and no weight
        outside = ((mu[:, 0] - 3 * sx >= wx) | (mu[:, 1] - 3 * sy >= wy)
                   | (mu[:, 0] + 3 * sx + 1 < 0) | (mu[:, 1] + 3 * sy + 1 < 0))
        labelled = weights >= 0.5
        weights[labelled & outside] = 0.0
        keep = (labelled & ~outside).astype(np.float32)[:, None]
        bx = np.arange(wx, dtype=np.float32)
        by = np.arange(wy, dtype=np.float32)
        x_labels = np.exp(-((bx[None] - mu[:, :1]) ** 2) / (2 * sx ** 2)) * keep
        y_labels = np.exp(-((by[None] - mu[:, 1:]) ** 2) / (2 * sy ** 2)) * keep
        return SimCCTarget(x_labels.astype(np.float32), y_labels.astype(np.float32), weights)

    # ------------------------------------------------------------------ decode (torch, batched)
    def decode(self, output: SimCCOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits -> keypoints and scores.

        Args:
            output: SimCCOutput with x (B, K, Wx) and y (B, K, Wy) raw logits (no softmax).
        Returns:
            keypoints (B, K, 2) in input-crop pixels and scores (B, K) = min(max_x, max_y). Where the score is
            <= 0 the keypoint is ``-1 / split_ratio`` (-0.5 at ratio 2): MMPose marks the bin as -1 before dividing
            by the split ratio, and kdpose keeps that convention so decoded files compare equal.
        """
        x, y = output.x, output.y
        max_x, idx_x = x.max(dim=-1)
        max_y, idx_y = y.max(dim=-1)
        scores = torch.minimum(max_x, max_y)
        locs = torch.stack([idx_x, idx_y], dim=-1).to(x.dtype)
        if self.use_dark:
            locs = torch.stack([_refine_dark_1d(x, idx_x, self.sigma[0]),
                                _refine_dark_1d(y, idx_y, self.sigma[1])], dim=-1)
        keypoints = locs / self.split_ratio
        invalid = torch.full_like(keypoints, -1.0 / self.split_ratio)  # MMPose: bin -1, then / split_ratio
        keypoints = torch.where((scores <= 0).unsqueeze(-1), invalid, keypoints)
        return keypoints, scores

    def unflip(self, output: SimCCOutput, flip_indices: Sequence[int]) -> SimCCOutput:
        """Map the output of a horizontally flipped input back to the original frame: swap left/right keypoint
        channels and reverse the x bins (no sub-bin shift, as MMPose). Shapes are kept."""
        index = torch.as_tensor(list(flip_indices), dtype=torch.long, device=output.x.device)
        return SimCCOutput(output.x.index_select(1, index).flip(-1), output.y.index_select(1, index))


def _refine_dark_1d(logits: torch.Tensor, idx: torch.Tensor, sigma: float) -> torch.Tensor:
    """DARK sub-bin refinement on 1-D SimCC logits (MMPose ``refine_simcc_dark``).

    Blur with a Gaussian (zero padding) rescaled to the original maximum, clip to [1e-3, 50], take the log, and
    move the arg-max by the Newton step ``-d1 / d2`` of central differences (step 1 for d1, 2 for d2).

    Args:
        logits: (B, K, W); idx: (B, K) arg-max bins. Returns (B, K) refined bin positions.
    """
    b, k, w = logits.shape
    size = int((20 * sigma - 7) // 3)
    size -= 1 - size % 2  # make it odd
    kernel = torch.as_tensor(opencv_gaussian_kernel(size), dtype=logits.dtype, device=logits.device)
    rows = logits.reshape(b * k, 1, w)
    blurred = F.conv1d(rows, kernel.view(1, 1, -1), padding=size // 2)
    blurred = blurred * (rows.amax(-1, keepdim=True) / blurred.amax(-1, keepdim=True))
    logd = F.pad(blurred.clamp(1e-3, 50.0).log(), (2, 2), mode="replicate").reshape(b, k, w + 4)
    p = idx.unsqueeze(-1) + 2  # positions in the padded rows
    d = [logd.gather(-1, p + s).squeeze(-1) for s in (-2, -1, 0, 1, 2)]
    dx = 0.5 * (d[3] - d[1])
    dxx = 1e-9 + 0.25 * (d[4] - 2 * d[2] + d[0])
    return idx.to(logits.dtype) - dx / dxx
