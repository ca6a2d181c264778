"""ResNet (He et al., https://arxiv.org/abs/1512.03385) with MMPose/torchvision attribute names.

State-dict keys are those of MMPose's ``ResNet`` (``conv1``, ``bn1``, ``layer{1-4}.{i}.conv{1-3}``, ``bn{1-3}``,
``downsample.{0,1}``), so MMPose SimpleBaseline checkpoints load after stripping nothing but the ``backbone.``
prefix. The residual blocks are shared with HRNet and the TokenPose stemnet.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection. (B, in, H, W) -> (B, planes, H/stride, W/stride)."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, "pytorch" style) -> 1x1 with 4x expansion. (B, in, H, W) -> (B, 4 planes, H/s, W/s)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_res_layer(block: type[BasicBlock] | type[Bottleneck], in_channels: int, planes: int, num_blocks: int,
                   stride: int = 1) -> nn.Sequential:
    """A stage of residual blocks; the first block gets a 1x1 conv + BN shortcut when the shape changes."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    layers = [block(in_channels, planes, stride, downsample)]
    layers += [block(out_channels, planes) for _ in range(num_blocks - 1)]
    return nn.Sequential(*layers)


_DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
           101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}


class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 returning the feature maps of ``out_indices`` (0..3 = C2..C5, strides 4..32).

    Shapes: (B, 3, H, W) -> list of (B, C_i, H / s_i, W / s_i).
    """

    def __init__(self, depth: int = 50, out_indices: Sequence[int] = (3,)):
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
        block, counts = _DEPTHS[depth]
        self.out_indices = tuple(out_indices)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        self.feature_info = []
        for i, n in enumerate(counts):
            planes = 64 * 2 ** i
            layer = make_res_layer(block, channels, planes, n, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", layer)
            channels = planes * block.expansion
            self.feature_info.append({"channels": channels, "stride": 4 * 2 ** i})
        self.feature_info = [self.feature_info[i] for i in self.out_indices]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            if i in self.out_indices:
                outs.append(x)
        return outs


def init_weights(module: nn.Module, conv_std: float | None = None) -> None:
    """Conv: Kaiming normal (fan_out) or normal(std=conv_std) (HRNet / stemnet use 0.001); BN: weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if conv_std is None:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, std=conv_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
