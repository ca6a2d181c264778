"""SDPose self-distillation (Chen et al., CVPR 2024): a training task around an MCT model.

The model's token encoder runs ``cycles`` times (``MultiCycleMixin.forward_cycles``); every cycle's keypoint tokens go
through the model's own (shared) prediction head. Loss (paper Eq. 1-4, weights of the released configs):

    L = sum_{i in pose cycles} L_pose(P_i) + a1 * sum_{(t, s) in pairs} MSE(KT_s, KT_t)
                                           + a2 * sum_{(t, s) in pairs} MSE(VT_s, VT_t),   a1 = a2 = 5e-6

* ``L_pose``: the model's task loss (JointsMSE for heatmap models) on every cycle (``pose_cycles="all"``, summed, as
  the code) or on the last cycle only (``"last"``, Table 5's first rows). SDPose-Reg uses RLE
  (``task_loss="rle"``, chosen automatically for the RLE head); the RealNVP flow lives in this task, so it is trained
  and checkpointed in ``last.pt`` but never enters the deployed model's weights.
* RTMPose (``rtmpose-*`` / ``dwpose-*``): the cycles run the RTMCC head's GAU over its K keypoint tokens
  (``RTMCCHead.forward_cycles``); it has no visual tokens, so ``L_vt`` is skipped for it.
* ``pairs``: (teacher cycle, student cycle), 1-based; default the consecutive pairs ``(i + 1, i)`` of the paper
  ("3->2, 2->1"). ``[[2, 1]]`` with 3 cycles distils only 2->1; ``[[3, 1]]`` is also expressible. The later cycle is
  the target.
* Gradient through the target: the released code applies ``nn.MSELoss`` to both cycles without detaching, so the token
  losses also pull the later cycle towards the earlier one; that is the default here (``detach_target=False``).
  ``detach_target=True`` stops the gradient at the target (the paper's "teacher" reading).

This is a task (``forward(batch, progress) -> dict`` with ``"loss"``, attribute ``model``) rather than the model's
``loss_fn``: the per-cycle tokens are internal to the forward pass, and the deployed model's ``forward`` runs one
cycle only. It has no external teacher: ``teacher`` must be None (or is ignored with ``ignore_teacher=True`` for
engines that always build one). The trainer saves ``task.model``: the plain one-cycle SDPose network.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses.rle import RLELoss
from ..models.heads.mct import has_cycles
from ..models.heads.tokenreg_rle import RLETokenRegHead
from ..utils.progress import TrainProgress
from .base import register_distiller

# Table 5 rows (paper): (pose loss on every cycle, L_kt, L_vt); the model is evaluated on cycle 1 in every row.
TABLE5_PRESETS: dict[str, tuple[bool, bool, bool]] = {
    "none": (False, False, False),        # only the last cycle is supervised, no distillation (55.4)
    "pose": (True, False, False),         # L_pose on every cycle (70.2)
    "pose+kt": (True, True, False),       # (69.6)
    "pose+vt": (True, False, True),       # (71.7)
    "kt+vt": (False, True, True),         # last-cycle L_pose + both token losses (58.2)
    "all": (True, True, True),            # SDPose (72.3)
}


def consecutive_pairs(cycles: int) -> list[tuple[int, int]]:
    """The paper's pairs for ``cycles`` cycles: [(2, 1), (3, 2), ...] as (teacher, student), 1-based."""
    return [(i + 1, i) for i in range(1, cycles)]


def parse_pairs(pairs: Any, cycles: int) -> list[tuple[int, int]]:
    """Validate ``pairs`` (None = consecutive) as (teacher, student) cycle numbers with teacher > student."""
    if pairs is None:
        return consecutive_pairs(cycles)
    out = []
    for item in pairs:
        if not isinstance(item, Sequence) or len(item) != 2:
            raise ConfigError(f"distill.params.pairs: each pair is [teacher_cycle, student_cycle], got {item!r}")
        t, s = int(item[0]), int(item[1])
        if not 1 <= s < t <= cycles:
            raise ConfigError(f"distill.params.pairs: [{t}, {s}] needs 1 <= student < teacher <= cycles ({cycles})")
        out.append((t, s))
    return out


def token_distill_mse(student: torch.Tensor, target: torch.Tensor, detach_target: bool) -> torch.Tensor:
    """MSE averaged over (B, tokens, d) between an earlier cycle's tokens and the later (target) cycle's."""
    return F.mse_loss(student, target.detach() if detach_target else target)


class SDPoseTask(nn.Module):
    """SDPose training task (module docstring).

    Args:
        model: a PoseModel whose head has MCT cycles (``kdpose.models.sdpose`` zoo entries).
        cycles: N, the training cycles (SDPose-T 3, the others 2; 1 = plain training of the same network).
        pairs: distillation pairs (teacher, student), 1-based; None = consecutive.
        preset: a Table 5 row (``none``, ``pose``, ``pose+kt``, ``pose+vt``, ``kt+vt``, ``all``); sets
            ``pose_cycles``/``use_kt``/``use_vt`` (then they must not be given).
        pose_cycles: ``"all"`` (every cycle's prediction against the ground truth) or ``"last"``.
        use_kt, use_vt: token losses on/off (default on).
        w_kt, w_vt: alpha1, alpha2 (5e-6).
        detach_target: stop the gradient at the later (target) cycle's tokens (default False, as the released code).
        task_loss: ``"auto"`` (RLE for the RLE head, else the model's ``loss_fn``), ``"model"`` or ``"rle"``.

    Self-distillation: the later MCT cycle is the teacher, so the engine builds it without one (``needs_teacher``).
    """

    needs_teacher: ClassVar[bool] = False
    model_task: ClassVar[str] = "topdown"

    def __init__(self, model: nn.Module, cycles: int = 2, pairs: Any = None, preset: str | None = None,
                 pose_cycles: str | None = None, use_kt: bool | None = None, use_vt: bool | None = None,
                 w_kt: float = 5e-6, w_vt: float = 5e-6, detach_target: bool = False, task_loss: str = "auto"):
        super().__init__()
        if not has_cycles(getattr(model, "head", None)):
            raise ConfigError(f"SDPose needs a model whose head has MCT cycles (an sdpose-* or rtmpose-* zoo model), "
                              f"got {type(model).__name__}")
        if int(cycles) < 1:
            raise ConfigError(f"distill.params.cycles must be >= 1, got {cycles}")
        self.model = model
        self.cycles = int(cycles)
        self.pairs = parse_pairs(pairs, self.cycles)
        switches = (None if pose_cycles is None else pose_cycles == "all", use_kt, use_vt)
        if pose_cycles is not None and pose_cycles not in ("all", "last"):
            raise ConfigError(f"distill.params.pose_cycles must be 'all' or 'last', got {pose_cycles!r}")
        if preset is not None:
            if preset not in TABLE5_PRESETS:
                raise ConfigError(f"distill.params.preset: unknown {preset!r} (valid: {', '.join(TABLE5_PRESETS)})")
            if any(s is not None for s in switches):
                raise ConfigError("distill.params: give either preset or pose_cycles/use_kt/use_vt, not both")
            switches = TABLE5_PRESETS[preset]
        self.pose_all, self.use_kt, self.use_vt = (True if s is None else bool(s) for s in switches)
        self.weights = {"kt": float(w_kt), "vt": float(w_vt)}
        self.detach_target = bool(detach_target)
        if task_loss not in ("auto", "model", "rle"):
            raise ConfigError(f"distill.params.task_loss must be 'auto', 'model' or 'rle', got {task_loss!r}")
        if task_loss == "auto":
            task_loss = "rle" if isinstance(model.head, RLETokenRegHead) else "model"
        # the RLE flow is a training-only module of the task: in last.pt, never in the deployed weights
        self.rle = RLELoss() if task_loss == "rle" else None

    def pose_loss(self, output, batch) -> torch.Tensor:
        if self.rle is not None:
            return self.rle(output, batch)["loss"]
        return self.model.loss_fn(output, batch)["loss"]

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        head = self.model.head
        tokens = head.forward_cycles(self.model.forward_features(batch.inputs), self.cycles)
        supervised = range(self.cycles) if self.pose_all else [self.cycles - 1]
        losses: dict[str, torch.Tensor] = {}
        total = None
        for i in supervised:
            value = self.pose_loss(head.forward_from_tokens(tokens[i]), batch)
            losses[f"loss_pose_c{i + 1}"] = value.detach()
            total = value if total is None else total + value
        terms = {}
        if self.use_kt and self.pairs:
            terms["kt"] = sum(token_distill_mse(tokens[s - 1].keypoint, tokens[t - 1].keypoint, self.detach_target)
                              for t, s in self.pairs)
        if self.use_vt and self.pairs and tokens[0].visual is not None:  # RTMPose's GAU has no visual tokens
            terms["vt"] = sum(token_distill_mse(tokens[s - 1].visual, tokens[t - 1].visual, self.detach_target)
                              for t, s in self.pairs)
        for name, value in terms.items():
            total = total + self.weights[name] * value
            losses[f"loss_{name}"] = value.detach()
        return {"loss": total, **losses}


@register_distiller("sdpose", SDPoseTask)
def sdpose(student: nn.Module, teacher: nn.Module | None = None, cycles: int = 2, pairs: Any = None,
           preset: str | None = None, pose_cycles: str | None = None, use_kt: bool | None = None,
           use_vt: bool | None = None, w_kt: float = 5e-6, w_vt: float = 5e-6, detach_target: bool = False,
           task_loss: str = "auto", ignore_teacher: bool = False) -> SDPoseTask:
    """SDPose self-distillation (see :class:`SDPoseTask`); YAML ``distill.params`` are these keywords.

    SDPose has no external teacher (the later cycle is the teacher). ``teacher`` must be None unless
    ``ignore_teacher=True`` (for an engine that insists on building one; it is then dropped).
    """
    if teacher is not None and not ignore_teacher:
        raise ConfigError("SDPose is self-distillation: the later MCT cycle is the teacher; leave distill.teacher "
                          "empty (or set distill.params.ignore_teacher: true)")
    return SDPoseTask(student, cycles, pairs, preset, pose_cycles, use_kt, use_vt, w_kt, w_vt, detach_target,
                      task_loss)

