"""``deeppose-cspnext-t``: the DeepPose regression student on RTMPose-t's CSPNeXt-t (demo ``--method distilpose``)."""
from __future__ import annotations

import pytest
import torch

from kdpose.codecs.regression import RegressionCodec, RegressionOutput
from kdpose.models import create_model

INPUT = (64, 96)


def test_shapes_and_a_backbone_that_rtmpose_t_weights_fit():
    torch.manual_seed(0)
    model = create_model("deeppose-cspnext-t", layout="coco", input_size=INPUT).eval()
    rtm = create_model("rtmpose-t", layout="coco", input_size=INPUT)
    out = model(torch.randn(2, 3, INPUT[1], INPUT[0]))
    assert isinstance(out, RegressionOutput) and isinstance(model.codec, RegressionCodec)
    assert out.coords.shape == (2, 17, 2) and out.scores.shape == (2, 17) and out.sigma.shape == (2, 17, 2)
    assert bool(((out.coords > 0) & (out.coords < 1)).all()) and bool((out.sigma > 0).all())
    # the same backbone keys and shapes as rtmpose-t / cspnext-t-udp: the shipped CSPNeXt-t starts it
    backbone = {k: v.shape for k, v in model.state_dict().items() if k.startswith("backbone.")}
    assert backbone == {k: v.shape for k, v in rtm.state_dict().items() if k.startswith("backbone.")}
    head = sum(p.numel() for p in model.head.parameters())
    assert head == (384 + 1) * 17 * 5 and model.model_name == "deeppose-cspnext-t"
    # DistilPose: its simulated heatmaps have the heatmap teacher's size (input / 4)
    teacher = create_model("cspnext-s-udp", layout="coco", input_size=INPUT)
    assert tuple(model.codec.heatmap_size) == tuple(teacher.codec.heatmap_size) == (16, 24)


def test_decode_maps_normalised_coordinates_to_input_pixels():
    model = create_model("deeppose-cspnext-t", layout="coco", input_size=INPUT)
    coords = torch.tensor([[[0.25, 0.5], [1.0, 0.0]]])
    out = RegressionOutput(coords=coords, scores=torch.tensor([[0.9, 0.1]]), sigma=torch.ones(1, 2, 2))
    keypoints, scores = model.codec.decode(out)
    assert torch.allclose(torch.as_tensor(keypoints), torch.tensor([[[16.0, 48.0], [64.0, 0.0]]]))
    assert torch.as_tensor(scores).flatten().tolist() == pytest.approx([0.9, 0.1])
