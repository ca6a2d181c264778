"""What a network is, for everything outside it: :class:`ModelInfo` (zoo name, task, keypoint layout, input size,
input channels and their order, normalisation, codec parameters).

Every model family passes one to its network's constructor; weights files (``.safetensors`` headers), ONNX exports
(``metadata_props``), both inference backends and a distiller's frozen teacher read the facts from it. Its metadata
form is one set of ``kdpose.*`` string keys (JSON values), the same in a weights header and an ONNX file:

==================  ===========================================================================
``model``           zoo name (``rtmpose-t``, ``mpm-2s``, ``kdpose-det-tiny``)
``task``            ``topdown`` | ``bottomup`` | ``detection``
``skeleton``        keypoint layout (``coco``, ``coco_wholebody``, ``dih``, ...; absent for the detector)
``input_size``      ``[w, h]`` of the network input
``input_channels``  3 (images) or 1 (depth)
``channel_order``   ``RGB`` (BGR images are converted first, the MMPose convention) or ``D`` (depth)
``mean`` / ``std``  per-channel normalisation before the network, in ``channel_order``
``codec``           ``{"type": codec class, <its parameters>}``
``kwargs``          factory arguments the weights need to be rebuilt (pose machines: ``width``, ...)
==================  ===========================================================================

No torch here: the onnxruntime path reads these without it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

PREFIX = "kdpose."

# MMPose's ImageNet statistics in RGB order (docs/design.md "Model input"); every image model uses them.
MMPOSE_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
MMPOSE_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
# depth models take metres mapped from [0, 8] to [-0.5, 0.5]: (d_mm - 4000) / 8000
DEPTH_RANGE_M: tuple[float, float] = (0.0, 8.0)
DEPTH_MEAN: tuple[float] = (500.0 * (DEPTH_RANGE_M[0] + DEPTH_RANGE_M[1]),)
DEPTH_STD: tuple[float] = (1000.0 * (DEPTH_RANGE_M[1] - DEPTH_RANGE_M[0]),)
TASKS = ("topdown", "bottomup", "detection")
_TEXT_KEYS = ("model", "task", "skeleton", "channel_order")  # stored as plain strings, the rest as JSON


@dataclass(frozen=True)
class ModelInfo:
    """The facts of one network (see the module doc for their metadata keys).

    Attributes:
        name: zoo name.
        task: the task the network serves (``topdown``, ``bottomup``, ``detection``).
        layout: keypoint layout name (None for a network without keypoints: the person detector).
        input_size: (w, h) of the network input.
        in_channels: 3 (BGR images converted to RGB) or 1 (depth in millimetres).
        channel_order: ``RGB`` or ``D``.
        mean, std: normalisation per channel (``(x - mean) / std`` on 0-255 pixels or on millimetres).
        codec: the codec's ``params()`` with its ``type`` (filled by the network from its codec).
        kwargs: zoo-factory arguments beyond layout and input size that rebuild this network (``load_model`` uses
            them when the caller gives none), e.g. a pose machine's ``width``.
    """

    name: str
    task: str
    layout: str | None
    input_size: tuple[int, int]
    in_channels: int = 3
    channel_order: str = "RGB"
    mean: tuple[float, ...] = MMPOSE_MEAN
    std: tuple[float, ...] = MMPOSE_STD
    codec: dict[str, Any] = field(default_factory=dict, compare=False)
    kwargs: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"model '{self.name}': task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError(f"model '{self.name}': mean/std need {self.in_channels} values")
        object.__setattr__(self, "input_size", (int(self.input_size[0]), int(self.input_size[1])))

    @classmethod
    def depth(cls, name: str, task: str, layout: str | None, input_size: tuple[int, int],
              kwargs: dict[str, Any] | None = None) -> "ModelInfo":
        """A network that takes one depth channel (millimetres mapped from [0, 8] m to [-0.5, 0.5])."""
        return cls(name, task, layout, input_size, in_channels=1, channel_order="D", mean=DEPTH_MEAN, std=DEPTH_STD,
                   kwargs=dict(kwargs or {}))

    def with_codec(self, codec: Any) -> "ModelInfo":
        """This info with the parameters of ``codec`` (its ``params()`` and class name)."""
        return replace(self, codec=codec_params(codec))

    def to_metadata(self) -> dict[str, str]:
        """The ``kdpose.*`` string metadata of a weights header or an ONNX file."""
        values = {"model": self.name, "task": self.task, "skeleton": self.layout, "input_size": list(self.input_size),
                  "input_channels": self.in_channels, "channel_order": self.channel_order, "mean": list(self.mean),
                  "std": list(self.std), "codec": self.codec, "kwargs": self.kwargs}
        return {PREFIX + k: (v if k in _TEXT_KEYS else json.dumps(v)) for k, v in values.items()
                if v is not None and v != {}}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], default_task: str = "topdown") -> "ModelInfo | None":
        """The info stored by :meth:`to_metadata`; files written by kdpose before it (``model``, ``layout``,
        ``input_size: "WxH"``, ``codec``) are read too. None when the metadata names no input size."""
        ours = {k[len(PREFIX):]: v for k, v in meta.items() if k.startswith(PREFIX)}
        if "input_size" not in ours:
            return _from_legacy(meta, default_task)
        parsed: dict[str, Any] = {}
        for key, value in ours.items():
            try:
                parsed[key] = value if key in _TEXT_KEYS else json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"metadata key '{PREFIX}{key}' is not valid JSON ({value!r})") from exc
        channels = int(parsed.get("input_channels", 3))
        return cls(name=str(parsed.get("model", "")), task=str(parsed.get("task", default_task)),
                   layout=parsed.get("skeleton"), input_size=tuple(parsed["input_size"]), in_channels=channels,
                   channel_order=str(parsed.get("channel_order", "RGB" if channels == 3 else "D")),
                   mean=tuple(parsed.get("mean", MMPOSE_MEAN if channels == 3 else DEPTH_MEAN)),
                   std=tuple(parsed.get("std", MMPOSE_STD if channels == 3 else DEPTH_STD)),
                   codec=dict(parsed.get("codec", {})), kwargs=dict(parsed.get("kwargs", {})))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_legacy(meta: Mapping[str, str], default_task: str) -> "ModelInfo | None":
    """The header of a weights file written before the ``kdpose.*`` keys: ``input_size`` as ``"WxH"``."""
    parts = str(meta.get("input_size", "")).lower().replace(",", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdecimal() for p in parts):
        return None
    try:
        codec = json.loads(meta.get("codec", "{}"))
    except json.JSONDecodeError:
        codec = {}
    return ModelInfo(name=meta.get("model", ""), task=default_task, layout=meta.get("layout") or None,
                     input_size=(int(parts[0]), int(parts[1])), codec=codec if isinstance(codec, dict) else {})


def codec_params(codec: Any) -> dict[str, Any]:
    """A codec's JSON-able parameters (``codec.params()``, which every kdpose codec has) with its ``type`` (the one
    ``params()`` names, else the class name); values that are not plain JSON (arrays, modules) are left out."""
    if codec is None:
        return {}
    out: dict[str, Any] = {"type": type(codec).__name__}
    for key, value in dict(codec.params()).items():
        value = _jsonable(value)
        if value is not None:
            out[key] = value
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    if isinstance(value, (tuple, list)):
        items = [_jsonable(v) for v in value]
        return None if any(v is None for v in items) else items
    return None


__all__ = ["DEPTH_MEAN", "DEPTH_RANGE_M", "DEPTH_STD", "MMPOSE_MEAN", "MMPOSE_STD", "ModelInfo", "codec_params"]
