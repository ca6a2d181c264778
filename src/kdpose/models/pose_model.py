"""PoseModel = backbone + optional neck + head, with the codec, skeleton and task loss it was built for, and the
:class:`~kdpose.model_info.ModelInfo` that says what it is."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..model_info import ModelInfo


class PoseModel(nn.Module):
    """A top-down (or bottom-up) pose network.

    ``forward(x)`` returns the head's output type (a NamedTuple of tensors) in train, eval and export alike.
    ``forward_features(x)`` exposes the backbone (+neck) features; the last one is what DWPose distils.

    Args:
        backbone: module mapping (B, C, H, W) -> list of feature maps.
        head: module mapping the feature list -> head output (NamedTuple).
        codec: the codec owning input size / output geometry (encode targets, decode outputs).
        skeleton: the keypoint layout (a ``kdpose.skeletons.Skeleton``).
        loss_fn: module mapping (head output, Batch) -> dict of losses with key "loss".
        neck: optional module mapping the feature list -> feature list.
        info: what the network is (zoo name, task, layout, input size, channels, normalisation); its layout and
            input size must be the skeleton's and the codec's, and its codec parameters are taken from ``codec``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, codec: Any, skeleton: Any,
                 loss_fn: nn.Module | None = None, neck: nn.Module | None = None, *, info: ModelInfo):
        super().__init__()
        if info.layout != skeleton.name or tuple(info.input_size) != tuple(codec.input_size):
            raise ValueError(f"model '{info.name}': info says layout {info.layout} at {info.input_size}, but the "
                             f"skeleton is {skeleton.name} and the codec's input size {tuple(codec.input_size)}")
        self.info = info.with_codec(codec)
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        else:
            self.neck = None
        self.head = head
        self.codec = codec
        self.skeleton = skeleton
        self.loss_fn = loss_fn

    @property
    def input_size(self) -> tuple[int, int]:
        """(w, h) of the model input, owned by the codec."""
        return tuple(self.codec.input_size)

    @property
    def model_name(self) -> str:
        """The zoo name (``info.name``)."""
        return self.info.name

    @property
    def in_channels(self) -> int:
        """Input channels (``info.in_channels``): 3 for images, 1 for depth."""
        return self.info.in_channels

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        return list(feats)

    def forward_head(self, feats: list[torch.Tensor]):
        return self.head(feats)

    def forward(self, x: torch.Tensor):
        return self.forward_head(self.forward_features(x))


def topdown_info(name: str, skeleton: Any, codec: Any) -> ModelInfo:
    """The :class:`ModelInfo` of a top-down RGB network: zoo ``name``, the skeleton's layout, the codec's input size
    and MMPose's normalisation."""
    return ModelInfo(name, "topdown", skeleton.name, tuple(codec.input_size))
