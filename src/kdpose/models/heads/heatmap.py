"""Heatmap head of Simple Baselines (deconvolutions + 1x1 conv) and HRNet (1x1 conv only).

Attribute names follow MMPose's ``TopdownHeatmapSimpleHead`` / ``HeatmapHead`` (``deconv_layers.{0,1,3,4,6,7}``,
``final_layer``), so MMPose checkpoints load after renaming ``keypoint_head.`` to ``head.``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...codecs.heatmap import HeatmapOutput


class HeatmapHead(nn.Module):
    """Last feature map -> K heatmaps.

    Args:
        in_channels: channels of the last backbone feature.
        num_keypoints: K.
        deconv_channels: output channels of each stride-2 transposed conv (empty for HRNet).
        deconv_kernels: kernel size of each transposed conv (4, 3 or 2, as MMPose).
        final_kernel: kernel of the last conv (1 or 3).
    Shapes: features[-1] (B, C, h, w) -> HeatmapOutput((B, K, h * 2^n, w * 2^n)), n = len(deconv_channels).
    """

    def __init__(self, in_channels: int, num_keypoints: int, deconv_channels: Sequence[int] = (256, 256, 256),
                 deconv_kernels: Sequence[int] = (4, 4, 4), final_kernel: int = 1):
        super().__init__()
        if len(deconv_channels) != len(deconv_kernels):
            raise ValueError("deconv_channels and deconv_kernels must have the same length")
        layers: list[nn.Module] = []
        channels = in_channels
        for out, k in zip(deconv_channels, deconv_kernels):
            padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
            layers += [nn.ConvTranspose2d(channels, out, k, stride=2, padding=padding, output_padding=output_padding,
                                          bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.deconv_layers = nn.Sequential(*layers) if layers else nn.Identity()
        self.final_layer = nn.Conv2d(channels, num_keypoints, final_kernel, padding=final_kernel // 2)
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor]) -> HeatmapOutput:
        return HeatmapOutput(self.final_layer(self.deconv_layers(feats[-1])))
