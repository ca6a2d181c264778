"""Person detections in COCO results format (``[{image_id, category_id, bbox: xywh, score}, ...]``) -> Samples
for top-down evaluation with detector boxes (MMPose's ``bbox_file``)."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from ..skeletons import Skeleton, get_skeleton
from .coco import load_coco_file
from .geometry import bbox_xywh_to_xyxy
from .jsonfile import finite_numbers, finite_score, load_json, require
from .sample import Sample


def load_detections(
    path: str | os.PathLike,
    ann_path: str | os.PathLike,
    layout: str | Skeleton = "coco",
    score_threshold: float = 0.0,
    image_root: str | os.PathLike | None = None,
    category_id: int = 1,
) -> list[Sample]:
    """Read detector boxes; keep ``category_id`` (1 = person) and ``score >= score_threshold``.

    Args:
        path: detection results JSON (a list).
        ann_path: the matching COCO-style annotation file, for image file names (its folder is the default
            image root).
        layout: sets K of the (all-zero, invisible) dummy keypoints.
    Returns:
        Samples in file order with ``bbox`` xyxy (not clipped, as MMPose), ``bbox_score`` = detector score,
        ``ann_id = -1``.
    """
    path = os.fspath(path)
    sk = layout if isinstance(layout, Skeleton) else get_skeleton(layout)
    dets = load_json(path)
    if not isinstance(dets, list):
        raise DataError(f"{path}: expected a list of detections in COCO results format, got {type(dets).__name__}")
    images = {img["id"]: img for img in load_coco_file(ann_path)["images"]}
    root = os.fspath(image_root) if image_root is not None else os.path.dirname(os.path.abspath(os.fspath(ann_path)))
    k = sk.num_keypoints
    samples = []
    for i, det in enumerate(dets):
        require(det, ("image_id", "bbox", "score"), path, f"detection {i}")
        score = finite_score(det["score"], path, f"detection {i}", "score")
        if det.get("category_id", 1) != category_id or score < score_threshold:
            continue
        img = images.get(det["image_id"])
        if img is None:
            raise DataError(f"{path}: detection {i} refers to image_id {det['image_id']!r}, not in {ann_path}")
        x, y, w, h = finite_numbers(det["bbox"], path, f"detection {i}", "bbox", size=4)
        samples.append(
            Sample(
                image_path=os.path.join(root, img["file_name"]),
                image_id=int(img["id"]),
                bbox=bbox_xywh_to_xyxy(np.array([x, y, w, h], np.float32)),
                keypoints=np.zeros((k, 2), np.float32),
                visible=np.zeros(k, np.float32),
                bbox_score=score,
                area=w * h,
                meta={"image_size": (int(img["width"]), int(img["height"]))},
            )
        )
    return samples
