"""Parameter-light normalisation and scaling layers used by the RTMCC head (MMPose ``ScaleNorm`` / ``Scale``)."""
from __future__ import annotations

import torch
from torch import nn


class ScaleNorm(nn.Module):
    """ScaleNorm (Nguyen & Salazar 2019): ``y = x / max(||x||_2 / sqrt(d), eps) * g`` over the last dimension.

    One learned scalar ``g`` (shape [1], init 1), as in MMPose, so the key is ``<prefix>.g``.
    Shapes: (..., dim) -> (..., dim).
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim ** -0.5  # a plain float, not a buffer: MMPose checkpoints do not store it
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Learned per-channel scale on the last dimension (key ``<prefix>.scale``, shape [dim]).

    Shapes: (..., dim) -> (..., dim).
    """

    def __init__(self, dim: int, init_value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale
