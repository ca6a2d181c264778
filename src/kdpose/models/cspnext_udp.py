"""CSPNeXt heatmap models: the backbone pre-training stage of RTMPose.

RTMPose does not train its SimCC head on a randomly initialised backbone: the released models start from a CSPNeXt
pre-trained as a heatmap model with UDP targets (MMPose ``cspnext-{t,s,m,l}_udp`` configs, checkpoints named
``cspnext-m_udp-aic-coco_210e-256x192-*.pth``), loaded with ``prefix='backbone.'``. From scratch, the RTMCC head
settles at the mean pose and stays there on kdpose's synthetic data (BENCHMARKS.md, "Convergence probe"), while the
same backbone under a heatmap head keeps learning; the pre-training stage is what makes the short recipes work.

Zoo names: ``cspnext-{t,s,m,l,x}-udp``: CSPNeXt + MMPose ``HeatmapHead`` (three 256-channel deconvolutions, 1x1 conv)
+ UDP heatmap codec (sigma 2, heatmaps at input / 4) + JointsMSE. Keys: ``backbone.*`` exactly as RTMPose's, so
``ModelCfg.init_prefix: backbone.`` hands the backbone to ``rtmpose-*`` (``configs/rtmpose-t_synth-body.yaml``).

Official pre-trained backbones (the ``init_cfg`` checkpoints of MMPose's RTMPose / DWPose configs) are registered as
tags: ``cspnext-{t,s,m,l}.udp-aic-coco`` (256x192, AIC + COCO, 210 epochs) and ``cspnext-x.udp-body7`` (384x288,
Body7). ``model.init_weights: cspnext-m.udp-aic-coco`` downloads the file once into ``$KDPOSE_CACHE`` and checks the
sha256 prefix of its name; only its ``backbone.*`` is used (``loads="backbone"``: the AIC+COCO files' heatmap heads
predict 19 keypoints, COCO's 17 plus AIC's head top and neck).
"""
from __future__ import annotations

from typing import Sequence

from .pretrained import PretrainedCfg, register_pretrained
from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .heads.heatmap import HeatmapHead
from .pose_model import PoseModel
from .rtmpose import RTMPOSE_SIZES
from .simple_baseline import build_heatmap_model


def build_cspnext_udp(size: str, layout: str = "coco", input_size: Sequence[int] = (192, 256),
                      sigma: float = 2.0, decoding: str = "dark") -> PoseModel:
    """CSPNeXt-``size`` (t, s, m, l, x; same depth/width factors as RTMPose) with a UDP heatmap head."""
    if size not in RTMPOSE_SIZES:
        raise ValueError(f"unknown CSPNeXt size {size!r}; choose from {', '.join(RTMPOSE_SIZES)}")
    from ..skeletons import get_skeleton

    backbone = CSPNeXt(*RTMPOSE_SIZES[size])
    head = HeatmapHead(backbone.out_channels, get_skeleton(layout).num_keypoints)
    return build_heatmap_model(backbone, head, layout, tuple(input_size), name=f"cspnext-{size}-udp", sigma=sigma,
                               encoding="udp", decoding=decoding)


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


@register_model(name="cspnext-x-udp")
def cspnext_x_udp(layout: str = "coco", input_size: Sequence[int] = (288, 384), **kwargs) -> PoseModel:
    """CSPNeXt-x heatmap model (RTMPose-x's backbone pre-training, 384x288)."""
    return build_cspnext_udp("x", layout, input_size, **kwargs)


# ------------------------------------------------------------------------------------ official weights (data)
# MMPose's projects/rtmpose/README.md ("UDP pre-training" tables). The body RTMPose COCO configs cite the same
# AIC+COCO files under .../projects/rtmposev1/. The 8 hex digits before the date are the file's sha256 prefix
# (MMPose tools/misc/publish_model.py), which is all that is published; download_weights checks that prefix.
_RTMPOSE_V1 = "https://download.openmmlab.com/mmpose/v1/projects/"


def _udp(size: str, data: str, input_size: tuple[int, int], path: str, sha256: str, notes: str) -> PretrainedCfg:
    return PretrainedCfg(f"cspnext-{size}.udp-{data}", f"cspnext-{size}-udp", "coco", input_size, _RTMPOSE_V1 + path,
                         sha256, "MMPose RTMPose (CSPNeXt UDP pre-training)", notes, loads="backbone")


_AIC_COCO = ("AIC + COCO, 210 epochs; the backbone of the RTMPose / DWPose configs (init_cfg prefix 'backbone.'); "
             "head: 19 keypoints")
register_pretrained(
    _udp("t", "aic-coco", (192, 256), "rtmpose/cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth",
         "cbed682d", _AIC_COCO),
    _udp("s", "aic-coco", (192, 256), "rtmpose/cspnext-s_udp-aic-coco_210e-256x192-92f5a029_20230130.pth",
         "92f5a029", _AIC_COCO),
    _udp("m", "aic-coco", (192, 256), "rtmpose/cspnext-m_udp-aic-coco_210e-256x192-f2f7d6f6_20230130.pth",
         "f2f7d6f6", _AIC_COCO),
    _udp("l", "aic-coco", (192, 256), "rtmpose/cspnext-l_udp-aic-coco_210e-256x192-273b7631_20230130.pth",
         "273b7631", _AIC_COCO),
    _udp("x", "body7", (288, 384), "rtmposev1/cspnext-x_udp-body7_210e-384x288-d28b58e6_20230529.pth",
         "d28b58e6", "Body7, 210 epochs, 384x288; backbone of the RTMPose-x configs (whole-body, UBody, Body8)"),
)
