"""Exponential moving average of the weights with MMPose's ``ExpMomentumEMA`` momentum schedule."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ExpMomentumEMA:
    """EMA copy of a model, updated after every optimiser step.

    At update number ``n`` (0-based) the first update copies the model; later ones apply, to every floating
    parameter **and buffer**, ``ema = (1 - m) * ema + m * value`` with
    ``m = (1 - momentum) * exp(-(1 + n) / gamma) + momentum`` (mmdet ``ExpMomentumEMA``; RTMPose uses
    momentum 0.0002, gamma 2000). Integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are copied.

    Args:
        model: the model to average (a plain ``nn.Module``, not a DDP wrapper).
        momentum: the asymptotic weight of the new value.
        gamma: the time constant, in updates, of the extra early momentum.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0002, gamma: float = 2000.0):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.momentum = momentum
        self.gamma = gamma
        self.steps = 0

    def momentum_at(self, steps: int) -> float:
        return (1.0 - self.momentum) * math.exp(-(1.0 + steps) / self.gamma) + self.momentum

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        source = model.state_dict()
        target = self.module.state_dict()
        m = self.momentum_at(self.steps)
        floats_ema, floats_src = [], []
        for key, ema_value in target.items():
            value = source[key].detach()
            if self.steps == 0 or not ema_value.dtype.is_floating_point:
                ema_value.copy_(value)
            else:
                floats_ema.append(ema_value)
                floats_src.append(value.to(ema_value.dtype))
        if floats_ema:
            torch._foreach_lerp_(floats_ema, floats_src, m)  # ema += m * (value - ema), one fused pass
        self.steps += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.steps = int(state["steps"])
