"""Token models on CSPNeXt (``tokenpose-cspnext-s/t``, ``distilpose-cspnext-t``): DistilPose's token pair at CPU scale."""
from __future__ import annotations

import pytest
import torch

from kdpose.codecs.heatmap import HeatmapOutput
from kdpose.codecs.regression import RegressionOutput
from kdpose.distill.distilpose import DistilPoseDistiller
from kdpose.models import create_model

from ..conftest import topdown_batch

torch.set_num_threads(1)
INPUT = (64, 96)


def _backbone_shapes(model) -> dict:
    return {k: v.shape for k, v in model.state_dict().items() if k.startswith("backbone.")}


def test_teacher_and_student_shapes_tokens_and_rtmpose_backbones():
    torch.manual_seed(0)
    teacher = create_model("tokenpose-cspnext-s", input_size=INPUT).eval()
    student = create_model("distilpose-cspnext-t", input_size=INPUT).eval()
    x = torch.randn(2, 3, INPUT[1], INPUT[0])
    heatmaps, regression = teacher(x), student(x)
    # stride-4 heatmaps (the codec's size) from stride-32 tokens
    assert isinstance(heatmaps, HeatmapOutput) and heatmaps.heatmaps.shape == (2, 17, 24, 16)
    assert tuple(teacher.codec.heatmap_size) == (16, 24) == tuple(student.codec.heatmap_size)
    assert isinstance(regression, RegressionOutput) and regression.coords.shape == (2, 17, 2)
    # one visual token per stride-32 cell (2 x 3 at 64x96), d 96, identical in teacher and student: L_KT / L_VT apply
    t_tok = teacher.head.forward_tokens(teacher.backbone(x))
    s_tok = student.head.forward_tokens(student.backbone(x))
    assert t_tok.keypoint.shape == s_tok.keypoint.shape == (2, 17, 96)
    assert t_tok.visual.shape == s_tok.visual.shape == (2, 6, 96)
    # RTMPose's backbone keys and shapes, so shipped / heatmap-pre-trained RTMPose backbones start them
    assert _backbone_shapes(teacher) == _backbone_shapes(create_model("rtmpose-s", input_size=INPUT))
    assert _backbone_shapes(student) == _backbone_shapes(create_model("rtmpose-t", input_size=INPUT))
    assert _backbone_shapes(create_model("tokenpose-cspnext-t", input_size=INPUT)) == _backbone_shapes(student)


def test_every_distilpose_term_trains_the_student_on_the_token_pair():
    torch.manual_seed(0)
    student = create_model("distilpose-cspnext-t", input_size=INPUT)
    teacher = create_model("tokenpose-cspnext-s", input_size=INPUT)
    distiller = DistilPoseDistiller(student, teacher, preset="all")
    losses = distiller(topdown_batch(student.codec))
    assert set(losses) == {"loss", "loss_reg", "loss_kt", "loss_vt", "loss_sh", "loss_cs"}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    losses["loss"].backward()
    assert student.head.embed.keypoint_token.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_input_size_must_fit_the_token_grid():
    with pytest.raises(ValueError, match="multiple of 32"):
        create_model("distilpose-cspnext-t", input_size=(60, 96))


def test_sdpose_cspnext_is_tokenpose_cspnext_with_cycles():
    torch.manual_seed(0)
    plain = create_model("tokenpose-cspnext-t", input_size=INPUT).eval()
    sd = create_model("sdpose-cspnext-t", input_size=INPUT).eval()
    sd.load_state_dict(plain.state_dict(), strict=True)  # raises unless names and shapes are identical
    x = torch.randn(1, 3, INPUT[1], INPUT[0])
    with torch.no_grad():
        assert torch.equal(sd(x).heatmaps, plain(x).heatmaps)  # one deployed cycle = the plain model
        feats = sd.backbone(x)
        cycles = sd.head.forward_cycles(feats, 2)
        assert len(cycles) == 2 and not torch.equal(cycles[0].visual, cycles[1].visual)
        sd.head.set_cycles(2)
        assert torch.allclose(sd(x).heatmaps, sd.head.forward_from_tokens(cycles[1]).heatmaps)


def test_sdpose_reg_cspnext_trains_with_rle_and_deploys_one_cycle():
    from kdpose.distill.sdpose import SDPoseTask

    torch.manual_seed(0)
    model = create_model("sdpose-reg-cspnext-t", input_size=INPUT)
    assert model.head.out_channels == 4 and model.head.cycles == 1
    task = SDPoseTask(model, cycles=2)
    assert task.rle is not None  # the RLE loss (and its flow) belong to the task, not to the deployed model
    losses = task(topdown_batch(model.codec))
    assert all(torch.isfinite(v) for v in losses.values()) and "loss_kt" in losses and "loss_vt" in losses
    assert not any(k.startswith("rle") or "flow" in k for k in model.state_dict())
