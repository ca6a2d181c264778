"""Accuracy guard of a faster precision: how much a bf16 / fp16 / int8 variant of a model moves its results.

Both models run on the same person crops of a val set with ground-truth boxes (the crops ``PoseEstimator`` makes:
box x1.25, aspect fixed, affine warp). The guard reports

* the **AP drop** in points (COCO OKS AP x 100 of fp32 minus that of the variant, one pose per ground-truth box,
  no NMS), and
* the **mean keypoint shift** in crop pixels (model-input pixels) between the two models' keypoints, over the
  labelled keypoints,

and passes when the drop is at most 0.5 points and the shift at most 1 px (``MAX_AP_DROP``, ``MAX_SHIFT_PX``).

A val set is a COCO-format keypoint file with its images (:func:`load_val_set`) or people rendered by kdpose's
synthetic generator (:func:`synthetic_val_set`, the ``standard`` preset: COCO-like labelling). The same crops
calibrate static int8 quantisation (:func:`calibration_set`).

>>> val = synthetic_val_set("coco", num_images=32)                                    # doctest: +SKIP
>>> report = accuracy_guard(fp32_backend, int8_backend, val, precision="int8")       # doctest: +SKIP
>>> print(report.line())                                                             # doctest: +SKIP
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kdpose.errors import ConfigError, DataError

MAX_AP_DROP = 0.5     # AP points (AP x 100)
MAX_SHIFT_PX = 1.0    # mean keypoint shift, crop pixels
AUTO_GUARD_IMAGES = 16  # synthetic images ``precision="auto"`` checks a faster precision on


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
        """All people as one normalised :class:`~kdpose.inference.topdown.CropBatch` (inference geometry)."""
        from kdpose.inference.topdown import crop_people

        return crop_people(self.images, self.boxes, input_size, mean, std, channel_order, padding)


def load_val_set(ann_file: str | os.PathLike, layout: str = "coco", image_root: str | os.PathLike | None = None,
                 max_images: int | None = None) -> ValSet:
    """The people of a COCO-format keypoint file (crowd regions left out), at most ``max_images`` images spread
    evenly over the file. Raises :class:`DataError` for a file without people or with unreadable images."""
    from kdpose.data.jsonfile import load_json
    from kdpose.data.image import read_image
    from kdpose.layouts import get_layout

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
    from kdpose.data.synth import SynthConfig, write_coco_dataset
    from kdpose.layouts import get_layout

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
    from kdpose.layouts import get_layout

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


@dataclass(frozen=True)
class GuardReport:
    """fp32 vs a faster precision on one val set (AP in points = AP x 100; shifts in crop pixels)."""

    precision: str
    val_name: str
    ap_fp32: float
    ap_variant: float
    mean_shift_px: float
    p99_shift_px: float
    max_shift_px: float
    num_people: int
    max_ap_drop: float = MAX_AP_DROP
    max_mean_shift: float = MAX_SHIFT_PX

    @property
    def ap_drop(self) -> float:
        return self.ap_fp32 - self.ap_variant

    @property
    def passed(self) -> bool:
        return self.ap_drop <= self.max_ap_drop and self.mean_shift_px <= self.max_mean_shift

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"accuracy guard {self.precision} vs fp32: AP {self.ap_fp32:.2f} -> {self.ap_variant:.2f} (drop "
                f"{self.ap_drop:.2f} points, limit {self.max_ap_drop:g}), mean keypoint shift {self.mean_shift_px:.3f}"
                f" px (limit {self.max_mean_shift:g}; p99 {self.p99_shift_px:.2f}, max {self.max_shift_px:.1f}) on "
                f"{self.val_name}: {verdict}")

    def as_dict(self) -> dict:
        return {"precision": self.precision, "val": self.val_name, "ap_fp32": self.ap_fp32,
                "ap_variant": self.ap_variant, "ap_drop": self.ap_drop, "mean_shift_px": self.mean_shift_px,
                "p99_shift_px": self.p99_shift_px, "max_shift_px": self.max_shift_px,
                "num_people": self.num_people, "passed": self.passed}


def predict_crops(backend: Any, inputs: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``backend.predict`` over ``inputs`` in chunks: (N, K, 2) crop-pixel keypoints, (N, K) scores."""
    if len(inputs) == 0:
        k = backend.skeleton.num_keypoints
        return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
    parts = [backend.predict(inputs[i:i + batch]) for i in range(0, len(inputs), batch)]
    return (np.concatenate([p[0] for p in parts]).astype(np.float32),
            np.concatenate([p[1] for p in parts]).astype(np.float32))


def val_ap(val: ValSet, keypoints: np.ndarray, scores: np.ndarray, owner: np.ndarray) -> float:
    """COCO OKS AP x 100 of one pose per ground-truth box (image-pixel ``keypoints`` (N, K, 2), ``scores``
    (N, K), ``owner`` (N,) image index), with the layout's protocol."""
    from kdpose.inference.topdown import rescore
    from kdpose.layouts import get_layout

    inst = rescore(np.ones(len(keypoints), np.float32), scores)
    flat = np.concatenate([keypoints, scores[..., None]], -1).reshape(len(keypoints), -1)
    results = [{"image_id": int(val.image_ids[o]), "category_id": 1, "score": float(s),
                "keypoints": [float(v) for v in row]} for o, row, s in zip(owner, flat, inst)]
    if not results:
        return 0.0
    metrics = get_layout(val.layout).evaluate(val.gt, results)
    return 100.0 * (metrics["wholebody"]["AP"] if "wholebody" in metrics else metrics["AP"])


def accuracy_guard(reference: Any, variant: Any, val: ValSet, precision: str = "variant",
                   max_ap_drop: float = MAX_AP_DROP, max_shift_px: float = MAX_SHIFT_PX,
                   batch: int = 32) -> GuardReport:
    """Compare ``variant`` (a pose backend in a faster precision) with ``reference`` (the same model in fp32) on
    ``val``'s ground-truth boxes.

    Both are pose backends (``predict(inputs) -> (keypoints in crop pixels, scores)``, ``input_size``, ``mean``,
    ``std``, ``channel_order``, ``skeleton``): ``TorchBackend`` / ``OnnxBackend`` or a ``PoseEstimator``'s
    ``.backend``. Returns a :class:`GuardReport` (``.passed``, ``.line()``).
    """
    from kdpose.inference.topdown import back_project

    k = reference.skeleton.num_keypoints
    if tuple(variant.input_size) != tuple(reference.input_size) or variant.skeleton.num_keypoints != k:
        raise ConfigError("accuracy guard: the variant's input size or keypoint count differs from the reference's")
    if val.labelled and val.labelled[0].shape[-1] != k:
        raise ConfigError(f"accuracy guard: {val.name} has {val.labelled[0].shape[-1]} keypoints per person, the "
                          f"model predicts {k}")
    crops = val.crops(reference.input_size, reference.mean, reference.std, reference.channel_order)
    kp_ref, sc_ref = predict_crops(reference, crops.inputs, batch)
    kp_var, sc_var = predict_crops(variant, crops.inputs, batch)
    shift = np.linalg.norm(kp_var.astype(np.float64) - kp_ref, axis=-1)  # (N, K)
    labelled = np.concatenate(val.labelled) if val.labelled else np.zeros((0, 0), bool)
    chosen = shift[labelled] if labelled.any() else shift.reshape(-1)
    if chosen.size == 0:
        raise DataError(f"{val.name}: no people to measure the accuracy guard on")
    size = reference.input_size

    def ap(kp, sc):
        return val_ap(val, back_project(kp, crops.center, crops.scale, size), sc, crops.owner)

    return GuardReport(precision=precision, val_name=val.name, ap_fp32=ap(kp_ref, sc_ref),
                       ap_variant=ap(kp_var, sc_var),
                       mean_shift_px=float(chosen.mean()), p99_shift_px=float(np.percentile(chosen, 99)),
                       max_shift_px=float(chosen.max()), num_people=len(kp_ref), max_ap_drop=max_ap_drop,
                       max_mean_shift=max_shift_px)


def guard_onnx(fp32_path: str | os.PathLike, variant_path: str | os.PathLike, val: ValSet,
               threads: int | None = None) -> GuardReport:
    """:func:`accuracy_guard` of an exported variant (``kdpose export --int8`` / ``--fp16``) against its fp32 file,
    both run with onnxruntime (the precision named in the report is the variant file's)."""
    from kdpose.inference.backends import OnnxBackend

    reference = OnnxBackend(fp32_path, layout=val.layout, threads=threads)
    variant = OnnxBackend(variant_path, layout=val.layout, threads=threads)
    return accuracy_guard(reference, variant, val, variant.precision)
