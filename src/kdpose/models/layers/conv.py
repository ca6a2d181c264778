"""Convolution building blocks with MMCV's attribute names, so that MMPose checkpoints load key for key.

``ConvModule`` = Conv2d (no bias) -> BatchNorm2d -> SiLU with the attributes ``conv``, ``bn`` and ``activate``
(the state_dict keys ``<prefix>.conv.weight``, ``<prefix>.bn.{weight,bias,running_mean,running_var,
num_batches_tracked}``). BatchNorm uses PyTorch's defaults (momentum 0.1, eps 1e-5): RTMPose configs build
SyncBN with default arguments, not the (0.03, 1e-3) defaults written in MMPose's CSPNeXt code.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvModule(nn.Module):
    """Conv2d -> BatchNorm2d -> activation (SiLU by default, ``act=False`` for none).

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H', W').
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, act: bool = True):
        super().__init__()
        # no conv bias: the BatchNorm right after it has its own shift
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activate = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise k x k ConvModule followed by a pointwise 1x1 ConvModule (MMCV names ``depthwise_conv`` and
    ``pointwise_conv``), both with BN and SiLU.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H', W').
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride, padding, groups=in_channels)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
