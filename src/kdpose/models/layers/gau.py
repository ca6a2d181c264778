"""Gated Attention Unit (Hua et al. 2022, "Transformer Quality in Linear Time") as used by RTMPose's RTMCC head
(MMPose ``RTMCCBlock``, self-attention path, no relative position bias, no rotary encoding).

The whole block is three matmuls over all keypoints at once: ``uv`` projection, ``Q K^T`` / ``A V`` (batched)
and the output projection ``o``. Attention is ``relu(Q K^T / sqrt(s))^2`` *without* the paper's 1/n factor and
without softmax: this is what the released checkpoints were trained with.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .norm import Scale, ScaleNorm


class GAUBlock(nn.Module):
    """One GAU layer with a scaled residual: ``y = res_scale(x) + o(u * (A @ v))``.

    Parameter names follow MMPose (``gamma``, ``beta``, ``o``, ``uv``, ``ln``, ``res_scale``) and are registered
    in the same order, so ``state_dict()`` keys come out in MMPose's order.

    Args:
        dim: token dimension (256 in RTMPose); input and output dims are equal, so the shortcut is always used.
        attn_dim: ``s``, the shared query/key dimension (128).
        expansion_factor: ``e = dim * expansion_factor`` is the width of ``u`` and ``v`` (2 -> 512).
        dropout: dropout on the attention kernel (0 in RTMPose).

    Shapes: (B, K, dim) -> (B, K, dim).
    """

    def __init__(self, dim: int = 256, attn_dim: int = 128, expansion_factor: int = 2, dropout: float = 0.0):
        super().__init__()
        self.dim = dim
        self.attn_dim = attn_dim
        self.expanded = int(dim * expansion_factor)
        # per-head (query, key) scale and offset applied to the shared base projection
        self.gamma = nn.Parameter(torch.rand(2, attn_dim))
        self.beta = nn.Parameter(torch.rand(2, attn_dim))
        self.o = nn.Linear(self.expanded, dim, bias=False)
        self.uv = nn.Linear(dim, 2 * self.expanded + attn_dim, bias=False)
        self.ln = ScaleNorm(dim, eps=1e-5)
        self.res_scale = Scale(dim)
        self.act = nn.SiLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.uv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        uv = self.act(self.uv(self.ln(x)))                                       # (B, K, 2e + s)
        u, v, base = torch.split(uv, [self.expanded, self.expanded, self.attn_dim], dim=-1)
        qk = base.unsqueeze(2) * self.gamma + self.beta                           # (B, K, 2, s)
        q, k = qk.unbind(dim=2)                                                   # (B, K, s) each
        kernel = F.relu(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attn_dim)).square()  # (B, K, K)
        kernel = self.dropout(kernel)
        out = self.o(u * torch.matmul(kernel, v))                                 # (B, K, dim)
        return self.res_scale(shortcut) + out
