"""DistilPose: Simulated Heatmaps, confidence targets, token MSE, ablation switches, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from kdpose.distill import build_distiller
from kdpose.distill.distilpose import (TABLE4_PRESETS, DistilPoseDistiller, confidence_targets, simulated_heatmap_loss,
                                       simulated_heatmaps, token_mse)
from kdpose.errors import ConfigError
from kdpose.models import create_model
from kdpose.utils.progress import TrainProgress

from ..conftest import topdown_batch

torch.set_num_threads(1)
SMALL = {"input_size": (48, 64), "dim": 32, "depth": 2, "heads": 4, "stem_planes": 8}


def _pair(teacher_name: str = "tokenpose-s-v1"):
    torch.manual_seed(0)
    return create_model("distilpose-s", **SMALL), create_model(teacher_name, **SMALL)


def test_simulated_heatmap_values():
    # mu = (0.25 * 48, 0.5 * 64) = (12, 32), sigma = (2, 3)
    coords = torch.tensor([[[0.25, 0.5]]])
    sigma = torch.tensor([[[2.0, 3.0]]])
    hm, inside = simulated_heatmaps(coords, sigma, (48, 64))
    assert hm.shape == (1, 1, 64, 48) and inside.item() == 1.0
    assert hm[0, 0, 32, 12].item() == pytest.approx(1.0)
    assert hm[0, 0, 32, 14].item() == pytest.approx(math.exp(-0.5), rel=1e-5)   # one sigma_x right
    assert hm[0, 0, 35, 12].item() == pytest.approx(math.exp(-0.5), rel=1e-5)   # one sigma_y down
    assert hm[0, 0, 35, 14].item() == pytest.approx(math.exp(-1.0), rel=1e-5)
    assert hm.max().item() == pytest.approx(1.0)


def test_simulated_heatmap_out_of_bounds_mask_and_gradients():
    coords = torch.tensor([[[0.5, 0.5], [-0.5, 0.5]]], requires_grad=True)
    sigma = torch.tensor([[[2.0, 2.0], [2.0, 2.0]]], requires_grad=True)
    hm, inside = simulated_heatmaps(coords, sigma, (48, 64))
    assert inside.tolist() == [[1.0, 0.0]]  # mu_x = -24: the 3-sigma box is left of the map
    # teacher peak 4.8 heatmap px to the right of the student's: the gradient pulls mu_x right
    teacher, _ = simulated_heatmaps(torch.tensor([[[0.6, 0.5], [0.6, 0.5]]]), sigma.detach(), (48, 64))
    simulated_heatmap_loss(hm, teacher, inside).backward()
    assert coords.grad[0, 0, 0] < 0 and abs(coords.grad[0, 0, 1]) < 1e-6
    assert sigma.grad[0, 0].abs().sum() > 0
    assert coords.grad[0, 1].abs().sum() == 0 and sigma.grad[0, 1].abs().sum() == 0  # masked keypoint


def test_sh_weighting_mmpose_quirk():
    torch.manual_seed(0)
    hm, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    per_kpt_mse = (hm - t).pow(2).mean(dim=(0, 2, 3))
    expected = (torch.tensor([0.5, 0.0, 1.0]) * per_kpt_mse).mean()
    assert simulated_heatmap_loss(hm, t, w, "mmpose").item() == pytest.approx(expected.item())
    clean = ((hm - t) * w[..., None, None]).pow(2).mean()
    assert simulated_heatmap_loss(hm, t, w, "per_sample").item() == pytest.approx(clean.item())


def test_confidence_target_is_teacher_value_at_rounded_coordinate():
    teacher = torch.rand(1, 2, 64, 48)
    coords = torch.tensor([[[0.3, 0.7], [1.2, -0.1]]])
    t = confidence_targets(coords, teacher)
    ix, iy = round(0.3 * 47), round(0.7 * 63)  # W - 1, H - 1 scaling as in the released code
    assert t[0, 0].item() == teacher[0, 0, iy, ix].item()
    assert t[0, 1].item() == teacher[0, 1, 0, 47].item()  # clamped to the map


def test_token_mse_shapes_teacher_vs_student():
    student, teacher = _pair()
    x = torch.randn(2, 3, 64, 48)
    s = student.head.forward_tokens(student.forward_features(x))
    with torch.no_grad():
        t = teacher.head.forward_tokens(teacher.forward_features(x))
    assert s.keypoint.shape == t.keypoint.shape == (2, 17, 32)
    assert s.visual.shape == t.visual.shape == (2, 16, 32)  # (16 / 4) x (12 / 3) patches
    loss = token_mse(s.visual, t.visual, "visual")
    assert loss.item() == pytest.approx(((s.visual - t.visual) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(ConfigError, match="visual tokens differ"):
        token_mse(s.visual, t.visual[:, :8], "visual")


def test_teacher_gets_no_gradient_and_student_does():
    student, teacher = _pair()
    distiller = build_distiller("distilpose", student, teacher, {"preset": "all"})
    distiller.train()
    assert not distiller.teacher.training
    batch = topdown_batch(student.codec)
    losses = distiller(batch, TrainProgress(0, 10))
    assert set(losses) == {"loss", "loss_reg", "loss_kt", "loss_vt", "loss_sh", "loss_cs"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.head.mlp_head[-1].weight.grad.abs().sum() > 0
    assert student.backbone.conv1.weight.grad.abs().sum() > 0
    expected = (losses["loss_reg"] + 5e-4 * losses["loss_kt"] + 5e-4 * losses["loss_vt"] + losses["loss_sh"]
                + 0.01 * losses["loss_cs"])
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("preset", list(TABLE4_PRESETS))
def test_table4_presets_switch_terms(preset):
    student, teacher = _pair()
    distiller = DistilPoseDistiller(student, teacher, preset=preset)
    losses = distiller(topdown_batch(student.codec))
    cs, sh, kt, vt = TABLE4_PRESETS[preset]
    assert ("loss_cs" in losses, "loss_sh" in losses, "loss_kt" in losses, "loss_vt" in losses) == (cs, sh, kt, vt)
    if preset == "baseline":
        assert losses["loss"].item() == losses["loss_reg"].item()


def test_confidence_loss_trains_scores_only():
    student, teacher = _pair()
    distiller = DistilPoseDistiller(student, teacher, use_kt=False, use_vt=False, use_sh=False, use_cs=True,
                                    w_cs=1.0)
    batch = topdown_batch(student.codec)
    out = student(batch.inputs)
    losses = distiller(batch)
    with torch.no_grad():
        t_hm = teacher(batch.inputs).heatmaps
    target = confidence_targets(out.coords, t_hm)
    w = batch.target.weight
    assert losses["loss_cs"].item() == pytest.approx(((out.scores - target) * w).abs().mean().item(), rel=1e-4)


def test_cnn_variant_deeppose_with_simplebaseline_teacher():
    torch.manual_seed(0)
    student = create_model("deeppose-res50", input_size=(64, 64))
    teacher = create_model("simplebaseline-res50", input_size=(64, 64))
    with pytest.raises(ConfigError, match="token heads"):
        DistilPoseDistiller(student, teacher, preset="all")
    distiller = DistilPoseDistiller(student, teacher, preset="sh")
    losses = distiller(topdown_batch(student.codec))
    assert set(losses) == {"loss", "loss_reg", "loss_sh"}
    losses["loss"].backward()
    assert student.head.fc.weight.grad.abs().sum() > 0


def test_incompatible_heatmap_size_and_bad_options():
    student = create_model("distilpose-s", **SMALL)
    teacher = create_model("tokenpose-s-v1", **{**SMALL, "input_size": (96, 128)})
    with pytest.raises(ConfigError, match="heatmaps"):
        DistilPoseDistiller(student, teacher)
    student, teacher = _pair()
    with pytest.raises(ConfigError, match="preset"):
        DistilPoseDistiller(student, teacher, preset="everything")
    with pytest.raises(ConfigError, match="not both"):
        DistilPoseDistiller(student, teacher, preset="all", use_kt=False)


def test_init_from_teacher_copies_shared_backbone_stages():
    torch.manual_seed(0)
    student = create_model("distilpose-mini-l", input_size=(48, 64))
    teacher = create_model("tokenpose-mini-hr", input_size=(48, 64))
    distiller = DistilPoseDistiller(student, teacher, init_from_teacher=True)
    keys = distiller.copied_keys
    assert "conv1.weight" in keys and "stage3.3.fuse_layers.0.2.0.weight" in keys
    assert not any(k.startswith(("stage4", "transition3")) for k in keys)
    assert not any(k.startswith("stage3.3.fuse_layers.1") for k in keys)  # student's last module fuses to 0 only
    s_state, t_state = student.backbone.state_dict(), teacher.backbone.state_dict()
    assert all(torch.equal(s_state[k], t_state[k]) for k in keys)
