"""Layers of the depth pose machines (Martinez-Gonzalez et al., TCSVT 2019): residual, Fire and depthwise blocks,
the four stride-8 feature extractors (CPM/VGG, RPM, SPM, MPM) and the per-branch stage trunks.

Layer sizes follow the authors' code (Idiap's depth pose machines: the RPM, SqueezeNet and MobileNet feature
extractors; docs/pose_machines.md, "Models"), checked against the paper's Table I parameter counts in tests.
Activations are ReLU; residual blocks apply BN then ReLU *after* the sum (paper Fig. 5a).
Shapes: every extractor maps (B, C_in, H, W) -> (B, width, ceil-or-floor(H/8), ...) (see ``feature_size``).
"""
from __future__ import annotations

import torch
from torch import nn

from .conv import SmallMapSafeConv2d


def conv_relu(cin: int, cout: int, k: int) -> list[nn.Module]:
    """Biased 'same' conv + ReLU (the un-normalised layers of the RPM / CPM stages; their 7x7 convs meet maps
    smaller than their padding for inputs under 24 px, hence the bf16-safe conv)."""
    return [SmallMapSafeConv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True)]


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, bias: bool = True, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (identity, or a 1x1 conv when the width changes), then BN-ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout))
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.post = nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.body(x) + self.shortcut(x))


class Fire(nn.Module):
    """SqueezeNet Fire module with BN: squeeze 1x1 -> (expand 1x1 || expand 3x3), each conv + BN + ReLU.
    Output channels = expand1 + expand3."""

    def __init__(self, cin: int, squeeze: int, expand1: int, expand3: int):
        super().__init__()
        self.squeeze = conv_bn_relu(cin, squeeze, 1)
        self.expand1 = conv_bn_relu(squeeze, expand1, 1)
        self.expand3 = conv_bn_relu(squeeze, expand3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.expand1(s), self.expand3(s)], 1)


class ResFire(nn.Module):
    """Fire + identity shortcut, then BN-ReLU (width preserved)."""

    def __init__(self, width: int, squeeze: int):
        super().__init__()
        self.fire = Fire(width, squeeze, width // 2, width - width // 2)
        self.post = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.fire(x) + x)


class DepthwiseBlock(nn.Module):
    """MobileNet unit: depthwise 3x3 (stride s) + BN + ReLU, pointwise 1x1 + BN + ReLU; no conv bias."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, 3, stride, bias=False, groups=cin)
        self.pointwise = conv_bn_relu(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResDepthwise(nn.Module):
    """DepthwiseBlock + identity shortcut, then BN-ReLU (width preserved, stride 1)."""

    def __init__(self, width: int):
        super().__init__()
        self.block = DepthwiseBlock(width, width)
        self.post = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.block(x) + x)


# ---------------------------------------------------------------- feature extractors (stride 8)
def rpm_extractor(in_channels: int, width: int) -> nn.Sequential:
    """RPM: conv7x7 -> 128 + BN + ReLU, pool, Res(128->w), Res(w), pool, Res(w), pool, conv1x1 (3 avg pools)."""
    return nn.Sequential(conv_bn_relu(in_channels, 128, 7), nn.AvgPool2d(2), ResidualBlock(128, width),
                         ResidualBlock(width, width), nn.AvgPool2d(2), ResidualBlock(width, width), nn.AvgPool2d(2),
                         nn.Conv2d(width, width, 1))


def spm_extractor(in_channels: int, width: int) -> nn.Sequential:
    """SPM: conv7x7 + BN + ReLU, pool, 7 Fire modules (3 residual) with 2 more pools, conv1x1 + BN + ReLU.
    Fire sizes (squeeze w/4, expands w/2 + w/2) give (64, 16, 32, 32) at the paper's width 64."""
    sq = max(1, width // 4)

    def fire() -> Fire:
        return Fire(width, sq, width // 2, width - width // 2)

    return nn.Sequential(
        conv_bn_relu(in_channels, width, 7), nn.AvgPool2d(2),
        fire(), ResFire(width, sq), fire(), nn.AvgPool2d(2),
        ResFire(width, sq), fire(), ResFire(width, sq), fire(), nn.AvgPool2d(2),
        conv_bn_relu(width, width, 1))


def mpm_extractor(in_channels: int, width: int) -> nn.Sequential:
    """MPM: conv7x7/2 -> w/2 (no bias) + BN + ReLU, then 8 depthwise units, 3 residual, strided (/2) twice."""
    half = max(1, width // 2)
    return nn.Sequential(
        conv_bn_relu(in_channels, half, 7, stride=2, bias=False), DepthwiseBlock(half, width),
        ResDepthwise(width), DepthwiseBlock(width, width, 2), ResDepthwise(width), DepthwiseBlock(width, width),
        ResDepthwise(width), DepthwiseBlock(width, width, 2), DepthwiseBlock(width, width))


class VGGExtractor(nn.Module):
    """CPM / OpenPose baseline extractor: the first 10 conv layers of VGG-19 (3 max pools) + conv4_3_CPM (256)
    + conv4_4_CPM (width). A 1-channel depth input is repeated 3 times, as the paper does for VGG."""

    def __init__(self, in_channels: int, width: int = 128):
        super().__init__()
        self.repeat = 3 if in_channels == 1 else 1
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 256, width]
        layers: list[nn.Module] = []
        c = in_channels * self.repeat
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += conv_relu(c, int(v), 3)
                c = int(v)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat > 1:
            x = x.repeat(1, self.repeat, 1, 1)
        return self.layers(x)


# ---------------------------------------------------------------- stage trunks (one per branch)
def stage_branch(kind: str, cin: int, width: int, cout: int, first: bool) -> nn.Sequential:
    """One branch of one prediction stage, (B, cin, h, w) -> (B, cout, h, w), linear output.

    rpm: first 3x conv3x3, later 5x conv7x7 (+ReLU); cpm: the same with OpenPose's 512-wide 1x1 in stage 1;
    spm: 5 Fire modules (squeeze 0.75 w); mpm: 5 depthwise units; every kind ends with conv1x1 + ReLU, conv1x1.
    """
    layers: list[nn.Module] = []
    hidden = width
    if kind in ("rpm", "cpm"):
        n, k = (3, 3) if first else (5, 7)
        c = cin
        for _ in range(n):
            layers += conv_relu(c, width, k)
            c = width
        if kind == "cpm" and first:
            hidden = 512
    elif kind == "spm":
        sq = int(0.75 * width)
        layers += [Fire(cin, sq, width // 2, width - width // 2)]
        layers += [Fire(width, sq, width // 2, width - width // 2) for _ in range(4)]
    elif kind == "mpm":
        layers += [DepthwiseBlock(cin, width)] + [DepthwiseBlock(width, width) for _ in range(4)]
    else:
        raise ValueError(f"unknown pose machine stage kind '{kind}' (expected cpm, rpm, spm or mpm)")
    layers += conv_relu(width, hidden, 1)
    layers.append(nn.Conv2d(hidden, cout, 1))
    return nn.Sequential(*layers)
