"""From network outputs to person boxes: decode the built-in head, or the official layouts
(MMDeploy ``dets``/``labels`` and raw YOLOX grids), then score filtering and NMS.

All functions take and return torch tensors or numpy arrays in *input* pixels; mapping back to the original
image (divide by the letterbox ratio, clip) is :func:`kdpose.detection.letterbox.boxes_to_image`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .boxes import PointBoxCoder, grid_points, nms


@dataclass(frozen=True)
class PostprocessCfg:
    """Score threshold, NMS IoU threshold, candidates kept before NMS and detections kept after it."""

    score_thr: float = 0.3
    iou_thr: float = 0.6
    pre_nms: int = 1000
    max_det: int = 100


def select(boxes: torch.Tensor, scores: torch.Tensor, cfg: PostprocessCfg) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's (A, 4) boxes and (A,) scores -> kept (N, 4), (N,) by decreasing score."""
    keep = scores >= cfg.score_thr
    boxes, scores = boxes[keep], scores[keep]
    if len(scores) > cfg.pre_nms:
        top = torch.topk(scores, cfg.pre_nms).indices
        boxes, scores = boxes[top], scores[top]
    kept = nms(boxes, scores, cfg.iou_thr)[: cfg.max_det]
    return boxes[kept], scores[kept]


def decode_builtin(cls_logits: torch.Tensor, box_deltas: torch.Tensor, coder: PointBoxCoder,
                   cfg: PostprocessCfg) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Built-in head output (B, A) logits, (B, A, 4) deltas -> per image (boxes (N, 4), scores (N,))."""
    from ..models.person_detector import DetOutput

    boxes, scores = coder.decode(DetOutput(cls_logits, box_deltas))
    return [select(boxes[i], scores[i], cfg) for i in range(len(scores))]


def decode_dets(dets: np.ndarray, labels: np.ndarray | None, score_thr: float,
                person_label: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """MMDeploy end-to-end layout (NMS inside the graph): ``dets`` (B, N, 5) ``x0, y0, x1, y1, score`` and
    ``labels`` (B, N) -> per image the person boxes (N', 4) and scores (N',) above ``score_thr``, best first.
    Padding rows (score <= 0, or label -1) are dropped with the threshold."""
    dets = np.asarray(dets, np.float32)
    if dets.ndim == 2:
        dets = dets[None]
    if dets.ndim != 3 or dets.shape[-1] != 5:
        raise ValueError(f"'dets' must be (B, N, 5), got shape {dets.shape}")
    out = []
    for i in range(len(dets)):
        keep = dets[i, :, 4] > score_thr
        if labels is not None:
            lab = np.asarray(labels).reshape(len(dets), -1)[i]
            keep &= lab == person_label
        d = dets[i][keep]
        order = np.argsort(-d[:, 4], kind="stable")
        out.append((d[order, :4], d[order, 4]))
    return out


def yolox_grid(input_size: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX's priors: top-left cell corners ``(i, j)`` (in cells, not pixels) per level and their strides, level by
    level, row-major, for an input (w, h): (A, 2), (A,)."""
    pts, strs = grid_points(input_size, strides)
    # grid_points gives pixel centres (i + 0.5) * s; YOLOX's grid is the integer cell index i
    return (pts / strs[:, None] - 0.5).numpy(), strs.numpy()


def decode_yolox_raw(raw: np.ndarray, input_size: tuple[int, int], cfg: PostprocessCfg, person_class: int = 0,
                     strides: tuple[int, ...] = (8, 16, 32)) -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw YOLOX head output (B, A, 5 + C): ``(dx, dy, log w, log h)`` per cell, objectness and class scores
    (both already sigmoid-ed by the YOLOX head) -> per image person boxes (N, 4) xyxy input pixels and scores
    (objectness x person class score), after the score threshold and NMS.

    Box centre = (cell index + (dx, dy)) x stride, size = exp(log w, log h) x stride (YOLOX ``decode_outputs``)."""
    raw = np.asarray(raw, np.float32)
    if raw.ndim == 2:
        raw = raw[None]
    grid, strides_a = yolox_grid(input_size, strides)
    if raw.ndim != 3 or raw.shape[1] != len(grid) or raw.shape[2] < 6:
        raise ValueError(f"raw YOLOX output must be (B, {len(grid)}, 5 + classes) for input {input_size[0]}x"
                         f"{input_size[1]} and strides {strides}, got shape {raw.shape}")
    s = strides_a[:, None]
    centre = (raw[..., :2] + grid) * s
    size = np.exp(np.minimum(raw[..., 2:4], 20.0)) * s
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1)
    scores = raw[..., 4] * raw[..., 5 + person_class]
    out = []
    for i in range(len(raw)):
        b, sc = select(torch.from_numpy(boxes[i]), torch.from_numpy(scores[i]), cfg)
        out.append((b.numpy(), sc.numpy()))
    return out
