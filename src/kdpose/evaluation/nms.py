"""Top-down post-processing: MMPose's instance rescoring, OKS-NMS and soft-OKS-NMS (vectorised numpy).

MMPose (``mmpose/evaluation/functional/nms.py``, ``CocoMetric``):

* rescore: ``score = bbox_score * mean(keypoint scores above 0.2)`` (0 when none is above);
* OKS between two instances uses ``vars = (2 sigma)^2`` and the mean of their areas:
  ``e = d^2 / vars / ((area_a + area_b) / 2 + eps) / 2``, ``OKS = mean over all K of exp(-e)`` (or over the
  keypoints whose scores both exceed ``vis_thr`` when it is given);
* OKS-NMS keeps the best instance and drops the others with ``OKS > thr`` (0.9), repeatedly;
* soft-OKS-NMS decays the others' scores by ``exp(-OKS^2 / thr)`` and keeps at most ``max_dets`` (20).
"""
from __future__ import annotations

import numpy as np

EPS = np.spacing(1)


def rescore_instances(
    bbox_scores: np.ndarray, keypoint_scores: np.ndarray, keypoint_score_thr: float = 0.2
) -> np.ndarray:
    """(N,), (N, K) -> (N,) ``bbox_score * mean(keypoint scores > thr)`` (MMPose ``score_mode='bbox_keypoint'``)."""
    kpt = np.asarray(keypoint_scores, dtype=np.float64)
    valid = kpt > keypoint_score_thr
    count = valid.sum(axis=1)
    mean = np.where(count > 0, (kpt * valid).sum(axis=1) / np.maximum(count, 1), 0.0)
    return np.asarray(bbox_scores, dtype=np.float64) * mean


def oks_iou(
    ref: np.ndarray,
    others: np.ndarray,
    ref_area: float,
    other_areas: np.ndarray,
    sigmas: np.ndarray,
    vis_thr: float | None = None,
) -> np.ndarray:
    """OKS between one instance and M others.

    Args:
        ref: (K, 3) x, y, score; others: (M, K, 3).
        ref_area: scalar; other_areas: (M,).
        sigmas: (K,) OKS sigmas.
        vis_thr: if given, only keypoints whose scores in both instances exceed it count.
    Returns:
        (M,) OKS values.
    """
    others = np.asarray(others, dtype=np.float64).reshape(-1, *np.shape(ref))
    if others.shape[0] == 0:
        return np.zeros(0)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    d2 = ((others[..., :2] - np.asarray(ref, dtype=np.float64)[None, :, :2]) ** 2).sum(-1)
    e = d2 / variances / ((ref_area + np.asarray(other_areas, dtype=np.float64))[:, None] / 2 + EPS) / 2
    if vis_thr is None:
        return np.exp(-e).mean(axis=1)
    keep = (ref[None, :, 2] > vis_thr) & (others[..., 2] > vis_thr)
    n = keep.sum(axis=1)
    return np.where(n > 0, (np.exp(-e) * keep).sum(axis=1) / np.maximum(n, 1), 0.0)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    thr: float = 0.9,
    vis_thr: float | None = None,
) -> np.ndarray:
    """Greedy OKS-NMS of one image's instances.

    Args:
        keypoints: (N, K, 3) x, y, keypoint score.
        scores: (N,) instance scores; areas: (N,) instance areas.
    Returns:
        (n_keep,) indices of the kept instances, best score first.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ovr = oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas, vis_thr)
        order = rest[ovr <= thr]
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray,
    thr: float = 0.9,
    max_dets: int = 20,
    vis_thr: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-OKS-NMS (Gaussian decay ``score * exp(-OKS^2 / thr)``) of one image's instances.

    Returns:
        kept indices (at most ``max_dets``, in selection order) and their decayed scores. (MMPose keeps only the
        indices and reports the original scores; the decayed ones are returned for those who want them.)
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    current = scores[order]
    keep, kept_scores = [], []
    while order.size > 0 and len(keep) < max_dets:
        i = order[0]
        keep.append(i)
        kept_scores.append(current[0])
        rest, rest_scores = order[1:], current[1:]
        ovr = oks_iou(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas, vis_thr)
        rest_scores = rest_scores * np.exp(-(ovr**2) / thr)
        resort = np.argsort(-rest_scores, kind="stable")
        order, current = rest[resort], rest_scores[resort]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores)


def oks_matrix(
    a_keypoints: np.ndarray,
    b_keypoints: np.ndarray,
    a_areas: np.ndarray,
    sigmas: np.ndarray,
    b_areas: np.ndarray | None = None,
    a_visible: np.ndarray | None = None,
) -> np.ndarray:
    """Pairwise OKS between two sets of poses (e.g. tracks and new detections), vectorised.

    Args:
        a_keypoints: (A, K, 2+); b_keypoints: (B, K, 2+).
        a_areas: (A,) areas of the ``a`` poses (the "ground truth" side, as in COCO OKS).
        b_areas: (B,) if given, the scale is the mean of both areas (MMPose's NMS convention).
        a_visible: (A, K) if given, only keypoints with ``a_visible > 0`` count (COCO's rule); else all K.
    Returns:
        (A, B) OKS.
    """
    a = np.asarray(a_keypoints, dtype=np.float64)[..., :2]
    b = np.asarray(b_keypoints, dtype=np.float64)[..., :2]
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # (A, B, K)
    area = np.asarray(a_areas, dtype=np.float64)[:, None]
    if b_areas is not None:
        area = (area + np.asarray(b_areas, dtype=np.float64)[None, :]) / 2
    e = d2 / variances / (area[..., None] + EPS) / 2
    if a_visible is None:
        return np.exp(-e).mean(-1)
    keep = (np.asarray(a_visible) > 0)[:, None, :]
    n = keep.sum(-1)
    return np.where(n > 0, (np.exp(-e) * keep).sum(-1) / np.maximum(n, 1), 0.0)
