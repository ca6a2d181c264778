"""Synthetic scenes -> COCO / COCO-WholeBody annotation dictionaries (exactly the fields those datasets define).

Per annotation: ``id``, ``image_id``, ``category_id`` (1, person), ``iscrowd`` (0), ``area`` (silhouette pixels),
``bbox`` (xywh of the silhouette and visible keypoints), ``num_keypoints`` (labelled body keypoints),
``keypoints`` (17 x [x, y, v]; unlabelled = [0, 0, 0]), ``segmentation`` (compressed RLE from
``pycocotools.mask.encode``). Whole-body adds ``foot_kpts`` (6), ``face_kpts`` (68), ``lefthand_kpts`` (21),
``righthand_kpts`` (21), ``foot_valid`` / ``face_valid`` / ``lefthand_valid`` / ``righthand_valid`` and
``face_box`` / ``lefthand_box`` / ``righthand_box`` (xywh, zeros when invalid). Coordinates are rounded to 0.01 px
so that the JSON text is identical for identical inputs.

Pixel convention, as COCO's files are read in practice: keypoints are pixel indices (pixel (u, v)'s centre is
(u, v), MMPose's frame, flipped by x -> W - 1 - x), while ``bbox``, ``area`` and ``segmentation`` are pycocotools'
continuous frame (pixel u covers [u, u + 1)). A blob's box is therefore centred 0.5 px right of and below its
keypoints, as in COCO itself."""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from ...skeletons import get_skeleton
from .config import GENERATOR_VERSION, SynthConfig
from .scene import SynthInstance

WHOLEBODY_FIELDS = (("foot", "foot_kpts", (17, 23)), ("face", "face_kpts", (23, 91)),
                    ("lefthand", "lefthand_kpts", (91, 112)), ("righthand", "righthand_kpts", (112, 133)))


def _r(x: float) -> float:
    return round(float(x), 2)


def _flat_keypoints(points: np.ndarray, flags: np.ndarray) -> list:
    out = []
    for (x, y), v in zip(points.tolist(), flags.tolist()):
        out += [_r(x), _r(y), int(v)] if v > 0 else [0, 0, 0]
    return out


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [_r(x0), _r(y0), _r(x1 - x0), _r(y1 - y0)]


def encode_mask(mask: np.ndarray) -> dict:
    """(H, W) bool -> COCO compressed RLE with a JSON-ready (str) ``counts``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def instance_annotation(inst: SynthInstance, mask: np.ndarray, image_id: int, ann_id: int, wholebody: bool) -> dict:
    """One COCO (or COCO-WholeBody) annotation for a synthetic person with silhouette ``mask`` (H, W) bool."""
    ann = {
        "id": int(ann_id),
        "image_id": int(image_id),
        "category_id": 1,
        "iscrowd": 0,
        "area": float(inst.area),
        "bbox": _xywh(inst.bbox),
        "num_keypoints": inst.num_keypoints,
        "keypoints": _flat_keypoints(inst.keypoints[:17], inst.flags[:17]),
        "segmentation": encode_mask(mask),
    }
    if wholebody:
        for part, key, (lo, hi) in WHOLEBODY_FIELDS:
            ann[key] = _flat_keypoints(inst.keypoints[lo:hi], inst.flags[lo:hi])
            ann[f"{part}_valid"] = bool(inst.part_valid.get(part, False))
        for part in ("face", "lefthand", "righthand"):
            ann[f"{part}_box"] = _xywh(inst.part_boxes.get(part, np.zeros(4)))
    return ann


def categories(cfg: SynthConfig) -> list[dict]:
    """The person category with the 17 COCO keypoint names and 1-based skeleton links (as in COCO and
    COCO-WholeBody, whose category lists only the body keypoints)."""
    body = get_skeleton("coco")
    return [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(body.keypoint_names),
        "skeleton": [[int(a) + 1, int(b) + 1] for a, b in body.links],
    }]


def info(cfg: SynthConfig, seed: int, split: str, num_images: int) -> dict:
    """The ``info`` block: generator version and every setting, so results name the data they came from (no
    timestamps: the same settings give byte-identical files)."""
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}
    return {
        "description": f"kdpose synthetic {cfg.modality} multi-person pose data ({cfg.skeleton_name})",
        "version": GENERATOR_VERSION,
        "generator": GENERATOR_VERSION,
        "seed": int(seed),
        "split": split,
        "num_images": int(num_images),
        "settings": settings,
    }
