"""CSPNeXt heatmap models: the backbone pre-training stage of RTMPose.

RTMPose does not train its SimCC head on a randomly initialised backbone: the released models start from a CSPNeXt
pre-trained as a heatmap model with UDP targets (MMPose ``cspnext-{t,s,m,l}_udp`` configs, checkpoints named
``cspnext-m_udp-aic-coco_210e-256x192-*.pth``), loaded with ``prefix='backbone.'``. From scratch, the RTMCC head
settles at the mean pose and stays there on kdpose's synthetic data (BENCHMARKS.md, "Convergence probe"), while the
same backbone under a heatmap head keeps learning; the pre-training stage is what makes the short recipes work.

Zoo names: ``cspnext-{t,s,m,l}-udp``: CSPNeXt + MMPose ``HeatmapHead`` (three 256-channel deconvolutions, 1x1 conv)
+ UDP heatmap codec (sigma 2, heatmaps at input / 4) + JointsMSE. Keys: ``backbone.*`` exactly as RTMPose's, so
``ModelCfg.init_prefix: backbone.`` hands the backbone to ``rtmpose-*`` (``configs/rtmpose-t_synth-body.yaml``).
"""
from __future__ import annotations

from typing import Sequence

from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .heads.heatmap import HeatmapHead
from .pose_model import PoseModel
from .rtmpose import RTMPOSE_SIZES
from .simple_baseline import build_heatmap_model, finish_model


def build_cspnext_udp(size: str, layout: str = "coco", input_size: Sequence[int] = (192, 256),
                      sigma: float = 2.0, decoding: str = "dark") -> PoseModel:
    """CSPNeXt-``size`` (t, s, m, l; same depth/width factors as RTMPose) with a UDP heatmap head."""
    if size not in RTMPOSE_SIZES or size == "x":
        raise ValueError(f"unknown CSPNeXt size {size!r}; choose from t, s, m, l")
    from ..skeletons import get_skeleton

    backbone = CSPNeXt(*RTMPOSE_SIZES[size])
    head = HeatmapHead(backbone.out_channels, get_skeleton(layout).num_keypoints)
    model = build_heatmap_model(backbone, head, layout, tuple(input_size), sigma=sigma, encoding="udp",
                                decoding=decoding)
    return finish_model(model, f"cspnext-{size}-udp")


@register_model(name="cspnext-t-udp")
def cspnext_t_udp(layout: str = "coco", input_size: Sequence[int] = (192, 256), **kwargs) -> PoseModel:
    """CSPNeXt-t heatmap model (RTMPose-t's backbone pre-training)."""
    return build_cspnext_udp("t", layout, input_size, **kwargs)


@register_model(name="cspnext-s-udp")
def cspnext_s_udp(layout: str = "coco", input_size: Sequence[int] = (192, 256), **kwargs) -> PoseModel:
    """CSPNeXt-s heatmap model (RTMPose-s's backbone pre-training)."""
    return build_cspnext_udp("s", layout, input_size, **kwargs)


@register_model(name="cspnext-m-udp")
def cspnext_m_udp(layout: str = "coco", input_size: Sequence[int] = (192, 256), **kwargs) -> PoseModel:
    """CSPNeXt-m heatmap model (RTMPose-m's backbone pre-training)."""
    return build_cspnext_udp("m", layout, input_size, **kwargs)


@register_model(name="cspnext-l-udp")
def cspnext_l_udp(layout: str = "coco", input_size: Sequence[int] = (192, 256), **kwargs) -> PoseModel:
    """CSPNeXt-l heatmap model (RTMPose-l's backbone pre-training)."""
    return build_cspnext_udp("l", layout, input_size, **kwargs)
