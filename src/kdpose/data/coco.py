"""Readers for COCO-style keypoint files: COCO, CrowdPose, COCO-WholeBody and UBody -> ``list[Sample]``.

Conventions (MMPose's ``BaseCocoStyleDataset`` / ``CocoWholeBodyDataset``):

* Instances come image by image, in the order of the file's ``images`` list, each image's annotations in
  file order (so evaluation output follows the image id order of the annotation file).
* ``bbox`` is the COCO xywh box converted to xyxy and clipped to ``[0, W-1] x [0, H-1]``.
* ``visible = min(1, v)`` (COCO) or ``v > 0`` (whole-body, whose v may be a float confidence); the raw ``v``
  values are kept in ``Sample.flags`` (float32).
* Instances dropped, in both modes (MMPose's top-down rule, ``_is_valid_instance``, applies to training and to
  validation with ground-truth boxes alike): crowds, ``num_keypoints == 0`` (body keypoints only, for whole-body:
  a person with labelled face or hands but no body point is not a top-down instance), no labelled coordinate
  (``max(keypoints) <= 0``) and degenerate boxes (w or h <= 0). ``mode`` names the use; both read the same people.
* ``Sample.area`` is the annotation's ``area``; CrowdPose files have none, so ``0.53 * w * h`` is used (the
  CrowdPose evaluation's convention).
"""
from __future__ import annotations

import logging
import numbers
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DataError
from ..skeletons import Skeleton, get_skeleton
from .geometry import clip_bbox_xywh_to_xyxy
from .jsonfile import finite_numbers, is_id, load_json, require
from .sample import Sample

MODES = ("train", "eval")
WHOLEBODY_FIELDS = (  # (annotation field, number of keypoints), concatenated in this order to 133
    ("keypoints", 17),
    ("foot_kpts", 6),
    ("face_kpts", 68),
    ("lefthand_kpts", 21),
    ("righthand_kpts", 21),
)
WHOLEBODY_VALID = ("foot_valid", "face_valid", "lefthand_valid", "righthand_valid")
WHOLEBODY_BOXES = ("face_box", "lefthand_box", "righthand_box")

log = logging.getLogger(__name__)


def _skeleton(layout: str | Skeleton) -> Skeleton:
    return layout if isinstance(layout, Skeleton) else get_skeleton(layout)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got '{mode}'")


def load_coco_file(path: str | os.PathLike) -> dict:
    """Load a COCO-style annotation file and check its top-level structure."""
    path = os.fspath(path)
    data = load_json(path)
    if not isinstance(data, dict):
        hint = " (MMPose's MPII JSON? read it with kdpose.data.load_mpii)" if isinstance(data, list) else ""
        raise DataError(f"{path}: expected a COCO annotation object with 'images' and 'annotations', "
                        f"got a {type(data).__name__}{hint}")
    require(data, ("images", "annotations"), path, "the annotation file")
    for key in ("images", "annotations"):
        if not isinstance(data[key], list):
            raise DataError(f"{path}: '{key}' is a {type(data[key]).__name__}, expected a list")
    return data


def iter_image_annotations(
    data: dict, path: str, frame_step: int = 1
) -> Iterator[tuple[dict, dict]]:
    """Yield ``(image, annotation)`` pairs in image-list order (annotations in file order per image).

    ``frame_step > 1`` keeps only images whose id is a multiple of it (MMPose UBody's ``sample_interval``)."""
    images = {}
    for img in data["images"]:
        img_name = f"image entry {img.get('id', '?') if isinstance(img, dict) else '?'}"
        require(img, ("id", "file_name", "width", "height"), path, img_name)
        if not is_id(img["id"]):  # samples carry int ids; pycocotools' results are matched on them
            raise DataError(f"{path}: {img_name} has id {img['id']!r}, expected an integer")
        for key in ("width", "height"):
            if isinstance(img[key], bool) or not isinstance(img[key], numbers.Real) or not img[key] > 0:
                raise DataError(f"{path}: {img_name} has {key} {img[key]!r}, expected a positive number of pixels")
        if img["id"] in images:
            raise DataError(f"{path}: image id {img['id']} appears twice in 'images'")
        images[img["id"]] = img
    by_image: dict[Any, list[dict]] = defaultdict(list)
    ann_ids: set = set()
    for ann in data["annotations"]:
        require(ann, ("image_id",), path, f"annotation {ann.get('id', '?') if isinstance(ann, dict) else '?'}")
        if not is_id(ann["image_id"]) or ann["image_id"] not in images:
            raise DataError(f"{path}: annotation {ann.get('id', '?')} refers to unknown image_id {ann['image_id']!r}")
        if "id" in ann:  # pycocotools keeps one annotation of an id: the evaluation would lose people silently
            if not is_id(ann["id"]):
                raise DataError(f"{path}: annotation {ann['id']!r} (of image {ann['image_id']}) has an id that is "
                                "not an integer")
            if ann["id"] in ann_ids:
                raise DataError(f"{path}: annotation id {ann['id']} appears twice in 'annotations'")
            ann_ids.add(ann["id"])
        by_image[ann["image_id"]].append(ann)
    for img_id, img in images.items():
        if frame_step > 1 and int(img_id) % frame_step != 0:
            continue
        for ann in by_image.get(img_id, ()):
            yield img, ann


def _keypoint_array(values: Any, k: int, path: str, ann_id: Any, field: str, layout: str) -> np.ndarray:
    """Flat [x, y, v] * k list -> (k, 3) float32; ``DataError`` on a wrong count, a value that is not a finite
    number (text, None, NaN, inf: evaluation refuses them too) or a negative flag ``v``."""
    if isinstance(values, (list, tuple)) and values and all(isinstance(v, (list, tuple)) for v in values):
        raise DataError(f"{path}: annotation {ann_id} field '{field}' is a nested list, expected a flat list of "
                        f"{3 * k} numbers (x, y, v per keypoint)")
    arr = finite_numbers(values, path, f"annotation {ann_id}", field).astype(np.float32)
    if arr.size != 3 * k:
        raise DataError(f"{path}: annotation {ann_id} field '{field}' has {arr.size / 3:g} keypoints, "
                        f"layout '{layout}' expects {k}")
    arr = arr.reshape(k, 3)
    if (arr[:, 2] < 0).any():  # min(1, v) would make it a negative visibility weight
        raise DataError(f"{path}: annotation {ann_id} field '{field}' has a negative visibility flag "
                        f"{float(arr[:, 2].min()):g} (COCO: 0 unlabelled, 1 occluded, 2 visible)")
    return arr


def _make_sample(
    path: str,
    img: dict,
    ann: dict,
    kpts: np.ndarray,
    visible: np.ndarray,
    image_root: str,
    body_labelled: int,
    area_fallback: float = 0.53,
) -> Sample | None:
    """Build one Sample or ``None`` when the instance is filtered out (see the module docstring)."""
    x, y, w, h = (float(v) for v in finite_numbers(ann["bbox"], path, f"annotation {ann['id']}", "bbox", 4))
    if w <= 0 or h <= 0 or kpts.max() <= 0:
        return None
    if bool(ann.get("iscrowd", 0)) or int(ann.get("num_keypoints", body_labelled)) == 0:
        return None
    bbox = clip_bbox_xywh_to_xyxy(np.array([x, y, w, h], np.float32), int(img["width"]), int(img["height"]))
    return Sample(
        image_path=os.path.join(image_root, img["file_name"]),
        image_id=int(img["id"]),
        bbox=bbox.astype(np.float32),
        keypoints=np.ascontiguousarray(kpts[:, :2]),
        visible=visible.astype(np.float32),
        ann_id=int(ann.get("id", -1)),
        bbox_score=1.0,
        area=float(ann["area"]) if "area" in ann else area_fallback * w * h,
        flags=kpts[:, 2].copy(),
        meta={
            "iscrowd": bool(ann.get("iscrowd", 0)),
            "num_keypoints": int(ann.get("num_keypoints", body_labelled)),
            "image_size": (int(img["width"]), int(img["height"])),
        },
    )


def _image_root(path: str, image_root: str | os.PathLike | None) -> str:
    return os.fspath(image_root) if image_root is not None else str(Path(path).resolve().parent)


def check_image_folder(samples: list[Sample], ann_file: str | os.PathLike, image_root: str | os.PathLike | None = None,
                       key: str = "image_root", first: int = 8) -> None:
    """Check, before training starts, that the images of ``samples`` are where the reader put them: the folder
    exists and at least one of the first ``first`` distinct images is a file. A wrong folder otherwise surfaces
    only inside DataLoader workers, after every sample has been skipped.

    Args:
        samples: the reader's output (paths already joined with the folder).
        ann_file: the annotation file they come from (its folder is the default image folder).
        image_root: the folder given to the reader (None: the annotation file's folder).
        key: what set the folder, for the message (e.g. ``data.train.img_dir``).

    Raises:
        DataError: naming the folder, the setting and an image that is not there.
    """
    root = _image_root(os.fspath(ann_file), image_root)
    if not os.path.isdir(root):
        raise DataError(f"{root}: image folder not found ({key}, for {os.fspath(ann_file)})")
    everything = list(dict.fromkeys(s.image_path for s in samples if s.image_path))
    paths = everything[:first]
    if paths and not any(os.path.isfile(p) for p in paths):
        example = os.path.relpath(paths[0], root)
        raise DataError(f"{root}: none of the first {len(paths)} images of {os.fspath(ann_file)} is in this folder "
                        f"(e.g. {example}); set {key} to the folder that holds them")
    # a few missing images are skipped while training (their people replaced by the next ones): say how many once,
    # here, instead of one line per image inside the progress bar (a stat per image: ~0.1 s for 40k)
    missing = [p for p in everything if not os.path.isfile(p)]
    if missing:
        log.warning("%s: %d of the %d images of %s are missing (e.g. %s); their people are skipped",
                    root, len(missing), len(everything), os.fspath(ann_file), os.path.relpath(missing[0], root))


def load_coco_keypoints(
    path: str | os.PathLike,
    layout: str | Skeleton = "coco",
    mode: str = "train",
    image_root: str | os.PathLike | None = None,
) -> list[Sample]:
    """Read a COCO keypoints file (also CrowdPose and any COCO-format layout with ``K*3`` keypoint values).

    Args:
        path: annotation JSON.
        layout: skeleton name or object; fixes K (wrong counts raise ``DataError``).
        mode: ``"train"`` or ``"eval"`` (the same instances: the module docstring).
        image_root: folder of the images (default: the annotation file's folder).
    """
    _check_mode(mode)
    path = os.fspath(path)
    sk = _skeleton(layout)
    k = sk.num_keypoints
    data = load_coco_file(path)
    root = _image_root(path, image_root)
    samples = []
    for img, ann in iter_image_annotations(data, path):
        require(ann, ("keypoints", "bbox", "id"), path, f"annotation {ann.get('id', '?')}")
        kpts = _keypoint_array(ann["keypoints"], k, path, ann["id"], "keypoints", sk.name)
        visible = np.minimum(1.0, kpts[:, 2])
        sample = _make_sample(path, img, ann, kpts, visible, root, int((kpts[:, 2] > 0).sum()))
        if sample is not None:
            samples.append(sample)
    return samples


def load_crowdpose(
    path: str | os.PathLike, mode: str = "train", image_root: str | os.PathLike | None = None
) -> list[Sample]:
    """CrowdPose (COCO format, 14 keypoints). The image's ``crowdIndex`` is kept in ``meta['crowd_index']``."""
    samples = load_coco_keypoints(path, "crowdpose", mode, image_root)
    crowd = {img["id"]: img.get("crowdIndex") for img in load_coco_file(path)["images"]}
    for s in samples:
        s.meta["crowd_index"] = crowd.get(s.image_id)
    return samples


def load_coco_wholebody(
    path: str | os.PathLike,
    mode: str = "train",
    image_root: str | os.PathLike | None = None,
    frame_step: int = 1,
) -> list[Sample]:
    """Read a COCO-WholeBody file: body + foot + face + left hand + right hand -> 133 keypoints.

    ``visible = v > 0``; ``meta`` holds the ``*_valid`` flags and the face/hand boxes (xywh) when present.
    ``frame_step`` keeps one image id in N (for UBody video frames)."""
    _check_mode(mode)
    path = os.fspath(path)
    data = load_coco_file(path)
    root = _image_root(path, image_root)
    samples = []
    for img, ann in iter_image_annotations(data, path, frame_step=frame_step):
        require(ann, ("bbox", "id") + tuple(f for f, _ in WHOLEBODY_FIELDS), path, f"annotation {ann.get('id', '?')}")
        parts = [_keypoint_array(ann[f], n, path, ann["id"], f, "coco_wholebody") for f, n in WHOLEBODY_FIELDS]
        kpts = np.concatenate(parts, axis=0)
        visible = (kpts[:, 2] > 0).astype(np.float32)
        sample = _make_sample(path, img, ann, kpts, visible, root, int((parts[0][:, 2] > 0).sum()))
        if sample is None:
            continue
        sample.meta.update({v: bool(ann[v]) for v in WHOLEBODY_VALID if v in ann})
        sample.meta.update({b: list(map(float, ann[b])) for b in WHOLEBODY_BOXES if b in ann})
        samples.append(sample)
    return samples


def load_ubody(
    path: str | os.PathLike,
    mode: str = "train",
    image_root: str | os.PathLike | None = None,
    frame_step: int = 1,
) -> list[Sample]:
    """UBody (COCO-WholeBody format, video frames); ``frame_step`` keeps image ids divisible by N."""
    return load_coco_wholebody(path, mode=mode, image_root=image_root, frame_step=frame_step)
