"""SDPose zoo entries (Chen et al., CVPR 2024, "SDPose: Tokenized Pose Estimation via Circulation-Guide
Self-Distillation"), COCO 256x192 geometry of the SDPose repository's configs
(``configs/body/2d_kpt_sview_rgb_img/sdpose/coco/``; docs/sdpose.md):

| name | backbone (1/4 feature) | patch h x w | tokens | depth | training cycles (paper) | params |
|---|---|---|---|---|---|---|
| sdpose-t | stemnet | 4x3 | 256 | 6 | 3 | 4.40M |
| sdpose-s-v1 | stemnet | 4x3 | 256 | 12 | 2 | 6.62M |
| sdpose-s-v2 | stemnet | 2x2 | 768 | 12 | 2 | 6.23M |
| sdpose-b | HRNet-W32 stage 3, layer1 planes 32 | 4x3 | 256 | 12 | 2 | 13.15M |
| sdpose-reg | stemnet + RLE TokenReg (4 outputs) | 4x3 | 256 | 12 | 2 | 5.36M |
| sdpose-mini-* | miniature variants for the synthetic benchmark (d 96, 4 heads), see ``MINI`` | | | | | |

All have d 192, 8 heads, MLP ratio 3, sine-full positions. The models are the *deployed* networks: ``forward`` runs
``cycles`` MCT cycles (default 1), so an SDPose model has exactly the parameters, parameter names and FLOPs of the
TokenPose / TokenReg model of the same geometry and its weights load into it (``tokenpose-s-v1`` etc.). The training
cycles, the distillation pairs and the loss switches belong to the training task (``kdpose.distill.sdpose``,
recipe ``distill.method: sdpose``). ``cycles > 1`` deploys the MCT itself (Table 6: no distillation, predict from the
last cycle). SDPose-Reg decodes with ``RegressionCodec`` (coords * input size, score = mean(1 - sigma)); its RLE loss
lives in the training task (the flow is not part of the deployed model).
"""
from __future__ import annotations

from typing import Sequence

from ..codecs.heatmap import HeatmapCodec
from ..codecs.regression import RegressionCodec
from ..losses.heatmap import HeatmapLoss
from ..losses.regression import RegressionLoss
from ..skeletons import get_skeleton
from ._registry import register_model
from .heads.mct import MCTRLETokenRegHead, MCTTokenPoseHead
from .pose_model import PoseModel, topdown_info
from .tokenpose import build_token_backbone, feature_size_of


def create_sdpose(backbone: str, name: str = "sdpose", layout: str = "coco", input_size: Sequence[int] = (192, 256),
                  patch_size: Sequence[int] = (4, 3), dim: int = 192, depth: int = 12, heads: int = 8,
                  mlp_ratio: float = 3.0, stem_planes: int = 64, cycles: int = 1, sigma: float = 2.0,
                  encoding: str = "unbiased", decoding: str = "dark") -> PoseModel:
    """An SDPose heatmap model: TokenPose geometry with an MCT head that deploys ``cycles`` cycles."""
    skeleton = get_skeleton(layout)
    module, channels = build_token_backbone(backbone, stem_planes)
    head = MCTTokenPoseHead(channels, feature_size_of(input_size), patch_size, skeleton.num_keypoints, dim=dim,
                            group_depths=(depth,), heads=heads, mlp_ratio=mlp_ratio, cycles=cycles)
    codec = HeatmapCodec(input_size, heatmap_size=feature_size_of(input_size), sigma=sigma, encoding=encoding,
                         decoding=decoding)
    return PoseModel(module, head, codec, skeleton, loss_fn=HeatmapLoss(),
                     info=topdown_info(name, skeleton, codec))


def create_sdpose_reg(backbone: str, name: str = "sdpose-reg", layout: str = "coco",
                      input_size: Sequence[int] = (192, 256), patch_size: Sequence[int] = (4, 3), dim: int = 192,
                      depth: int = 12, heads: int = 8, mlp_ratio: float = 3.0, stem_planes: int = 64,
                      cycles: int = 1, use_confidence: bool = True) -> PoseModel:
    """SDPose-Reg: TokenReg geometry with the RLE output (x, y, sigma) and MCT cycles.

    ``loss_fn`` is the parameter-free Smooth L1 of DistilPose (what plain ``kdpose train`` would use); the paper's
    RLE loss is applied by the ``sdpose`` training task, which owns the RealNVP flow.
    """
    skeleton = get_skeleton(layout)
    module, channels = build_token_backbone(backbone, stem_planes)
    head = MCTRLETokenRegHead(channels, feature_size_of(input_size), patch_size, skeleton.num_keypoints, dim=dim,
                              group_depths=(depth,), heads=heads, mlp_ratio=mlp_ratio, cycles=cycles)
    codec = RegressionCodec(input_size, use_confidence=use_confidence)
    return PoseModel(module, head, codec, skeleton, loss_fn=RegressionLoss(),
                     info=topdown_info(name, skeleton, codec))


@register_model(name="sdpose-t")
def sdpose_t(**kw) -> PoseModel:
    """SDPose-T: stemnet, 4x3 patches, 6 layers (trained with 3 cycles; 4.40M params, 1.8 GMACs: the paper's
    'GFLOPs')."""
    return create_sdpose("stemnet", "sdpose-t", **{"depth": 6, **kw})


@register_model(name="sdpose-s-v1")
def sdpose_s_v1(**kw) -> PoseModel:
    """SDPose-S-V1: TokenPose-S-v1 geometry (stemnet, 4x3 patches, 12 layers), trained with 2 cycles."""
    return create_sdpose("stemnet", "sdpose-s-v1", **kw)


@register_model(name="sdpose-s-v2")
def sdpose_s_v2(**kw) -> PoseModel:
    """SDPose-S-V2: TokenPose-S-v2 geometry (2x2 patches, 768 visual tokens at 256x192), 2 cycles."""
    return create_sdpose("stemnet", "sdpose-s-v2", **{"patch_size": (2, 2), **kw})


@register_model(name="sdpose-b")
def sdpose_b(**kw) -> PoseModel:
    """SDPose-B: HRNet-W32 stage-3 feature with SDPose's 32-plane layer1 (13.15M params), 2 cycles."""
    return create_sdpose("hrnet-w32-stage3", "sdpose-b", **{"stem_planes": 32, **kw})


@register_model(name="sdpose-reg")
def sdpose_reg(**kw) -> PoseModel:
    """SDPose-Reg: stemnet + RLE TokenReg head (DistilPose-S geometry), 2 cycles, RLE loss."""
    return create_sdpose_reg("stemnet", "sdpose-reg", **kw)


# Miniature variants for the synthetic benchmark (benchmarks/sdpose): the token geometry of ``tokenpose-mini-s`` /
# ``distilpose-mini-s`` (stemnet with 32 planes, d 96, 4 heads), so ``sdpose-mini-s-v1`` and ``tokenpose-mini-s`` are
# the same network. Depth 4 plays the paper's 12 layers; the mini T keeps SDPose-T's "fewer layers" idea with 2.
MINI = {"dim": 96, "depth": 4, "heads": 4, "stem_planes": 32}


@register_model(name="sdpose-mini-t")
def sdpose_mini_t(**kw) -> PoseModel:
    """Miniature SDPose-T: the mini S-V1 with 2 layers (trained with 3 cycles)."""
    return create_sdpose("stemnet", "sdpose-mini-t", **{**MINI, "depth": 2, **kw})


@register_model(name="sdpose-mini-s-v1")
def sdpose_mini_s_v1(**kw) -> PoseModel:
    """Miniature SDPose-S-V1 (= ``tokenpose-mini-s`` network): stemnet 32 planes, 4x3 patches, 4 layers, d 96."""
    return create_sdpose("stemnet", "sdpose-mini-s-v1", **{**MINI, **kw})


@register_model(name="sdpose-mini-s-v2")
def sdpose_mini_s_v2(**kw) -> PoseModel:
    """Miniature SDPose-S-V2: as the mini S-V1 with 2x2 patches (3x the visual tokens)."""
    return create_sdpose("stemnet", "sdpose-mini-s-v2", **{**MINI, "patch_size": (2, 2), **kw})


@register_model(name="sdpose-mini-b")
def sdpose_mini_b(**kw) -> PoseModel:
    """Miniature SDPose-B: HRNet-W18 stage-3 feature (64-plane layer1) + the mini encoder."""
    return create_sdpose("hrnet-w18-stage3", "sdpose-mini-b", **{**MINI, "stem_planes": 64, **kw})


@register_model(name="sdpose-mini-reg")
def sdpose_mini_reg(**kw) -> PoseModel:
    """Miniature SDPose-Reg (``distilpose-mini-s`` geometry with the RLE head)."""
    return create_sdpose_reg("stemnet", "sdpose-mini-reg", **{**MINI, **kw})
