"""A step whose loss or gradient is inf/NaN stops training with TrainingDiverged before the update: the weights stay
as they were after the last good step, and the message names the iteration (and the parameter, for a gradient)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyDataset, collate, make_task, toy_recipe  # noqa: E402

from kdpose.engine.trainer import Trainer  # noqa: E402
from kdpose.errors import KdposeError, TrainingDiverged  # noqa: E402
from kdpose.utils.entry import guarded  # noqa: E402

BAD_STEP = 2


class NaNGradient(torch.autograd.Function):
    """Identity forward; NaN backward: a finite loss whose gradient is not (as a faulty kernel gives)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("nan"))


def _faulty_task(kind: str):
    """The toy task, with a NaN loss or a NaN gradient of the fc layer's output at step BAD_STEP."""
    task = make_task(0)
    calls = {"n": 0}

    def hook(module, inputs, output):
        calls["n"] += 1
        if calls["n"] - 1 != BAD_STEP:
            return output
        return output * float("nan") if kind == "loss" else NaNGradient.apply(output)

    task.model.fc.register_forward_hook(hook)
    return task


def _weights(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("kind, message", [
    ("loss", rf"loss is nan at iteration {BAD_STEP} \(epoch 1\); try a lower optim.lr"),
    ("gradient", rf"the gradient of model\.\S+ is not finite at iteration {BAD_STEP} \(epoch 1\) while the loss is "
                 r"[0-9.e+-]+; the update was not applied"),
])
@pytest.mark.parametrize("clip", [0.0, 5.0])
def test_a_nonfinite_step_stops_before_the_update(tmp_path, kind, message, clip):
    cfg = toy_recipe(threads=1, ema=False)
    cfg.optim.clip_grad_norm = clip
    after = []
    trainer = Trainer(cfg, _faulty_task(kind), ToyDataset(), collate, tmp_path / "run",
                      on_iteration_end=lambda t: after.append(_weights(t)))
    with pytest.raises(TrainingDiverged, match=message) as info:
        trainer.fit()
    assert isinstance(info.value, KdposeError) and isinstance(info.value, FloatingPointError)
    assert len(after) == BAD_STEP  # the steps before the bad one ran and were applied
    now = _weights(trainer)
    for name, value in after[-1].items():
        if value.is_floating_point() and "running_" not in name:  # (BatchNorm stats move in every forward)
            assert torch.equal(now[name], value), f"{name} changed in the refused step"
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_the_cli_prints_a_diverged_run_as_one_line(capsys):
    def run():
        raise TrainingDiverged("loss is nan at iteration 7 (epoch 1); try a lower optim.lr or optim.clip_grad_norm")

    assert guarded(run) == 2
    assert capsys.readouterr().err == ("kdpose: error: loss is nan at iteration 7 (epoch 1); try a lower optim.lr or "
                                       "optim.clip_grad_norm\n")
