"""HRNet (Sun et al., https://arxiv.org/abs/1902.09212) and TokenPose's stemnet, with MMPose attribute names.

State-dict keys match MMPose's ``HRNet`` (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1``,
``transition{1-3}.{i}``, ``stage{2-4}.{m}.branches.{b}.{n}.conv1``, ``stage{s}.{m}.fuse_layers.{i}.{j}``), so official
MMPose HRNet top-down checkpoints load key for key. ``num_stages=3`` is the "HRNet stage-3" feature extractor of
TokenPose-B/L and DistilPose-L (the last stage-3 module fuses only into the highest-resolution branch).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import BasicBlock, Bottleneck, conv3x3, init_weights, make_res_layer


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
                               nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """One multi-resolution module: parallel branches of BasicBlocks, then exchange (fuse) between resolutions.

    Shapes: list of (B, C_i, H / 2^i, W / 2^i) -> the same list (or only branch 0 if not ``multiscale_output``).
    """

    def __init__(self, in_channels: Sequence[int], num_channels: Sequence[int], num_blocks: Sequence[int],
                 multiscale_output: bool = True):
        super().__init__()
        self.num_branches = len(num_channels)
        self.branches = nn.ModuleList(
            make_res_layer(BasicBlock, in_channels[b], num_channels[b], num_blocks[b])
            for b in range(self.num_branches))
        channels = list(num_channels)
        n_out = self.num_branches if multiscale_output else 1
        fuse_layers = []
        for i in range(n_out if self.num_branches > 1 else 0):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:  # lower resolution -> 1x1 conv + BN, upsampled in forward
                    row.append(_conv_bn(channels[j], channels[i], 1, relu=False))
                elif j == i:
                    row.append(None)
                else:  # higher resolution -> (i - j) strided 3x3 convs
                    steps = [_conv_bn(channels[j], channels[i] if k == i - j - 1 else channels[j], 3, 2,
                                      relu=k != i - j - 1) for k in range(i - j)]
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = channels[:n_out]

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.num_branches == 1:
            return xs
        outs = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                z = layer(xs[j])
                if j > i:  # nearest upsampling to the target resolution (MMPose: Upsample(scale 2^(j-i)))
                    z = F.interpolate(z, size=y.shape[-2:], mode="nearest")
                y = y + z
            outs.append(self.relu(y))
        return outs


def _transition(pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Adapt channels of existing branches and create new lower-resolution branches from the last one."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], c, 3) if c != pre[i] else None)
        else:
            n = i + 1 - len(pre)
            layers.append(nn.Sequential(*[_conv_bn(pre[-1], c if k == n - 1 else pre[-1], 3, 2) for k in range(n)]))
    return nn.ModuleList(layers)


# (num_modules, num_blocks per branch) of stages 2..4 in every HRNet-W* pose model
_STAGES = ((1, 4), (4, 4), (3, 4))


class HRNet(nn.Module):
    """HRNet-W``width`` with ``num_stages`` (4 = the full pose backbone, 3 = TokenPose's stage-3 feature).

    Args:
        width: channels of the highest-resolution branch (32, 48).
        num_stages: 3 or 4.
        layer1_planes: Bottleneck planes of stage 1 (64; SDPose's W32 stage-3 configs use 32).
    Shapes: (B, 3, H, W) -> [(B, width, H / 4, W / 4)].
    """

    def __init__(self, width: int = 32, num_stages: int = 4, layer1_planes: int = 64):
        super().__init__()
        if num_stages not in (3, 4):
            raise ValueError(f"HRNet num_stages must be 3 or 4, got {num_stages}")
        self.conv1 = conv3x3(3, 64, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = conv3x3(64, 64, 2)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(Bottleneck, 64, layer1_planes, 4)
        pre = [layer1_planes * Bottleneck.expansion]
        self.num_stages = num_stages
        for s in range(2, num_stages + 1):
            cur = [width * 2 ** b for b in range(s)]
            self.add_module(f"transition{s - 1}", _transition(pre, cur))
            num_modules, blocks = _STAGES[s - 2]
            modules = []
            for m in range(num_modules):
                last = s == num_stages and m == num_modules - 1
                module = HRModule(cur, cur, [blocks] * s, multiscale_output=not last)
                modules.append(module)
            self.add_module(f"stage{s}", nn.Sequential(*modules))
            pre = cur
        self.feature_info = [{"channels": width, "stride": 4}]
        init_weights(self, conv_std=0.001)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for s in range(2, self.num_stages + 1):
            transition = getattr(self, f"transition{s - 1}")
            xs = []
            for i, layer in enumerate(transition):
                src = ys[i] if i < len(ys) else ys[-1]
                xs.append(src if layer is None else layer(src))
            ys = getattr(self, f"stage{s}")(xs)
        return [ys[0]]


class StemNet(nn.Module):
    """TokenPose's stemnet: two strided 3x3 conv+BN+ReLU (3 -> 64 -> 64) and four Bottlenecks (-> 256 channels).

    Keys ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1`` as DistilPose's ``stemnet``.
    Shapes: (B, 3, H, W) -> [(B, 256, H / 4, W / 4)].
    """

    def __init__(self, planes: int = 64):
        super().__init__()
        self.conv1 = conv3x3(3, 64, 2)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = conv3x3(64, 64, 2)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(Bottleneck, 64, planes, 4)
        self.feature_info = [{"channels": planes * Bottleneck.expansion, "stride": 4}]
        init_weights(self, conv_std=0.001)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        return [self.layer1(x)]
