"""Adversarial domain adaptation of pose machines (paper Sec. V and VII-F; Ganin & Lempitsky, ICML 2015).

A domain classifier G_d reads the extractor features F through a gradient reversal layer (GRL): the classifier
learns to tell synthetic (label 0) from real (label 1) images while the GRL hands the extractor the *reversed*
gradient scaled by lambda, so that F becomes domain-invariant (Eq. 6-8). Labelled source images give L_PM;
unlabelled target images only enter the domain loss.

lambda_p = 2 Lambda / (1 + exp(-10 p)) - Lambda with p = training progress in [0, 1] and Lambda = 100 (the paper).
Model selection after adaptation: minimum pose validation loss, or maximum domain confusion (FP + FN of the
domain classifier on a validation set).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..utils.progress import TrainProgress


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lambda_ * grad, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by -lambda in the backward pass."""
    return _ReverseGrad.apply(x, float(lambda_))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; set ``lambda_`` before each step (no parameters)."""

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)


def dann_lambda(progress: float, max_lambda: float = 100.0, gamma: float = 10.0) -> float:
    """lambda_p = 2 Lambda / (1 + exp(-gamma p)) - Lambda: 0 at p = 0, rising to ~Lambda (paper: Lambda = 100)."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 * max_lambda / (1.0 + math.exp(-gamma * p)) - max_lambda


class DomainClassifier(nn.Module):
    """The paper's G_d: average pool, 1x1 conv, average pool, two fully connected layers, sigmoid.

    (B, C, h, w) features -> (B,) logits (the sigmoid is applied by ``probability`` and, for numerical stability,
    inside the BCE-with-logits loss). Layer widths and pooled size are our choice (the paper gives none): a 2x2
    average pool, 1x1 conv to ``hidden`` channels + ReLU, adaptive average pool to ``pooled`` x ``pooled``,
    FC to ``fc`` + ReLU, FC to 1.
    """

    def __init__(self, in_channels: int, hidden: int = 32, pooled: int = 4, fc: int = 128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.AvgPool2d(2, ceil_mode=True), nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(pooled), nn.Flatten(), nn.Linear(hidden * pooled * pooled, fc),
            nn.ReLU(inplace=True), nn.Linear(fc, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.layers(feats).squeeze(1)

    def probability(self, feats: torch.Tensor) -> torch.Tensor:
        """P(real) per image, (B,)."""
        return torch.sigmoid(self(feats))


@dataclass
class DomainBatch:
    """A labelled source (synthetic) batch plus unlabelled target (real-like) inputs (B_t, C, H, W)."""

    source: Any
    target_inputs: torch.Tensor

    def to(self, device, non_blocking: bool = False) -> "DomainBatch":
        return DomainBatch(self.source.to(device, non_blocking=non_blocking),
                           self.target_inputs.to(device, non_blocking=non_blocking))

    def __len__(self) -> int:
        return len(self.source)


class DomainAdaptationTask(nn.Module):
    """Training task: L = L_PM(source) + BCE(G_d(GRL_lambda(F)), domain) over source and target images.

    ``model`` is the pose machine (what the trainer evaluates and saves); ``classifier`` is G_d.
    One extractor pass over the concatenated source + target images (BatchNorm sees both domains, as in DANN).
    """

    def __init__(self, model: nn.Module, classifier: DomainClassifier | None = None, max_lambda: float = 100.0,
                 gamma: float = 10.0):
        super().__init__()
        self.model = model
        if classifier is None:
            classifier = DomainClassifier(model.backbone.feature_info[-1]["channels"])
        self.classifier = classifier
        self.grl = GradientReversal(0.0)
        self.max_lambda, self.gamma = float(max_lambda), float(gamma)

    def forward(self, batch: DomainBatch, progress: TrainProgress | float | None = None) -> dict[str, torch.Tensor]:
        p = progress.fraction if isinstance(progress, TrainProgress) else float(progress or 0.0)
        self.grl.lambda_ = dann_lambda(p, self.max_lambda, self.gamma)
        xs, xt = batch.source.inputs, batch.target_inputs
        feats = self.model.forward_features(torch.cat([xs, xt], 0))
        n_s = xs.shape[0]
        source_out = self.model.forward_head([f[:n_s] for f in feats])
        l_pm = self.model.loss_fn(source_out, batch.source)["loss"]
        logits = self.classifier(self.grl(feats[-1]))
        labels = torch.cat([logits.new_zeros(n_s), logits.new_ones(xt.shape[0])])
        l_dom = F.binary_cross_entropy_with_logits(logits, labels)  # mean over N + M images (Eq. 6)
        with torch.no_grad():
            acc = ((logits > 0).float() == labels).float().mean()
        return {"loss": l_pm + l_dom, "loss_pm": l_pm.detach(), "loss_domain": l_dom.detach(),
                "domain_acc": acc, "lambda": torch.tensor(self.grl.lambda_)}


def domain_confusion(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """FP + FN of the domain classifier (threshold 0.5 on the sigmoid): the paper's confusion criterion."""
    pred = logits > 0
    truth = labels > 0.5
    return int((pred & ~truth).sum() + (~pred & truth).sum())


def select_adapted_model(history: Sequence[Mapping[str, float]], criterion: str = "pose_loss") -> int:
    """Index of the checkpoint to keep: ``pose_loss`` -> minimum ``val_pose_loss``; ``confusion`` -> maximum
    ``confusion`` (FP + FN of the domain classifier on validation images). Ties keep the earliest."""
    if not history:
        raise ConfigError("select_adapted_model: empty validation history")
    if criterion == "pose_loss":
        values = [float(h["val_pose_loss"]) for h in history]
        return min(range(len(values)), key=values.__getitem__)
    if criterion == "confusion":
        values = [float(h["confusion"]) for h in history]
        return max(range(len(values)), key=lambda i: (values[i], -i))
    raise ConfigError(f"unknown model selection criterion '{criterion}' (expected pose_loss or confusion)")
