"""Score top-down poses predicted from given person boxes (one pose per box) against the people of those boxes: the
layout's COCO OKS protocol (AP, AP50, AP75, APM, APL, AR), PCK@0.2, the median keypoint error and the share of
left/right pairs predicted swapped, all from one call.

The protocol's choices are arguments, since its users differ in them:

* ``nms_thr``: OKS-NMS per image before AP, MMPose's default for top-down COCO and the trainer's validation (0.9),
  or none (``None``): one scored pose per box, as the shipped accuracy checks and the precision guard score.
* ``rescore_thr``: MMPose's instance score ``bbox_score * mean(keypoint scores > thr)`` (0.2 everywhere in kdpose).

Flip test belongs to the predictor (``PoseEstimator(flip_test=...)``), not here. Numpy in, numbers out, no torch.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .pck import pck
from .results import to_coco_results

if TYPE_CHECKING:  # the layout is passed in: evaluation sits below kdpose.layouts
    from ..layouts import Layout

COCO_METRICS = ("AP", "AP50", "AP75", "APM", "APL", "AR")


def swap_rate(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, pairs) -> tuple[float, int]:
    """Share of left/right pairs (both points labelled) that fit the ground truth better exchanged: the summed
    error of (left->right, right->left) below that of (left->left, right->right).

    Args:
        pred, gt: (N, K, 2); visible: (N, K), > 0 = labelled; pairs: (i, j) left/right keypoint indices.
    Returns:
        (swapped share, number of pairs counted).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    i, j = np.asarray(pairs, np.int64).reshape(-1, 2).T
    visible = np.asarray(visible)
    both = (visible[:, i] > 0) & (visible[:, j] > 0)
    straight = np.linalg.norm(pred[:, i] - gt[:, i], axis=-1) + np.linalg.norm(pred[:, j] - gt[:, j], axis=-1)
    crossed = np.linalg.norm(pred[:, i] - gt[:, j], axis=-1) + np.linalg.norm(pred[:, j] - gt[:, i], axis=-1)
    n = int(both.sum())
    return float(((crossed < straight) & both).sum() / max(n, 1)), n


def score_topdown(
    gt: str | os.PathLike | dict,
    layout: Layout,
    image_ids: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    gt_keypoints: np.ndarray,
    labelled: np.ndarray,
    boxes: np.ndarray,
    areas: np.ndarray | None = None,
    nms_thr: float | None = None,
    rescore_thr: float = 0.2,
) -> dict[str, float]:
    """COCO metrics, PCK@0.2, median error and swap rate of one predicted pose per ground-truth person.

    Args:
        gt: COCO ground truth (file or loaded dict) holding at least the images of ``image_ids``.
        layout: a :class:`kdpose.layouts.Layout` (``get_layout(name)``): its ``evaluate`` is the OKS protocol
            (whole-body: the ``wholebody`` part is reported), its ``skeleton`` gives the sigmas and left/right pairs.
        image_ids: (N,) COCO image id of each person.
        keypoints: (N, K, 2) predictions in image pixels; keypoint_scores: (N, K).
        gt_keypoints: (N, K, 2) ground truth; labelled: (N, K) (> 0 = labelled); boxes: (N, 4) xyxy person boxes
            (the PCK normaliser, their longer side).
        areas: (N,) instance areas for OKS-NMS (MMPose: the aspect-fixed crop box area); needed with ``nms_thr``.
        nms_thr: OKS-NMS threshold per image; None or <= 0: no NMS (one pose per box).
        rescore_thr: keypoint-score threshold of MMPose's instance rescoring (every box scores 1).
    Returns:
        ``AP``, ``AP50``, ``AP75``, ``APM``, ``APL``, ``AR`` (fractions, -1 where undefined), ``PCK@0.2``,
        ``swapped`` (share of left/right pairs predicted exchanged) and ``pairs`` (pairs counted), ``median_px``
        (median error of the labelled keypoints in image pixels) and ``people`` (N); a layout scored per part
        (whole-body) adds each part's AP as ``<part>.AP`` (``body.AP``, ``foot.AP``, ``face.AP``, ``hand.AP``, ...).
    """
    skeleton = layout.skeleton
    keypoints = np.asarray(keypoints, np.float64)
    n = len(keypoints)
    nms = nms_thr is not None and nms_thr > 0
    if nms and areas is None:
        raise ValueError("score_topdown: OKS-NMS needs the instance areas (areas=)")
    results = to_coco_results(np.asarray(image_ids), keypoints, keypoint_scores, np.ones(n),
                              np.ones(n) if areas is None else areas, layout=skeleton, nms="oks" if nms else "none",
                              nms_thr=nms_thr if nms else 0.0, keypoint_score_thr=rescore_thr)
    per_part = layout.evaluate(gt, results)
    coco = per_part.get("wholebody", per_part)
    parts = {f"{name}.AP": float(m["AP"]) for name, m in per_part.items()
             if isinstance(m, dict) and name != "wholebody"}
    labelled = np.asarray(labelled) > 0
    pck02, _ = pck(keypoints, gt_keypoints, labelled, boxes, alpha=0.2)
    swapped, pairs = swap_rate(keypoints, gt_keypoints, labelled, skeleton.flip_pairs)
    errors = np.linalg.norm(keypoints - gt_keypoints, axis=-1)[labelled]
    return {**{k: float(coco[k]) for k in COCO_METRICS}, "PCK@0.2": float(pck02), "swapped": swapped,
            "pairs": pairs, "median_px": float(np.median(errors)), "people": n, **parts}
