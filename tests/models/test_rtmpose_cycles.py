"""SDPose cycles on RTMPose: the RTMCC head's GAU as a Multi-Cycled Transformer (``RTMCCHead.forward_cycles``)."""
from __future__ import annotations

import pytest
import torch

from kdpose.distill import build_distiller
from kdpose.distill.sdpose import SDPoseTask
from kdpose.export.flops import count_flops
from kdpose.models import create_model, load_model, save_weights
from kdpose.models.heads.mct import has_cycles

from ..conftest import topdown_batch

INPUT = (64, 96)


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("rtmpose-t", layout="coco", input_size=INPUT).eval()


def _reference_forward(head, feats):
    """The RTMCC head as it was before cycles: conv -> flatten -> mlp -> gau -> cls."""
    x = head.gau(head.mlp(head.final_layer(feats[-1]).flatten(2)))
    return head.cls_x(x), head.cls_y(x)


def test_one_cycle_is_the_plain_forward_bit_for_bit():
    model = _model()
    x = torch.randn(2, 3, INPUT[1], INPUT[0])
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
        tokens = model.head.forward_cycles(feats, 1)
        from_tokens = model.head.forward_from_tokens(tokens[0])
        ref_x, ref_y = _reference_forward(model.head, feats)
    assert has_cycles(model.head) and model.head.cycles == 1 and tokens[0].visual is None
    assert tokens[0].keypoint.shape == (2, 17, 256)
    assert torch.equal(out.x, ref_x) and torch.equal(out.y, ref_y)
    assert torch.equal(from_tokens.x, out.x) and torch.equal(from_tokens.y, out.y)


def test_cycles_chain_the_same_gau_without_new_parameters():
    model = _model()
    params = sum(p.numel() for p in model.parameters())
    keys = set(model.state_dict())
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, INPUT[1], INPUT[0]))
        c1, c2, c3 = model.head.forward_cycles(feats, 3)
        assert torch.allclose(c2.keypoint, model.head.gau(c1.keypoint))
        assert torch.allclose(c3.keypoint, model.head.gau(c2.keypoint))
        model.head.set_cycles(2)
        assert torch.allclose(model(torch.zeros(1, 3, INPUT[1], INPUT[0])).x,
                              model.head.forward_from_tokens(model.head.forward_cycles(
                                  model.forward_features(torch.zeros(1, 3, INPUT[1], INPUT[0])), 2)[-1]).x)
    assert sum(p.numel() for p in model.parameters()) == params and set(model.state_dict()) == keys
    with pytest.raises(ValueError, match="cycles must be >= 1"):
        model.head.forward_cycles(feats, 0)


def test_token_loss_is_zero_when_cycles_are_equal_and_no_visual_term():
    model = _model().train()
    batch = topdown_batch(model.codec, n=2)
    # a GAU that returns its input: every cycle's tokens are equal, so L_kt = 0 and both cycles decode alike
    model.head.gau.forward = lambda x: x
    task = build_distiller("sdpose", model, None, {"cycles": 2})
    out = task(batch)
    assert float(out["loss_kt"]) == 0.0 and "loss_vt" not in out
    assert float(out["loss_pose_c1"]) == pytest.approx(float(out["loss_pose_c2"]))
    assert float(out["loss"].detach()) == pytest.approx(2 * float(out["loss_pose_c1"]))


def test_sdpose_task_on_rtmpose_trains_every_cycle_and_weights_the_token_loss():
    model = _model().train()
    batch = topdown_batch(model.codec, n=2)
    task = SDPoseTask(model, cycles=2, w_kt=0.5)
    out = task(batch)
    expected = out["loss_pose_c1"] + out["loss_pose_c2"] + 0.5 * out["loss_kt"]
    assert float(out["loss"].detach()) == pytest.approx(float(expected), rel=1e-6) and float(out["loss_kt"]) > 0
    out["loss"].backward()
    assert model.head.gau.uv.weight.grad.abs().sum() > 0 and model.backbone.stem[0].conv.weight.grad is not None


def test_saved_sdpose_student_loads_into_a_plain_rtmpose_t(tmp_path):
    model = _model(seed=3)
    task = SDPoseTask(model, cycles=2)
    path = tmp_path / "sd.safetensors"
    save_weights(task.model, path)
    plain = load_model("rtmpose-t", weights=str(path), layout="coco", input_size=INPUT).eval()
    assert plain.head.cycles == 1
    x = torch.randn(1, 3, INPUT[1], INPUT[0])
    with torch.no_grad():
        assert torch.equal(plain(x).x, model.eval()(x).x)
    assert count_flops(plain).gflops == pytest.approx(count_flops(_model()).gflops)
