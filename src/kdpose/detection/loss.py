"""Training targets and loss of the built-in detector.

Assignment (static, FCOS-style centre sampling; no dependence on the predictions, so it is cheap and stable on
a CPU): a prior point is a positive of a ground-truth box when

* the box's size suits the point's level (longer side in ``LEVEL_RANGES`` of its stride; ranges overlap so that
  boundary sizes train two levels),
* and the point lies within ``radius`` strides of the box centre and inside the box -- or it is the cell that
  contains the box centre (so that people smaller than a cell still get one positive per suitable level).

A point claimed by several boxes goes to the smallest one. Loss: quality focal loss (the classification target of
a positive is the IoU of its decoded prediction with its box, as in GFL / RTMDet, which makes scores rank boxes by
localisation quality) + ``box_weight`` x GIoU loss on the positives, both averaged over the positives.

Ignore regions (people the ground truth does not label, which box AP treats as COCO crowd regions): the points that
would be an ignored person's positives, were it labelled, are don't-care (no classification loss, no box loss);
every other point is trained as for a labelled person, and a labelled person's positive stays a positive.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .boxes import PointBoxCoder, aligned_giou, box_area

# longer box side (input pixels) that each stride handles: stride -> (low, high)
LEVEL_RANGES = {8: (0.0, 128.0), 16: (64.0, 256.0), 32: (128.0, float("inf"))}


def candidates(points: torch.Tensor, strides: torch.Tensor, gt_boxes: torch.Tensor, gt_valid: torch.Tensor,
               radius: float = 2.5) -> torch.Tensor:
    """(B, G, A) bool: point a may be a positive of box g (right level, centre region or centre cell, valid box)."""
    px, py = points[:, 0].view(1, 1, -1), points[:, 1].view(1, 1, -1)              # (1, 1, A)
    s = strides.view(1, 1, -1)
    x0, y0, x1, y1 = (gt_boxes[..., i, None] for i in range(4))                    # (B, G, 1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    inside = (px > x0) & (px < x1) & (py > y0) & (py < y1)
    near_centre = ((px - cx).abs() < radius * s) & ((py - cy).abs() < radius * s)
    centre_cell = ((px - cx).abs() <= s / 2) & ((py - cy).abs() <= s / 2)
    side = torch.maximum(x1 - x0, y1 - y0)
    lo = torch.zeros_like(strides)
    hi = torch.zeros_like(strides)
    for stride, (low, high) in LEVEL_RANGES.items():
        lo = torch.where(strides == stride, torch.full_like(lo, low), lo)
        hi = torch.where(strides == stride, torch.full_like(hi, high), hi)
    level_ok = (side >= lo.view(1, 1, -1)) & (side <= hi.view(1, 1, -1))
    return level_ok & ((inside & near_centre) | centre_cell) & gt_valid[..., None]   # (B, G, A)


def assign(points: torch.Tensor, strides: torch.Tensor, gt_boxes: torch.Tensor, gt_valid: torch.Tensor,
           radius: float = 2.5) -> torch.Tensor:
    """Match prior points to ground-truth boxes.

    Args:
        points: (A, 2) prior points; strides: (A,).
        gt_boxes: (B, G, 4) xyxy input pixels (padded); gt_valid: (B, G) bool.

    Returns:
        (B, A) int64 index of the assigned box per point, -1 for negatives.
    """
    b, g = gt_valid.shape
    if g == 0:
        return torch.full((b, len(points)), -1, dtype=torch.int64, device=points.device)
    candidate = candidates(points, strides, gt_boxes, gt_valid, radius)
    area = box_area(gt_boxes)[..., None].expand_as(candidate)
    cost = torch.where(candidate, area, torch.full_like(area, float("inf")))
    best_cost, best = cost.min(dim=1)                                              # (B, A)
    return torch.where(torch.isfinite(best_cost), best, torch.full_like(best, -1))


def quality_focal_loss(logits: torch.Tensor, targets: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Element-wise QFL (Li et al. 2020): BCE towards a soft target, scaled by |sigmoid(logit) - target|^beta."""
    scale = (logits.sigmoid() - targets).abs().pow(beta)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * scale


class DetectionLoss(nn.Module):
    """``loss(output, gt_boxes, gt_valid, gt_ignore=None) -> {"loss", "loss_cls", "loss_box", "num_pos"}``.

    ``gt_ignore`` (B, G) bool marks valid boxes that are ignore regions (module doc).

    Args:
        coder: the model's :class:`PointBoxCoder` (priors for the training input size).
        box_weight: weight of the GIoU term (RTMDet uses 2).
        radius: centre-sampling radius in strides.
    """

    def __init__(self, coder: PointBoxCoder, box_weight: float = 2.0, radius: float = 2.5):
        super().__init__()
        self.coder = coder
        self.box_weight = box_weight
        self.radius = radius

    def forward(self, output, gt_boxes: torch.Tensor, gt_valid: torch.Tensor,
                gt_ignore: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits, deltas = output.cls_logits.float(), output.box_deltas.float()
        points, strides = self.coder.priors(logits.device)
        if points.shape[0] != logits.shape[1]:
            raise ValueError(f"the head produced {logits.shape[1]} priors but the coder expects {points.shape[0]} "
                             f"for input size {self.coder.input_size}: train at the model's input size")
        ignored = gt_valid & gt_ignore if gt_ignore is not None else torch.zeros_like(gt_valid)
        assigned = assign(points, strides, gt_boxes, gt_valid & ~ignored, self.radius)       # (B, A)
        pos = assigned >= 0
        num_pos = pos.sum().clamp(min=1).float()
        targets = torch.zeros_like(logits)
        loss_box = logits.sum() * 0.0  # keeps the graph connected when a batch has no person
        if pos.any():
            bi, ai = pos.nonzero(as_tuple=True)
            pred = self.coder.decode_deltas(points[ai], strides[ai], deltas[bi, ai])
            target_boxes = gt_boxes[bi, assigned[bi, ai]]
            iou, giou = aligned_giou(pred, target_boxes)
            targets[bi, ai] = iou.detach().clamp(min=0.0)
            loss_box = (1.0 - giou).sum() / num_pos
        loss_cls = quality_focal_loss(logits, targets)
        if ignored.any():
            # An ignored person (no labelled keypoints: box AP scores it as a crowd region, neither found nor
            # missed) is neither pushed to background nor demanded: its would-be positives are don't-care. Pushing
            # them to background would teach "a small person is background" against the labelled people just above
            # the labelling threshold (32 x 32 px of silhouette: the same look on both sides); demanding them would
            # spend the small network on people that earn nothing. Points of such a person that would be negatives
            # of a labelled one stay negatives, so it gets the targets of a labelled person minus its positives.
            dont_care = ~pos & candidates(points, strides, gt_boxes, ignored, self.radius).any(dim=1)
            loss_cls = loss_cls.masked_fill(dont_care, 0.0)
        loss_cls = loss_cls.sum() / num_pos
        return {"loss": loss_cls + self.box_weight * loss_box, "loss_cls": loss_cls.detach(),
                "loss_box": loss_box.detach(), "num_pos": num_pos.detach()}
