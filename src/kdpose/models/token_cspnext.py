"""Token models on RTMPose's CSPNeXt backbones: DistilPose's token pair at a scale a CPU can train.

The published TokenPose / DistilPose networks start their stemnet or HRNet from ImageNet weights; from random
weights the miniature versions learn nothing within a CPU session (BENCHMARKS.md, SDPose and DistilPose). These
zoo entries put the same token heads on a CSPNeXt whose ``backbone.*`` keys are RTMPose's, so the shipped (or any
heatmap-pre-trained) RTMPose / ``cspnext-*-udp`` backbone starts them (``model.init_prefix: backbone.``).

| name | backbone (stride 32) | head | role |
|---|---|---|---|
| tokenpose-cspnext-s | CSPNeXt-s (512 ch) | TokenPose heatmap head, stride-4 heatmaps | heatmap teacher with tokens |
| tokenpose-cspnext-t | CSPNeXt-t (384 ch) | TokenPose heatmap head | plain token model (= 1-cycle SDPose) |
| distilpose-cspnext-t | CSPNeXt-t (384 ch) | TokenReg: (x, y), s_k, (sigma_x, sigma_y) | DistilPose student |
| sdpose-cspnext-t | CSPNeXt-t (384 ch) | TokenPose heatmap head with MCT cycles | SDPose at CPU scale |
| sdpose-reg-cspnext-t | CSPNeXt-t (384 ch) | RLE TokenReg head (x, y, sigma) with MCT cycles | SDPose-Reg at CPU scale |

Every model has one visual token per stride-32 cell (patch 1x1: 6 tokens at 64x96, 48 at 192x256), d 96, 2
layers, 4 heads, so teacher and student tokens have the same shapes and L_KT / L_VT / TDE apply.
``sdpose-cspnext-t`` is ``tokenpose-cspnext-t`` (same parameter names) whose head runs ``cycles`` MCT cycles (default
1: exactly ``tokenpose-cspnext-t``); SDPose's training cycles and losses belong to ``kdpose.distill.sdpose``.
"""
from __future__ import annotations

from typing import Sequence

from ..codecs.heatmap import HeatmapCodec
from ..codecs.regression import RegressionCodec
from ..losses.heatmap import HeatmapLoss
from ..losses.regression import RegressionLoss
from ..skeletons import get_skeleton
from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .heads.mct import MCTRLETokenRegHead, MCTTokenPoseHead
from .heads.tokenpose import TokenPoseHead
from .heads.tokenreg import TokenRegHead
from .pose_model import PoseModel, topdown_info
from .tokenpose import feature_size_of

STRIDE = 32
TOKENS = {"dim": 96, "depth": 2, "heads": 4}


def _backbone(size: str) -> CSPNeXt:
    from .rtmpose import RTMPOSE_SIZES

    return CSPNeXt(*RTMPOSE_SIZES[size])


def _token_grid(input_size: Sequence[int]) -> tuple[int, int]:
    """(w, h) of the stride-32 feature map: the visual token grid with 1x1 patches."""
    w, h = int(input_size[0]), int(input_size[1])
    if w % STRIDE or h % STRIDE:
        raise ValueError(f"input size {w}x{h} must be a multiple of {STRIDE} for a CSPNeXt token model")
    return w // STRIDE, h // STRIDE


def create_tokenpose_cspnext(size: str, name: str, layout: str = "coco", input_size: Sequence[int] = (192, 256),
                             dim: int = TOKENS["dim"], depth: int = TOKENS["depth"], heads: int = TOKENS["heads"],
                             sigma: float = 2.0, encoding: str = "unbiased", decoding: str = "dark",
                             cycles: int | None = None) -> PoseModel:
    """TokenPose heatmap model on CSPNeXt-``size``: stride-32 tokens, stride-4 heatmaps (the codec's size);
    ``cycles`` (not None) gives the head SDPose's MCT cycles."""
    skeleton = get_skeleton(layout)
    backbone = _backbone(size)
    heatmap_size = feature_size_of(input_size)
    head_cls, extra = (TokenPoseHead, {}) if cycles is None else (MCTTokenPoseHead, {"cycles": cycles})
    head = head_cls(backbone.out_channels, _token_grid(input_size), (1, 1), skeleton.num_keypoints, dim=dim,
                    group_depths=(depth,), heads=heads, heatmap_size=heatmap_size, **extra)
    codec = HeatmapCodec(input_size, heatmap_size=heatmap_size, sigma=sigma, encoding=encoding, decoding=decoding)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=HeatmapLoss(),
                     info=topdown_info(name, skeleton, codec))


@register_model(name="tokenpose-cspnext-s")
def tokenpose_cspnext_s(**kw) -> PoseModel:
    """TokenPose heatmap teacher on RTMPose-s's CSPNeXt-s."""
    return create_tokenpose_cspnext("s", "tokenpose-cspnext-s", **kw)


@register_model(name="tokenpose-cspnext-t")
def tokenpose_cspnext_t(**kw) -> PoseModel:
    """TokenPose heatmap model on RTMPose-t's CSPNeXt-t (the plain network of ``sdpose-cspnext-t``)."""
    return create_tokenpose_cspnext("t", "tokenpose-cspnext-t", **kw)


@register_model(name="sdpose-cspnext-t")
def sdpose_cspnext_t(cycles: int = 1, **kw) -> PoseModel:
    """SDPose on RTMPose-t's CSPNeXt-t: ``tokenpose-cspnext-t`` with MCT cycles (``cycles`` deployed)."""
    return create_tokenpose_cspnext("t", "sdpose-cspnext-t", cycles=cycles, **kw)


def create_tokenreg_cspnext(name: str, head_cls: type = TokenRegHead, layout: str = "coco",
                            input_size: Sequence[int] = (192, 256), dim: int = TOKENS["dim"],
                            depth: int = TOKENS["depth"], heads: int = TOKENS["heads"], use_confidence: bool = True,
                            **head_kwargs) -> PoseModel:
    """A TokenReg-family regression model (``head_cls``) on CSPNeXt-t: stride-32 tokens, ``RegressionCodec``."""
    skeleton = get_skeleton(layout)
    backbone = _backbone("t")
    head = head_cls(backbone.out_channels, _token_grid(input_size), (1, 1), skeleton.num_keypoints, dim=dim,
                    group_depths=(depth,), heads=heads, **head_kwargs)
    codec = RegressionCodec(input_size, use_confidence=use_confidence)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=RegressionLoss(),
                     info=topdown_info(name, skeleton, codec))


@register_model(name="sdpose-reg-cspnext-t")
def sdpose_reg_cspnext_t(cycles: int = 1, **kw) -> PoseModel:
    """SDPose-Reg on RTMPose-t's CSPNeXt-t: the RLE TokenReg head (4 outputs) with MCT cycles; its RLE loss and
    flow belong to the ``sdpose`` training task."""
    return create_tokenreg_cspnext("sdpose-reg-cspnext-t", MCTRLETokenRegHead, cycles=cycles, **kw)


@register_model(name="distilpose-cspnext-t")
def distilpose_cspnext_t(**kw) -> PoseModel:
    """DistilPose TokenReg student on RTMPose-t's CSPNeXt-t (token shapes as ``tokenpose-cspnext-s/t``)."""
    return create_tokenreg_cspnext("distilpose-cspnext-t", **kw)
