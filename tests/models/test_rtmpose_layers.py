"""Layers of the RTMPose family: ScaleNorm, the GAU (vectorised over keypoints), CSPNeXt features, head sizes."""
from __future__ import annotations

import pytest
import torch
from torch import fx

from kdpose.models.backbones import CSPNeXt
from kdpose.models.heads.rtmcc import RTMCCHead, feature_map_size
from kdpose.models.layers import GAUBlock, ScaleNorm


def test_scale_norm_formula_and_zero_input():
    norm = ScaleNorm(4)
    with torch.no_grad():
        norm.g.fill_(2.0)
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0]])
    # ||x|| = 5, scaled by 4^-0.5 -> 2.5; y = x / 2.5 * 2
    assert torch.allclose(norm(x), x / 2.5 * 2.0)
    assert torch.equal(norm(torch.zeros(2, 4)), torch.zeros(2, 4))  # eps clamp: no NaN


def _op_count(module: torch.nn.Module) -> dict[str, int]:
    graph = fx.symbolic_trace(module).graph
    counts: dict[str, int] = {}
    for node in graph.nodes:
        key = f"{node.op}:{getattr(node.target, '__name__', node.target)}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_gau_is_a_fixed_set_of_batched_matmuls():
    # the traced graph does not depend on K or B: no Python loop over keypoints or persons
    gau = GAUBlock(256, 128, 2)
    ops = _op_count(gau)
    assert ops.get("call_function:matmul") == 2  # Q K^T and A V, batched over B
    assert ops.get("call_module:uv") == 1 and ops.get("call_module:o") == 1
    for k in (17, 133):
        assert gau(torch.randn(3, k, 256)).shape == (3, k, 256)


def test_gau_attention_has_no_softmax_and_no_1_over_n():
    gau = GAUBlock(8, 4, 2)
    with torch.no_grad():
        for p in gau.parameters():
            p.zero_()
        gau.res_scale.scale.fill_(1.0)
    x = torch.randn(1, 5, 8)
    assert torch.equal(gau(x), x)  # zero weights: only the (scaled) shortcut is left


def test_cspnext_feature_info_and_validation():
    net = CSPNeXt(0.167, 0.375, out_indices=(0, 1, 2, 3, 4))
    assert [(f.channels, f.stride) for f in net.feature_info] == [(24, 2), (48, 4), (96, 8), (192, 16), (384, 32)]
    feats = net(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(24, 32, 32), (48, 16, 16), (96, 8, 8), (192, 4, 4), (384, 2, 2)]
    with pytest.raises(ValueError):
        CSPNeXt(out_indices=(5,))


def test_head_flatten_size_for_odd_input_sizes():
    assert feature_map_size((192, 256)) == (6, 8) and feature_map_size((288, 384)) == (9, 12)
    assert feature_map_size((100, 70)) == (4, 3)  # ceil at every stride-2 conv
    backbone = CSPNeXt(0.167, 0.375).eval()
    head = RTMCCHead(384, 5, (100, 70)).eval()
    out = head(backbone(torch.randn(1, 3, 70, 100)))
    assert out.x.shape == (1, 5, 200) and out.y.shape == (1, 5, 140)


def _dirty_the_allocator() -> None:
    """Free blocks full of NaN, as a long process leaves them: a kernel that reads memory it never wrote sees NaN."""
    for n in (1 << 22, 1 << 16):
        junk = torch.full((n,), float("nan"))
        del junk


def test_the_rtmcc_head_has_finite_gradients_under_bf16_on_a_map_smaller_than_its_kernel_reach():
    # a 64x64 input gives a 2x2 map, less than the 7x7 conv's padding of 3: oneDNN's bf16 weight-gradient conv
    # left the never-used taps unwritten (NaN in ~2 of 3 steps; kdpose's CI diverged on it at iteration 1)
    torch.manual_seed(0)
    head = RTMCCHead(384, 17, (64, 64))   # RTMPose-t's channels (the fault showed with 384, not with 64)
    feats = [torch.randn(2, 384, 2, 2)]
    for _ in range(6):
        _dirty_the_allocator()
        head.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = head(feats)
        (out.x.float().square().mean() + out.y.float().square().mean()).backward()
        grad = head.final_layer.weight.grad
        assert torch.isfinite(grad).all()
        assert torch.count_nonzero(grad[:, :, [0, 1, 5, 6], :]) == 0  # rows never meeting the 2x2 map: exactly 0
        assert torch.count_nonzero(grad[:, :, :, [0, 1, 5, 6]]) == 0


def test_small_map_safe_conv_is_the_plain_conv_except_under_cpu_bf16_on_a_small_map():
    from kdpose.models.layers import SmallMapSafeConv2d

    torch.manual_seed(0)
    safe = SmallMapSafeConv2d(8, 4, 7, padding=3)
    plain = torch.nn.Conv2d(8, 4, 7, padding=3)
    plain.load_state_dict(safe.state_dict())   # the same keys
    small, big = torch.randn(1, 8, 2, 5), torch.randn(1, 8, 3, 4)   # 2 < 3 on a side / both sides >= 3
    for x in (small, big):
        assert torch.equal(safe(x), plain(x))   # no autocast: the conv itself
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_small, out_big, ref_big = safe(small), safe(big), plain(big)
    assert out_small.dtype == torch.float32 and torch.equal(out_small, plain(small))   # fp32, exactly
    assert out_big.dtype == torch.bfloat16 and torch.equal(out_big, ref_big)           # the bf16 conv, unchanged
    with torch.autocast("cpu", dtype=torch.bfloat16):   # a bf16-cast model (inference precision) works too
        assert safe.to(torch.bfloat16)(small.bfloat16()).dtype == torch.float32
