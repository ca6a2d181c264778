"""Model size and compute: parameter count and FLOPs / MACs of one forward pass.

FLOPs come from ``torch.utils.flop_counter`` (which counts matmul / conv / attention ops and reports
2 FLOPs per multiply-accumulate). Papers (RTMPose, MMPose model zoo) print "FLOPs" that are really MACs
(mmengine/fvcore convention), so both numbers are reported and labelled.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Compute:
    """Compute of one forward pass at batch size 1."""

    params: int            # number of parameters
    flops: int             # floating-point operations (2 per multiply-accumulate)
    input_size: tuple[int, int]

    @property
    def macs(self) -> int:
        """Multiply-accumulates: what papers call "FLOPs"."""
        return self.flops // 2

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: tuple[int, int] | None = None, in_channels: int | None = None) -> Compute:
    """FLOPs of ``model`` on one (1, C, H, W) input, counted by ``torch.utils.flop_counter`` in eval mode.

    Args:
        input_size: (w, h); default ``model.input_size``.
        in_channels: default ``model.in_channels`` or 3.
    """
    from torch.utils.flop_counter import FlopCounterMode

    w, h = input_size or model.input_size
    c = in_channels or int(getattr(model, "in_channels", 3))
    x = torch.zeros(1, c, int(h), int(w))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return Compute(params=count_params(model), flops=int(counter.get_total_flops()), input_size=(int(w), int(h)))
