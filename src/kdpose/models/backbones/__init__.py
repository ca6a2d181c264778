"""Backbones: modules mapping (B, C, H, W) -> list of feature maps, with ``feature_info``."""
from .cspnext import CSPNeXt

__all__ = ["CSPNeXt"]
