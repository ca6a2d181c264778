"""KL-divergence loss on discretised coordinates (SimCC), as MMPose's ``KLDiscretLoss`` configured by RTMPose
(beta = 10, label softmax with beta 10, visibility-weighted), plus the RTMPose task loss used by ``PoseTask``.

``simcc_kl`` is the reusable core (no weights, no reduction over rows): DWPose's logit distillation calls it with
the teacher's logits as labels and ``bin_reduction="sum"``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.simcc import SimCCOutput, SimCCTarget


def simcc_kl(pred: torch.Tensor, target: torch.Tensor, beta: float = 10.0, label_beta: float = 10.0,
             label_softmax: bool = True, bin_reduction: str = "mean") -> torch.Tensor:
    """Row-wise ``KL(T || softmax(beta * pred))`` over the last (bin) dimension.

    Args:
        pred: (..., W) logits.
        target: (..., W) labels: with ``label_softmax`` they are turned into ``T = softmax(label_beta * target)``
            (Gaussian labels or teacher logits); otherwise they must already be a distribution.
        bin_reduction: "mean" over bins (MMPose KLDiscretLoss) or "sum" (a true KL, DWPose logit distillation).
    Returns:
        (...,) per-row divergence.
    """
    log_p = F.log_softmax(pred * beta, dim=-1)
    t = F.softmax(target * label_beta, dim=-1) if label_softmax else target
    kl = F.kl_div(log_p, t, reduction="none")  # t * (log t - log_p), 0 where t == 0
    if bin_reduction == "mean":
        return kl.mean(dim=-1)
    if bin_reduction == "sum":
        return kl.sum(dim=-1)
    raise ValueError(f"bin_reduction must be 'mean' or 'sum', got {bin_reduction!r}")


class KLDiscretLoss(nn.Module):
    """``sum_{n,k} w_nk * (KL_x + KL_y) / K`` with mean-over-bins KL rows (MMPose normalisation: summed over the
    batch, not averaged, then divided by K).

    Forward args: pred (SimCCOutput x (B, K, Wx), y (B, K, Wy)), target (SimCCTarget with batched tensors).
    Returns a scalar tensor.
    """

    def __init__(self, beta: float = 10.0, label_softmax: bool = True, label_beta: float = 10.0,
                 use_target_weight: bool = True):
        super().__init__()
        self.beta = beta
        self.label_softmax = label_softmax
        self.label_beta = label_beta
        self.use_target_weight = use_target_weight

    def forward(self, pred: SimCCOutput, target: SimCCTarget) -> torch.Tensor:
        num_keypoints = pred.x.shape[1]
        rows = (simcc_kl(pred.x, target.x_labels.to(pred.x.dtype), self.beta, self.label_beta, self.label_softmax)
                + simcc_kl(pred.y, target.y_labels.to(pred.y.dtype), self.beta, self.label_beta, self.label_softmax))
        if self.use_target_weight:
            rows = rows * target.weights.to(rows.dtype)
        return rows.sum() / num_keypoints


class SimCCLoss(nn.Module):
    """RTMPose's task loss as a ``model.loss_fn``: ``(SimCCOutput, Batch) -> {"loss", "loss_kpt"}``, reading the
    SimCC target from ``batch.target``."""

    def __init__(self, beta: float = 10.0, label_beta: float = 10.0):
        super().__init__()
        self.kl = KLDiscretLoss(beta=beta, label_softmax=True, label_beta=label_beta, use_target_weight=True)

    def forward(self, output: SimCCOutput, batch) -> dict[str, torch.Tensor]:
        loss = self.kl(output, batch.target)
        return {"loss": loss, "loss_kpt": loss.detach()}
