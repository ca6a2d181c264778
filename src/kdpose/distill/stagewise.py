"""Stagewise pose distillation with hints for pose machines (paper Sec. VI, Eq. 9-14).

L_distil = L_stages + gamma * L_hints,   L_stages = (1 - alpha) * L_teacher + alpha * L_PM,
L_teacher = sum over the last tau stages of the L2 between student and teacher confidence maps and PAFs (Eq. 11-13),
L_hints = || F_student - F_teacher ||^2 between the feature-extractor outputs (Eq. 14).

Stage pairing (``teacher_stage_pairs``):
- ``mode="stagewise"``: student stage S_s - 1 - i is matched to teacher stage S_t - 1 - i for i < tau (the last tau
  stages of both, aligned from the end; tau = 1 is the "standard" final-output distillation);
- ``mode="final"``: the paper's "Stagewise*": each of the student's last tau stages is matched to the teacher's
  *final* maps.
The paper requires both cascades to have at least tau stages; we clamp tau to the shorter cascade (so a 1-stage
student is distilled from the teacher's last stage), which is how its MPM-1S "stagewise" rows can exist.

Normalisation: every L2 is summed over channels and cells and divided by the batch size, as L_PM
(``kdpose.losses.pose_machine.stage_l2``); the loss mask of the batch target applies to the teacher term too.
When teacher and student maps differ in size (55 vs 56 cells at 444 px) the teacher's are resized bilinearly;
when the feature widths differ (CPM 128 vs MPM 64) a trainable 1x1 conv maps the student features to the
teacher's width for the hint ("tie the dimensions"); it lives in the distiller and is not saved with the student.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.paf import PafOutput
from ..errors import ConfigError
from ..losses.pose_machine import stage_l2
from ..utils.progress import TrainProgress
from .base import Distiller, register_distiller

MODES = ("stagewise", "final")


def teacher_stage_pairs(student_stages: int, teacher_stages: int, tau: int, mode: str = "stagewise"
                        ) -> list[tuple[int, int]]:
    """0-based (student stage, teacher stage) pairs of L_teacher, last stages first."""
    if tau < 1:
        raise ConfigError(f"distill.params.tau must be >= 1, got {tau}")
    if mode not in MODES:
        raise ConfigError(f"distill.params.mode must be one of {', '.join(MODES)}, got '{mode}'")
    n = min(tau, student_stages, teacher_stages if mode == "stagewise" else student_stages)
    if mode == "final":
        return [(student_stages - 1 - i, teacher_stages - 1) for i in range(n)]
    return [(student_stages - 1 - i, teacher_stages - 1 - i) for i in range(n)]


def _resize_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), size=ref.shape[-2:], mode="bilinear", align_corners=False)
    return y.reshape(*lead, *y.shape[-3:])


def teacher_loss(student: PafOutput, teacher: PafOutput, pairs: list[tuple[int, int]],
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 11-13: sum over pairs of the masked L2 between student and teacher maps (heatmaps + PAFs), / B."""
    s_idx = torch.tensor([p[0] for p in pairs], device=student.heatmaps.device)
    t_idx = torch.tensor([p[1] for p in pairs], device=student.heatmaps.device)
    total = student.heatmaps.new_zeros(())
    for s_maps, t_maps in ((student.heatmaps, teacher.heatmaps), (student.pafs, teacher.pafs)):
        t_sel = _resize_like(t_maps.index_select(1, t_idx), s_maps)
        if weight is not None and weight.shape[-2:] != s_maps.shape[-2:]:
            weight = F.interpolate(weight, size=s_maps.shape[-2:], mode="nearest")
        total = total + stage_l2(s_maps.index_select(1, s_idx), t_sel.detach(), weight).sum()
    return total


def hint_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """Eq. 14: || F_s - F_t ||^2 summed over channels and cells, / B (teacher features resized if needed)."""
    t = _resize_like(teacher_feat, student_feat).detach()
    return (student_feat - t).pow(2).sum() / student_feat.shape[0]


class StagewiseDistiller(Distiller):
    """Pose-machine student distilled from a pose-machine teacher (task contract: ``forward(batch, progress)``).

    Args:
        student, teacher: pose machines (PoseModel with PafOutput and ``forward_features``).
        tau: number of last stages matched (1 = standard distillation).
        alpha: weight of the ground-truth loss L_PM in L_stages (0.5 in the paper).
        gamma: weight of the hint loss (1 in the paper's hint runs, 0 = no hints).
        mode: "stagewise" or "final" (the paper's Stagewise*).
        student_channels / teacher_channels: feature widths; a 1x1 adapter is built when they differ and gamma > 0.
    """

    model_task: ClassVar[str] = "bottomup"  # distils pose machines

    def __init__(self, student: nn.Module, teacher: nn.Module, tau: int = 2, alpha: float = 0.5,
                 gamma: float = 0.0, mode: str = "stagewise"):
        super().__init__(student, teacher)
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"distill.params.alpha must be in [0, 1], got {alpha}")
        self.pairs = teacher_stage_pairs(student.head.num_stages, self.teacher.model.head.num_stages, tau, mode)
        self.tau, self.alpha, self.gamma, self.mode = tau, float(alpha), float(gamma), mode
        s_ch = student.backbone.feature_info[-1]["channels"]
        t_ch = self.teacher.model.backbone.feature_info[-1]["channels"]
        self.hint_adapter = nn.Conv2d(s_ch, t_ch, 1) if (self.gamma > 0 and s_ch != t_ch) else None

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        x = batch.inputs
        s_feats = self.model.forward_features(x)
        s_out = self.model.forward_head(s_feats)

        def run_teacher(m, inp):
            feats = m.forward_features(inp)
            return feats, m.forward_head(feats)

        t_feats, t_out = self.teacher.call(run_teacher, x)
        l_pm = self.model.loss_fn(s_out, batch)["loss"]
        l_teacher = teacher_loss(s_out, t_out, self.pairs, getattr(batch.target, "weight", None))
        l_stages = (1.0 - self.alpha) * l_teacher + self.alpha * l_pm
        out = {"loss_pm": l_pm.detach(), "loss_teacher": l_teacher.detach()}
        loss = l_stages
        if self.gamma > 0:
            f = s_feats[-1] if self.hint_adapter is None else self.hint_adapter(s_feats[-1])
            l_hint = hint_loss(f, t_feats[-1])
            loss = loss + self.gamma * l_hint
            out["loss_hint"] = l_hint.detach()
        out["loss"] = loss
        return out


@register_distiller("stagewise", StagewiseDistiller)
def stagewise(student: nn.Module, teacher: nn.Module, tau: int = 2, alpha: float = 0.5, gamma: float = 0.0,
              mode: str = "stagewise") -> StagewiseDistiller:
    """Pose-machine distillation: tau=1 standard, tau>1 stagewise, mode='final' Stagewise*, gamma>0 adds hints."""
    return StagewiseDistiller(student, teacher, tau=tau, alpha=alpha, gamma=gamma, mode=mode)
