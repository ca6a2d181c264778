"""PCK of a top-down estimator on the people of a COCO-format annotation file, each predicted from its own
ground-truth box: a second accuracy number for weak models (COCO AP stays at 0 until keypoints land within a few
percent of the person size; PCK@0.2, a keypoint within 0.2 x the longer box side, already separates two barely
trained students). The demo and the CPU-scale benchmarks report it next to AP."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def pck_on_annotations(estimator: Any, ann_file: str | Path, layout: str, alpha: float = 0.2) -> float:
    """Mean PCK@``alpha`` of ``estimator`` (a ``PoseEstimator``) over the labelled keypoints of every person.

    Each person is predicted from its own ground-truth box, so predictions and annotations pair up exactly."""
    from ..data import read_image
    from ..evaluation.pck import pck
    from ..layouts import get_layout

    samples = get_layout(layout).read_annotations(ann_file, mode="eval")
    by_image: dict[str, list] = {}
    for s in samples:
        by_image.setdefault(s.image_path, []).append(s)
    preds, gts, vis, boxes = [], [], [], []
    for path, people in by_image.items():
        image = read_image(path)
        for s in people:
            kpts, _ = estimator.predict_arrays(image, bboxes=s.bbox[None])
            preds.append(kpts[0])
            gts.append(s.keypoints)
            vis.append(s.visible)
            boxes.append(s.bbox)
    if not preds:
        return 0.0
    mean, _ = pck(np.stack(preds), np.stack(gts), np.stack(vis), np.stack(boxes), alpha=alpha)
    return float(mean)


__all__ = ["pck_on_annotations"]
