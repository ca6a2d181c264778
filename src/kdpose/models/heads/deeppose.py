"""DeepPose-style regression head (Toshev & Szegedy, https://arxiv.org/abs/1312.4659, as MMPose's
``DeepposeRegressionHead``): global average pooling + one Linear layer, here with DistilPose's five outputs per
keypoint so that the CNN student of DistilPose Table 6 can be trained with Simulated Heatmaps.
"""
from __future__ import annotations

import torch
from torch import nn

from ...codecs.regression import RegressionOutput
from .tokenreg import split_regression_channels


class DeepPoseHead(nn.Module):
    """Last feature map -> GAP -> ``fc`` Linear(C, K * 5) -> RegressionOutput.

    Shapes: feats[-1] (B, C, h, w) -> coords (B, K, 2) in (0, 1), scores (B, K), sigma (B, K, 2).
    """

    def __init__(self, in_channels: int, num_keypoints: int):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.fc = nn.Linear(in_channels, num_keypoints * 5)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: list[torch.Tensor]) -> RegressionOutput:
        pooled = feats[-1].mean(dim=(-2, -1))
        raw = self.fc(pooled).reshape(pooled.shape[0], self.num_keypoints, 5)
        return split_regression_channels(raw)
