"""TokenReg head with RLE outputs (SDPose-Reg, Chen et al., CVPR 2024): per keypoint token
``LN(d) -> [MLP] -> Linear(., 4)`` = (x, y, sigma_logit_x, sigma_logit_y).

What the released SDPose code intends for ``RLESDPose_base`` (spec 3.4): coordinates are raw (no sigmoid) in units of
the input size (x / w, y / h), the scales are ``sigmoid(logit)`` in the same normalised units (MMPose ``RLELoss``
applies the sigmoid itself; here the head does it so that the output is the same in training and deployment), and
the keypoint score is ``mean_xy(1 - sigma)`` (MMPose's RLE test-time score).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...codecs.regression import RegressionOutput
from .tokenpose import TokenHeadBase, Tokens


def split_rle_channels(raw: torch.Tensor) -> RegressionOutput:
    """(B, K, 4) raw outputs -> RegressionOutput(coords (B, K, 2) raw, scores (B, K) = mean(1 - sigma),
    sigma (B, K, 2) = sigmoid(logits), normalised units)."""
    sigma = raw[..., 2:4].sigmoid()
    return RegressionOutput(coords=raw[..., 0:2], scores=(1 - sigma).mean(dim=-1), sigma=sigma)


class RLETokenRegHead(TokenHeadBase):
    """Tokens -> per-keypoint ``LN(d) -> [MLP] -> Linear(., 4)`` -> :func:`split_rle_channels`.

    Args:
        hidden_dim: as TokenReg, a hidden layer only when ``d <= hidden_dim / 2`` (never for DistilPose's 64 and
            d = 192); None = no hidden layer.
    Shapes: feats[-1] (B, C, h, w) -> RegressionOutput(coords (B, K, 2), scores (B, K), sigma (B, K, 2)).
    """

    def __init__(self, in_channels: int, feature_size: Sequence[int], patch_size: Sequence[int],
                 num_keypoints: int, dim: int = 192, group_depths: Sequence[int] = (12,), heads: int = 8,
                 mlp_ratio: float = 3.0, scale_with_head: bool = True, hidden_dim: int | None = 64):
        super().__init__(in_channels, feature_size, patch_size, num_keypoints, dim, group_depths, heads, mlp_ratio,
                         scale_with_head)
        d = self.keypoint_dim
        if hidden_dim is not None and d <= hidden_dim * 0.5:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden_dim), nn.LayerNorm(hidden_dim),
                                          nn.Linear(hidden_dim, 4))
        else:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4))
        self.init_weights()

    def forward_from_tokens(self, tokens: Tokens) -> RegressionOutput:
        return split_rle_channels(self.mlp_head(tokens.keypoint))

    def forward(self, feats: list[torch.Tensor]) -> RegressionOutput:
        return self.forward_from_tokens(self.forward_tokens(feats))
