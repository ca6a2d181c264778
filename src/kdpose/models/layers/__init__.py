"""Reusable layers: MMCV-compatible conv blocks, CSP blocks, ScaleNorm/Scale and the GAU block."""
from .conv import ConvModule, DepthwiseSeparableConvModule, conv_past_small_map
from .csp import ChannelAttention, CSPLayer, CSPNeXtBlock, SPPBottleneck
from .gau import GAUBlock
from .norm import Scale, ScaleNorm

__all__ = ["ChannelAttention", "ConvModule", "CSPLayer", "CSPNeXtBlock", "DepthwiseSeparableConvModule",
           "GAUBlock", "SPPBottleneck", "Scale", "ScaleNorm", "conv_past_small_map"]
