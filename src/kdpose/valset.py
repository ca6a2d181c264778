"""Val sets in memory: the people of a COCO-format keypoint file, or people rendered by kdpose's synthetic generator,
with their ground-truth boxes and keypoints, and the person crops cut from them.

Its users: the accuracy guard of a faster precision (``kdpose.inference.guard``) and the shipped accuracy checks
(``kdpose.tasks.accuracy``) predict on a :class:`ValSet` and score with :meth:`ValSet.score` (the one top-down scorer,
:func:`kdpose.evaluation.score_topdown`); static int8 quantisation (``kdpose.export.quantize``) calibrates on
:func:`calibration_set`'s crops. All sit above this module, which needs only the data layer (readers, the generator,
crops), the layouts and the evaluation; it imports no torch.

>>> val = synthetic_val_set("coco", num_images=32)                                    # doctest: +SKIP
>>> crops, source = calibration_set((192, 256), MEAN, STD)                            # doctest: +SKIP
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .data.crops import crop_people
from .errors import ConfigError, DataError


@dataclass
class ValSet:
    """People with ground-truth boxes and keypoints, in memory.

    Attributes:
        name: where it comes from (a file, or the synthetic generator's settings), for messages.
        layout: skeleton name of the annotations.
        images: per image, (H, W, 3) uint8 BGR.
        boxes: per image, (N_i, 4) float32 xyxy ground-truth boxes.
        keypoints: per image, (N_i, K, 2) float32 ground-truth keypoints in image pixels.
        labelled: per image, (N_i, K) bool: the keypoint is labelled.
        image_ids: per image, its COCO id.
        gt: COCO ground truth of exactly these images (for AP).
    """

    name: str
    layout: str
    images: list[np.ndarray]
    boxes: list[np.ndarray]
    keypoints: list[np.ndarray]
    labelled: list[np.ndarray]
    image_ids: list[int]
    gt: dict

    @property
    def num_people(self) -> int:
        return int(sum(len(b) for b in self.boxes))

    def crops(self, input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
              channel_order: str = "RGB", padding: float = 1.25):
        """All people as one normalised :class:`~kdpose.data.crops.CropBatch` (inference geometry)."""
        return crop_people(self.images, self.boxes, input_size, mean, std, channel_order, padding)

    def score(self, keypoints: np.ndarray, keypoint_scores: np.ndarray, areas: np.ndarray | None = None,
              nms_thr: float | None = None, rescore_thr: float = 0.2) -> dict[str, float]:
        """:func:`kdpose.evaluation.score_topdown` of one predicted pose per person of this set, in its order (the
        order of :meth:`crops`): ``keypoints`` (N, K, 2) in image pixels, ``keypoint_scores`` (N, K); ``areas``,
        ``nms_thr`` and ``rescore_thr`` as there."""
        from .evaluation import score_topdown
        from .layouts import get_layout

        owners = np.repeat(np.asarray(self.image_ids), [len(b) for b in self.boxes])
        return score_topdown(self.gt, get_layout(self.layout), owners, keypoints, keypoint_scores,
                             np.concatenate(self.keypoints), np.concatenate(self.labelled), np.concatenate(self.boxes),
                             areas=areas, nms_thr=nms_thr, rescore_thr=rescore_thr)


def load_val_set(ann_file: str | os.PathLike, layout: str = "coco", image_root: str | os.PathLike | None = None,
                 max_images: int | None = None) -> ValSet:
    """The people of a COCO-format keypoint file (crowd regions left out), at most ``max_images`` images spread
    evenly over the file. Raises :class:`DataError` for a file without people or with unreadable images."""
    from .data.image import read_image
    from .data.jsonfile import load_json
    from .layouts import get_layout

    layout = get_layout(layout).name
    samples = [s for s in get_layout(layout).read_annotations(ann_file, mode="eval", image_root=image_root)
               if not s.meta.get("iscrowd", False)]
    if not samples:
        raise DataError(f"{ann_file}: no person instances (with keypoints, not crowd) to measure on")
    by_image: dict[int, list] = {}
    for s in samples:
        by_image.setdefault(int(s.image_id), []).append(s)
    ids = sorted(by_image)
    if max_images is not None:
        if max_images < 1:
            raise ConfigError(f"max_images must be >= 1, got {max_images}")
        ids = [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, min(max_images, len(ids))).round().astype(int))]
    images, boxes, keypoints, labelled = [], [], [], []
    for image_id in ids:
        group = by_image[image_id]
        images.append(group[0].image if group[0].image is not None else read_image(group[0].image_path, mode="color"))
        boxes.append(np.stack([np.asarray(s.bbox, np.float32) for s in group]))
        keypoints.append(np.stack([np.asarray(s.keypoints, np.float32)[:, :2] for s in group]))
        labelled.append(np.stack([np.asarray(s.visible) > 0 for s in group]))
    data = load_json(os.fspath(ann_file))
    keep = set(ids)
    if max_images is None:  # the whole file is the ground truth, as `kdpose eval` scores it: an image whose only
        # people have no pose to predict (no body keypoint labelled, yet labelled hands or face) still counts them
        keep |= {int(im["id"]) for im in data["images"]}
    gt = {"images": [im for im in data["images"] if im["id"] in keep],
          "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
          "categories": data.get("categories", [])}
    name = f"{ann_file} ({len(ids)} images, {sum(len(b) for b in boxes)} people)"
    return ValSet(name, layout, images, boxes, keypoints, labelled, ids, gt)


def synthetic_val_set(layout: str = "coco", num_images: int = 32, seed: int = 0, preset: str = "standard",
                      size: tuple[int, int] = (640, 480), max_people: int | None = None) -> ValSet:
    """People rendered by kdpose's generator (``kdpose.data.synth``, val split, JPEG-compressed as ``kdpose synth``
    writes them): a val set for any machine, no download needed. Only the body (``coco``) and whole-body
    (``coco_wholebody``) layouts can be rendered."""
    from .data.synth import SynthConfig, write_coco_dataset
    from .layouts import get_layout

    layout = get_layout(layout).name
    synth_layout = get_layout(layout).synthetic_name("synthetic val set (give a COCO-format val file instead)")
    settings: dict[str, Any] = {"layout": synth_layout, "width": int(size[0]), "height": int(size[1])}
    if max_people is not None:
        settings["max_people"] = int(max_people)
        settings["min_people"] = min(int(max_people), 1)
    cfg = SynthConfig.from_preset(preset, **settings)
    with tempfile.TemporaryDirectory(prefix="kdpose-val-") as tmp:
        ann = write_coco_dataset(Path(tmp), cfg, num_images, seed=seed, split="val")
        val = load_val_set(ann, layout)
    val.name = (f"synthetic val ({preset} preset, seed {seed}, {len(val.images)} images {size[0]}x{size[1]}, "
                f"{val.num_people} people)")
    return val


def calibration_set(input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                    channel_order: str = "RGB", layout: str | None = "coco", ann_file: str | os.PathLike | None = None,
                    image_root: str | os.PathLike | None = None, count: int = 64,
                    seed: int = 0) -> tuple[np.ndarray, str]:
    """(count, 3, H, W) normalised person crops for static int8 calibration, and where they come from.

    From ``ann_file`` (COCO format) when given, else rendered synthetic people (body layout unless ``layout`` is
    whole-body: activation ranges do not depend on which keypoints a model predicts). Crops are spread evenly
    over the people found."""
    if count < 1:
        raise ConfigError(f"calibration count must be >= 1, got {count}")
    from .layouts import get_layout

    if ann_file is not None:
        val = load_val_set(ann_file, layout or "coco", image_root)
    else:
        renderable = layout is not None and bool(get_layout(layout).synthetic)
        val = synthetic_val_set(layout if renderable else "coco", num_images=max(4, (count + 1) // 2),
                                seed=seed + 1000)
    batch = val.crops(input_size, mean, std, channel_order)
    if len(batch.inputs) == 0:
        raise DataError(f"{val.name}: no person crops to calibrate on")
    picks = np.unique(np.linspace(0, len(batch.inputs) - 1, min(count, len(batch.inputs))).round().astype(int))
    source = str(ann_file) if ann_file is not None else f"rendered synthetic people (seed {seed + 1000})"
    return np.ascontiguousarray(batch.inputs[picks]), f"{len(picks)} crops of {source}"


__all__ = ["ValSet", "calibration_set", "load_val_set", "synthetic_val_set"]
