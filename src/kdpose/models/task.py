"""The trainer's contract: a task module returns a dict of losses with key "loss" (see docs/design.md)."""
from __future__ import annotations

import torch
from torch import nn

from ..utils.progress import TrainProgress


class PoseTask(nn.Module):
    """Plain supervised training of ``model``: forward the batch, apply the model's own task loss."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        output = self.model(batch.inputs)
        losses = self.model.loss_fn(output, batch)
        if "loss" not in losses:
            raise KeyError("loss_fn must return a dict with key 'loss'")
        return losses
