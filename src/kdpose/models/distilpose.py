"""DistilPose students (Ye et al., https://arxiv.org/abs/2303.02455) and the DeepPose CNN student of its Table 6.

| name | backbone | head | params (256x192) |
|---|---|---|---|
| distilpose-s | stemnet | TokenReg: 4x3 patches, d 192, 12 layers, 8 heads | 5.36M |
| distilpose-l | HRNet-W48 stage 3 | TokenReg | 21.27M |
| deeppose-res50 | ResNet-50 | GAP + Linear(2048, 5K) | 23.6M |
| distilpose-mini-s / -mini-l, deeppose-res18 | miniature variants for the synthetic benchmarks | | |
| deeppose-cspnext-t | CSPNeXt-t (RTMPose-t's backbone) | GAP + Linear(384, 5K) | the `kdpose demo --method distilpose` student |

All are regression models (``RegressionCodec``, Smooth L1 task loss on visible in-image keypoints); trained alone
they are the "no distillation" baselines, with ``kdpose.distill.distilpose`` they are DistilPose students.
``use_confidence=False`` decodes score 1 (for students whose confidence s_k was never supervised).
"""
from __future__ import annotations

from typing import Sequence

from ..codecs.regression import RegressionCodec
from ..losses.regression import RegressionLoss
from ..skeletons import get_skeleton
from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .backbones.resnet import ResNet
from .heads.deeppose import DeepPoseHead
from .heads.tokenreg import TokenRegHead
from .pose_model import PoseModel, topdown_info
from .tokenpose import build_token_backbone, feature_size_of


def create_distilpose(backbone: str, name: str = "distilpose", layout: str = "coco", input_size: Sequence[int] = (192, 256),
                      patch_size: Sequence[int] = (4, 3), dim: int = 192, depth: int = 12, heads: int = 8,
                      mlp_ratio: float = 3.0, stem_planes: int = 64, use_confidence: bool = True) -> PoseModel:
    """Build a TokenReg regression student on a token backbone (see ``tokenpose.TOKEN_BACKBONES``)."""
    skeleton = get_skeleton(layout)
    module, channels = build_token_backbone(backbone, stem_planes)
    head = TokenRegHead(channels, feature_size_of(input_size), patch_size, skeleton.num_keypoints, dim=dim,
                        group_depths=(depth,), heads=heads, mlp_ratio=mlp_ratio)
    codec = RegressionCodec(input_size, use_confidence=use_confidence)
    return PoseModel(module, head, codec, skeleton, loss_fn=RegressionLoss(),
                     info=topdown_info(name, skeleton, codec))


@register_model(name="distilpose-s")
def distilpose_s(**kw) -> PoseModel:
    """DistilPose-S: stemnet + TokenReg (5.36M params, 2.38 GMACs at 256x192: the paper's 'GFLOPs')."""
    return create_distilpose("stemnet", "distilpose-s", **kw)


@register_model(name="distilpose-l")
def distilpose_l(**kw) -> PoseModel:
    """DistilPose-L: HRNet-W48 stage 3 + TokenReg (21.27M params, 10.33 GMACs at 256x192: the paper's 'GFLOPs')."""
    return create_distilpose("hrnet-w48-stage3", "distilpose-l", **kw)


@register_model(name="deeppose-res50")
def deeppose_res50(layout: str = "coco", input_size: Sequence[int] = (192, 256), depth: int = 50,
                   use_confidence: bool = True) -> PoseModel:
    """DeepPose with a ResNet backbone (GAP + one Linear), DistilPose's CNN regression student."""
    skeleton = get_skeleton(layout)
    backbone = ResNet(depth)
    head = DeepPoseHead(backbone.feature_info[-1]["channels"], skeleton.num_keypoints)
    codec = RegressionCodec(input_size, use_confidence=use_confidence)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=RegressionLoss(),
                     info=topdown_info(f"deeppose-res{depth}", skeleton, codec))


# Miniature students for the synthetic-data reproductions (token geometry of ``tokenpose-mini-s/hr``)
MINI_TOKENS = {"dim": 96, "depth": 4, "heads": 4}


@register_model(name="distilpose-mini-s")
def distilpose_mini_s(**kw) -> PoseModel:
    """Miniature DistilPose-S: stemnet with 32 planes + 4-layer TokenReg encoder (d 96)."""
    return create_distilpose("stemnet", "distilpose-mini-s", **{**MINI_TOKENS, "stem_planes": 32, **kw})


@register_model(name="distilpose-mini-l")
def distilpose_mini_l(**kw) -> PoseModel:
    """Miniature DistilPose-L: HRNet-W18 stage-3 feature + 4-layer TokenReg encoder (d 96)."""
    return create_distilpose("hrnet-w18-stage3", "distilpose-mini-l", **{**MINI_TOKENS, **kw})


@register_model(name="deeppose-res18")
def deeppose_res18(layout: str = "coco", input_size: Sequence[int] = (192, 256), use_confidence: bool = True
                   ) -> PoseModel:
    """DeepPose with ResNet-18 (miniature Table 6 student)."""
    return deeppose_res50(layout, input_size, depth=18, use_confidence=use_confidence)


@register_model(name="deeppose-cspnext-t")
def deeppose_cspnext_t(layout: str = "coco", input_size: Sequence[int] = (192, 256), use_confidence: bool = True
                       ) -> PoseModel:
    """DeepPose on RTMPose-t's CSPNeXt-t (``backbone.*`` keys as ``rtmpose-t`` / ``cspnext-t-udp``, so a pre-trained
    CSPNeXt-t starts it with ``init_prefix: backbone.``): the demo's DistilPose Table 6 student."""
    from .rtmpose import RTMPOSE_SIZES

    skeleton = get_skeleton(layout)
    backbone = CSPNeXt(*RTMPOSE_SIZES["t"])
    head = DeepPoseHead(backbone.out_channels, skeleton.num_keypoints)
    codec = RegressionCodec(input_size, use_confidence=use_confidence)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=RegressionLoss(),
                     info=topdown_info("deeppose-cspnext-t", skeleton, codec))
