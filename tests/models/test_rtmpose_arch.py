"""RTMPose architecture: exact MMPose key names/shapes/order, published parameter and MAC counts, shapes of every
zoo model, and the forward pass against an independent functional reference written from the spec formulas."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from kdpose.codecs import SimCCOutput
from kdpose.models import create_model, list_models
from kdpose.skeletons import get_skeleton

DATA = Path(__file__).parent / "data"


def _meta_model(name: str, **kw):
    with torch.device("meta"):  # no memory, no init cost: enough for keys, shapes and counting
        return create_model(name, **kw)


def test_state_dict_matches_mmpose_keys_shapes_and_order():
    expected = []
    for line in (DATA / "rtmpose_t_coco_256x192_keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split(" ", 1)
            expected.append((key, shape))
    model = _meta_model("rtmpose-t", layout="coco", input_size=(192, 256))
    got = [(k, str(list(v.shape))) for k, v in model.state_dict().items()]
    assert got == expected  # same keys, same shapes, same order: zero missing / unexpected for MMPose files


@pytest.mark.parametrize("name,count", [("rtmpose-t", 218), ("rtmpose-s", 254), ("rtmpose-m", 362),
                                        ("rtmpose-l", 470), ("rtmpose-x", 578), ("dwpose-l", 470)])
def test_state_dict_key_counts(name, count):
    assert len(_meta_model(name).state_dict()) == count


def test_num_batches_tracked_is_int64_and_bn_uses_pytorch_defaults():
    model = create_model("rtmpose-t", input_size=(64, 64))
    bn = model.backbone.stem[0].bn
    assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    assert model.state_dict()["backbone.stem.0.bn.num_batches_tracked"].dtype == torch.int64


# published params (M) and "FLOPs" (= MACs, G) from MMPose's README / paper; wb params are the spec's derived
# totals (MMPose's whole-body table does not list params)
PUBLISHED = [
    ("rtmpose-t", "coco", (192, 256), 3.34, 0.36),
    ("rtmpose-s", "coco", (192, 256), 5.47, 0.68),
    ("rtmpose-m", "coco", (192, 256), 13.59, 1.93),
    ("rtmpose-l", "coco", (192, 256), 27.66, 4.16),
    ("rtmpose-l", "coco_wholebody", (192, 256), 33.481, 4.52),
    ("rtmpose-l", "coco_wholebody", (288, 384), 33.611, 10.07),
    ("rtmpose-x", "coco_wholebody", (288, 384), 56.710, 18.1),
    ("rtmpose-x", "coco_wholebody", (192, 256), 56.580, None),
]


@pytest.mark.parametrize("name,layout,size,params_m,macs_g", PUBLISHED)
def test_params_and_macs_match_published(name, layout, size, params_m, macs_g):
    model = _meta_model(name, layout=layout, input_size=size).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(params_m, rel=0.03)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, size[1], size[0], device="meta"))
    flops_g = counter.get_total_flops() / 1e9  # torch counts FLOPs = 2 x multiply-accumulates
    macs_g_measured = flops_g / 2
    if macs_g is not None:
        label = f"MACs {macs_g_measured:.3f} G (FLOPs {flops_g:.3f} G)"
        assert macs_g_measured == pytest.approx(macs_g, rel=0.03), label


@pytest.mark.parametrize("name", list_models("rtmpose-*") + list_models("dwpose-*"))
def test_every_zoo_model_output_shapes(name):
    # meta tensors propagate exact shapes through the real forward code without computing (keeps this fast for x)
    model = _meta_model(name, input_size=(64, 96)).eval()  # (w, h): small input, full architecture
    k = model.skeleton.num_keypoints
    out = model(torch.empty(2, 3, 96, 64, device="meta"))
    assert isinstance(out, SimCCOutput)
    assert out.x.shape == (2, k, 128) and out.y.shape == (2, k, 192)
    feats = model.forward_features(torch.empty(1, 3, 96, 64, device="meta"))
    assert feats[-1].shape == (1, model.backbone.out_channels, 3, 2)
    assert model.codec.num_bins == (128, 192)


@pytest.mark.parametrize("name", ["rtmpose-t", "dwpose-s"])
def test_real_forward_shapes_and_finite(name):
    model = create_model(name, input_size=(64, 96)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 64))
    k = model.skeleton.num_keypoints
    assert out.x.shape == (2, k, 128) and out.y.shape == (2, k, 192)
    assert torch.isfinite(out.x).all() and torch.isfinite(out.y).all()


@pytest.mark.parametrize("layout,k,size,sigma", [("coco", 17, (192, 256), (4.9, 5.66)),
                                                  ("coco_wholebody", 133, (192, 256), (4.9, 5.66)),
                                                  ("hand", 21, (256, 256), (5.66, 5.66)),
                                                  ("face", 68, (256, 256), (5.66, 5.66))])
def test_layouts_and_default_input_sizes(layout, k, size, sigma):
    model = _meta_model("rtmpose-t", layout=layout)
    assert model.skeleton is get_skeleton(layout)
    assert model.head.num_keypoints == k and model.input_size == size
    assert model.codec.sigma == sigma


def test_384x288_codec_sigma_and_flatten_size():
    model = _meta_model("rtmpose-m", input_size=(288, 384))
    assert model.codec.sigma == (6.0, 6.93)
    assert model.head.mlp[1].weight.shape == (256, 108)


def test_train_and_eval_return_the_same_type():
    model = create_model("rtmpose-t", input_size=(64, 64))
    x = torch.randn(2, 3, 64, 64)
    assert type(model.train()(x)) is type(model.eval()(x)) is SimCCOutput


def test_out_indices_expose_all_stages():
    model = create_model("rtmpose-t", input_size=(64, 64), out_indices=(1, 2, 3, 4)).eval()
    feats = model.forward_features(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [48, 96, 192, 384]
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]
    assert model(torch.randn(1, 3, 64, 64)).x.shape == (1, 17, 128)


# ------------------------------------------------------------------------------------------------------------
# Independent functional reference (spec sections 2-3), driven only by the state_dict tensors.
def _cbs(sd, p, x, stride=1, groups=1, act=True):
    w = sd[f"{p}.conv.weight"]
    x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2, groups=groups)
    x = F.batch_norm(x, sd[f"{p}.bn.running_mean"], sd[f"{p}.bn.running_var"], sd[f"{p}.bn.weight"],
                     sd[f"{p}.bn.bias"], training=False, eps=1e-5)
    return x * torch.sigmoid(x) if act else x


def _csp(sd, p, x, n_blocks, identity):
    main = _cbs(sd, f"{p}.main_conv", x)
    for j in range(n_blocks):
        b = f"{p}.blocks.{j}"
        out = _cbs(sd, f"{b}.conv1", main)
        out = _cbs(sd, f"{b}.conv2.depthwise_conv", out, groups=out.shape[1])
        out = _cbs(sd, f"{b}.conv2.pointwise_conv", out)
        main = main + out if identity else out
    cat = torch.cat([main, _cbs(sd, f"{p}.short_conv", x)], 1)
    att = F.conv2d(cat.mean((2, 3), keepdim=True), sd[f"{p}.attention.fc.weight"], sd[f"{p}.attention.fc.bias"])
    cat = cat * torch.clamp(att + 3, 0, 6) / 6
    return _cbs(sd, f"{p}.final_conv", cat)


def _scale_norm(x, g):
    return x / torch.clamp(x.norm(dim=-1, keepdim=True) / math.sqrt(x.shape[-1]), min=1e-5) * g


def _reference_forward(sd, x, blocks=(1, 1, 1, 1)):
    for i in range(3):
        x = _cbs(sd, f"backbone.stem.{i}", x, stride=2 if i == 0 else 1)
    for s in range(1, 5):
        x = _cbs(sd, f"backbone.stage{s}.0", x, stride=2)
        if s == 4:
            y = _cbs(sd, "backbone.stage4.1.conv1", x)
            pools = [F.max_pool2d(y, k, 1, k // 2) for k in (5, 9, 13)]
            x = _cbs(sd, "backbone.stage4.1.conv2", torch.cat([y] + pools, 1))
        x = _csp(sd, f"backbone.stage{s}.{2 if s == 4 else 1}", x, blocks[s - 1], identity=s < 4)
    t = F.conv2d(x, sd["head.final_layer.weight"], sd["head.final_layer.bias"], padding=3).flatten(2)
    t = _scale_norm(t, sd["head.mlp.0.g"]) @ sd["head.mlp.1.weight"].T                     # (B, K, 256)
    # GAU, written with explicit einsums
    uv = F.silu(torch.einsum("bkd,ed->bke", _scale_norm(t, sd["head.gau.ln.g"]), sd["head.gau.uv.weight"]))
    u, v, base = uv[..., :512], uv[..., 512:1024], uv[..., 1024:]
    q = base * sd["head.gau.gamma"][0] + sd["head.gau.beta"][0]
    k = base * sd["head.gau.gamma"][1] + sd["head.gau.beta"][1]
    attn = F.relu(torch.einsum("bis,bjs->bij", q, k) / math.sqrt(128)) ** 2
    out = torch.einsum("bke,de->bkd", u * torch.einsum("bij,bje->bie", attn, v), sd["head.gau.o.weight"])
    t = t * sd["head.gau.res_scale.scale"] + out
    return t @ sd["head.cls_x.weight"].T, t @ sd["head.cls_y.weight"].T


def test_forward_matches_functional_reference():
    torch.manual_seed(1)
    model = create_model("rtmpose-t", input_size=(96, 128)).eval()
    # non-trivial BN statistics and head parameters so that every term matters
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("running_mean") or name.endswith(("bn.bias", "gau.beta", "mlp.0.g", "ln.g")):
                t.uniform_(-0.5, 0.5) if not name.endswith("g") else t.uniform_(0.5, 1.5)
            elif name.startswith("head.") and t.is_floating_point():
                t.normal_(0, 0.1)
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        out = model(x)
        ref_x, ref_y = _reference_forward(model.state_dict(), x)
    assert torch.allclose(out.x, ref_x, atol=1e-5, rtol=1e-4)
    assert torch.allclose(out.y, ref_y, atol=1e-5, rtol=1e-4)
    assert out.x.abs().max() > 1e-2  # the comparison is not between two near-zero tensors


@pytest.mark.parametrize("name,blocks,stem,stages", [
    ("rtmpose-t", (1, 1, 1, 1), (12, 12, 24), (48, 96, 192, 384)),
    ("rtmpose-s", (1, 2, 2, 1), (16, 16, 32), (64, 128, 256, 512)),
    ("rtmpose-m", (2, 4, 4, 2), (24, 24, 48), (96, 192, 384, 768)),
    ("rtmpose-l", (3, 6, 6, 3), (32, 32, 64), (128, 256, 512, 1024)),
    ("rtmpose-x", (4, 8, 8, 4), (40, 40, 80), (160, 320, 640, 1280)),
])
def test_size_table_blocks_and_channels(name, blocks, stem, stages):
    bb = _meta_model(name).backbone
    assert tuple(len(getattr(bb, f"stage{i}")[-1].blocks) for i in range(1, 5)) == blocks
    assert tuple(m.conv.out_channels for m in bb.stem) == stem
    assert tuple(getattr(bb, f"stage{i}")[0].conv.out_channels for i in range(1, 5)) == stages


def test_whole_body_384x288_head_shapes():
    sd = _meta_model("rtmpose-x", layout="coco_wholebody", input_size=(288, 384)).state_dict()
    assert sd["head.final_layer.weight"].shape == (133, 1280, 7, 7)
    assert sd["head.mlp.1.weight"].shape == (256, 108)
    assert sd["head.cls_x.weight"].shape == (576, 256) and sd["head.cls_y.weight"].shape == (768, 256)
    assert sd["backbone.stage4.1.conv2.conv.weight"].shape == (1280, 2560, 1, 1)
