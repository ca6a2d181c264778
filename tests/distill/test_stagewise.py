"""Stagewise distillation of pose machines: stage pairing, hand-computed losses, the distiller task."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdpose.codecs.paf import PafOutput
from kdpose.distill.stagewise import StagewiseDistiller, hint_loss, teacher_loss, teacher_stage_pairs
from kdpose.errors import ConfigError
from kdpose.models.pose_machines import create_pose_machine


def test_stage_pairs():
    assert teacher_stage_pairs(2, 2, 1) == [(1, 1)]  # standard: final vs final
    assert teacher_stage_pairs(2, 3, 2) == [(1, 2), (0, 1)]  # last tau stages aligned from the end
    assert teacher_stage_pairs(2, 3, 2, "final") == [(1, 2), (0, 2)]  # Stagewise*: teacher's final maps
    assert teacher_stage_pairs(1, 2, 2) == [(0, 1)]  # tau clamped to the shorter cascade
    with pytest.raises(ConfigError):
        teacher_stage_pairs(2, 2, 0)
    with pytest.raises(ConfigError):
        teacher_stage_pairs(2, 2, 1, "every")


def test_teacher_and_hint_losses_equal_hand_computed_values():
    # B=1, student S=2, teacher S=2, one heatmap channel and one PAF channel of 1x2 cells
    s = PafOutput(heatmaps=torch.tensor([[[[[1.0, 0.0]]], [[[2.0, 2.0]]]]]),
                  pafs=torch.tensor([[[[[0.0, 0.0]]], [[[1.0, 0.0]]]]]))
    t = PafOutput(heatmaps=torch.tensor([[[[[0.0, 0.0]]], [[[1.0, 1.0]]]]]),
                  pafs=torch.tensor([[[[[0.0, 3.0]]], [[[0.0, 0.0]]]]]))
    # tau = 1: stage 2 vs 2: heat (1 + 1) + paf (1) = 3
    assert teacher_loss(s, t, teacher_stage_pairs(2, 2, 1)).item() == pytest.approx(3.0)
    # tau = 2 adds stage 1 vs 1: heat 1 + paf 9 = 10
    assert teacher_loss(s, t, teacher_stage_pairs(2, 2, 2)).item() == pytest.approx(13.0)
    # Stagewise*: stage 1 vs teacher's final: heat (0 + 1) + paf 0 = 1 -> 3 + 1
    assert teacher_loss(s, t, teacher_stage_pairs(2, 2, 2, "final")).item() == pytest.approx(4.0)
    # masked second cell: stage 2 heat 1 + paf 1 = 2
    w = torch.tensor([[[[1.0, 0.0]]]])
    assert teacher_loss(s, t, [(1, 1)], w).item() == pytest.approx(2.0)
    f_s, f_t = torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    assert hint_loss(f_s, f_t).item() == pytest.approx(12.0)  # 24 squared ones / B=2


def tiny(kind, stages, width=8):
    return create_pose_machine(kind, stages, width=width, input_size=(16, 16))


def make_batch(model, batch_size=2):
    rng = np.random.default_rng(0)
    targets = [model.codec.encode(rng.uniform(2, 14, (1, 17, 2)), np.ones((1, 17))) for _ in range(batch_size)]
    target = SimpleNamespace(**{k: torch.from_numpy(np.stack([getattr(t, k) for t in targets]))
                                for k in ("heatmaps", "pafs", "weight")})
    return SimpleNamespace(inputs=torch.randn(batch_size, 1, 16, 16), target=target)


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_distiller_loss_is_the_weighted_sum_and_only_the_student_learns(gamma):
    torch.manual_seed(0)
    student, teacher = tiny("mpm", 2), tiny("rpm", 3, width=12)
    distiller = StagewiseDistiller(student, teacher, tau=2, alpha=0.5, gamma=gamma)
    distiller.train()
    assert not distiller.teacher.model.training  # the teacher stays in eval mode
    assert (distiller.hint_adapter is not None) == (gamma > 0)  # 8 vs 12 channels need an adapter
    batch = make_batch(student)
    out = distiller(batch, None)
    expected = 0.5 * out["loss_teacher"] + 0.5 * out["loss_pm"] + gamma * out.get("loss_hint", 0.0)
    assert out["loss"].item() == pytest.approx(float(expected), rel=1e-5)
    # the teacher term is the L2 of the last two stage pairs, computed independently
    student.eval()
    with torch.no_grad():
        s_out, t_out = student(batch.inputs), teacher(batch.inputs)
    manual = sum(((s_out.heatmaps[:, i] - t_out.heatmaps[:, j]) ** 2).sum()
                 + ((s_out.pafs[:, i] - t_out.pafs[:, j]) ** 2).sum()
                 for i, j in [(1, 2), (0, 1)]) / 2
    assert distiller(batch, None)["loss_teacher"].item() == pytest.approx(manual.item(), rel=1e-4)  # eval mode too
    student.train()
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_registered_and_built_by_name():
    from kdpose.distill import build_distiller

    d = build_distiller("stagewise", tiny("mpm", 1), tiny("mpm", 2), {"tau": 1, "gamma": 1.0})
    assert isinstance(d, StagewiseDistiller) and d.pairs == [(0, 1)] and d.hint_adapter is None
    with pytest.raises(ConfigError):
        build_distiller("stagewise", tiny("mpm", 1), tiny("mpm", 2), {"beta": 1})
