"""Box geometry of the built-in detector, in torch: IoU/GIoU and NMS (its codec, the point priors and the box coder,
is :mod:`kdpose.codecs.points`).

Boxes are ``xyxy`` pixels everywhere. Nothing here needs torchvision; NMS is the classic greedy algorithm
(highest score first, drop every later box overlapping a kept one by more than ``iou_thr``), vectorised over the
IoU matrix so the Python loop runs once per *kept* box, not once per candidate.
"""
from __future__ import annotations

import torch

from ..codecs.points import PointBoxCoder, grid_points  # noqa: F401  (the detector's codec, re-exported)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyxy -> (...) areas (0 for degenerate boxes)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU: (N, 4), (M, 4) -> (N, M)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union.clamp(min=1e-9)


def aligned_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of matching rows: (..., 4), (..., 4) -> ((...), (...))."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a) + box_area(b) - inter
    iou = inter / union.clamp(min=1e-9)
    enclose = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).clamp(min=0).prod(-1)
    return iou, iou - (enclose - union) / enclose.clamp(min=1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thr: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: (N, 4) xyxy; scores: (N,).
        iou_thr: a box is dropped when its IoU with a higher-scoring kept box is > ``iou_thr``.

    Returns:
        (M,) int64 indices of the kept boxes, by decreasing score (ties: lower index first).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    over = box_iou(boxes[order], boxes[order]) > iou_thr  # (N, N), in score order
    alive = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    keep = []
    i = 0
    n = len(order)
    while i < n:
        keep.append(i)
        alive &= ~over[i]  # suppress everything the kept box overlaps (itself included: IoU 1 > thr)
        rest = torch.nonzero(alive[i + 1:])
        if rest.numel() == 0:
            break
        i = i + 1 + int(rest[0])
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_thr: float) -> torch.Tensor:
    """NMS within each group (class or image) at once: the boxes of different groups are shifted apart so that
    they never overlap (the torchvision trick). Returns kept indices by decreasing score."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    offset = groups.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offset, scores, iou_thr)
