"""Heatmap losses: JointsMSE with per-keypoint target weights (Simple Baselines / HRNet / TokenPose)."""
from __future__ import annotations

import torch
from torch import nn


def joints_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """MMPose's ``JointsMSELoss``: mean over keypoints of the MSE of the weighted heatmaps (no 0.5 factor).

    Args:
        pred: (B, K, H, W) predicted heatmaps.
        target: (B, K, H, W) target heatmaps.
        weight: (B, K) per-sample, per-keypoint weights (None = all 1).
    Returns:
        scalar loss ``mean_{b,k,h,w} (w_bk * (pred - target))^2``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"heatmap shapes differ: prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
    diff = pred - target
    if weight is not None:
        diff = diff * weight.to(diff.dtype)[..., None, None]
    return diff.pow(2).mean()


class HeatmapLoss(nn.Module):
    """Task loss of heatmap models: ``(HeatmapOutput, Batch) -> {"loss", "loss_heatmap"}``.

    Args:
        loss_weight: multiplier of the JointsMSE term.
        use_target_weight: weight each keypoint by the codec target's weight (0 for unlabelled keypoints).
    """

    def __init__(self, loss_weight: float = 1.0, use_target_weight: bool = True):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.use_target_weight = use_target_weight

    def forward(self, output, batch) -> dict[str, torch.Tensor]:
        target = batch.target
        weight = target.weight if self.use_target_weight else None
        loss = self.loss_weight * joints_mse(output.heatmaps, target.heatmaps.to(output.heatmaps.dtype), weight)
        return {"loss": loss, "loss_heatmap": loss.detach()}
