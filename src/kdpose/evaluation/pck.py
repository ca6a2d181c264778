"""PCK metrics: PCK@alpha normalised by the person box (MMPose ``PCKAccuracy``, ``norm_item='bbox'``) and
MPII's PCKh (head-size normalised, the official MPII evaluation's joint grouping and weighting).

Values are fractions in [0, 1] (MPII tools print percentages)."""
from __future__ import annotations

import numpy as np

from ..errors import DataError

MPII_SC_BIAS = 0.6  # head size = 0.6 * diagonal of the annotated head box
# MPII joint indices (MPII order, see kdpose.skeletons "mpii")
_MPII = dict(rank=0, rkne=1, rhip=2, lhip=3, lkne=4, lank=5, pelvis=6, thorax=7, head=9,
             rwri=10, relb=11, rsho=12, lsho=13, lelb=14, lwri=15)


def _points(pred: np.ndarray, gt: np.ndarray, mask_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``gt`` as float (N, K, 2) arrays of one shape, else a ``DataError`` naming the argument: numpy's
    broadcast error names none, and COCO's (x, y, v) ground truth is the usual mistake."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[2] != 2:
        hint = "; pass pred[..., :2]" if pred.shape[-1:] == (3,) else ""
        raise DataError(f"pred must be (N, K, 2) x, y, got shape {pred.shape}{hint}")
    if gt.shape != pred.shape:
        hint = f"; pass gt[..., :2] and the visibility gt[..., 2] as {mask_name}" if gt.shape[-1:] == (3,) else ""
        raise DataError(f"gt must be {pred.shape} like pred (N, K, 2 = x, y), got shape {gt.shape}{hint}")
    return pred, gt


def _check_shape(name: str, value: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if value.shape != shape:
        raise DataError(f"{name} must be {shape} ({what}), got shape {value.shape}")


def normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """(N, K) distances ``|(pred - gt) / norm|``; -1 where ``mask`` is False or the norm is not positive.

    Args:
        pred, gt: (N, K, 2); mask: (N, K) bool; norm: (N, 2) per-instance normaliser.
    Raises:
        DataError: an argument of the wrong shape, naming it.
    """
    pred, gt = _points(pred, gt, "mask")
    n, k = pred.shape[:2]
    mask = np.asarray(mask, dtype=bool)
    norm = np.asarray(norm, dtype=np.float64)
    _check_shape("mask", mask, (n, k), "one flag per keypoint of pred")
    _check_shape("norm", norm, (n, 2), "one x, y normaliser per pose of pred")
    valid = mask & (norm > 0).all(axis=1, keepdims=True)
    safe = np.where(norm > 0, norm, 1.0)[:, None, :]
    d = np.linalg.norm((pred - gt) / safe, axis=-1)
    return np.where(valid, d, -1.0)


def keypoint_pck_accuracy(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, thr: float, norm: np.ndarray
) -> tuple[np.ndarray, float, int]:
    """MMPose's ``keypoint_pck_accuracy``: per-keypoint fraction of valid distances ``< thr``.

    Returns:
        (K,) accuracy (-1 for keypoints with no valid instance), the mean over keypoints with an accuracy, and
        how many keypoints have one.
    """
    d = normalized_distances(pred, gt, mask, norm)
    valid = d != -1
    n = valid.sum(axis=0)
    hits = ((d < thr) & valid).sum(axis=0)
    acc = np.where(n > 0, hits / np.maximum(n, 1), -1.0)
    have = acc >= 0
    return acc, float(acc[have].mean()) if have.any() else 0.0, int(have.sum())


def pck(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, bboxes: np.ndarray, alpha: float = 0.05
) -> tuple[float, np.ndarray]:
    """PCK@alpha with the box size as normaliser: a keypoint is correct when its error is below
    ``alpha * max(box_w, box_h)``.

    Args:
        pred, gt: (N, K, 2); visible: (N, K) (> 0 = labelled); bboxes: (N, 4) xyxy ground-truth boxes.
    Returns:
        mean PCK over keypoints and the (K,) per-keypoint values (-1 where a keypoint is never labelled).
    Raises:
        DataError: an argument of the wrong shape, naming it; a box whose x2 < x1 or y2 < y1: not xyxy (COCO's
            ``bbox`` is x, y, w, h: convert it with ``kdpose.data.geometry.bbox_xywh_to_xyxy``), which would
            otherwise count as "no valid keypoint".
    """
    pred, gt = _points(pred, gt, "visible")
    n, k = pred.shape[:2]
    visible = np.asarray(visible)
    bboxes = np.asarray(bboxes, dtype=np.float64)
    _check_shape("visible", visible, (n, k), "one value per keypoint of pred, > 0 = labelled")
    _check_shape("bboxes", bboxes, (n, 4), "one xyxy box per pose of pred")
    flipped = np.flatnonzero((bboxes[:, 2] < bboxes[:, 0]) | (bboxes[:, 3] < bboxes[:, 1]))
    if flipped.size:
        i = int(flipped[0])
        raise DataError(f"box {i} {bboxes[i].tolist()} has x2 < x1 or y2 < y1: bboxes must be xyxy (x1, y1, x2, "
                        "y2); a COCO bbox is x, y, w, h (kdpose.data.geometry.bbox_xywh_to_xyxy converts it)")
    size = np.max(bboxes[:, 2:4] - bboxes[:, 0:2], axis=1, keepdims=True)
    acc, mean, _ = keypoint_pck_accuracy(pred, gt, visible > 0, alpha, np.tile(size, (1, 2)))
    return mean, acc


def mpii_head_sizes(headboxes: np.ndarray) -> np.ndarray:
    """(N, 2, 2) head boxes (top-left, bottom-right) -> (N,) head sizes (``0.6 * diagonal``)."""
    hb = np.asarray(headboxes, dtype=np.float64)
    if hb.ndim != 3 or hb.shape[1:] != (2, 2):  # e.g. (N, 4) x1, y1, x2, y2 would be read as two points of 2 numbers
        raise DataError(f"headboxes must be (N, 2, 2) (top-left, bottom-right per pose), got shape {hb.shape}; "
                        "reshape x1, y1, x2, y2 boxes with .reshape(-1, 2, 2)")
    return MPII_SC_BIAS * np.linalg.norm(hb[:, 1] - hb[:, 0], axis=-1)


def pckh(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray, thr: float = 0.5
) -> dict[str, float]:
    """MPII PCKh: a joint is correct when ``error <= thr * head_size``.

    Args:
        pred, gt: (N, 16, 2) in the same pixel convention; visible: (N, 16); head_sizes: (N,).
    Returns:
        ``Head``, ``Shoulder``, ``Elbow``, ``Wrist``, ``Hip``, ``Knee``, ``Ankle`` (left/right averaged),
        ``PCKh`` (mean over joints weighted by their visible counts, pelvis and thorax excluded, as the official
        evaluation) and ``PCKh@0.1``. (The official script's "@0.1" entry actually reads threshold 0.11 from
        its 0.01-step table; here it is exactly 0.1.)
    Raises:
        DataError: an argument of the wrong shape, naming it (K other than 16 would score the wrong joints).
    """
    pred, gt = _points(pred, gt, "visible")
    n = len(pred)
    visible = np.asarray(visible)
    head_sizes = np.asarray(head_sizes, dtype=np.float64)
    _check_shape("pred", pred, (n, 16, 2), "the 16 MPII joints")
    _check_shape("visible", visible, (n, 16), "one value per joint of pred, > 0 = labelled")
    _check_shape("head_sizes", head_sizes, (n,), "one head size per pose of pred")
    err = np.linalg.norm(pred - gt, axis=-1)
    vis = visible > 0
    scaled = err / head_sizes[:, None]
    count = vis.sum(axis=0).astype(np.float64)
    weight = count.copy()
    weight[[_MPII["pelvis"], _MPII["thorax"]]] = 0
    weight = weight / max(weight.sum(), 1.0)

    def per_joint(t: float) -> np.ndarray:
        return ((scaled <= t) & vis).sum(axis=0) / np.maximum(count, 1)

    p = per_joint(thr)
    m = _MPII
    return {
        "Head": float(p[m["head"]]),
        "Shoulder": float(0.5 * (p[m["lsho"]] + p[m["rsho"]])),
        "Elbow": float(0.5 * (p[m["lelb"]] + p[m["relb"]])),
        "Wrist": float(0.5 * (p[m["lwri"]] + p[m["rwri"]])),
        "Hip": float(0.5 * (p[m["lhip"]] + p[m["rhip"]])),
        "Knee": float(0.5 * (p[m["lkne"]] + p[m["rkne"]])),
        "Ankle": float(0.5 * (p[m["lank"]] + p[m["rank"]])),
        "PCKh": float((p * weight).sum()),
        "PCKh@0.1": float((per_joint(0.1) * weight).sum()),
    }
