"""HRNet top-down heatmap models (Sun et al., https://arxiv.org/abs/1902.09212).

Zoo entries: ``hrnet-w32``, ``hrnet-w48`` (full 4-stage HRNet + 1x1 conv head, MMPose
``td-hm_hrnet-w*_8xb*-210e_coco-256x192`` architecture; official checkpoints load via
``simple_baseline.convert_mmpose_state_dict``) and ``hrnet-w32-stage3`` / ``hrnet-w48-stage3`` (the stage-3 feature
that TokenPose-B/L uses, with a 1x1 conv head so it is a complete heatmap model too).

Tag ``hrnet-w32.imagenet``: MMPose's ImageNet HRNet-W32 (``pretrain_models/hrnet_w32-36af842e.pth``, the
``pretrained=`` / ``init_cfg`` checkpoint of MMPose's HRNet-W32 configs and of SDPose-B). It is a bare
classification backbone, so it loads with ``loads="backbone-partial"``: every tensor of ``model.backbone`` that
matches by name and shape, the rest keeps its initialisation (mmcv ``load_checkpoint(strict=False)``).
"""
from __future__ import annotations

from typing import Sequence

from ..skeletons import get_skeleton
from .pretrained import PretrainedCfg, register_pretrained
from ._registry import register_model
from .backbones.hrnet import HRNet
from .heads.heatmap import HeatmapHead
from .pose_model import PoseModel
from .simple_baseline import build_heatmap_model


def _hrnet(width: int, num_stages: int, layout: str, input_size: Sequence[int], **codec_kw) -> PoseModel:
    skeleton = get_skeleton(layout)
    backbone = HRNet(width, num_stages=num_stages)
    head = HeatmapHead(width, skeleton.num_keypoints, deconv_channels=(), deconv_kernels=())
    name = f"hrnet-w{width}" + ("-stage3" if num_stages == 3 else "")
    # the stride-4 stem gives input / 4 heatmaps for any multiple of 4 (the low-resolution branches are resized)
    return build_heatmap_model(backbone, head, layout, input_size, name=name, multiple=4, **codec_kw)


@register_model(name="hrnet-w32")
def hrnet_w32(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """HRNet-W32, 256x192: 28.5M params, 7.1 GMACs (the paper's 'GFLOPs')."""
    return _hrnet(32, 4, layout, input_size, **codec_kw)


@register_model(name="hrnet-w48")
def hrnet_w48(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """HRNet-W48, 256x192: 63.6M params, 14.6 GMACs (the paper's 'GFLOPs')."""
    return _hrnet(48, 4, layout, input_size, **codec_kw)


@register_model(name="hrnet-w32-stage3")
def hrnet_w32_stage3(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """HRNet-W32 truncated after stage 3 (TokenPose-B's feature) + 1x1 conv heatmap head."""
    return _hrnet(32, 3, layout, input_size, **codec_kw)


@register_model(name="hrnet-w48-stage3")
def hrnet_w48_stage3(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """HRNet-W48 truncated after stage 3 (TokenPose-L / DistilPose-L feature) + 1x1 conv heatmap head."""
    return _hrnet(48, 3, layout, input_size, **codec_kw)


# The 8 hex digits in the file name are its sha256 prefix (OpenMMLab's publish convention, name-<sha256[:8]>.pth);
# no full digest is published, so download_weights checks that prefix.
register_pretrained(
    PretrainedCfg("hrnet-w32.imagenet", "hrnet-w32", "coco", (192, 256),
                  "https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w32-36af842e.pth", "36af842e",
                  "MMPose (ImageNet HRNet-W32)", "ImageNet classification backbone (bare keys, plus the classifier's "
                  "head/fc tensors, unused); SDPose-B's pretrained=", loads="backbone-partial"),
)
