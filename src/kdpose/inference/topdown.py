"""Pure top-down pre- and post-processing: boxes -> normalised crop batch -> keypoints in image pixels.

The geometry is ``kdpose.data.geometry`` (the one implementation, MMPose's conventions): box -> centre and
padded scale (x1.25) -> aspect-fixed scale -> affine warp per crop; back-projection is the exact inverse.
Everything except the per-crop ``cv2.warpAffine`` is vectorised over all the crops of all the frames of a batch.
The crops themselves (:class:`CropBatch`, :func:`crop_people`, :func:`normalize_crops`) live in
:mod:`kdpose.data.crops` (the accuracy guard's val sets and int8 calibration use them too) and are re-exported here.
"""
from __future__ import annotations

import numpy as np

from kdpose.data.crops import CropBatch, crop_people, normalize_crops  # noqa: F401  (re-exported: inference API)
from kdpose.data.geometry import invert_crop_points
from kdpose.errors import DataError

RESCORE_KPT_THR = 0.2  # MMPose's CocoMetric keypoint_score_thr for instance rescoring


def sanitize_boxes(boxes: np.ndarray, scores: np.ndarray | None, image_size: tuple[int, int],
                   name: str = "boxes") -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, 4) xyxy boxes, clip them to the image and drop those with no area inside it.

    Boxes with x2 < x1 or y2 < y1 are taken as given in the wrong corner order and re-ordered; boxes that are
    NaN, outside the image or thinner than one pixel after clipping are dropped (a documented empty result,
    not an error). Returns float32 boxes (M, 4) and scores (M,) (1.0 when ``scores`` is None).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    if arr.ndim == 1 and arr.shape[0] in (4, 5):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise DataError(f"{name}: expected (N, 4) xyxy boxes (or (N, 5) with scores), got shape {arr.shape}")
    if scores is None:
        scores = arr[:, 4] if arr.shape[1] == 5 else np.ones(len(arr))
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != arr.shape[0]:
        raise DataError(f"{name}: {arr.shape[0]} boxes but {scores.shape[0]} scores")
    arr = arr[:, :4]
    lo, hi = np.minimum(arr[:, :2], arr[:, 2:]), np.maximum(arr[:, :2], arr[:, 2:])
    w, h = image_size
    lo = np.clip(lo, 0, [w, h])
    hi = np.clip(hi, 0, [w, h])
    keep = np.isfinite(arr).all(1) & np.isfinite(scores) & ((hi - lo) >= 1).all(1)
    return np.concatenate([lo, hi], 1)[keep].astype(np.float32), scores[keep].astype(np.float32)


def back_project(keypoints: np.ndarray, center: np.ndarray, scale: np.ndarray,
                 input_size: tuple[int, int]) -> np.ndarray:
    """(B, K, 2) crop pixels -> image pixels (exact inverse of the crop warp)."""
    return invert_crop_points(keypoints, center, scale, input_size)


def rescore(bbox_scores: np.ndarray, keypoint_scores: np.ndarray, kpt_thr: float = RESCORE_KPT_THR) -> np.ndarray:
    """MMPose's instance score ``bbox_score * mean(keypoint scores > kpt_thr)`` (0 when none pass), from
    ``kdpose.evaluation``. bbox_scores (N,), keypoint_scores (N, K) -> (N,) float32."""
    from kdpose.evaluation import rescore_instances

    return rescore_instances(bbox_scores, keypoint_scores, kpt_thr).astype(np.float32)
