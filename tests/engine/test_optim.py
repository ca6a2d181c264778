"""Optimiser param groups, the flat-cosine and warm-up + cosine LR schedules and the EMA update against their
definitions."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kdpose.engine.config import OptimCfg, ScheduleCfg
from kdpose.engine.ema import ExpMomentumEMA
from kdpose.engine.optim import FlatCosineLR, WarmupCosineLR, build_optimizer, build_scheduler, param_groups


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)  # weight decayed, bias not
        self.bn = nn.BatchNorm2d(4)  # weight and bias not decayed
        self.ln = nn.LayerNorm(4)
        self.g = nn.Parameter(torch.ones(1))  # ScaleNorm-style gain: decayed (not a norm module, not "bias")
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_param_groups_follow_mmengine_rule():
    net = Net()
    groups = {g["weight_decay"]: {id(p) for p in g["params"]} for g in param_groups(net, 0.05)}
    assert set(groups) == {0.05, 0.0}
    assert groups[0.05] == {id(net.conv.weight), id(net.g)}
    assert groups[0.0] == {id(net.conv.bias), id(net.bn.weight), id(net.bn.bias), id(net.ln.weight), id(net.ln.bias)}
    opt = build_optimizer(net, OptimCfg(lr=1e-3, weight_decay=0.05))
    assert isinstance(opt, torch.optim.AdamW) and sum(len(g["params"]) for g in opt.param_groups) == 7


def _reference_lr(t, base=4e-3, warm=1000, start=1e-5, max_epochs=420, ipe=100, eta=0.05):
    """The definition, written independently: mmengine LinearLR x CosineAnnealingLR(begin=max_epochs//2)."""
    lr = base
    if t >= max_epochs // 2 * ipe:
        T = (max_epochs - max_epochs // 2) * ipe
        lr = eta * base + (base - eta * base) * (1 + math.cos(math.pi * (t - max_epochs // 2 * ipe) / T)) / 2
    if t < warm:
        lr *= start + (1 - start) * t / warm
    return lr


@pytest.mark.parametrize("t", [0, 1, 500, 999, 1000, 5000, 20999, 21000, 21001, 31500, 41999, 42000])
def test_flat_cosine_schedule_matches_definition(t):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=4e-3)
    sched = FlatCosineLR(opt, ScheduleCfg(warmup_iters=1000, warmup_start_factor=1e-5, eta_min_factor=0.05), 420, 100)
    sched.set_iteration(t)
    assert opt.param_groups[0]["lr"] == pytest.approx(_reference_lr(t), rel=1e-12, abs=1e-15)


def test_schedule_landmarks():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=4e-3)
    sched = FlatCosineLR(opt, ScheduleCfg(), 420, 100)
    assert sched.factor(0) == pytest.approx(1e-5)
    assert sched.factor(1000) == 1.0 and sched.factor(21000) == 1.0
    assert sched.factor(31500) == pytest.approx(0.05 + 0.95 * 0.5)
    assert sched.factor(42000) == pytest.approx(0.05)  # eta_min = 0.05 * base = 2e-4
    sched.set_iteration(31500)
    state = sched.state_dict()
    sched.set_iteration(3)
    sched.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == pytest.approx(4e-3 * (0.05 + 0.95 * 0.5))


def test_warmup_cosine_equals_the_lambda_schedule_of_the_fixed_step_loop():
    """``schedule.kind: warmup_cosine`` sets, at every step, exactly the learning rate that torch's LambdaLR with the
    fixed-step protocol's factor ((t + 1) / W, then cosine to eta over the remaining steps) sets."""
    steps, warmup, eta, lr = 40, 6, 0.05, 2e-3

    def factor(t):
        if t < warmup:
            return (t + 1) / warmup
        x = (t - warmup) / max(1, steps - warmup)
        return eta + (1 - eta) * 0.5 * (1 + math.cos(math.pi * min(1.0, x)))

    ref_opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=lr)
    lambda_lr = torch.optim.lr_scheduler.LambdaLR(ref_opt, factor)
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, ScheduleCfg(kind="warmup_cosine", warmup_iters=warmup, eta_min_factor=eta), 2, 20)
    assert isinstance(sched, WarmupCosineLR) and isinstance(build_scheduler(opt, ScheduleCfg(), 2, 20), FlatCosineLR)
    for t in range(steps + 3):
        sched.set_iteration(t)
        assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]  # bit for bit, not approx
        ref_opt.step()
        lambda_lr.step()
    assert sched.factor(0) == 1 / warmup and sched.factor(warmup - 1) == 1.0 and sched.factor(steps) == eta


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = ExpMomentumEMA(model, momentum=0.0002, gamma=2000)
    ema.update(model)  # step 0 copies
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    for step in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(5, 3))  # changes the BN running stats and num_batches_tracked
        m = (1 - 0.0002) * math.exp(-(1 + step) / 2000) + 0.0002
        for k, v in model.state_dict().items():
            expected[k] = (1 - m) * expected[k] + m * v if v.dtype.is_floating_point else v.clone()
        ema.update(model)
        for k, v in ema.module.state_dict().items():
            torch.testing.assert_close(v, expected[k], rtol=1e-6, atol=1e-7)
    assert ema.module.state_dict()["1.num_batches_tracked"].item() == 3  # integer buffer copied
    assert ema.momentum_at(0) == pytest.approx((1 - 0.0002) * math.exp(-1 / 2000) + 0.0002)
