"""Person detection for the top-down pipeline: the built-in real-time detector (CSPNeXt + PAFPN + light
anchor-free head, trained on the synthetic scenes) and runners for the official RTMDet / YOLOX ONNX files.

Public names are imported lazily (``import kdpose.detection`` does not import torch). The registry of named
detectors, ``DETECTORS`` (``kdpose-det-nano``, ``kdpose-det-tiny``, and any the user registers), lives in
:mod:`kdpose.detection.registry`; detection imports nothing from ``kdpose.inference``, which builds on it. See
docs/detector.md.
"""
from __future__ import annotations

import importlib

# the named detectors (kdpose.inference.detectors looks names up here): an explicit import, no torch
from .registry import BUILTIN_NAMES, DETECTORS

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


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kdpose.detection' has no attribute '{name}'")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY) + ["BUILTIN_NAMES", "DETECTORS"]
