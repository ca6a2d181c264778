"""The built-in person detector (zoo ``kdpose-det-nano`` / ``kdpose-det-tiny``, task ``detection``): CSPNeXt
backbone (strides 8/16/32) -> a small PAFPN -> one light head per level predicting a person logit and four log side
distances per feature-map cell. The detector callable around it is :class:`kdpose.detection.PersonDetector`.

``forward`` returns the same :class:`DetOutput` in training, evaluation and export; decoding (priors + box coder)
and NMS happen outside the network (:mod:`kdpose.detection.postprocess`), as for the pose models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.points import PointBoxCoder
from ..model_info import MMPOSE_MEAN, MMPOSE_STD, ModelInfo
from ._registry import register_model
from .backbones.cspnext import CSPNeXt
from .layers import ConvModule, CSPLayer
from .layers.conv import DepthwiseSeparableConvModule

STRIDES = (8, 16, 32)
# the built-in detector follows kdpose's model-input convention (RGB, MMPose's normalisation), unlike the official
# RTMDet files (BGR)
RGB_MEAN, RGB_STD = MMPOSE_MEAN, MMPOSE_STD


class DetOutput(NamedTuple):
    """Raw network output over all A = sum(cells per level) prior points (level by level, row-major).

    cls_logits: (B, A) person logits. box_deltas: (B, A, 4) log distances to (left, top, right, bottom) / stride.
    """

    cls_logits: torch.Tensor
    box_deltas: torch.Tensor


@dataclass(frozen=True)
class DetectorSize:
    """One size of the detector family (factors as RTMDet's CSPNeXt configs)."""

    deepen: float
    widen: float
    neck_channels: int
    head_convs: int


SIZES: dict[str, DetectorSize] = {
    "nano": DetectorSize(deepen=0.33, widen=0.25, neck_channels=64, head_convs=1),
    "tiny": DetectorSize(deepen=0.167, widen=0.375, neck_channels=96, head_convs=2),
}


class PAFPN(nn.Module):
    """Path-aggregation FPN (RTMDet's ``CSPNeXtPAFPN`` layout, slimmed): top-down then bottom-up fusion with CSP
    layers, then a 3x3 conv to ``out_channels`` per level.

    Shapes: [(B, C3, H/8, W/8), (B, C4, H/16, W/16), (B, C5, H/32, W/32)] -> three (B, out_channels, ...) maps.
    """

    def __init__(self, in_channels: tuple[int, int, int], out_channels: int, num_blocks: int = 1):
        super().__init__()
        c3, c4, c5 = in_channels
        self.reduce5 = ConvModule(c5, c4, 1)
        self.top_down4 = CSPLayer(2 * c4, c4, num_blocks, add_identity=False, channel_attention=False)
        self.reduce4 = ConvModule(c4, c3, 1)
        self.top_down3 = CSPLayer(2 * c3, c3, num_blocks, add_identity=False, channel_attention=False)
        self.down3 = DepthwiseSeparableConvModule(c3, c3, 3, stride=2, padding=1)
        self.bottom_up4 = CSPLayer(2 * c3, c4, num_blocks, add_identity=False, channel_attention=False)
        self.down4 = DepthwiseSeparableConvModule(c4, c4, 3, stride=2, padding=1)
        self.bottom_up5 = CSPLayer(2 * c4, c5, num_blocks, add_identity=False, channel_attention=False)
        self.out_convs = nn.ModuleList([ConvModule(c, out_channels, 3, padding=1) for c in (c3, c4, c5)])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        r5 = self.reduce5(p5)
        t4 = self.top_down4(torch.cat([_upsample_to(r5, p4), p4], 1))
        r4 = self.reduce4(t4)
        t3 = self.top_down3(torch.cat([_upsample_to(r4, p3), p3], 1))
        b4 = self.bottom_up4(torch.cat([self.down3(t3), r4], 1))
        b5 = self.bottom_up5(torch.cat([self.down4(b4), r5], 1))
        return [conv(f) for conv, f in zip(self.out_convs, (t3, b4, b5))]


def _upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    # nearest x2 then crop: odd feature sizes (input not a multiple of 32) still line up, and ONNX gets a plain Resize
    return F.interpolate(x, scale_factor=2.0, mode="nearest")[..., : ref.shape[-2], : ref.shape[-1]]


class DetHead(nn.Module):
    """Per level: ``head_convs`` 3x3 ConvModules, then two 1x1 convs (1 person logit, 4 box deltas).

    Shapes: list of (B, C, h_l, w_l) -> DetOutput with A = sum(h_l * w_l).
    """

    def __init__(self, channels: int, num_levels: int = 3, head_convs: int = 2, prior_prob: float = 0.01):
        super().__init__()
        self.towers = nn.ModuleList([
            nn.Sequential(*[ConvModule(channels, channels, 3, padding=1) for _ in range(head_convs)])
            for _ in range(num_levels)])
        self.cls = nn.ModuleList([nn.Conv2d(channels, 1, 1) for _ in range(num_levels)])
        self.reg = nn.ModuleList([nn.Conv2d(channels, 4, 1) for _ in range(num_levels)])
        for conv in self.cls:  # focal-loss prior: start every cell at p = prior_prob, not 0.5
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, -math.log((1 - prior_prob) / prior_prob))
        for conv in self.reg:  # start every box at two strides from its point on each side (a typical person
            nn.init.normal_(conv.weight, std=0.01)  # at its level is 2-8 strides tall): faster early training
            nn.init.constant_(conv.bias, math.log(2.0))

    def forward(self, feats: list[torch.Tensor]) -> DetOutput:
        logits, deltas = [], []
        for tower, cls, reg, f in zip(self.towers, self.cls, self.reg, feats):
            t = tower(f)
            logits.append(cls(t).flatten(1))                          # (B, h*w)
            deltas.append(reg(t).flatten(2).transpose(1, 2))          # (B, h*w, 4)
        return DetOutput(torch.cat(logits, 1), torch.cat(deltas, 1))


class PersonDetectorModel(nn.Module):
    """CSPNeXt + PAFPN + DetHead. ``forward((B, 3, H, W) RGB normalised) -> DetOutput``.

    Attributes (read by export and inference): ``info`` (:class:`~kdpose.model_info.ModelInfo`: name, task
    ``detection``, input size, RGB normalisation, codec), ``input_size`` (w, h), ``codec`` (:class:`PointBoxCoder`,
    the priors for that size), ``strides``.
    """

    def __init__(self, size: str = "tiny", input_size: tuple[int, int] = (416, 416)):
        super().__init__()
        if size not in SIZES:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"unknown detector size '{size}' (available: {', '.join(SIZES)})")
        if input_size[0] % 32 or input_size[1] % 32:
            from ..errors import ConfigError

            raise ConfigError(f"detector input size {input_size[0]}x{input_size[1]} must be a multiple of 32")
        cfg = SIZES[size]
        self.size = size
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.strides = STRIDES
        self.codec = PointBoxCoder(self.input_size, STRIDES)
        # the facts follow from the size and input size this family's constructor takes
        self.info = ModelInfo(f"kdpose-det-{size}", "detection", None, self.input_size).with_codec(self.codec)
        self.backbone = CSPNeXt(cfg.deepen, cfg.widen, out_indices=(2, 3, 4))
        chans = tuple(fi.channels for fi in self.backbone.feature_info)
        self.neck = PAFPN(chans, cfg.neck_channels, num_blocks=max(round(3 * cfg.deepen), 1))
        self.head = DetHead(cfg.neck_channels, len(STRIDES), cfg.head_convs)

    @property
    def model_name(self) -> str:
        """The zoo name (``info.name``)."""
        return self.info.name

    def forward(self, x: torch.Tensor) -> DetOutput:
        return self.head(self.neck(self.backbone(x)))


def _detector_factory(size: str):
    def make(input_size: tuple[int, int] = (416, 416), layout: str | None = None) -> PersonDetectorModel:
        if layout is not None:
            from ..errors import ConfigError

            raise ConfigError(f"layout '{layout}': the person detector kdpose-det-{size} has no keypoint layout")
        return PersonDetectorModel(size, tuple(input_size))

    make.__name__ = f"kdpose_det_{size}"
    make.__doc__ = f"The built-in person detector, size {size} (input a multiple of 32)."
    return make


for _size in SIZES:
    register_model(_detector_factory(_size), name=f"kdpose-det-{_size}", task="detection")
