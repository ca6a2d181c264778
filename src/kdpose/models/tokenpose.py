"""TokenPose zoo entries (Li et al., https://arxiv.org/abs/2104.03516), COCO 256x192 geometry:

| name | backbone (1/4 feature) | patch h x w | tokens | d | depth | heads | params |
|---|---|---|---|---|---|---|---|
| tokenpose-s-v1 | stemnet (256 ch) | 4x3 | 256 | 192 | 12 | 8 | 6.62M |
| tokenpose-s-v2 | stemnet | 2x2 | 768 | 192 | 12 | 8 | 6.23M |
| tokenpose-b | HRNet-W32 stage 3 (32 ch) | 4x3 | 256 | 192 | 12 | 8 | 13.47M |
| tokenpose-l | HRNet-W48 stage 3 (48 ch) | 4x3 | 256 | 192 | 3 x 8 | 12 | 27.48M |
| tokenpose-w48-d12 | full HRNet-W48 (48 ch) | 4x3 | 256 | 192 | 12 | 8 | 69.41M |
| tokenpose-mini-s / -mini-hr | stemnet (32 planes) / full HRNet-W18 | 4x3 | | 96 | 4 | 4 | miniature |

``tokenpose-w48-d12`` is DistilPose's teacher "TokenPose-L*" (HRNet-W48 + a 12-layer TokenPose head).
Attention uses the per-head scale of the MMPose ports (the original TokenPose-S code scales by d^-0.5; pass
``scale_with_head=False`` for that). Every factory accepts ``dim``, ``depth``, ``heads``, ``patch_size`` overrides
(miniature experiments) and the heatmap codec options ``sigma``, ``encoding``, ``decoding``.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ..codecs.heatmap import HeatmapCodec
from ..losses.heatmap import HeatmapLoss
from ..skeletons import get_skeleton
from ._registry import register_model
from .backbones.hrnet import HRNet, StemNet
from .heads.tokenpose import TokenPoseHead
from .pose_model import PoseModel, topdown_info

TOKEN_BACKBONES = ("stemnet", "hrnet-w<width>-stage3", "hrnet-w<width>")  # e.g. hrnet-w48-stage3, hrnet-w32


def build_token_backbone(name: str, stem_planes: int = 64) -> tuple[nn.Module, int]:
    """A 1/4-resolution feature extractor for token heads -> (module, channels).

    ``stem_planes`` is the Bottleneck width of stage 1 (stemnet ``layer1``, HRNet ``layer1``): 64 as published;
    SDPose's W32 stage-3 configs use 32 for HRNet.
    """
    if name == "stemnet":
        backbone = StemNet(stem_planes)
    elif name.startswith("hrnet-w"):
        width = int(name[len("hrnet-w"):].split("-")[0])
        backbone = HRNet(width, num_stages=3 if name.endswith("stage3") else 4, layer1_planes=stem_planes)
    else:
        raise ValueError(f"unknown token backbone {name!r} (choose from {', '.join(TOKEN_BACKBONES)})")
    return backbone, backbone.feature_info[-1]["channels"]


def feature_size_of(input_size: Sequence[int]) -> tuple[int, int]:
    """(w, h) of the stride-4 feature map (= heatmap size) for an input (w, h)."""
    return int(input_size[0]) // 4, int(input_size[1]) // 4


def create_tokenpose(backbone: str, name: str = "tokenpose", layout: str = "coco",
                     input_size: Sequence[int] = (192, 256),
                     patch_size: Sequence[int] = (4, 3), dim: int = 192, depth: int | Sequence[int] = 12,
                     heads: int = 8, mlp_ratio: float = 3.0, scale_with_head: bool = True, stem_planes: int = 64,
                     sigma: float = 2.0, encoding: str = "unbiased", decoding: str = "dark") -> PoseModel:
    """Build a TokenPose heatmap model. ``depth`` is an int or per-group depths (TokenPose-L: (8, 8, 8))."""
    skeleton = get_skeleton(layout)
    module, channels = build_token_backbone(backbone, stem_planes)
    groups = (depth,) if isinstance(depth, int) else tuple(depth)
    head = TokenPoseHead(channels, feature_size_of(input_size), patch_size, skeleton.num_keypoints, dim=dim,
                         group_depths=groups, heads=heads, mlp_ratio=mlp_ratio, scale_with_head=scale_with_head)
    codec = HeatmapCodec(input_size, heatmap_size=feature_size_of(input_size), sigma=sigma, encoding=encoding,
                         decoding=decoding)
    return PoseModel(module, head, codec, skeleton, loss_fn=HeatmapLoss(),
                     info=topdown_info(name, skeleton, codec))


@register_model(name="tokenpose-s-v1")
def tokenpose_s_v1(**kw) -> PoseModel:
    """TokenPose-S-v1: stemnet, 4x3 patches, 12 layers."""
    return create_tokenpose("stemnet", "tokenpose-s-v1", **{"patch_size": (4, 3), **kw})


@register_model(name="tokenpose-s-v2")
def tokenpose_s_v2(**kw) -> PoseModel:
    """TokenPose-S-v2: stemnet, 2x2 patches (768 visual tokens at 256x192)."""
    return create_tokenpose("stemnet", "tokenpose-s-v2", **{"patch_size": (2, 2), **kw})


@register_model(name="tokenpose-b")
def tokenpose_b(**kw) -> PoseModel:
    """TokenPose-B: HRNet-W32 stage-3 feature, 4x3 patches, 12 layers."""
    return create_tokenpose("hrnet-w32-stage3", "tokenpose-b", **kw)


@register_model(name="tokenpose-l")
def tokenpose_l(**kw) -> PoseModel:
    """TokenPose-L/D24: HRNet-W48 stage-3 feature, three groups of 8 layers, 12 heads, concatenated keypoint
    tokens of the three groups -> one Linear to the heatmap."""
    return create_tokenpose("hrnet-w48-stage3", "tokenpose-l", **{"depth": (8, 8, 8), "heads": 12, **kw})


@register_model(name="tokenpose-w48-d12")
def tokenpose_w48_d12(**kw) -> PoseModel:
    """DistilPose's heatmap teacher "TokenPose-L*": full HRNet-W48 + 12-layer, 8-head TokenPose head."""
    return create_tokenpose("hrnet-w48", "tokenpose-w48-d12", **kw)


# Miniature variants for the synthetic-data reproductions (benchmarks/distilpose): d 96, 4 layers, 4 heads, same
# 4x3 patch geometry as the students ``distilpose-mini-s/l`` so that token distillation applies.
MINI_TOKENS = {"dim": 96, "depth": 4, "heads": 4}


@register_model(name="tokenpose-mini-s")
def tokenpose_mini_s(**kw) -> PoseModel:
    """Miniature stemnet teacher (Table 5's weak "stemnet" teacher): stemnet with 32 planes + 4-layer encoder."""
    return create_tokenpose("stemnet", "tokenpose-mini-s", **{**MINI_TOKENS, "stem_planes": 32, **kw})


@register_model(name="tokenpose-mini-hr")
def tokenpose_mini_hr(**kw) -> PoseModel:
    """Miniature strong teacher (the analogue of DistilPose's HRNet-W48 "TokenPose-L*"): full HRNet-W18 +
    4-layer encoder."""
    return create_tokenpose("hrnet-w18", "tokenpose-mini-hr", **{**MINI_TOKENS, **kw})
