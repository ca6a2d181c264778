"""Convolution building blocks with MMCV's attribute names, so that MMPose checkpoints load key for key.

``ConvModule`` = Conv2d (no bias) -> BatchNorm2d -> SiLU with the attributes ``conv``, ``bn`` and ``activate``
(the state_dict keys ``<prefix>.conv.weight``, ``<prefix>.bn.{weight,bias,running_mean,running_var,
num_batches_tracked}``). BatchNorm uses PyTorch's defaults (momentum 0.1, eps 1e-5): RTMPose configs build
SyncBN with default arguments, not the (0.03, 1e-3) defaults written in MMPose's CSPNeXt code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SmallMapSafeConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, state_dict keys and export graph) that runs in fp32 under CPU bf16 autocast
    when its input map is smaller than its padding on a side.

    There whole rows (or columns) of kernel taps never meet an input pixel, so their weight gradient is zero, and
    oneDNN's bf16 weight-gradient convolution leaves them unwritten: whatever the memory held, often NaN. Measured
    with the RTMCC head's 7x7 conv (padding 3): NaN gradients in ~2 of 3 steps on a 2x2 map (a 64x64 input), none
    in 240 on 3x3 or 3x4 maps (96x128, where those taps come out exactly 0) or larger ones; 5x5 (padding 2): only on
    1-pixel maps; depthwise convs: never. The fp32 kernel writes every tap. Elsewhere (bigger maps, fp32, CUDA,
    export) this is the plain conv."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.padding if isinstance(self.padding, tuple) else (0, 0)  # ('same'/'valid': no pad)
        if (x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and self.padding_mode == "zeros"
                and (x.shape[-2] < pad_h or x.shape[-1] < pad_w)):
            bias = None if self.bias is None else self.bias.float()   # (the weights may be bf16: a bf16-cast model)
            with torch.autocast("cpu", enabled=False):
                return F.conv2d(x.float(), self.weight.float(), bias, self.stride, self.padding, self.dilation,
                                self.groups)
        return super().forward(x)


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
