"""Coordinate-regression losses (DeepPose / DistilPose task loss)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def smooth_l1_regression(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                         beta: float = 1.0) -> torch.Tensor:
    """MMPose's ``SmoothL1Loss`` with target weight: ``smooth_l1(pred * w, target * w)`` averaged over B*K*2.

    Args:
        pred: (B, K, 2) normalised coordinates.
        target: (B, K, 2) normalised ground truth.
        weight: (B, K) 1 for visible keypoints inside the input crop, else 0 (those are filtered out).
    """
    w = weight.to(pred.dtype)[..., None]
    return F.smooth_l1_loss(pred * w, target.to(pred.dtype) * w, beta=beta)


class RegressionLoss(nn.Module):
    """Task loss of regression models: ``(RegressionOutput, Batch) -> {"loss", "loss_reg"}``.

    Uses the codec target (normalised keypoints and in-image visibility weight).
    """

    def __init__(self, loss_weight: float = 1.0, beta: float = 1.0):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.beta = float(beta)

    def forward(self, output, batch) -> dict[str, torch.Tensor]:
        target = batch.target
        loss = self.loss_weight * smooth_l1_regression(output.coords, target.keypoints, target.weight, self.beta)
        return {"loss": loss, "loss_reg": loss.detach()}
