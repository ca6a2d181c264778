"""Intermediate supervision of the pose machines (paper Eq. 3-5): per-stage L2 on confidence maps and PAFs.

L_PM = sum_s ( sum_p W(p) ||H_s(p) - H*(p)||^2 + sum_p W(p) ||V_s(p) - V*(p)||^2 ), summed over channels and map
cells, divided by the batch size (a per-image sum, as the paper's Eq.; Osokin additionally halves it).
The same function serves the teacher term of stagewise distillation (targets = teacher maps).
"""
from __future__ import annotations

import torch
from torch import nn


def stage_l2(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-stage masked squared error.

    Args:
        pred: (B, S, C, h, w) stage predictions.
        target: (B, C, h, w) one target for every stage, or (B, S, C, h, w) one per stage.
        weight: optional (B, 1, h, w) loss mask.
    Returns:
        (S,) sum over channels and cells of W * (pred - target)^2, divided by B.
    """
    if target.dim() == 4:
        target = target[:, None]
    err = (pred - target).pow(2)
    if weight is not None:
        err = err * weight[:, None]
    return err.sum(dim=(0, 2, 3, 4)) / pred.shape[0]


class PoseMachineLoss(nn.Module):
    """``(PafOutput, batch) -> {"loss", "loss_heatmap", "loss_paf"}`` with ``batch.target`` a batched PafTarget."""

    def forward(self, output, batch) -> dict[str, torch.Tensor]:
        target = batch.target
        heat = stage_l2(output.heatmaps, target.heatmaps, target.weight).sum()
        paf = stage_l2(output.pafs, target.pafs, target.weight).sum()
        return {"loss": heat + paf, "loss_heatmap": heat.detach(), "loss_paf": paf.detach()}
