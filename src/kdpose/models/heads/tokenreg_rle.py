"""TokenReg head with RLE outputs (SDPose-Reg, Chen et al., CVPR 2024): per keypoint token
``LN(d) -> [MLP] -> Linear(., 4)`` = (x, y, sigma_logit_x, sigma_logit_y).

What the released SDPose code intends for ``RLESDPose_base`` (spec 3.4): coordinates are raw (no sigmoid) in units of
the input size (x / w, y / h), the scales are ``sigmoid(logit)`` in the same normalised units (MMPose ``RLELoss``
applies the sigmoid itself; here the head does it so that the output is the same in training and deployment), and
the keypoint score is ``mean_xy(1 - sigma)`` (MMPose's RLE test-time score).
"""
from __future__ import annotations

import torch

from ...codecs.regression import RegressionOutput
from .tokenreg import TokenRegHead


def split_rle_channels(raw: torch.Tensor) -> RegressionOutput:
    """(B, K, 4) raw outputs -> RegressionOutput(coords (B, K, 2) raw, scores (B, K) = mean(1 - sigma),
    sigma (B, K, 2) = sigmoid(logits), normalised units)."""
    sigma = raw[..., 2:4].sigmoid()
    return RegressionOutput(coords=raw[..., 0:2], scores=(1 - sigma).mean(dim=-1), sigma=sigma)


class RLETokenRegHead(TokenRegHead):
    """TokenReg with ``Linear(., 4)`` outputs split by :func:`split_rle_channels` (same layers and key names).

    Shapes: feats[-1] (B, C, h, w) -> RegressionOutput(coords (B, K, 2), scores (B, K), sigma (B, K, 2)).
    """

    out_channels = 4
    split = staticmethod(split_rle_channels)
