"""Depth pose machines (Martinez-Gonzalez et al., TCSVT 2019): bottom-up multi-person models made of a stride-8
feature extractor and a cascade of S prediction stages, each with a PAF branch and a confidence-map branch.

Zoo: ``cpm`` (VGG-19 baseline, RGB or depth repeated x3), ``rpm`` (residual), ``spm`` (Fire), ``mpm`` (depthwise),
each with ``stages`` (1..4) and ``width`` (Nw, 64 by default; 128 for CPM), plus the paper's named rows
(``rpm-2s``, ``mpm-4s``, ...). The output is a :class:`~kdpose.codecs.paf.PafOutput` holding every stage's maps
(stage t > 1 reads concat(PAF_{t-1}, CONF_{t-1}, F), the Idiap order); ``forward_features`` returns ``[F]``, the
extractor output that the hint loss and the domain classifier use.

Layouts: any with a limb tree (``kdpose.layouts``): ``coco`` (17 keypoints, 17 limbs: the synthetic data's layout)
or ``dih`` (the paper's 17-landmark depth skeleton, 16 limbs; with it the channel counts 18 + 32 and the parameter
counts are the paper's).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..codecs.paf import PafCodec, PafOutput
from ..losses.pose_machine import PoseMachineLoss
from ..model_info import ModelInfo
from ._registry import register_model
from .layers.pose_machine_blocks import VGGExtractor, mpm_extractor, rpm_extractor, spm_extractor, stage_branch
from .pose_model import PoseModel

KINDS = ("cpm", "rpm", "spm", "mpm")
_EXTRACTORS = {"rpm": rpm_extractor, "spm": spm_extractor, "mpm": mpm_extractor, "cpm": VGGExtractor}


def layout_for(layout: str):
    """(skeleton, limbs, upper-body ids) of a layout with a limb tree (``kdpose.layouts``: coco, dih)."""
    from ..layouts import get_layout

    spec = get_layout(layout)
    return spec.skeleton, spec.require_limbs("a pose machine"), spec.upper_body


class FeatureExtractor(nn.Module):
    """Backbone wrapper: (B, C_in, H, W) -> [F] with F (B, width, H/8, W/8)."""

    def __init__(self, kind: str, in_channels: int, width: int):
        super().__init__()
        self.body = _EXTRACTORS[kind](in_channels, width)
        self.feature_info = [{"channels": width, "stride": 8}]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.body(x)]


class PoseMachineCascade(nn.Module):
    """The "head": S stages x (PAF branch, confidence branch). [F] -> PafOutput with (B, S, C, h, w) maps."""

    def __init__(self, kind: str, feature_channels: int, width: int, num_stages: int, heatmap_channels: int,
                 paf_channels: int):
        super().__init__()
        if not 1 <= num_stages <= 8:
            raise ValueError(f"num_stages must be in [1, 8], got {num_stages}")
        self.num_stages = num_stages
        later_in = feature_channels + heatmap_channels + paf_channels
        self.paf_branches = nn.ModuleList()
        self.heatmap_branches = nn.ModuleList()
        for s in range(num_stages):
            cin = feature_channels if s == 0 else later_in
            self.paf_branches.append(stage_branch(kind, cin, width, paf_channels, first=s == 0))
            self.heatmap_branches.append(stage_branch(kind, cin, width, heatmap_channels, first=s == 0))

    def forward(self, feats: Sequence[torch.Tensor]) -> PafOutput:
        f = feats[-1]
        x = f
        heats, pafs = [], []
        for paf_branch, heat_branch in zip(self.paf_branches, self.heatmap_branches):
            paf, heat = paf_branch(x), heat_branch(x)
            pafs.append(paf)
            heats.append(heat)
            x = torch.cat([paf, heat, f], 1)
        return PafOutput(heatmaps=torch.stack(heats, 1), pafs=torch.stack(pafs, 1))


def create_pose_machine(kind: str, stages: int = 2, width: int | None = None, layout: str = "coco",
                        input_size: tuple[int, int] = (368, 368), in_channels: int | None = None,
                        stage_width: int | None = None, **codec_kwargs) -> PoseModel:
    """Build a pose machine.

    Args:
        kind: cpm | rpm | spm | mpm.
        stages: number of prediction stages S.
        width: Nw, channels of the extractor output F (64; 128 for cpm).
        layout: 'coco' or 'dih' (see module doc).
        input_size: (w, h) training input (the paper trains on 368x368 crops, infers at 444x368).
        in_channels: 1 (depth, default) or 3 (RGB; cpm only makes sense here, as in the paper's baseline).
        stage_width: channels inside the stage branches (default: width).
        codec_kwargs: forwarded to :class:`PafCodec` (sigma, thresholds, ...).
    """
    if kind not in KINDS:
        from ..errors import UnknownNameError

        raise UnknownNameError(f"unknown pose machine kind '{kind}' (available: {', '.join(KINDS)})")
    width = width or (128 if kind == "cpm" else 64)
    in_channels = in_channels or 1
    skeleton, limbs, _ = layout_for(layout)
    codec = PafCodec(skeleton.num_keypoints, limbs, input_size=input_size, **codec_kwargs)
    backbone = FeatureExtractor(kind, in_channels, width)
    head = PoseMachineCascade(kind, width, stage_width or width, stages, codec.heatmap_channels, codec.paf_channels)
    # what rebuilds these weights from the zoo name (load_model reads it back from a weights file)
    rebuild = {"width": width, "in_channels": in_channels, **codec_kwargs}
    if stage_width is not None:
        rebuild["stage_width"] = stage_width
    name, size = f"{kind}-{stages}s", tuple(input_size)
    info = (ModelInfo.depth(name, "bottomup", skeleton.name, size, rebuild) if in_channels == 1   # depth in mm
            else ModelInfo(name, "bottomup", skeleton.name, size, kwargs=rebuild))  # RGB: MMPose's normalisation
    return PoseModel(backbone, head, codec, skeleton, loss_fn=PoseMachineLoss(), info=info)


def init_from_fewer_stages(model: PoseModel, smaller: PoseModel, copy_last_stage: bool = True) -> list[str]:
    """Progressive training (paper Sec. VII-C): initialise an S-stage model from a trained (S-1)-stage one.

    Copies the extractor and stages 1..S-1; the new last stage is copied from the smaller model's last stage when
    the shapes agree (stage >= 2 of both) and ``copy_last_stage``, else it keeps its fresh initialisation.
    Returns the names of the parameters/buffers copied.
    """
    src = smaller.state_dict()
    dst = model.state_dict()
    n_small = smaller.head.num_stages
    copied = []
    for key, value in dst.items():
        source_key = key
        if copy_last_stage and n_small >= 2 and key.startswith(("head.paf_branches.", "head.heatmap_branches.")):
            idx = int(key.split(".")[2])
            if idx == n_small:  # the new stage mirrors the previous refinement stage
                parts = key.split(".")
                parts[2] = str(n_small - 1)
                source_key = ".".join(parts)
        if source_key in src and src[source_key].shape == value.shape:
            value.copy_(src[source_key])
            copied.append(key)
    return copied


def _factory(kind: str):
    def make(stages: int = 2, width: int | None = None, layout: str = "coco",
             input_size: tuple[int, int] = (368, 368), **kw) -> PoseModel:
        return create_pose_machine(kind, stages=stages, width=width, layout=layout, input_size=input_size, **kw)

    make.__name__ = kind
    make.__doc__ = f"{kind.upper()} pose machine; see :func:`create_pose_machine`."
    return make


def _variant(kind: str, stages: int):
    def make(width: int | None = None, layout: str = "coco", input_size: tuple[int, int] = (368, 368),
             **kw) -> PoseModel:
        return create_pose_machine(kind, stages=stages, width=width, layout=layout, input_size=input_size, **kw)

    make.__name__ = f"{kind}_{stages}s"
    make.__doc__ = f"{kind.upper()}-{stages}S of the paper's Table I."
    return make


for _kind in KINDS:
    register_model(_factory(_kind), name=_kind, task="bottomup")
# the paper's Table I rows
for _kind, _stages in [("cpm", 1), ("cpm", 2), ("rpm", 1), ("rpm", 2), ("rpm", 3), ("spm", 1), ("spm", 2),
                       ("spm", 3), ("spm", 4), ("mpm", 1), ("mpm", 2), ("mpm", 3), ("mpm", 4)]:
    register_model(_variant(_kind, _stages), name=f"{_kind}-{_stages}s", task="bottomup")
