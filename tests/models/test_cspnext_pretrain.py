"""CSPNeXt UDP heatmap models (RTMPose's backbone pre-training) and loading only the backbone into RTMPose."""
from __future__ import annotations

import pytest
import torch

from kdpose.errors import CheckpointError
from kdpose.models import create_model, load_weights, save_weights


def test_cspnext_udp_shares_rtmpose_backbone_keys_and_predicts_udp_heatmaps():
    pre = create_model("cspnext-t-udp", input_size=(96, 128))
    rtm = create_model("rtmpose-t", input_size=(96, 128))
    pre_keys = {k: v.shape for k, v in pre.state_dict().items() if k.startswith("backbone.")}
    rtm_keys = {k: v.shape for k, v in rtm.state_dict().items() if k.startswith("backbone.")}
    assert pre_keys == rtm_keys
    assert pre.codec.encoding == "udp"
    out = pre.eval()(torch.zeros(2, 3, 128, 96))
    assert out.heatmaps.shape == (2, 17, 32, 24)


def test_prefix_loads_the_backbone_only(tmp_path):
    torch.manual_seed(0)
    pre = create_model("cspnext-t-udp", input_size=(96, 128))
    with torch.no_grad():  # make the pre-trained weights distinguishable from any init
        for p in pre.parameters():
            p.add_(0.5)
    path = save_weights(pre, tmp_path / "pre.safetensors")
    rtm = create_model("rtmpose-t", input_size=(96, 128))
    head_before = {k: v.clone() for k, v in rtm.head.state_dict().items()}
    load_weights(rtm, path, prefix="backbone.")
    for k, v in rtm.backbone.state_dict().items():
        assert torch.equal(v, pre.backbone.state_dict()[k]), k
    for k, v in rtm.head.state_dict().items():
        assert torch.equal(v, head_before[k]), k


def test_prefix_errors_name_the_file_and_problem(tmp_path):
    pre = create_model("cspnext-s-udp", input_size=(96, 128))  # a different width: shapes do not match
    path = save_weights(pre, tmp_path / "s.safetensors")
    rtm = create_model("rtmpose-t", input_size=(96, 128))
    with pytest.raises(CheckpointError, match=r"s\.safetensors \(backbone\.\*\).*shape mismatches"):
        load_weights(rtm, path, prefix="backbone.")
    with pytest.raises(CheckpointError, match="no submodule 'neckk'"):
        load_weights(rtm, path, prefix="neckk.")
    with pytest.raises(CheckpointError, match="no keys start with 'head.'"):
        load_weights(rtm, {"backbone.x": torch.zeros(1)}, prefix="head.")
