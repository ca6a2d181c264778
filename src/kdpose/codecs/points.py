"""The person detector's codec: anchor-free point priors at the feature-cell centres and the box coder between
boxes and the network's log side distances (the detector's counterpart of a pose codec: it owns the input size and
the output geometry, and is shared by the loss, inference and export)."""
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
