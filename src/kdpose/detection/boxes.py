"""Box geometry of the built-in detector, in torch: the point priors, the box coder, IoU/GIoU and NMS.

Boxes are ``xyxy`` pixels everywhere. Nothing here needs torchvision; NMS is the classic greedy algorithm
(highest score first, drop every later box overlapping a kept one by more than ``iou_thr``), vectorised over the
IoU matrix so the Python loop runs once per *kept* box, not once per candidate.
"""
from __future__ import annotations

from typing import Sequence

import torch

# distances are predicted as log(d / stride); clamp the exponent so that an untrained head cannot overflow
_MAX_LOG_DISTANCE = 8.0


def grid_points(input_size: tuple[int, int], strides: Sequence[int], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres of the feature-map cells of every level, concatenated level by level, row-major.

    Args:
        input_size: (w, h) of the network input (each level has ceil(w / s) x ceil(h / s) cells, as a stride-2
            conv stack with padding produces).
        strides: the levels' strides, e.g. (8, 16, 32).

    Returns:
        points (A, 2) float32 (x, y) input pixels at the cell centres ``(i + 0.5) * s``, and per-point strides (A,).
    """
    w, h = input_size
    pts, strs = [], []
    for s in strides:
        nx, ny = -(-w // s), -(-h // s)
        ys, xs = torch.meshgrid(torch.arange(ny, device=device), torch.arange(nx, device=device), indexing="ij")
        pts.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float().add_(0.5).mul_(s))
        strs.append(torch.full((nx * ny,), float(s), device=device))
    return torch.cat(pts), torch.cat(strs)


class PointBoxCoder:
    """Anchor-free box coding: a box is the distances from a prior point to its four sides (left, top, right,
    bottom), in units of the level's stride and log-encoded (FCOS / RTMDet ``DistancePointBBoxCoder`` idea with
    the exp of YOLOX / RTMDet-l).

    Attributes:
        input_size: (w, h) of the network input the priors belong to.
        strides: feature strides of the levels.
    """

    def __init__(self, input_size: tuple[int, int], strides: Sequence[int] = (8, 16, 32)):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.strides = tuple(int(s) for s in strides)

    def params(self) -> dict:
        """JSON-able settings (exported into ONNX / safetensors metadata)."""
        return {"type": "PointBoxCoder", "input_size": list(self.input_size), "strides": list(self.strides)}

    def priors(self, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(points (A, 2), strides (A,)) for this coder's input size."""
        return grid_points(self.input_size, self.strides, device)

    @staticmethod
    def encode(points: torch.Tensor, strides: torch.Tensor, boxes: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """(..., 2) points, (...) strides, (..., 4) xyxy boxes containing the points -> (..., 4) log distances."""
        dist = torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], -1)
        return torch.log(dist.clamp(min=eps) / strides[..., None])

    @staticmethod
    def decode_deltas(points: torch.Tensor, strides: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`encode`: (..., 4) log distances -> (..., 4) xyxy boxes (input pixels)."""
        dist = deltas.clamp(max=_MAX_LOG_DISTANCE).exp() * strides[..., None]
        return torch.cat([points - dist[..., :2], points + dist[..., 2:]], -1)

    def decode(self, output) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole head output (``DetOutput``) -> (boxes (B, A, 4) xyxy input pixels, scores (B, A) in [0, 1]),
        before thresholding and NMS (the codec-style entry point)."""
        points, strides = self.priors(output.box_deltas.device)
        return self.decode_deltas(points, strides, output.box_deltas.float()), output.cls_logits.float().sigmoid()


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
