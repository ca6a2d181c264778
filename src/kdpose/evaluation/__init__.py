"""Evaluation: COCO OKS AP/AR (pycocotools), COCO-WholeBody per-part AP, CrowdPose, PCK / PCKh, OKS-NMS, and
the one scorer of top-down poses from given boxes (:func:`score_topdown`)."""
from .coco import COCO_STAT_NAMES, coco_keypoint_eval, crowdpose_eval
from .nms import oks_iou, oks_matrix, oks_nms, rescore_instances, soft_oks_nms
from .pck import keypoint_pck_accuracy, mpii_head_sizes, pck, pckh
from .results import to_coco_results
from .topdown import score_topdown, swap_rate
from .wholebody import wholebody_eval

__all__ = [
    "COCO_STAT_NAMES",
    "coco_keypoint_eval",
    "crowdpose_eval",
    "keypoint_pck_accuracy",
    "mpii_head_sizes",
    "oks_iou",
    "oks_matrix",
    "oks_nms",
    "pck",
    "pckh",
    "rescore_instances",
    "score_topdown",
    "soft_oks_nms",
    "swap_rate",
    "to_coco_results",
    "wholebody_eval",
]
