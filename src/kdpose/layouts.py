"""Keypoint layouts as the library uses them: a name (aliases resolved here, once) -> the skeleton, the reader of
annotation files in that layout, the protocol that scores predictions, and the limb tree bottom-up models assemble
people along.

>>> from kdpose.layouts import get_layout
>>> layout = get_layout("wholebody")
>>> layout.name, layout.skeleton.num_keypoints, layout.protocol
('coco_wholebody', 133, 'wholebody')

Add a layout: its skeleton (one file in ``kdpose/skeletons/`` and one line in its ``__init__``), then one
``Layout(...)`` entry in :data:`LAYOUTS` below. This module imports no torch, so the onnxruntime path can use it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .registry import Registry
from .skeletons import Skeleton, canonical_name, get_skeleton
from .skeletons.dih import COCO_PAF_LIMBS, COCO_UPPER_BODY, DIH_LIMBS, DIH_UPPER_BODY

READERS = ("coco", "coco_wholebody", "crowdpose", "")  # "" = no annotation-file reader
PROTOCOLS = ("coco", "wholebody", "crowdpose", "")  # "" = no COCO-file protocol (PCK precision/recall only)


@dataclass(frozen=True)
class Layout:
    """What the library needs to know about a keypoint layout.

    Attributes:
        name: the registered skeleton name (``coco``, ``coco_wholebody``, ``dih``, ...).
        reader: how annotation files of this layout are read: ``coco`` (COCO keypoints with this layout's K),
            ``coco_wholebody`` (the split COCO-WholeBody fields), ``crowdpose``, or ``""`` (none).
        protocol: how predictions on such a file are scored: ``coco`` (OKS AP with this layout's sigmas),
            ``wholebody`` (per part), ``crowdpose`` (easy / medium / hard), or ``""`` (none).
        limbs: (A, B) keypoint pairs in assembly order for bottom-up models (PAFs); empty = not bottom-up ready.
        upper_body: keypoint ids of the upper body (the depth paper's "upper body" PCK).
        synthetic: the synthetic generator's name for this layout (``coco`` / ``wholebody``); ``""`` = not rendered.
    """

    name: str
    reader: str = "coco"
    protocol: str = "coco"
    limbs: tuple[tuple[int, int], ...] = ()
    upper_body: tuple[int, ...] = ()
    synthetic: str = ""

    def __post_init__(self) -> None:
        if self.reader not in READERS or self.protocol not in PROTOCOLS:
            raise ValueError(f"layout '{self.name}': reader {self.reader!r} / protocol {self.protocol!r} unknown")

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.name)

    @property
    def num_keypoints(self) -> int:
        return self.skeleton.num_keypoints

    def require_limbs(self, what: str = "a bottom-up model") -> tuple[tuple[int, int], ...]:
        """The limb tree, or a ``ConfigError`` naming the layouts that have one."""
        if not self.limbs:
            raise ConfigError(f"{what} needs a layout with a limb tree ({', '.join(bottom_up_layouts())}), "
                              f"not '{self.name}'")
        return self.limbs

    def synthetic_name(self, where: str = "layout") -> str:
        """The generator's layout name, or a ``ConfigError`` when the synthetic generator cannot render this one."""
        if not self.synthetic:
            renderable = ", ".join(n for n in LAYOUTS.names() if LAYOUTS.get(n).synthetic)
            raise ConfigError(f"{where}: the synthetic generator renders {renderable} people, not '{self.name}'")
        return self.synthetic

    def read_annotations(self, ann_file: str | os.PathLike, mode: str = "train",
                         image_root: str | os.PathLike | None = None) -> list:
        """The ``Sample`` list of a COCO-format annotation file in this layout (``mode``: train | eval)."""
        from . import data

        if self.reader == "coco_wholebody":
            return data.load_coco_wholebody(ann_file, mode=mode, image_root=image_root)
        if self.reader == "crowdpose":
            return data.load_crowdpose(ann_file, mode=mode, image_root=image_root)
        if self.reader == "coco":
            return data.load_coco_keypoints(ann_file, self.name, mode=mode, image_root=image_root)
        raise ConfigError(f"{ann_file}: layout '{self.name}' has no annotation-file reader")

    def metric_names(self) -> tuple[str, ...]:
        """The keys :meth:`evaluate` returns (``part.stat`` for the per-part whole-body protocol; ``()`` for a layout
        without a COCO-file protocol), which a recipe's ``eval.metric`` names."""
        from .evaluation.coco import COCO_STAT_NAMES, CROWD_TYPES

        if self.protocol == "wholebody":
            from .evaluation.wholebody import REPORT_ORDER

            return tuple(f"{part}.{stat}" for part in REPORT_ORDER for stat in COCO_STAT_NAMES)
        if self.protocol == "crowdpose":
            return COCO_STAT_NAMES + tuple(key for key, _, _ in CROWD_TYPES)
        return COCO_STAT_NAMES if self.protocol == "coco" else ()

    def check_ground_truth_names(self, gt_data: dict, source: str) -> None:
        """Refuse a COCO-format ground truth whose category names its keypoints exactly as another layout does:
        with the same K nothing else notices, and every per-keypoint number (OKS sigmas, the upper-body ids, flips)
        would silently belong to the wrong landmarks. Files without names, with another K, or with names of no
        layout pass."""
        names = [tuple(c.get("keypoints") or ()) for c in gt_data.get("categories") or [] if isinstance(c, dict)]
        names = [n for n in names if len(n) == self.num_keypoints]  # (COCO-WholeBody files name the 17 body ones)
        if not names or any(n == self.skeleton.keypoint_names for n in names):
            return
        others = [n for n in LAYOUTS.names() if LAYOUTS.get(n).skeleton.keypoint_names in names]
        if others:
            raise ConfigError(f"{source}: its category names the keypoints of layout '{others[0]}', not of "
                              f"'{self.name}': score it with that layout (kdpose eval --layout {others[0]})")

    def evaluate(self, gt: Any, results: Any) -> dict:
        """OKS metrics of COCO-format ``results`` against ``gt`` (flat; per part for ``wholebody``)."""
        from . import evaluation

        if self.protocol == "wholebody":
            return evaluation.wholebody_eval(gt, results)
        if self.protocol == "crowdpose":
            return evaluation.crowdpose_eval(gt, results)
        if self.protocol == "coco":
            return evaluation.coco_keypoint_eval(gt, results, self.name)
        raise ConfigError(f"layout '{self.name}' has no COCO-file protocol; score it with the depth paper's PCK "
                          "precision / recall (kdpose.evaluation.pck_pr)")


LAYOUTS: Registry[Layout] = Registry("layout")
for _layout in (
    Layout("coco", limbs=COCO_PAF_LIMBS, upper_body=COCO_UPPER_BODY, synthetic="coco"),
    Layout("coco_wholebody", reader="coco_wholebody", protocol="wholebody", synthetic="wholebody"),
    Layout("crowdpose", reader="crowdpose", protocol="crowdpose"),
    Layout("mpii"),
    Layout("hand"),
    Layout("face"),
    Layout("openpose"),
    # the depth paper's layout: COCO-format files with its 17 landmarks read as any K; scored with PCK precision /
    # recall (kdpose eval --metric pck-pr), no OKS sigmas of its own
    Layout("dih", protocol="", limbs=DIH_LIMBS, upper_body=DIH_UPPER_BODY),
):
    LAYOUTS.register(_layout, name=_layout.name)


def get_layout(name: str | Layout) -> Layout:
    """The layout called ``name`` or one of its aliases (``wholebody`` -> ``coco_wholebody``, ``body`` -> ``coco``);
    ``UnknownNameError`` lists the valid names."""
    if isinstance(name, Layout):
        return name
    return LAYOUTS.get(canonical_name(str(name)))


def list_layouts() -> list[str]:
    """Registered layout names (without aliases)."""
    return LAYOUTS.names()


def bottom_up_layouts() -> list[str]:
    """Layouts with a limb tree (what bottom-up models can be built for)."""
    return [n for n in LAYOUTS.names() if LAYOUTS.get(n).limbs]


__all__ = ["LAYOUTS", "Layout", "bottom_up_layouts", "get_layout", "list_layouts"]
