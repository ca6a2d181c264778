"""DistilPose (Ye et al., CVPR 2023, https://arxiv.org/abs/2303.02455): heatmap teacher -> regression student.

Total loss (paper Eq. 7, weights from the released configs):
``L = L_reg + a1 L_KT + a2 L_VT + a3 L_SH + a4 L_CS`` with a1 = a2 = 5e-4, a3 = 1, a4 = 0.01.

* ``L_reg``: the student's own task loss (Smooth L1 on normalised coordinates of visible in-image keypoints).
* ``L_KT`` / ``L_VT`` (Token-distilling Encoder, Eq. 4): MSE between the final keypoint / visual tokens of student
  and teacher (same token geometry, no projection).
* ``L_SH`` (Simulated Heatmaps, Eq. 2 and 5): unnormalised Gaussians built from the student's (mu, sigma),
  compared by JointsMSE with the teacher's raw heatmaps.
* ``L_CS`` (confidence, Eq. 6): ``|H_T(round(x), round(y)) - s_k|``.

Every term is a switch (``use_kt``, ``use_vt``, ``use_sh``, ``use_cs``) and ``preset`` selects a row of the paper's
Table 4 ablation. The CNN variant (Table 6: DeepPose student, SimpleBaseline teacher) uses ``preset="sh"``.
Deviation from the released code (documented in the spec): by default the L_SH weight is per sample and keypoint
(``sh_weighting="per_sample"``); ``"mmpose"`` reproduces the code's broadcast (mean visibility x MSE over the batch).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.regression import RegressionOutput
from ..errors import ConfigError
from ..losses.heatmap import joints_mse
from ..utils.progress import TrainProgress
from .base import Distiller, register_distiller

# Table 4 rows: which of (L_CS, L_SH, L_KT, L_VT) are on
TABLE4_PRESETS: dict[str, tuple[bool, bool, bool, bool]] = {
    "baseline": (False, False, False, False),
    "cs": (True, False, False, False),
    "sh": (False, True, False, False),
    "cs+sh": (True, True, False, False),
    "kt": (False, False, True, False),
    "vt": (False, False, False, True),
    "tde": (False, False, True, True),
    "all": (True, True, True, True),
}


def simulated_heatmaps(coords: torch.Tensor, sigma: torch.Tensor, heatmap_size: tuple[int, int]
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated Heatmaps (Eq. 2): ``H_k(x, y) = exp(-((x - mu_x)^2 / (2 sx^2) + (y - mu_y)^2 / (2 sy^2)))``.

    Args:
        coords: (B, K, 2) normalised (x / w_in, y / h_in) student keypoints; mu = coords * (Wh, Hh).
        sigma: (B, K, 2) (sigma_x, sigma_y) in heatmap pixels.
        heatmap_size: (Wh, Hh).
    Returns:
        heatmaps (B, K, Hh, Wh) with peak 1 at mu (differentiable in coords and sigma), and an in-bounds mask
        (B, K): 1 unless the 3-sigma box lies entirely outside the map (DistilPose's ``Reg2HMLoss``).
    """
    wh, hh = heatmap_size
    size = coords.new_tensor([wh, hh])
    mu = coords * size
    var = sigma.pow(2) + 1e-9
    xs = torch.arange(wh, device=coords.device, dtype=coords.dtype)
    ys = torch.arange(hh, device=coords.device, dtype=coords.dtype)
    gx = torch.exp(-0.5 * (xs - mu[..., :1]).pow(2) / var[..., :1])       # (B, K, Wh)
    gy = torch.exp(-0.5 * (ys - mu[..., 1:]).pow(2) / var[..., 1:])       # (B, K, Hh)
    heatmaps = gy[..., :, None] * gx[..., None, :]
    ul = mu - 3 * sigma
    br = mu + 3 * sigma + 1
    inside = ((ul < size) & (br >= 0)).all(dim=-1).to(coords.dtype).detach()
    return heatmaps, inside


def simulated_heatmap_loss(heatmaps: torch.Tensor, teacher_heatmaps: torch.Tensor, weight: torch.Tensor,
                           weighting: str = "per_sample") -> torch.Tensor:
    """L_SH: JointsMSE between simulated and raw teacher heatmaps, (B, K, H, W) each; ``weight`` (B, K).

    ``"per_sample"``: weight each (sample, keypoint) map; ``"mmpose"``: the released code's broadcast, where each
    keypoint's MSE over the whole batch is scaled by the batch mean of its squared weights.
    """
    if weighting == "per_sample":
        return joints_mse(heatmaps, teacher_heatmaps, weight)
    if weighting == "mmpose":
        per_kpt = (heatmaps - teacher_heatmaps).pow(2).mean(dim=(0, 2, 3))        # (K,)
        return (weight.pow(2).mean(dim=0) * per_kpt).mean()
    raise ConfigError(f"distill.params.sh_weighting must be 'per_sample' or 'mmpose', got {weighting!r}")


def confidence_targets(coords: torch.Tensor, teacher_heatmaps: torch.Tensor) -> torch.Tensor:
    """The teacher's heatmap value at the student's rounded prediction (Eq. 6 target), detached.

    ``ix = round(clamp(x, 0, 1) * (Wh - 1))``, ``iy = round(clamp(y, 0, 1) * (Hh - 1))`` as the released code.
    coords (B, K, 2) normalised; teacher_heatmaps (B, K, Hh, Wh) -> (B, K).
    """
    b, k, hh, wh = teacher_heatmaps.shape
    c = coords.detach().clamp(0, 1)
    ix = torch.round(c[..., 0] * (wh - 1)).long()
    iy = torch.round(c[..., 1] * (hh - 1)).long()
    flat = teacher_heatmaps.detach().reshape(b, k, hh * wh)
    return flat.gather(-1, (iy * wh + ix)[..., None]).squeeze(-1)


def confidence_loss(scores: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L_CS = mean |s_k w - H_T w| over (B, K); scores, targets, weight (B, K)."""
    return F.l1_loss(scores * weight, targets * weight)


def token_mse(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    """L_KT / L_VT: MSE averaged over (B, tokens, d), teacher detached; shapes must match exactly."""
    if student.shape != teacher.shape:
        raise ConfigError(f"DistilPose {kind} tokens differ: student {tuple(student.shape)} vs teacher "
                          f"{tuple(teacher.shape)} (use the same patch grid, token dim and keypoint count)")
    return F.mse_loss(student, teacher.detach())


def copy_matching_backbone(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Copy every teacher backbone tensor whose key and shape the student backbone shares; returns the keys.

    DistilPose-L initialises its HRNet-W48 stage-3 backbone from the teacher's full HRNet-W48 (stem, stage 1-3
    and transitions 1-2; the last stage-3 module's extra fuse layers and stage 4 have no counterpart).
    """
    s_state = student.backbone.state_dict()
    t_state = teacher.backbone.state_dict()
    shared = {k: v for k, v in t_state.items() if k in s_state and s_state[k].shape == v.shape}
    student.backbone.load_state_dict(shared, strict=False)
    return sorted(shared)


def _has_tokens(model: nn.Module) -> bool:
    return hasattr(model.head, "forward_tokens") and hasattr(model.head, "forward_from_tokens")


class DistilPoseDistiller(Distiller):
    """DistilPose training task: regression ``student`` + frozen heatmap ``teacher``.

    Args:
        student: a regression PoseModel (``distilpose-s/l``, ``deeppose-res50``): RegressionOutput with sigma.
        teacher: a heatmap PoseModel whose heatmaps have the student's heatmap size (input / 4); for token terms a
            TokenPose-style head with the student's token geometry.
        preset: a Table 4 row (``baseline``, ``cs``, ``sh``, ``cs+sh``, ``kt``, ``vt``, ``tde``, ``all``);
            it sets the four switches (explicit ``use_*`` arguments are then not allowed).
        use_kt, use_vt, use_sh, use_cs: turn L_KT, L_VT, L_SH, L_CS on/off (default: all on).
        w_kt, w_vt, w_sh, w_cs: alpha1..alpha4 (5e-4, 5e-4, 1.0, 0.01 as the released configs).
        sh_weighting: see :func:`simulated_heatmap_loss`.
        init_from_teacher: copy the teacher's backbone tensors with matching key and shape into the student
            at construction (DistilPose-L: HRNet-W48 stages 1-3 from the teacher), see :func:`copy_matching_backbone`.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, preset: str | None = None,
                 use_kt: bool | None = None, use_vt: bool | None = None, use_sh: bool | None = None,
                 use_cs: bool | None = None, w_kt: float = 5e-4, w_vt: float = 5e-4, w_sh: float = 1.0,
                 w_cs: float = 0.01, sh_weighting: str = "per_sample", init_from_teacher: bool = False):
        super().__init__(student, teacher)
        switches = (use_cs, use_sh, use_kt, use_vt)
        if preset is not None:
            if preset not in TABLE4_PRESETS:
                raise ConfigError(f"distill.params.preset: unknown {preset!r} (valid: {', '.join(TABLE4_PRESETS)})")
            if any(s is not None for s in switches):
                raise ConfigError("distill.params: give either preset or use_kt/use_vt/use_sh/use_cs, not both")
            switches = TABLE4_PRESETS[preset]
        self.use_cs, self.use_sh, self.use_kt, self.use_vt = (True if s is None else bool(s) for s in switches)
        self.weights = {"kt": float(w_kt), "vt": float(w_vt), "sh": float(w_sh), "cs": float(w_cs)}
        if sh_weighting not in ("per_sample", "mmpose"):
            raise ConfigError(f"distill.params.sh_weighting must be 'per_sample' or 'mmpose', got {sh_weighting!r}")
        self.sh_weighting = sh_weighting
        self._check_compatible()
        self.copied_keys: list[str] = []
        if init_from_teacher:
            self.copied_keys = copy_matching_backbone(student, self.teacher.model)
            if not self.copied_keys:
                raise ConfigError("distill.params.init_from_teacher: the teacher's backbone shares no tensor "
                                  "(key and shape) with the student's")

    @property
    def uses_tokens(self) -> bool:
        return self.use_kt or self.use_vt

    @property
    def uses_teacher(self) -> bool:
        return self.uses_tokens or self.use_sh or self.use_cs

    def _check_compatible(self) -> None:
        student, teacher = self.model, self.teacher.model
        if not hasattr(student.codec, "heatmap_size") or not hasattr(teacher.codec, "heatmap_size"):
            raise ConfigError("DistilPose needs a regression student and a heatmap teacher (codecs with heatmap_size)")
        if self.uses_teacher and tuple(student.codec.heatmap_size) != tuple(teacher.codec.heatmap_size):
            raise ConfigError(f"DistilPose: teacher heatmaps {tuple(teacher.codec.heatmap_size)} differ from the "
                              f"student's simulated heatmaps {tuple(student.codec.heatmap_size)} (same input size "
                              "and stride 4 needed)")
        if self.uses_tokens and not (_has_tokens(student) and _has_tokens(teacher)):
            raise ConfigError("DistilPose token distillation (use_kt/use_vt) needs token heads on both student and "
                              "teacher (TokenReg / TokenPose); use preset 'sh' or 'cs+sh' for CNN models")

    def _student(self, x: torch.Tensor):
        feats = self.model.forward_features(x)
        head = self.model.head
        if self.uses_tokens:
            tokens = head.forward_tokens(feats)
            return head.forward_from_tokens(tokens), tokens
        return self.model.forward_head(feats), None

    def _teacher(self, x: torch.Tensor):
        def run(model: nn.Module, inputs: torch.Tensor):
            feats = model.forward_features(inputs)
            if self.uses_tokens:
                tokens = model.head.forward_tokens(feats)
                return model.head.forward_from_tokens(tokens).heatmaps, tokens
            return model.forward_head(feats).heatmaps, None

        return self.teacher.call(run, x)

    def forward(self, batch, progress: TrainProgress | None = None) -> dict[str, torch.Tensor]:
        out, s_tokens = self._student(batch.inputs)
        if not isinstance(out, RegressionOutput):
            raise ConfigError(f"DistilPose student must output RegressionOutput, got {type(out).__name__}")
        task = self.model.loss_fn(out, batch)
        losses: dict[str, torch.Tensor] = {"loss_reg": task["loss"].detach()}
        total = task["loss"]
        if not self.uses_teacher:
            return {"loss": total, **losses}
        t_heatmaps, t_tokens = self._teacher(batch.inputs)
        weight = batch.target.weight.to(out.coords.dtype)
        terms: dict[str, torch.Tensor] = {}
        if self.use_kt:
            terms["kt"] = token_mse(s_tokens.keypoint, t_tokens.keypoint, "keypoint")
        if self.use_vt:
            terms["vt"] = token_mse(s_tokens.visual, t_tokens.visual, "visual")
        if self.use_sh:
            hw = (t_heatmaps.shape[-1], t_heatmaps.shape[-2])
            sim, inside = simulated_heatmaps(out.coords, out.sigma, hw)
            terms["sh"] = simulated_heatmap_loss(sim, t_heatmaps.to(sim.dtype), weight * inside, self.sh_weighting)
        if self.use_cs:
            terms["cs"] = confidence_loss(out.scores, confidence_targets(out.coords, t_heatmaps).to(out.scores.dtype),
                                          weight)
        for name, value in terms.items():
            total = total + self.weights[name] * value
            losses[f"loss_{name}"] = value.detach()
        return {"loss": total, **losses}


@register_distiller("distilpose", DistilPoseDistiller)
def distilpose(student: nn.Module, teacher: nn.Module, preset: str | None = None, use_kt: bool | None = None,
               use_vt: bool | None = None, use_sh: bool | None = None, use_cs: bool | None = None,
               w_kt: float = 5e-4, w_vt: float = 5e-4, w_sh: float = 1.0, w_cs: float = 0.01,
               sh_weighting: str = "per_sample", init_from_teacher: bool = False) -> DistilPoseDistiller:
    """DistilPose distillation (see :class:`DistilPoseDistiller`); YAML ``distill.params`` are these keywords."""
    return DistilPoseDistiller(student, teacher, preset, use_kt, use_vt, use_sh, use_cs, w_kt, w_vt, w_sh, w_cs,
                               sh_weighting, init_from_teacher)
