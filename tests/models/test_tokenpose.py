"""TokenPose / DistilPose students: parameter counts from the spec, token geometry, position rule, outputs."""
from __future__ import annotations

import math

import pytest
import torch

from kdpose.models import create_model
from kdpose.models.heads.tokenpose import TokenEmbedding, TokenTransformer, sine_position_embedding

torch.set_num_threads(1)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,expected", [("tokenpose-s-v1", 6_620_736), ("tokenpose-s-v2", 6_227_520),
                                           ("distilpose-s", 5_364_101)])
def test_exact_param_counts_at_256x192(name, expected):
    # /work/shared/specs/distilpose_sdpose.md section 7 (frozen sine embedding excluded)
    assert _params(create_model(name)) == expected


def test_sdpose_b_variant_with_32_plane_stage1():
    # spec 1.3 / 3.3: SDPose's W32 stage-3 configs use layer1 planes 32 -> 13,146K params ("TokenPose-B*")
    assert _params(create_model("tokenpose-b", stem_planes=32)) == 13_145_984


@pytest.mark.parametrize("name,millions", [("tokenpose-b", 13.47), ("tokenpose-l", 27.48),
                                           ("distilpose-l", 21.27), ("tokenpose-w48-d12", 69.41)])
def test_published_param_counts(name, millions):
    assert round(_params(create_model(name)) / 1e6, 2) == millions


@pytest.mark.parametrize("name", ["tokenpose-s-v1", "tokenpose-s-v2", "tokenpose-b", "tokenpose-l"])
def test_tokenpose_shapes_small_input(name):
    model = create_model(name, input_size=(48, 64)).eval()
    out = model(torch.randn(2, 3, 64, 48))
    assert out.heatmaps.shape == (2, 17, 16, 12)
    tokens = model.head.forward_tokens(model.forward_features(torch.randn(1, 3, 64, 48)))
    patch = (4, 3) if name != "tokenpose-s-v2" else (2, 2)
    assert tokens.visual.shape == (1, (16 // patch[0]) * (12 // patch[1]), 192)
    assert tokens.keypoint.shape == (1, 17, 576 if name == "tokenpose-l" else 192)


def test_distilpose_outputs_ranges_and_tokens():
    model = create_model("distilpose-s", input_size=(48, 64)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 48))
    assert out.coords.shape == (2, 17, 2) and out.scores.shape == (2, 17) and out.sigma.shape == (2, 17, 2)
    assert float(out.coords.min()) > 0 and float(out.coords.max()) < 1 and float(out.sigma.min()) > 0
    kpts, scores = model.codec.decode(out)
    torch.testing.assert_close(kpts, out.coords * torch.tensor([48.0, 64.0]))
    torch.testing.assert_close(scores, out.scores)


def test_deeppose_shapes():
    model = create_model("deeppose-res50", input_size=(64, 64)).eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.coords.shape == (2, 17, 2) and out.sigma.shape == (2, 17, 2)


def test_sine_embedding_layout():
    pos = sine_position_embedding(4, 3, 8)[0].reshape(4, 3, 8)
    # first half depends only on the row, second half only on the column
    assert torch.allclose(pos[:, 0, :4], pos[:, 2, :4]) and torch.allclose(pos[0, :, 4:], pos[3, :, 4:])
    angle = 2 / (4 + 1e-6) * 2 * math.pi  # row index 1 -> i = 2
    assert pos[1, 0, 0].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert pos[1, 0, 1].item() == pytest.approx(math.cos(angle), abs=1e-6)  # odd channel: cos, same frequency
    assert pos[1, 0, 2].item() == pytest.approx(math.sin(angle / 10000 ** 0.5), abs=1e-6)


def test_patch_embedding_is_channel_fastest_row_major():
    embed = TokenEmbedding(2, feature_size=(6, 4), patch_size=(2, 3), num_keypoints=1, dim=4)
    with torch.no_grad():
        embed.patch_to_embedding.weight.zero_()
        embed.patch_to_embedding.bias.zero_()
        embed.patch_to_embedding.weight[0, 1] = 1.0   # element 1 = (row 0, col 0, channel 1) of a patch
        embed.patch_to_embedding.weight[1, 2] = 1.0   # element 2 = (row 0, col 1, channel 0)
        embed.pos.zero_()
    feat = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    x = embed(feat)
    assert x.shape == (1, 1 + 4, 4)
    # patch 1 (row 0, second patch column) starts at feature column 3
    assert x[0, 2, 0].item() == feat[0, 1, 0, 3].item() and x[0, 2, 1].item() == feat[0, 0, 0, 4].item()
    # patch 2 starts at feature row 2
    assert x[0, 3, 0].item() == feat[0, 1, 2, 0].item()


def test_position_re_added_before_every_layer_but_the_first():
    group = TokenTransformer(dim=8, depth=3, heads=2)
    for layer in group.layers:  # make every layer the identity: only the position additions remain
        for p in layer.parameters():
            torch.nn.init.zeros_(p)
    x = torch.zeros(1, 2 + 3, 8)
    pos = torch.ones(1, 3, 8)
    y = group(x, pos, num_keypoints=2)
    assert torch.all(y[:, :2] == 0) and torch.all(y[:, 2:] == 2.0)
    # applying the same layers again (an SDPose cycle) adds the position twice more
    assert torch.all(group(y, pos, num_keypoints=2)[:, 2:] == 4.0)


def test_feature_size_must_fit_patches():
    with pytest.raises(ValueError, match="not divisible"):
        create_model("tokenpose-s-v1", input_size=(64, 64))


def test_distilpose_s_compute_matches_spec():
    # spec section 5: conv + linear MACs 2.36 G (paper 2.38 with mmcv's extra terms) + 0.34 G of attention matmuls
    from kdpose.export.flops import count_flops

    compute = count_flops(create_model("distilpose-s").eval())
    assert abs(compute.gmacs - (2.36 + 0.34)) < 0.02
