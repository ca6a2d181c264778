"""CSP building blocks of CSPNeXt (MMDetection / MMPose names): ``CSPNeXtBlock``, ``ChannelAttention``,
``CSPLayer`` and ``SPPBottleneck``. Attribute names and registration order reproduce MMPose's state_dict keys."""
from __future__ import annotations

import torch
from torch import nn

from .conv import ConvModule, DepthwiseSeparableConvModule


class CSPNeXtBlock(nn.Module):
    """3x3 ConvModule then a 5x5 depthwise-separable ConvModule, with an optional residual.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, add_identity: bool = True, kernel_size: int = 5):
        super().__init__()
        self.conv1 = ConvModule(channels, channels, 3, padding=1)
        self.conv2 = DepthwiseSeparableConvModule(channels, channels, kernel_size, padding=kernel_size // 2)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return x + out if self.add_identity else out


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation without reduction: ``x * hardsigmoid(fc(avgpool(x)))``.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the pooled mean is taken in fp32 (as MMPose does under autocast) to avoid fp16 overflow on big maps
        pooled = self.global_avgpool(x.float()).to(x.dtype)
        return x * self.act(self.fc(pooled))


class CSPLayer(nn.Module):
    """Cross-stage-partial layer: ``final_conv(attention(cat(blocks(main_conv(x)), short_conv(x))))``.

    Args:
        in_channels / out_channels: C_in, C_out.
        num_blocks: number of CSPNeXtBlocks on the main path.
        add_identity: residual inside the blocks (stages 1-3 yes, stage 4 no).
        expand_ratio: hidden width = int(C_out * expand_ratio).
        channel_attention: add the ChannelAttention on the concatenation (True in RTMPose).

    Shapes: (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, add_identity: bool = True,
                 expand_ratio: float = 0.5, channel_attention: bool = True):
        super().__init__()
        mid = int(out_channels * expand_ratio)
        # registration order = MMPose's state_dict order: main_conv, short_conv, final_conv, blocks, attention
        self.main_conv = ConvModule(in_channels, mid, 1)
        self.short_conv = ConvModule(in_channels, mid, 1)
        self.final_conv = ConvModule(2 * mid, out_channels, 1)
        self.blocks = nn.Sequential(*[CSPNeXtBlock(mid, add_identity) for _ in range(num_blocks)])
        self.attention = ChannelAttention(2 * mid) if channel_attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.blocks(self.main_conv(x)), self.short_conv(x)], dim=1)
        return self.final_conv(self.attention(out))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: 1x1 reduce to C/2, concat with stride-1 max pools (k = 5, 9, 13), 1x1 to C_out.

    Shapes: (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        mid = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid, 1)
        self.poolings = nn.ModuleList([nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes])
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))
