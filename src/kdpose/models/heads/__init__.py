"""Heads: layers only, mapping a feature list to a typed output (NamedTuple of tensors)."""
from .rtmcc import RTMCCHead

__all__ = ["RTMCCHead"]
