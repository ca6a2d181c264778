"""DistilPose's TokenReg head (Ye et al., https://arxiv.org/abs/2303.02455): the TokenPose encoder (Token-distilling
Encoder) followed by a per-keypoint-token regressor predicting (x, y), confidence s_k and (sigma_x, sigma_y).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...codecs.regression import RegressionOutput
from .tokenpose import TokenHeadBase, Tokens


def split_regression_channels(raw: torch.Tensor) -> RegressionOutput:
    """(B, K, 5) raw outputs -> RegressionOutput, DistilPose's ``out_mode='all'`` layout:
    ``[0:2]`` sigmoid -> (x, y) normalised by the input size; ``[2]`` raw confidence;
    ``[3:5]`` softplus -> (sigma_x, sigma_y) in heatmap pixels."""
    return RegressionOutput(coords=raw[..., 0:2].sigmoid(), scores=raw[..., 2], sigma=F.softplus(raw[..., 3:5]))


class TokenRegHead(TokenHeadBase):
    """Tokens -> per-keypoint ``LN(d) -> [MLP] -> Linear(., 5)``.

    Args:
        hidden_dim: DistilPose's config (64) gives no hidden MLP for d = 192 (built only if d <= hidden / 2);
            None = no hidden layer.
    Shapes: feats[-1] (B, C, h, w) -> RegressionOutput(coords (B, K, 2), scores (B, K), sigma (B, K, 2)).
    Subclasses change only the output layout: ``out_channels`` and ``split`` (raw (B, K, C) -> RegressionOutput).
    """

    out_channels = 5
    split = staticmethod(split_regression_channels)

    def __init__(self, in_channels: int, feature_size: Sequence[int], patch_size: Sequence[int],
                 num_keypoints: int, dim: int = 192, group_depths: Sequence[int] = (12,), heads: int = 8,
                 mlp_ratio: float = 3.0, scale_with_head: bool = True, hidden_dim: int | None = 64):
        super().__init__(in_channels, feature_size, patch_size, num_keypoints, dim, group_depths, heads, mlp_ratio,
                         scale_with_head)
        d = self.keypoint_dim
        if hidden_dim is not None and d <= hidden_dim * 0.5:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden_dim), nn.LayerNorm(hidden_dim),
                                          nn.Linear(hidden_dim, self.out_channels))
        else:
            self.mlp_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, self.out_channels))
        self.init_weights()

    def forward_from_tokens(self, tokens: Tokens) -> RegressionOutput:
        return self.split(self.mlp_head(tokens.keypoint))

    def forward(self, feats: list[torch.Tensor]) -> RegressionOutput:
        return self.forward_from_tokens(self.forward_tokens(feats))
