"""DWPose two-stage pose distillation (TPD) for SimCC models (RTMPose), Yang et al. 2023, "Effective Whole-body
Pose Estimation with Two-stages Distillation", https://arxiv.org/abs/2307.15880.

Stage 1 (``dwpose``): a frozen, trained teacher guides a student trained from scratch::

    L = L_ori + r(t) * alpha * L_fea + r(t) * beta * L_logit,      r(t) = 1 - epoch / max_epochs  (0-based epoch)

* ``L_ori``: the student's own task loss (RTMPose ``KLDiscretLoss`` with the visibility weights).
* ``L_fea`` (Eq. 1): squared error between the teacher's last backbone feature and the student's after a 1x1
  ``align`` conv (created only when the channel counts differ, as in the released code).
* ``L_logit`` (Eq. 3): KL between the teacher's and the student's SimCC distributions, over **all** keypoints
  (no visibility mask).

Stage 2 (``dwpose_stage2``, head-aware self-KD): the student is a copy of a trained model whose backbone is frozen and
whose head starts from its default initialisation; the trained model's head is the teacher. The frozen backbone runs
once and feeds both heads; ``L = gamma * L_logit`` (no GT loss, no decay). Train it for ~20% of stage 1's epochs.

Normalisation (``formulation``): ``"code"`` (default) follows the released code (mmpose ``FeaLoss`` / ``KDLoss``):
``L_fea = sum_{n,c,h,w} (align(F_s) - F_t)^2 / N`` with alpha = 7e-5, and ``L_logit = sum_{n,k} (KL_x + KL_y) / (N K)``
(KL summed over bins). ``"paper"`` follows the equations: ``L_fea`` averaged over N, C, H, W with alpha = 5e-5 and
``L_logit`` without the 1/K. The paper writes the logit term as a cross-entropy; it equals the KL used here plus the
teacher's entropy, a constant for the student, so gradients are identical (the logged value is not).

Teacher mode (``teacher_mode``): ``"eval"`` (default) freezes the teacher's BatchNorm statistics; ``"train"`` lets it
use batch statistics, as the released distiller does (it never calls ``teacher.eval()``). In stage 2 the switch also
applies to the shared frozen backbone, whose running statistics then move (and are exported), as in the code.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.simcc import SimCCOutput
from ..errors import ConfigError
from ..losses.kl_discret import simcc_kl
from ..utils.progress import TrainProgress
from .base import Distiller, FrozenTeacher, register_distiller

FORMULATIONS = ("code", "paper")
TEACHER_MODES = ("eval", "train")
DEFAULT_ALPHA = {"code": 7e-5, "paper": 5e-5}


# ---------------------------------------------------------------------------------------------- losses


def kd_decay(progress: TrainProgress | None) -> float:
    """DWPose's weight decay r(t) = 1 - (t - 1) / t_max for 1-based epoch t, i.e. ``1 - epoch / max_epochs`` for
    the trainer's 0-based epoch: 1 in the first epoch, 1 / max_epochs in the last. 1 without progress."""
    if progress is None:
        return 1.0
    return 1.0 - progress.epoch / max(1, progress.max_epochs)


def feature_distill_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor,
                         formulation: str = "code") -> torch.Tensor:
    """Un-weighted DWPose feature loss between (N, C, H, W) maps of equal shape (the student's already aligned).

    ``"code"``: ``sum (S - T)^2 / N``; ``"paper"``: ``mean (S - T)^2`` over N, C, H, W. Returns a scalar.
    """
    if student_feature.shape != teacher_feature.shape:
        raise ConfigError(f"DWPose feature loss: student feature {tuple(student_feature.shape)} and teacher feature "
                          f"{tuple(teacher_feature.shape)} differ (same input resolution and aligned channels needed)")
    teacher_feature = teacher_feature.detach().to(student_feature.dtype)
    if formulation == "code":
        return F.mse_loss(student_feature, teacher_feature, reduction="sum") / student_feature.shape[0]
    return F.mse_loss(student_feature, teacher_feature, reduction="mean")


def logit_distill_loss(student: SimCCOutput, teacher: SimCCOutput, simcc_beta: float = 10.0,
                       weights: torch.Tensor | None = None, formulation: str = "code") -> torch.Tensor:
    """Un-weighted DWPose logit loss: ``KL(softmax(b T) || softmax(b S))`` summed over bins, x plus y, per keypoint.

    Args:
        student, teacher: SimCC logits, x (N, K, Wx) and y (N, K, Wy) each; the teacher is detached.
        simcc_beta: the SimCC softmax sharpness b (RTMPose: 10) for both distributions.
        weights: optional (N, K) keypoint weights (the paper's target mask W; DWPose uses none).
        formulation: ``"code"`` divides by K (``sum_{n,k} / (N K)``); ``"paper"`` does not (``sum_{n,k} / N``).
    Returns a scalar.
    """
    if student.x.shape != teacher.x.shape or student.y.shape != teacher.y.shape:
        raise ConfigError(f"DWPose logit loss: student SimCC shapes x{tuple(student.x.shape)} y{tuple(student.y.shape)}"
                          f" differ from the teacher's x{tuple(teacher.x.shape)} y{tuple(teacher.y.shape)} (same "
                          "keypoints, input size and split ratio needed)")
    t_x, t_y = teacher.x.detach().to(student.x.dtype), teacher.y.detach().to(student.y.dtype)
    rows = (simcc_kl(student.x, t_x, simcc_beta, simcc_beta, label_softmax=True, bin_reduction="sum")
            + simcc_kl(student.y, t_y, simcc_beta, simcc_beta, label_softmax=True, bin_reduction="sum"))  # (N, K)
    if weights is not None:
        rows = rows * weights.to(rows.dtype)
    loss = rows.sum(dim=1).mean()
    return loss / rows.shape[1] if formulation == "code" else loss


class FeatureDistillLoss(nn.Module):
    """``alpha * L_fea`` with the 1x1 ``align`` conv (Cs -> Ct, bias, PyTorch default init) trained with the student.

    As in the released ``FeaLoss`` the conv exists only when ``Cs != Ct``; inside :class:`DWPoseDistiller` its
    state keys are ``distill_losses.loss_fea.align.{weight,bias}``, the released distiller checkpoint names.
    Forward: student (N, Cs, H, W), teacher (N, Ct, H, W) -> scalar.
    """

    def __init__(self, student_channels: int, teacher_channels: int, alpha: float, formulation: str = "code"):
        super().__init__()
        self.align = nn.Conv2d(student_channels, teacher_channels, 1) if student_channels != teacher_channels else None
        self.alpha = float(alpha)
        self.formulation = formulation

    def forward(self, student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
        aligned = self.align(student_feature) if self.align is not None else student_feature
        return self.alpha * feature_distill_loss(aligned, teacher_feature, self.formulation)


# ---------------------------------------------------------------------------------------------- checks


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(f"distill.params.{name}: expected one of {', '.join(valid)}, got {value!r}")
    return value


def feature_channels(model: nn.Module) -> int:
    """Channels of the last feature of ``model.forward_features`` (``backbone.out_channels``, else a dry run)."""
    channels = getattr(getattr(model, "backbone", None), "out_channels", None)
    if getattr(model, "neck", None) is None and channels is not None:
        return int(channels[-1] if isinstance(channels, (list, tuple)) else channels)
    if not hasattr(model, "input_size"):
        raise ConfigError(f"DWPose: cannot tell the feature channels of {type(model).__name__} (no backbone."
                          "out_channels and no input_size for a dry run)")
    w, h = model.input_size
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            param = next(model.parameters())
            feats = model.forward_features(torch.zeros(1, 3, h, w, dtype=param.dtype, device=param.device))
    finally:
        model.train(was_training)
    return int(feats[-1].shape[1])


def check_same_geometry(student: nn.Module, teacher: nn.Module, what: str) -> None:
    """Feature and logit distillation need the same input size (so the same feature map and SimCC bins) and K."""
    s_size, t_size = student.info.input_size, teacher.info.input_size
    if s_size != t_size:
        raise ConfigError(f"DWPose {what}: teacher input size {t_size[0]}x{t_size[1]} differs from the student's "
                          f"{s_size[0]}x{s_size[1]} (w x h); feature and logit distillation need the same resolution "
                          "(set distill.teacher_input_size to model.input_size, as the paper's pairs)")
    s_k, t_k = student.skeleton.num_keypoints, teacher.skeleton.num_keypoints
    if s_k != t_k:
        raise ConfigError(f"DWPose {what}: teacher predicts {t_k} keypoints, the student {s_k}")
    s_bins = getattr(getattr(student, "codec", None), "num_bins", None)
    t_bins = getattr(getattr(teacher, "codec", None), "num_bins", None)
    for role, model, bins in (("teacher", teacher, t_bins), ("student", student, s_bins)):
        if bins is None:  # DWPose distils SimCC logits (the official distiller unpacks the head's x / y vectors)
            raise ConfigError(f"DWPose {what}: the {role} '{model.info.name}' is not a SimCC model ("
                              f"{type(getattr(model, 'codec', None)).__name__}); DWPose needs SimCC (RTMPose) "
                              "student and teacher")
    if tuple(s_bins) != tuple(t_bins):
        raise ConfigError(f"DWPose {what}: teacher SimCC bins {tuple(t_bins)} differ from the student's "
                          f"{tuple(s_bins)} (same input size and split ratio needed)")


def _teacher_features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
    feats = model.forward_features(x)
    return feats[-1], model.forward_head(feats)


# ---------------------------------------------------------------------------------------------- stage 1


class DWPoseDistiller(Distiller):
    """DWPose first-stage distillation (see the module docstring); ``model`` is the plain student.

    Args:
        student: the student ``PoseModel`` (SimCC head), normally freshly initialised.
        teacher: the trained teacher ``PoseModel`` (same keypoints and input size).
        alpha, beta: weights of L_fea and L_logit (alpha None: 7e-5 for ``"code"``, 5e-5 for ``"paper"``; beta 0.1).
        use_gt, use_feature, use_logit: switch each term (the paper's Table 6 ablation).
        decay: multiply both distillation terms by r(t) (Eq. 5-6).
        logit_mask: weight the logit term by the keypoint visibility weights (Table 7; DWPose: off).
        simcc_beta: SimCC softmax sharpness of the logit term (RTMPose's loss beta, 10).
        formulation: ``"code"`` or ``"paper"`` normalisation (module docstring).
        teacher_mode: ``"eval"`` or ``"train"`` (batch statistics in the frozen teacher, as the released code).

    ``forward(batch, progress)`` returns ``loss`` (the total) and detached parts ``loss_kpt`` (L_ori, logged even
    when ``use_gt`` is off), ``loss_fea`` (alpha L_fea), ``loss_logit`` (beta L_logit) and ``kd_decay`` (r).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, alpha: float | None = None, beta: float = 0.1,
                 use_gt: bool = True, use_feature: bool = True, use_logit: bool = True, decay: bool = True,
                 logit_mask: bool = False, simcc_beta: float = 10.0, formulation: str = "code",
                 teacher_mode: str = "eval"):
        formulation = _choice("formulation", formulation, FORMULATIONS)
        teacher_mode = _choice("teacher_mode", teacher_mode, TEACHER_MODES)
        super().__init__(student, FrozenTeacher.of(teacher, teacher_mode))
        teacher = self.teacher.model
        if not (use_gt or use_feature or use_logit):
            raise ConfigError("distill.params: use_gt, use_feature and use_logit are all off: nothing to train on")
        self.alpha = float(DEFAULT_ALPHA[formulation] if alpha is None else alpha)
        self.beta = float(beta)
        self.use_gt, self.use_feature, self.use_logit = bool(use_gt), bool(use_feature), bool(use_logit)
        self.decay, self.logit_mask = bool(decay), bool(logit_mask)
        self.simcc_beta = float(simcc_beta)
        self.formulation = formulation
        self.teacher_mode = teacher_mode
        if self.uses_teacher:
            check_same_geometry(student, teacher, "stage 1")
        self.distill_losses = nn.ModuleDict()
        if self.use_feature:
            self.distill_losses["loss_fea"] = FeatureDistillLoss(feature_channels(student), feature_channels(teacher),
                                                                 self.alpha, formulation)

    @property
    def uses_teacher(self) -> bool:
        return self.use_feature or self.use_logit

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        x = batch.inputs
        s_feats = self.model.forward_features(x)
        s_out = self.model.forward_head(s_feats)
        gt = self.model.loss_fn(s_out, batch)["loss"]
        losses: dict[str, torch.Tensor] = {"loss_kpt": gt.detach()}
        total = gt if self.use_gt else gt.new_zeros(())
        if not self.uses_teacher:
            return {"loss": total, **losses}
        t_feat, t_out = self.teacher.call(_teacher_features_and_logits, x)
        r = kd_decay(progress) if self.decay else 1.0
        if self.use_feature:
            fea = self.distill_losses["loss_fea"](s_feats[-1], t_feat)
            total = total + r * fea
            losses["loss_fea"] = fea.detach()
        if self.use_logit:
            weights = batch.target.weights if self.logit_mask else None
            logit = self.beta * logit_distill_loss(s_out, t_out, self.simcc_beta, weights, self.formulation)
            total = total + r * logit
            losses["loss_logit"] = logit.detach()
        losses["kd_decay"] = torch.tensor(r, device=total.device)
        return {"loss": total, **losses}


# ---------------------------------------------------------------------------------------------- stage 2


def _frozen_parts(model: nn.Module) -> list[nn.Module]:
    return [m for m in (model.backbone, getattr(model, "neck", None)) if m is not None]


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k].to(a[k].device))
                                        for k in a)


class DWPoseStage2Distiller(Distiller):
    """DWPose second-stage distillation (head-aware self-KD); works on any trained SimCC model.

    The student (``model``, what is evaluated and exported) takes the teacher's trained backbone (and neck), frozen,
    and keeps its own freshly initialised head; the teacher is the trained model itself. Each step runs the frozen
    backbone once without gradients and feeds its features to both heads; ``loss = gamma * L_logit``. The GT loss
    is computed for logging only (``loss_kpt``), as in the released code.

    Args:
        student: a freshly built model of the teacher's architecture (its head is the re-initialised head; leave
            ``model.init_weights`` empty in a recipe).
        teacher: the trained model (stage-1 result, or any trained RTMPose).
        gamma: loss scale (paper: 1).
        simcc_beta, logit_mask, formulation, teacher_mode: as in :class:`DWPoseDistiller`.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, gamma: float = 1.0, simcc_beta: float = 10.0,
                 logit_mask: bool = False, formulation: str = "code", teacher_mode: str = "eval"):
        formulation = _choice("formulation", formulation, FORMULATIONS)
        teacher_mode = _choice("teacher_mode", teacher_mode, TEACHER_MODES)
        super().__init__(student, FrozenTeacher.of(teacher, teacher_mode))
        if self.teacher.renormalises:
            raise ConfigError("DWPose stage 2: the student is the teacher's own network (same normalisation); a "
                              "teacher that re-normalises its inputs does not fit")
        teacher = self.teacher.model
        check_same_geometry(student, teacher, "stage 2")
        self.gamma, self.simcc_beta = float(gamma), float(simcc_beta)
        self.logit_mask, self.formulation, self.teacher_mode = bool(logit_mask), formulation, teacher_mode
        s_parts, t_parts = _frozen_parts(student), _frozen_parts(teacher)
        if len(s_parts) != len(t_parts):
            raise ConfigError("DWPose stage 2: student and teacher differ in having a neck (use the same model)")
        for s_part, t_part in zip(s_parts, t_parts):
            s_state, t_state = s_part.state_dict(), t_part.state_dict()
            bad = sorted(set(s_state) ^ set(t_state)) or [k for k in t_state if s_state[k].shape != t_state[k].shape]
            if bad:
                raise ConfigError(f"DWPose stage 2: the student's backbone is not the teacher's architecture (use the "
                                  f"same model for model.name and distill.teacher); first mismatch: {bad[0]}")
            s_part.load_state_dict(t_state)
            s_part.requires_grad_(False)
        if _same_tensors(student.head.state_dict(), teacher.head.state_dict()):
            raise ConfigError("DWPose stage 2: the student's head already holds the teacher's trained weights; stage 2 "
                              "trains a re-initialised head (leave model.init_weights empty)")
        self.train()

    def train(self, mode: bool = True) -> "DWPoseStage2Distiller":
        """The frozen backbone stays in eval mode unless ``teacher_mode == "train"`` (released-code behaviour)."""
        super().train(mode)
        if self.teacher_mode == "eval":
            for part in _frozen_parts(self.model):
                part.eval()
        return self

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            feats = self.model.forward_features(batch.inputs)   # computed once, shared by both heads
            t_out = self.teacher.model.forward_head(feats)
        s_out = self.model.forward_head(feats)
        weights = batch.target.weights if self.logit_mask else None
        loss = self.gamma * logit_distill_loss(s_out, t_out, self.simcc_beta, weights, self.formulation)
        with torch.no_grad():
            gt = self.model.loss_fn(s_out, batch)["loss"]
        return {"loss": loss, "loss_logit": loss.detach(), "loss_kpt": gt.detach()}


# ---------------------------------------------------------------------------------------------- registry


@register_distiller("dwpose", DWPoseDistiller)
def dwpose(student: nn.Module, teacher: nn.Module, alpha: float | None = None, beta: float = 0.1,
           use_gt: bool = True, use_feature: bool = True, use_logit: bool = True, decay: bool = True,
           logit_mask: bool = False, simcc_beta: float = 10.0, formulation: str = "code",
           teacher_mode: str = "eval") -> DWPoseDistiller:
    """DWPose stage 1 (see :class:`DWPoseDistiller`); YAML ``distill.params`` are these keywords."""
    return DWPoseDistiller(student, teacher, alpha, beta, use_gt, use_feature, use_logit, decay, logit_mask,
                           simcc_beta, formulation, teacher_mode)


@register_distiller("dwpose_stage2", DWPoseStage2Distiller)
def dwpose_stage2(student: nn.Module, teacher: nn.Module, gamma: float = 1.0, simcc_beta: float = 10.0,
                  logit_mask: bool = False, formulation: str = "code",
                  teacher_mode: str = "eval") -> DWPoseStage2Distiller:
    """DWPose stage 2 (see :class:`DWPoseStage2Distiller`); YAML ``distill.params`` are these keywords."""
    return DWPoseStage2Distiller(student, teacher, gamma, simcc_beta, logit_mask, formulation, teacher_mode)
