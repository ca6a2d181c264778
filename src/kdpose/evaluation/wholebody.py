"""COCO-WholeBody per-part AP/AR, reproducing xtcocotools' per-part passes (``keypoints_body``,
``_foot``, ``_face``, ``_lefthand``, ``_righthand``, ``_wholebody``, as run by MMPose's CocoWholeBodyMetric)
on top of pycocotools.

Per part P (index range of the 133 layout, sigmas sliced to it):

* a ground-truth person is ignored when it has no labelled keypoint in P (or is a crowd);
* a prediction is skipped when none of its P keypoints has a score > 0;
* the prediction score is ``<part>_score`` when present (``wholebody_score``, ``foot_score``, ...), else
  ``score``; the body pass always uses ``score``;
* OKS uses the person's ground-truth ``area`` for every part; a prediction's own area (used for the area-range
  bookkeeping of unmatched predictions) is its ``bbox``'s w x h when the results have boxes (``kdpose infer``
  writes them), else the extent of its 17 body keypoints, as xtcocotools' ``loadRes`` takes it (pycocotools' does
  the same for ``kdpose eval --layout coco``).

``hand`` is the mean of the left- and right-hand results, metric by metric (the COCO-WholeBody authors' "hand
AP", jin-s13/COCO-WholeBody#38); a metric undefined (-1) for one hand takes the other hand's value.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..skeletons import get_skeleton
from .coco import (check_result_ids, finite_numbers, finite_score, gt_keypoint_categories, load_gt, load_results,
                   result_boxes_used, run_cocoeval, stats_dict)

# (field in COCO-WholeBody files, number of keypoints), concatenated to 133 in this order
PART_FIELDS = (
    ("keypoints", 17),
    ("foot_kpts", 6),
    ("face_kpts", 68),
    ("lefthand_kpts", 21),
    ("righthand_kpts", 21),
)
# part name -> (index range in the 133 layout, score key of the prediction)
PARTS = {
    "body": ((0, 17), "score"),
    "foot": ((17, 23), "foot_score"),
    "face": ((23, 91), "face_score"),
    "lefthand": ((91, 112), "lefthand_score"),
    "righthand": ((112, 133), "righthand_score"),
    "wholebody": ((0, 133), "wholebody_score"),
}
REPORT_ORDER = ("body", "foot", "face", "lefthand", "righthand", "hand", "wholebody")


def _concat_fields(item: dict, name: str, what: str, allow_flat: bool) -> np.ndarray:
    """(133, 3) keypoints of a GT annotation / prediction, from the split fields or a flat 133x3 ``keypoints``; a
    field that is not a list of finite numbers is a ``DataError`` naming the file, the entry and the field."""
    kpts = item.get("keypoints")
    if allow_flat and isinstance(kpts, (list, tuple, np.ndarray)) and len(kpts) == 133 * 3:
        return finite_numbers(kpts, name, what, "keypoints").reshape(133, 3)
    missing = [f for f, _ in PART_FIELDS if f not in item]
    if missing:
        raise DataError(
            f"{name}: {what} is missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            "(whole-body needs 133x3 'keypoints' or the split COCO-WholeBody fields)"
        )
    parts = []
    for f, k in PART_FIELDS:
        arr = finite_numbers(item[f], name, what, f)
        if arr.size != 3 * k:
            raise DataError(f"{name}: {what} field '{f}' has {arr.size / 3:g} keypoints, expected {k}")
        parts.append(arr.reshape(k, 3))
    return np.concatenate(parts)


def _body_extent_area(kpts: np.ndarray) -> float:
    x, y = kpts[:17, 0], kpts[:17, 1]
    return float((x.max() - x.min()) * (y.max() - y.min()))


def _result_area(result: dict, kpts: np.ndarray, use_box: bool) -> float:
    """A prediction's area as ``loadRes`` sets it: its box's (:func:`result_boxes_used`), else its body keypoints'
    extent."""
    return float(result["bbox"][2]) * float(result["bbox"][3]) if use_box else _body_extent_area(kpts)


def _mean_defined(a: float, b: float) -> float:
    """Mean of the values that are defined (pycocotools reports -1 for undefined); -1 if neither is."""
    vals = [v for v in (a, b) if v >= 0]
    return float(sum(vals) / len(vals)) if vals else -1.0


def wholebody_eval(
    gt: str | os.PathLike | dict,
    results: str | os.PathLike | Sequence[dict],
    parts: Sequence[str] = REPORT_ORDER,
) -> dict[str, dict[str, float]]:
    """Per-part COCO-WholeBody AP/AR: ``{"body": {"AP": ..., ...}, "foot": ..., "face": ..., "lefthand": ...,
    "righthand": ..., "hand": ..., "wholebody": ...}``.

    Predictions carry either a 133x3 flat ``keypoints`` list or the split fields (``keypoints`` 17x3,
    ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``), plus ``score`` and optional
    ``<part>_score``.
    """
    unknown = [p for p in parts if p not in REPORT_ORDER]
    if unknown:
        raise ValueError(f"unknown whole-body part(s) {unknown}; choose from {', '.join(REPORT_ORDER)}")
    sigmas = get_skeleton("coco_wholebody").sigmas_array
    gt_data, gt_name = load_gt(gt)
    gt_kpts = [
        _concat_fields(a, gt_name, f"annotation {a.get('id', i)}", allow_flat=False)
        for i, a in enumerate(gt_data["annotations"])
    ]
    for i, a in enumerate(gt_data["annotations"]):
        if "area" not in a:
            raise DataError(f"{gt_name}: annotation {a.get('id', i)} is missing field 'area'")
        a["area"] = finite_score(a["area"], gt_name, f"annotation {a.get('id', i)}", "area")
    res, res_name = load_results(results)
    image_ids = {img["id"] for img in gt_data["images"]}
    categories = gt_keypoint_categories(gt_data)
    dt_kpts = []
    for i, r in enumerate(res):
        for f in ("image_id", "score"):
            if f not in r:
                raise DataError(f"{res_name}: result {i} is missing field '{f}'")
        check_result_ids(r, i, res_name, image_ids, categories)
        dt_kpts.append(_concat_fields(r, res_name, f"result {i}", allow_flat=True))
        for key in ["score"] + [k for _, k in PARTS.values() if k != "score" and k in r]:  # what the passes rank by
            r[key] = finite_score(r[key], res_name, f"result {i}", key)
    use_boxes = result_boxes_used(res, res_name)

    out: dict[str, dict[str, float]] = {}
    needed = {p for p in parts if p != "hand"} | ({"lefthand", "righthand"} if "hand" in parts else set())
    for part in (p for p in REPORT_ORDER if p in needed):
        (lo, hi), score_key = PARTS[part]
        part_gt = dict(gt_data)
        part_gt["annotations"] = [
            {
                "id": a["id"],
                "image_id": a["image_id"],
                "category_id": a.get("category_id", 1),
                "iscrowd": a.get("iscrowd", 0),
                "bbox": a["bbox"],
                "area": float(a["area"]),
                "keypoints": k[lo:hi].reshape(-1).tolist(),
                "num_keypoints": int((k[lo:hi, 2] > 0).sum()),
            }
            for a, k in zip(gt_data["annotations"], gt_kpts)
        ]
        dts, areas = [], []
        for r, k in zip(res, dt_kpts):
            if not (k[lo:hi, 2] > 0).any():
                continue  # no keypoint of this part predicted
            dts.append(
                {
                    "image_id": r["image_id"],
                    "category_id": r.get("category_id", 1),
                    "keypoints": k[lo:hi].reshape(-1).tolist(),
                    "score": float(r.get(score_key, r["score"])),
                }
            )
            areas.append(_result_area(r, k, use_boxes))
        out[part] = stats_dict(run_cocoeval(part_gt, dts, sigmas[lo:hi], dt_areas=areas))
    if "hand" in parts:
        out["hand"] = {m: _mean_defined(out["lefthand"][m], out["righthand"][m]) for m in out["lefthand"]}
    return {p: out[p] for p in REPORT_ORDER if p in parts}
