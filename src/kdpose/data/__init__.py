"""Data: the ``Sample`` type, dataset readers, crop geometry, augmentations and the top-down dataset.

Torch is imported only when batches are collated."""
from .coco import load_coco_keypoints, load_coco_wholebody, load_crowdpose, load_ubody
from .detections import load_detections
from .geometry import (
    bbox_xywh_to_xyxy,
    bbox_xyxy_to_center_scale,
    bbox_xyxy_to_xywh,
    fix_aspect_ratio,
    get_udp_warp_matrix,
    get_warp_matrix,
    invert_affine,
    invert_crop_points,
    transform_points,
    warp_image,
)
from .image import decode_image, read_image
from .mpii import load_mpii
from .sample import Batch, Sample, normalize_depth, normalize_image, stack_dataclasses
from .topdown import TopDownDataset, TopDownItem, collate_topdown
from .transforms import StagedPipeline, TopDownState, build_train_pipeline, build_val_pipeline

__all__ = [
    "Batch",
    "Sample",
    "StagedPipeline",
    "TopDownDataset",
    "TopDownItem",
    "TopDownState",
    "bbox_xywh_to_xyxy",
    "bbox_xyxy_to_center_scale",
    "bbox_xyxy_to_xywh",
    "build_train_pipeline",
    "build_val_pipeline",
    "collate_topdown",
    "decode_image",
    "fix_aspect_ratio",
    "get_udp_warp_matrix",
    "get_warp_matrix",
    "invert_affine",
    "invert_crop_points",
    "load_coco_keypoints",
    "load_coco_wholebody",
    "load_crowdpose",
    "load_detections",
    "load_mpii",
    "load_ubody",
    "normalize_depth",
    "normalize_image",
    "read_image",
    "stack_dataclasses",
    "transform_points",
    "warp_image",
]
