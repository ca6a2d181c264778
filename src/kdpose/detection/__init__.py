"""Person detection for the top-down pipeline: the built-in real-time detector (CSPNeXt + PAFPN + light
anchor-free head, trained on the synthetic scenes) and runners for the official RTMDet / YOLOX ONNX files.

Public names are imported lazily (``import kdpose.detection`` does not import torch); importing the package
registers the built-in names (``kdpose-det-nano``, ``kdpose-det-tiny``) in
``kdpose.inference.detectors.DETECTORS``. See docs/detector.md.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "PersonDetector": "kdpose.detection.detector:PersonDetector",
    "PersonDetectorModel": "kdpose.models.person_detector:PersonDetectorModel",
    "DetOutput": "kdpose.models.person_detector:DetOutput",
    "create_detector_model": "kdpose.detection.detector:create_detector_model",
    "load_detector_model": "kdpose.detection.detector:load_detector_model",
    "PointBoxCoder": "kdpose.detection.boxes:PointBoxCoder",
    "nms": "kdpose.detection.boxes:nms",
    "batched_nms": "kdpose.detection.boxes:batched_nms",
    "letterbox": "kdpose.detection.letterbox:letterbox",
    "coco_bbox_eval": "kdpose.detection.evaluate:coco_bbox_eval",
    "DetectionEvaluator": "kdpose.detection.evaluate:DetectionEvaluator",
}
BUILTIN_NAMES = ("kdpose-det-nano", "kdpose-det-tiny")


def _register() -> None:
    from ..inference.detectors import DETECTORS

    for name in BUILTIN_NAMES:
        if name not in DETECTORS:
            DETECTORS.register(_factory(name), name=name)


def _factory(name: str):
    def factory(device: str = "cpu", score_thr: float = 0.3):
        from .detector import PersonDetector

        return PersonDetector(name, device=device, score_thr=score_thr)

    factory.__name__ = name
    return factory


_register()


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kdpose.detection' has no attribute '{name}'")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY) + ["BUILTIN_NAMES"]
