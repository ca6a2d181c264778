"""Top-down inference: numpy images in, people out (see :class:`PoseEstimator`), plus the video pipeline
(skip-frame detection, tracking, One-Euro smoothing), frame sources and result writers.

Heavy modules are imported lazily so that ``import kdpose.inference`` stays light."""
from __future__ import annotations

import importlib

_LAZY = {
    "PoseEstimator": "kdpose.inference.estimator:PoseEstimator",
    "BottomUpEstimator": "kdpose.inference.bottomup:BottomUpEstimator",
    "Person": "kdpose.inference.estimator:Person",
    "PoseArrays": "kdpose.inference.estimator:PoseArrays",
    "VideoPoseEstimator": "kdpose.inference.video:VideoPoseEstimator",
    "FrameSource": "kdpose.inference.sources:FrameSource",
    "read_image": "kdpose.data.image:read_image",
    "OneEuroFilter": "kdpose.inference.smoothing:OneEuroFilter",
    "OneEuroParams": "kdpose.inference.smoothing:OneEuroParams",
    "PoseTracker": "kdpose.inference.tracking:PoseTracker",
    "DetectionFile": "kdpose.inference.detectors:DetectionFile",
    "flip_test": "kdpose.inference.flip:flip_test",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kdpose.inference' has no attribute '{name}'")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
