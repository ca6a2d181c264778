"""kdpose: fast, accurate multi-person 2D pose estimation made small by knowledge distillation.

The public API is imported lazily so that ``import kdpose`` stays fast and light (no torch import until a
model is needed)."""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> "module:attribute"; filled in as subsystems land
_LAZY = {
    "get_skeleton": "kdpose.skeletons:get_skeleton",
    "list_skeletons": "kdpose.skeletons:list_skeletons",
    "Skeleton": "kdpose.skeletons:Skeleton",
    "coco_to_openpose": "kdpose.skeletons:coco_to_openpose",
    "read_image": "kdpose.data.image:read_image",
    "coco_keypoint_eval": "kdpose.evaluation.coco:coco_keypoint_eval",
    "wholebody_eval": "kdpose.evaluation.wholebody:wholebody_eval",
    "KdposeError": "kdpose.errors:KdposeError",
    "DataError": "kdpose.errors:DataError",
    "ConfigError": "kdpose.errors:ConfigError",
    "CheckpointError": "kdpose.errors:CheckpointError",
    "load_model": "kdpose.models:load_model",
    "create_model": "kdpose.models:create_model",
    "list_models": "kdpose.models:list_models",
    "save_weights": "kdpose.models:save_weights",
    "PoseEstimator": "kdpose.inference.estimator:PoseEstimator",
    "BottomUpEstimator": "kdpose.inference.bottomup:BottomUpEstimator",
    "ModelInfo": "kdpose.model_info:ModelInfo",
    "get_layout": "kdpose.layouts:get_layout",
    "train": "kdpose.tasks:train",
    "PersonDetector": "kdpose.detection.detector:PersonDetector",
    "export_onnx": "kdpose.export.onnx:export_onnx",
    "OrtRunner": "kdpose.export.runtime:OrtRunner",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kdpose' has no attribute '{name}'")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = sorted(_LAZY) + ["__version__"]
