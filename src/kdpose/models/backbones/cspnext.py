"""CSPNeXt backbone (RTMDet / RTMPose; Lyu et al. 2022, https://arxiv.org/abs/2212.07784), P5 architecture.

Module names reproduce MMDetection's ``CSPNeXt`` (which the RTMPose configs build), so official checkpoints load
key for key: ``stem.{0,1,2}``, ``stage{1..4}.0`` (stride-2 conv), ``stage4.1`` (SPP), ``stage{1..3}.1`` /
``stage4.2`` (CSP layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..layers import ConvModule, CSPLayer, SPPBottleneck

# P5 rows: (in_channels, out_channels, num_blocks, add_identity, use_spp) before the widen/deepen factors
P5_ARCH = ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
           (512, 1024, 3, False, True))


@dataclass(frozen=True)
class FeatureInfo:
    """Channels and stride (w.r.t. the input) of one backbone output."""

    index: int  # 0 = stem, 1..4 = stages
    channels: int
    stride: int


class CSPNeXt(nn.Module):
    """CSPNeXt: a 3-conv stem then four stride-2 stages of CSP layers with CSPNeXt blocks and channel attention.

    Args:
        deepen_factor: scales the number of blocks per stage: ``max(round(n * deepen), 1)``.
        widen_factor: scales the channels: ``int(c * widen)``.
        out_indices: which outputs to return, 0 = stem, 1..4 = stages (RTMPose uses ``(4,)``; distillers may ask
            for more).
        expand_ratio: hidden width ratio of the CSP layers (0.5).
        channel_attention: ChannelAttention in the CSP layers (True for RTMPose).

    Forward: (B, 3, H, W) -> list of (B, C_i, ceil(H / s_i), ceil(W / s_i)) at ``out_indices``, strides 2, 4, 8,
    16, 32 (the last stage is what the RTMCC head reads and what DWPose distils).
    """

    def __init__(self, deepen_factor: float = 1.0, widen_factor: float = 1.0, out_indices: tuple[int, ...] = (4,),
                 expand_ratio: float = 0.5, channel_attention: bool = True):
        super().__init__()
        if not out_indices or any(i not in range(5) for i in out_indices):
            raise ValueError(f"out_indices must be a non-empty subset of 0..4, got {out_indices}")
        self.out_indices = tuple(out_indices)
        stem_out = int(P5_ARCH[0][0] * widen_factor)
        self.stem = nn.Sequential(
            ConvModule(3, stem_out // 2, 3, stride=2, padding=1),
            ConvModule(stem_out // 2, stem_out // 2, 3, padding=1),
            ConvModule(stem_out // 2, stem_out, 3, padding=1),
        )
        infos = [FeatureInfo(0, stem_out, 2)]
        for i, (cin, cout, n, add_identity, use_spp) in enumerate(P5_ARCH, start=1):
            cin, cout = int(cin * widen_factor), int(cout * widen_factor)
            layers: list[nn.Module] = [ConvModule(cin, cout, 3, stride=2, padding=1)]
            if use_spp:
                layers.append(SPPBottleneck(cout, cout))
            layers.append(CSPLayer(cout, cout, max(round(n * deepen_factor), 1), add_identity=add_identity,
                                   expand_ratio=expand_ratio, channel_attention=channel_attention))
            self.add_module(f"stage{i}", nn.Sequential(*layers))
            infos.append(FeatureInfo(i, cout, 2 ** (i + 1)))
        self.feature_info = [infos[i] for i in self.out_indices]
        self.stage_info = infos

    @property
    def out_channels(self) -> int:
        """Channels of the last returned feature map."""
        return self.feature_info[-1].channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        last = max(self.out_indices)
        for i, name in enumerate(("stem", "stage1", "stage2", "stage3", "stage4")):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
            if i == last:  # no need to run stages nobody asked for
                break
        return outs
