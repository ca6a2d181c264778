"""Keypoint layouts as data (see docs/design.md, "Skeletons").

>>> from kdpose.skeletons import get_skeleton
>>> get_skeleton("coco").num_keypoints
17
"""
from __future__ import annotations

from functools import lru_cache

from ..registry import Registry
from .base import Skeleton, build_skeleton
from .body import coco, crowdpose, mpii
from .openpose import OPENPOSE_FROM_COCO, coco_to_openpose, openpose
from .wholebody import coco_wholebody, face, hand

SKELETONS: Registry = Registry("skeleton")
for _factory in (coco, coco_wholebody, crowdpose, mpii, hand, face, openpose):
    SKELETONS.register(_factory)
SKELETONS.register(coco_wholebody, name="wholebody")


@lru_cache(maxsize=None)
def _build(factory) -> Skeleton:
    return factory()


def get_skeleton(name: str) -> Skeleton:
    """The layout registered as ``name`` (``coco``, ``coco_wholebody``/``wholebody``, ``crowdpose``, ``mpii``,
    ``hand``, ``face``, ``openpose``); raises ``UnknownNameError`` listing the valid names. Layouts are built
    once and shared (they are frozen)."""
    return _build(SKELETONS.get(name))


def list_skeletons() -> list[str]:
    """Registered layout names (aliases included)."""
    return SKELETONS.names()


__all__ = [
    "Skeleton",
    "build_skeleton",
    "get_skeleton",
    "list_skeletons",
    "coco_to_openpose",
    "OPENPOSE_FROM_COCO",
    "SKELETONS",
]
