"""AdamW with MMPose's param-wise weight decay, and the learning-rate schedules: RTMPose's warm-up + flat + cosine
(the default) and the fixed-step protocol's warm-up + cosine."""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import OptimCfg, ScheduleCfg

# mmengine treats these as norm layers (weight and bias both get norm_decay_mult)
_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def param_groups(model: nn.Module, weight_decay: float, norm_decay_mult: float = 0.0,
                 bias_decay_mult: float = 0.0) -> list[dict]:
    """Split trainable parameters into weight-decay groups with mmengine's ``paramwise_cfg`` rule.

    Every parameter of a BatchNorm/InstanceNorm/GroupNorm/LayerNorm module gets ``weight_decay * norm_decay_mult``;
    otherwise a parameter named exactly ``bias`` gets ``weight_decay * bias_decay_mult``; everything else (including
    ScaleNorm ``g``, Scale ``scale`` and GAU ``gamma``/``beta``) gets ``weight_decay``. Shared parameters are
    counted once (``bypass_duplicate``). Frozen parameters (``requires_grad=False``) are left out.
    """
    seen: set[int] = set()
    decays: dict[float, list[nn.Parameter]] = {}
    for module in model.modules():
        is_norm = isinstance(module, _NORM_TYPES)
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if is_norm:
                wd = weight_decay * norm_decay_mult
            elif name == "bias":
                wd = weight_decay * bias_decay_mult
            else:
                wd = weight_decay
            decays.setdefault(wd, []).append(param)
    return [{"params": params, "weight_decay": wd} for wd, params in sorted(decays.items(), reverse=True)]


def build_optimizer(model: nn.Module, cfg: OptimCfg) -> torch.optim.AdamW:
    groups = param_groups(model, cfg.weight_decay, cfg.norm_decay_mult, cfg.bias_decay_mult)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


class FlatCosineLR:
    """RTMPose's schedule as a closed-form function of the global iteration ``t`` (0-based).

    ``lr(t) = base * warmup(t) * shape(t)`` with
      - ``warmup(t) = s + (1 - s) * min(t, W) / W`` (mmengine ``LinearLR``, start factor ``s``, ``W`` iterations);
      - ``shape(t) = 1`` before the cosine start ``C = cosine_start_epoch * iters_per_epoch``, then
        ``(eta + (1 - eta) * (1 + cos(pi * (t - C) / T)) / 2)`` with ``T = max_iters - C`` and ``eta`` the
        ``eta_min_factor`` (mmengine ``CosineAnnealingLR`` converted to iterations, ``eta_min = eta * base``).
    The two factors multiply where they overlap, as mmengine's chained schedulers do.
    The schedule holds no state besides the iteration, which the trainer checkpoints.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: ScheduleCfg, max_epochs: int, iters_per_epoch: int):
        self.optimizer = optimizer
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        for g, base in zip(optimizer.param_groups, self.base_lrs):
            g["initial_lr"] = base
        self.warmup_iters = cfg.warmup_iters
        self.start_factor = cfg.warmup_start_factor
        self.eta_min_factor = cfg.eta_min_factor
        cos_epoch = cfg.cosine_start_epoch if cfg.cosine_start_epoch >= 0 else max_epochs // 2
        self.max_iters = max_epochs * iters_per_epoch
        self.cosine_start = min(cos_epoch * iters_per_epoch, self.max_iters)
        self.iteration = 0

    def factor(self, t: int) -> float:
        """Multiplier of the base learning rate at global iteration ``t``."""
        warm = 1.0
        if self.warmup_iters > 0:
            warm = self.start_factor + (1.0 - self.start_factor) * min(t, self.warmup_iters) / self.warmup_iters
        shape = 1.0
        span = self.max_iters - self.cosine_start
        if t >= self.cosine_start and span > 0:
            progress = min(t - self.cosine_start, span) / span
            shape = self.eta_min_factor + (1.0 - self.eta_min_factor) * (1.0 + math.cos(math.pi * progress)) / 2.0
        return warm * shape

    def set_iteration(self, t: int) -> None:
        """Set every group's learning rate for the step taken at global iteration ``t``."""
        self.iteration = t
        f = self.factor(t)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self.set_iteration(int(state["iteration"]))


class WarmupCosineLR(FlatCosineLR):
    """The fixed-step protocol's schedule (``schedule.kind: warmup_cosine``; the depth tables and ``kdpose demo
    --method stagewise``): ``(t + 1) / W`` for ``t < W`` (``W = warmup_iters``), then a cosine from 1 to ``eta``
    (``eta_min_factor``) over the remaining ``max_iters - W`` iterations. Same state and interface as
    :class:`FlatCosineLR`."""

    def factor(self, t: int) -> float:
        if t < self.warmup_iters:
            return (t + 1) / self.warmup_iters
        progress = (t - self.warmup_iters) / max(1, self.max_iters - self.warmup_iters)
        return self.eta_min_factor + (1 - self.eta_min_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


SCHEDULES = {"flat_cosine": FlatCosineLR, "warmup_cosine": WarmupCosineLR}


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleCfg, max_epochs: int,
                    iters_per_epoch: int) -> FlatCosineLR:
    """The schedule ``cfg.kind`` names."""
    return SCHEDULES[cfg.kind](optimizer, cfg, max_epochs, iters_per_epoch)
