"""SimpleBaseline / HRNet zoo models: output shapes, parameter counts, MMPose checkpoint key compatibility,
JointsMSE with target weights."""
from __future__ import annotations

import pytest
import torch

from kdpose.codecs.heatmap import HeatmapTarget
from kdpose.errors import CheckpointError
from kdpose.losses.heatmap import HeatmapLoss, joints_mse
from kdpose.models import create_model
from kdpose.models.simple_baseline import convert_mmpose_state_dict, load_mmpose_checkpoint

torch.set_num_threads(1)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,expected", [("simplebaseline-res50", 33_999_697), ("hrnet-w32", 28_536_113),
                                           ("hrnet-w32-stage3", 7_686_193)])
def test_shapes_and_params(name, expected):
    model = create_model(name, input_size=(64, 96)).eval()
    out = model(torch.randn(2, 3, 96, 64))
    assert out.heatmaps.shape == (2, 17, 24, 16)  # heatmap = input / 4
    assert _params(model) == expected
    kpts, scores = model.codec.decode(out)
    assert kpts.shape == (2, 17, 2) and scores.shape == (2, 17)


def test_published_sizes_w48():
    # DistilPose Table 1: HRNet-W48 63.6M
    assert round(_params(create_model("hrnet-w48")) / 1e6, 1) == 63.6


# (key, shape) pairs of MMPose's td-hm_hrnet-w32 COCO checkpoint (keypoint_head.* in MMPose 0.x files)
HRNET_W32_KEYS = {
    "backbone.conv1.weight": (64, 3, 3, 3),
    "backbone.bn2.running_var": (64,),
    "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "backbone.layer1.3.conv3.weight": (256, 64, 1, 1),
    "backbone.transition1.0.0.weight": (32, 256, 3, 3),
    "backbone.transition1.1.0.0.weight": (64, 256, 3, 3),
    "backbone.stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
    "backbone.stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
    "backbone.stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
    "backbone.transition2.2.0.0.weight": (128, 64, 3, 3),
    "backbone.stage3.3.fuse_layers.2.0.0.0.weight": (32, 32, 3, 3),
    "backbone.stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
    "backbone.stage3.3.fuse_layers.2.0.1.1.num_batches_tracked": (),
    "backbone.transition3.3.0.0.weight": (256, 128, 3, 3),
    "backbone.stage4.2.branches.3.0.bn1.weight": (256,),
    "backbone.stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
    "keypoint_head.final_layer.weight": (17, 32, 1, 1),
    "keypoint_head.final_layer.bias": (17,),
}
SIMPLEBASELINE_KEYS = {
    "backbone.conv1.weight": (64, 3, 7, 7),
    "backbone.layer1.0.downsample.1.running_mean": (256,),
    "backbone.layer4.2.conv3.weight": (2048, 512, 1, 1),
    "keypoint_head.deconv_layers.0.weight": (2048, 256, 4, 4),
    "keypoint_head.deconv_layers.1.weight": (256,),
    "keypoint_head.deconv_layers.3.weight": (256, 256, 4, 4),
    "keypoint_head.deconv_layers.7.running_var": (256,),
    "keypoint_head.final_layer.weight": (17, 256, 1, 1),
}


@pytest.mark.parametrize("name,keys", [("hrnet-w32", HRNET_W32_KEYS), ("simplebaseline-res50", SIMPLEBASELINE_KEYS)])
def test_mmpose_key_names_and_shapes(name, keys):
    state = create_model(name).state_dict()
    for key, shape in keys.items():
        ours = "head." + key[len("keypoint_head."):] if key.startswith("keypoint_head.") else key
        assert ours in state, ours
        assert tuple(state[ours].shape) == shape, ours
    # the full 4-stage net fuses only into branch 0 in its last module (MMPose multiscale_output=False)
    assert not any(k.startswith("backbone.stage4.2.fuse_layers.1.") for k in state)


def test_stage3_variant_has_no_stage4_and_single_output_fuse():
    state = create_model("hrnet-w48-stage3").backbone.state_dict()
    assert not any(k.startswith(("stage4", "transition3")) for k in state)
    assert any(k.startswith("stage3.2.fuse_layers.2.") for k in state)
    assert not any(k.startswith("stage3.3.fuse_layers.1.") for k in state)
    assert tuple(state["stage3.3.fuse_layers.0.2.0.weight"].shape) == (48, 192, 1, 1)


def test_mmpose_checkpoint_file_loads_strictly(tmp_path):
    model = create_model("hrnet-w32-stage3", input_size=(48, 64))
    reference = create_model("hrnet-w32-stage3", input_size=(48, 64))
    state = {("keypoint_head." + k[5:] if k.startswith("head.") else k): v for k, v in reference.state_dict().items()}
    path = tmp_path / "hrnet_mmpose.pth"
    torch.save({"meta": {"epoch": 210}, "state_dict": state}, path)
    load_mmpose_checkpoint(model, str(path))
    x = torch.randn(1, 3, 64, 48)
    torch.testing.assert_close(model.eval()(x).heatmaps, reference.eval()(x).heatmaps)
    state.pop("keypoint_head.final_layer.bias")
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="missing keys: head.final_layer.bias"):
        load_mmpose_checkpoint(model, str(path))


def test_convert_strips_module_prefix_and_rejects_non_dicts():
    out = convert_mmpose_state_dict({"module.keypoint_head.final_layer.weight": torch.zeros(1)})
    assert list(out) == ["head.final_layer.weight"]
    with pytest.raises(CheckpointError, match="x.pth"):
        convert_mmpose_state_dict({"state_dict": [1, 2]}, "x.pth")


def test_joints_mse_target_weight():
    pred = torch.zeros(1, 2, 4, 4)
    gt = torch.ones(1, 2, 4, 4)
    assert joints_mse(pred, gt).item() == pytest.approx(1.0)
    assert joints_mse(pred, gt, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)
    batch = type("B", (), {"target": HeatmapTarget(gt, torch.tensor([[0.0, 0.0]]))})()
    losses = HeatmapLoss()(type("O", (), {"heatmaps": pred})(), batch)
    assert losses["loss"].item() == 0.0


def test_heatmap_model_trains_towards_target():
    torch.manual_seed(0)
    model = create_model("hrnet-w32-stage3", input_size=(48, 64))
    codec = model.codec
    import numpy as np

    target = codec.encode(np.array([[24.0, 32.0]] * 17, np.float32), np.ones(17))
    batch = type("B", (), {"target": HeatmapTarget(torch.from_numpy(target.heatmaps)[None],
                                                   torch.from_numpy(target.weight)[None])})()
    x = torch.randn(1, 3, 64, 48)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    first = None
    for _ in range(5):
        loss = model.loss_fn(model(x), batch)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


ZOO = ["simplebaseline-res18", "simplebaseline-res50", "simplebaseline-res101", "simplebaseline-res152",
       "hrnet-w32", "hrnet-w48", "hrnet-w32-stage3", "hrnet-w48-stage3", "tokenpose-s-v1", "tokenpose-s-v2",
       "tokenpose-b", "tokenpose-l", "tokenpose-w48-d12", "tokenpose-mini-s", "tokenpose-mini-hr", "distilpose-s",
       "distilpose-l", "distilpose-mini-s", "distilpose-mini-l", "deeppose-res18", "deeppose-res50"]


# large variants share their code with a smaller one: forward only (keeps the suite fast on 2 cores)
FORWARD_ONLY = {"simplebaseline-res101", "simplebaseline-res152", "hrnet-w48", "tokenpose-w48-d12", "tokenpose-l",
                "distilpose-l"}


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_forward_backward_at_small_input(name):
    import numpy as np

    from kdpose.data.sample import Batch, stack_dataclasses
    from kdpose.models import list_models

    assert name in list_models()
    size = (64, 64) if name.startswith(("simplebaseline", "deeppose")) else (48, 64)
    model = create_model(name, input_size=size).train()
    w, h = size
    rng = np.random.default_rng(0)
    kpts = rng.uniform([4, 4], [w - 5, h - 5], size=(2, 17, 2)).astype(np.float32)
    target = stack_dataclasses([model.codec.encode(k, np.ones(17)) for k in kpts])
    batch = Batch(torch.randn(2, 3, h, w), target, torch.from_numpy(kpts), torch.ones(2, 17), torch.zeros(2, 2),
                  torch.ones(2, 2), torch.arange(2), torch.ones(2))
    with torch.set_grad_enabled(name not in FORWARD_ONLY):
        out = model(batch.inputs)
    first = out[0]
    assert first.shape[:2] == (2, 17)
    if first.dim() == 4:
        assert tuple(first.shape[-2:]) == (h // 4, w // 4)
    kpts_out, scores = model.codec.decode(out)
    assert kpts_out.shape == (2, 17, 2) and scores.shape == (2, 17)
    losses = model.loss_fn(out, batch)
    assert torch.isfinite(losses["loss"])
    if name in FORWARD_ONLY:
        return
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads[:3]) and any(g.abs().sum() > 0 for g in grads if g is not None)


@pytest.mark.parametrize("name,size,multiple", [("cspnext-t-udp", (100, 130), 32),
                                                ("simplebaseline-res18", (48, 64), 32), ("hrnet-w32", (100, 130), 4)])
def test_input_sizes_whose_heatmaps_are_not_a_quarter_are_refused(name, size, multiple):
    # a stride-32 network rounds 100x130 up to 32x40 heatmaps while the codec decodes (and mirrors) 25x32
    from kdpose.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{size[0]}x{size[1]} must be a multiple of {multiple}"):
        create_model(name, input_size=size)


def test_hrnet_heatmaps_are_a_quarter_of_any_multiple_of_four():
    model = create_model("hrnet-w32", input_size=(36, 44)).eval()
    with torch.no_grad():
        heatmaps = model(torch.zeros(1, 3, 44, 36)).heatmaps
    assert tuple(heatmaps.shape[-2:]) == (model.codec.heatmap_size[1], model.codec.heatmap_size[0]) == (11, 9)
