"""Accuracy guard of a faster precision: how much a bf16 / fp16 / int8 variant of a model moves its results.

Both models run on the same person crops of a val set with ground-truth boxes (the crops ``PoseEstimator`` makes:
box x1.25, aspect fixed, affine warp). The guard reports

* the **AP drop** in points (COCO OKS AP x 100 of fp32 minus that of the variant, one pose per ground-truth box,
  no NMS), and
* the **mean keypoint shift** in crop pixels (model-input pixels) between the two models' keypoints, over the
  labelled keypoints,

and passes when the drop is at most 0.5 points and the shift at most 1 px (``MAX_AP_DROP``, ``MAX_SHIFT_PX``).

A val set (:mod:`kdpose.valset`, re-exported here) is a COCO-format keypoint file with its images
(:func:`load_val_set`) or people rendered by kdpose's synthetic generator (:func:`synthetic_val_set`, the ``standard``
preset: COCO-like labelling). The same crops calibrate static int8 quantisation (:func:`calibration_set`).

>>> val = synthetic_val_set("coco", num_images=32)                                    # doctest: +SKIP
>>> report = accuracy_guard(fp32_backend, int8_backend, val, precision="int8")       # doctest: +SKIP
>>> print(report.line())                                                             # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from kdpose.errors import ConfigError, DataError
from kdpose.valset import ValSet, calibration_set, load_val_set, synthetic_val_set  # noqa: F401  (re-exported)

MAX_AP_DROP = 0.5     # AP points (AP x 100)
MAX_SHIFT_PX = 1.0    # mean keypoint shift, crop pixels
AUTO_GUARD_IMAGES = 16  # synthetic images ``precision="auto"`` checks a faster precision on


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


def accuracy_guard(reference: Any, variant: Any, val: ValSet, precision: str = "variant",
                   max_ap_drop: float = MAX_AP_DROP, max_shift_px: float = MAX_SHIFT_PX,
                   batch: int = 32) -> GuardReport:
    """Compare ``variant`` (a pose backend in a faster precision) with ``reference`` (the same model in fp32) on
    ``val``'s ground-truth boxes.

    Both are pose backends (``predict(inputs) -> (keypoints in crop pixels, scores)``, ``input_size``, ``mean``,
    ``std``, ``channel_order``, ``skeleton``): ``TorchBackend`` / ``OnnxBackend`` or a ``PoseEstimator``'s
    ``.backend``. Returns a :class:`GuardReport` (``.passed``, ``.line()``).
    """
    from kdpose.inference.topdown import RESCORE_KPT_THR, back_project

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
        # the shipped checks' protocol, settings explicit: one pose per ground-truth box and no OKS-NMS (each box
        # holds one person, so NMS could only drop true poses, and the AP drop would then measure NMS, not the
        # precision), MMPose's rescoring at RESCORE_KPT_THR; the crops are in val's person order
        kp_image = back_project(kp, crops.center, crops.scale, size)
        return 100.0 * val.score(kp_image, sc, nms_thr=None, rescore_thr=RESCORE_KPT_THR)["AP"]

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
