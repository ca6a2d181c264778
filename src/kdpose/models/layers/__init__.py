"""Reusable layers: MMCV-compatible conv blocks, CSP blocks, ScaleNorm/Scale and the GAU block."""
from .conv import ConvModule, DepthwiseSeparableConvModule, SmallMapSafeConv2d
from .csp import ChannelAttention, CSPLayer, CSPNeXtBlock, SPPBottleneck
from .gau import GAUBlock
from .norm import Scale, ScaleNorm

__all__ = ["ChannelAttention", "ConvModule", "CSPLayer", "CSPNeXtBlock", "DepthwiseSeparableConvModule",
           "GAUBlock", "SmallMapSafeConv2d", "SPPBottleneck", "Scale", "ScaleNorm"]
