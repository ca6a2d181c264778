"""Keypoint layouts as data (see docs/design.md, "Skeletons").

>>> from kdpose.skeletons import get_skeleton
>>> get_skeleton("coco").num_keypoints
17
"""
from __future__ import annotations

from functools import lru_cache

from ..checks import check_name
from ..registry import Registry
from .base import Skeleton, build_skeleton
from .body import coco, crowdpose, mpii
from .dih import dih
from .openpose import OPENPOSE_FROM_COCO, coco_to_openpose, openpose
from .wholebody import BODY_ANCHORS, coco_wholebody, face, hand

# other names users write for a layout -> its registered name (the one alias table; kdpose.layouts uses it too)
ALIASES: dict[str, str] = {"wholebody": "coco_wholebody", "body": "coco"}

SKELETONS: Registry = Registry("skeleton")
for _factory in (coco, coco_wholebody, crowdpose, mpii, hand, face, openpose, dih):
    SKELETONS.register(_factory)


def canonical_name(name: str) -> str:
    """The registered name of a layout name or alias (``wholebody`` -> ``coco_wholebody``); unknown names pass
    through unchanged (the registry lookup reports them)."""
    return ALIASES.get(name, name)


@lru_cache(maxsize=None)
def _build(factory) -> Skeleton:
    return factory()


def get_skeleton(name: str) -> Skeleton:
    """The layout registered as ``name`` (``coco``, ``coco_wholebody``/``wholebody``, ``crowdpose``, ``mpii``,
    ``hand``, ``face``, ``openpose``, ``dih``); raises ``UnknownNameError`` listing the valid names. Layouts are built
    once and shared (they are frozen)."""
    check_name(name, "get_skeleton", example="coco")
    return _build(SKELETONS.get(canonical_name(name)))


def list_skeletons() -> list[str]:
    """Registered layout names (aliases included)."""
    return sorted(SKELETONS.names() + list(ALIASES))


__all__ = [
    "ALIASES",
    "Skeleton",
    "build_skeleton",
    "canonical_name",
    "get_skeleton",
    "keypoint_origins",
    "list_skeletons",
    "coco_to_openpose",
    "OPENPOSE_FROM_COCO",
    "SKELETONS",
]


def keypoint_origins(source: str, target: str) -> tuple[int | None, ...]:
    """For each keypoint of layout ``target``, the index of the keypoint of layout ``source`` a network's weights
    for it can start from: the keypoint of the same name, else the body keypoint it belongs to (a hand keypoint:
    the wrist; a face keypoint: the nose; a foot keypoint: the ankle), else None."""
    names = {n: i for i, n in enumerate(get_skeleton(source).keypoint_names)}
    return tuple(names.get(n, names.get(BODY_ANCHORS.get(n, ""))) for n in get_skeleton(target).keypoint_names)
