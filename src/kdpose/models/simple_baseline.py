"""Simple Baselines (Xiao et al., https://arxiv.org/abs/1804.06208): ResNet + three deconvolutions -> heatmaps.

Zoo entries: ``simplebaseline-res50`` / ``-res101`` / ``-res152`` (and ``-res18`` for miniature runs). Keys match MMPose's top-down SimpleBaseline
checkpoints (``backbone.*`` + ``keypoint_head.*`` -> ``head.*``); see :func:`convert_mmpose_state_dict`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..codecs.heatmap import HeatmapCodec
from ..errors import CheckpointError, ConfigError
from ..losses.heatmap import HeatmapLoss
from ..skeletons import get_skeleton
from ._registry import register_model
from .backbones.resnet import ResNet
from .heads.heatmap import HeatmapHead
from .pose_model import PoseModel, topdown_info


def convert_mmpose_state_dict(checkpoint: Mapping[str, Any], source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """An MMPose 0.x / 1.x top-down checkpoint -> kdpose PoseModel keys.

    Unwraps ``{"state_dict": ...}``, strips a DDP ``module.`` prefix and renames ``keypoint_head.`` (MMPose 0.x) to
    ``head.``; ``backbone.*`` and ``head.*`` (MMPose 1.x) keys are already ours. The one implementation is
    ``checkpoint_files.extract_state_dict`` (also behind ``load_model`` / ``load_weights``).
    """
    from .checkpoint_files import extract_state_dict

    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{source}: not a state dict (expected a mapping of tensors or {{'state_dict': ...}})")
    return extract_state_dict(checkpoint, source)


def load_mmpose_checkpoint(model: PoseModel, path: str) -> PoseModel:
    """Load an official MMPose top-down ``.pth`` (0.x ``keypoint_head.*`` or 1.x ``head.*`` keys) strictly,
    read with ``torch.load(weights_only=True)``; raises ``CheckpointError`` listing any key or shape mismatch."""
    from .weights import check_state_dict
    from .checkpoint_files import read_checkpoint

    state = convert_mmpose_state_dict(read_checkpoint(path), str(path))
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    check_state_dict(model, state, str(path))
    model.load_state_dict(state, strict=True)
    return model


def build_heatmap_model(backbone: nn.Module, head: nn.Module, layout: str, input_size: Sequence[int], *, name: str,
                        sigma: float = 2.0, encoding: str = "unbiased", decoding: str = "dark",
                        multiple: int = 32) -> PoseModel:
    """Assemble the heatmap PoseModel ``name``: codec with heatmaps at input / 4, JointsMSE task loss.

    ``multiple``: the input sides must be multiples of it for the network's heatmaps to be exactly input / 4 (a
    stride-32 backbone upsampled x8 rounds other sizes up, and the codec would decode and mirror the wrong grid).
    """
    w, h = int(input_size[0]), int(input_size[1])
    if w % multiple or h % multiple:
        raise ConfigError(f"{name}: input size {w}x{h} must be a multiple of {multiple} (its heatmaps are input / 4 "
                          f"only then), e.g. {_round_to(w, multiple)}x{_round_to(h, multiple)}")
    codec = HeatmapCodec(input_size, sigma=sigma, encoding=encoding, decoding=decoding)
    skeleton = get_skeleton(layout)
    return PoseModel(backbone, head, codec, skeleton, loss_fn=HeatmapLoss(), info=topdown_info(name, skeleton, codec))


def _round_to(value: int, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def _simple_baseline(depth: int, layout: str, input_size: Sequence[int], **codec_kw) -> PoseModel:
    skeleton = get_skeleton(layout)
    backbone = ResNet(depth)
    head = HeatmapHead(backbone.feature_info[-1]["channels"], skeleton.num_keypoints)
    return build_heatmap_model(backbone, head, layout, input_size, name=f"simplebaseline-res{depth}", **codec_kw)


@register_model(name="simplebaseline-res18")
def simplebaseline_res18(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """SimpleBaseline ResNet-18 (miniature Table 6 teacher; not an MMPose release)."""
    return _simple_baseline(18, layout, input_size, **codec_kw)


@register_model(name="simplebaseline-res50")
def simplebaseline_res50(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """SimpleBaseline ResNet-50, 256x192: 34.0M params (Table 1 of DistilPose)."""
    return _simple_baseline(50, layout, input_size, **codec_kw)


@register_model(name="simplebaseline-res101")
def simplebaseline_res101(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """SimpleBaseline ResNet-101, 256x192: 53.0M params."""
    return _simple_baseline(101, layout, input_size, **codec_kw)


@register_model(name="simplebaseline-res152")
def simplebaseline_res152(layout: str = "coco", input_size: Sequence[int] = (192, 256), **codec_kw) -> PoseModel:
    """SimpleBaseline ResNet-152, 256x192: 68.6M params."""
    return _simple_baseline(152, layout, input_size, **codec_kw)
