"""Turn top-down predictions into COCO results-format dicts, with MMPose's rescoring and per-image NMS
(the step between a model's decoded keypoints and :func:`coco_keypoint_eval`)."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..skeletons import Skeleton, get_skeleton
from .nms import oks_nms, rescore_instances, soft_oks_nms

NMS_MODES = ("oks", "soft_oks", "none")


def to_coco_results(
    image_ids: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    bbox_scores: np.ndarray,
    areas: np.ndarray,
    layout: str | Skeleton = "coco",
    nms: str = "oks",
    nms_thr: float = 0.9,
    keypoint_score_thr: float = 0.2,
    split_wholebody: bool = False,
) -> list[dict]:
    """Rescore, apply per-image NMS and format as COCO results.

    Args:
        image_ids: (N,) image id per instance.
        keypoints: (N, K, 2) image pixels; keypoint_scores: (N, K).
        bbox_scores: (N,) detector scores (1 for GT boxes).
        areas: (N,) instance areas for OKS in NMS (MMPose: product of the aspect-fixed crop scale).
        layout: skeleton (sigmas for NMS, K check).
        nms: ``"oks"`` (MMPose default, threshold 0.9), ``"soft_oks"`` or ``"none"``.
        split_wholebody: write whole-body results in the split COCO-WholeBody fields (``keypoints`` = body 17,
            ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``) instead of one 133x3 list.
    Returns:
        list of ``{"image_id", "category_id": 1, "keypoints": [x, y, s, ...], "score"}``, grouped by image in
        first-seen order, best score first within an image.
    Raises:
        DataError: an argument of the wrong shape, e.g. fewer ``image_ids`` or ``areas`` than poses, naming it.
    """
    if nms not in NMS_MODES:
        raise ValueError(f"nms must be one of {NMS_MODES}, got '{nms}'")
    sk = layout if isinstance(layout, Skeleton) else get_skeleton(layout)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    kscores = np.asarray(keypoint_scores, dtype=np.float64)
    k = sk.num_keypoints
    if keypoints.ndim != 3 or keypoints.shape[1:] != (k, 2):
        raise DataError(f"keypoints must be (N, {k}, 2) x, y for layout '{sk.name}', got shape {keypoints.shape}")
    n = len(keypoints)
    # one entry per pose in each: fewer image_ids silently dropped the other poses, short areas was an IndexError
    for name, value, shape in (("keypoint_scores", kscores, (n, k)), ("image_ids", image_ids, (n,)),
                               ("bbox_scores", bbox_scores, (n,)), ("areas", areas, (n,))):
        if np.shape(value) != shape:
            raise DataError(f"{name} must be {shape}, one per pose of keypoints ({n} poses), "
                            f"got shape {np.shape(value)}")
    scores = rescore_instances(bbox_scores, kscores, keypoint_score_thr)
    triplets = np.concatenate([keypoints, kscores[..., None]], axis=-1)  # (N, K, 3)
    areas = np.asarray(areas, dtype=np.float64)
    groups: dict = defaultdict(list)
    for i, img in enumerate(np.asarray(image_ids).tolist()):
        groups[img].append(i)
    results = []
    for img, idx in groups.items():
        idx = np.asarray(idx)
        if nms == "oks":
            keep = idx[oks_nms(triplets[idx], scores[idx], areas[idx], sk.sigmas_array, nms_thr)]
        elif nms == "soft_oks":
            keep = idx[soft_oks_nms(triplets[idx], scores[idx], areas[idx], sk.sigmas_array, nms_thr)[0]]
        else:
            keep = idx[np.argsort(-scores[idx], kind="stable")]
        for i in keep:
            split = split_wholebody and sk.num_keypoints == 133
            results.append(_format(int(img), triplets[i], float(scores[i]), split))
    return results


def _format(image_id: int, kpts: np.ndarray, score: float, split: bool) -> dict:
    out = {"image_id": image_id, "category_id": 1, "score": score}
    if not split:
        out["keypoints"] = kpts.reshape(-1).tolist()
        return out
    out.update(wholebody_fields(kpts.reshape(-1).tolist()))
    return out


def wholebody_fields(flat: Sequence) -> dict[str, list]:
    """A flat 133 x 3 list of x, y, score as the split COCO-WholeBody result fields (``keypoints`` = body 17,
    ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``): what MMPose writes and xtcocotools reads."""
    from .wholebody import PART_FIELDS

    out, start = {}, 0
    for name, k in PART_FIELDS:
        out[name] = list(flat[3 * start:3 * (start + k)])
        start += k
    return out


def split_wholebody_results(results: Sequence[dict]) -> list[dict]:
    """COCO results with a flat 133 x 3 ``keypoints`` rewritten in the split COCO-WholeBody fields (other fields
    kept); results of other sizes are left as they are."""
    out = []
    for r in results:
        flat = r.get("keypoints")
        out.append({**r, **wholebody_fields(flat)} if flat is not None and len(flat) == 133 * 3 else r)
    return out
