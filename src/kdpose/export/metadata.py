"""The metadata kdpose writes into every exported ONNX file (``ModelProto.metadata_props``).

It makes the file self-describing: a runner never has to match the file against a preset (rtmlib's weakness:
input size, mean/std and split ratio passed separately from the weights they belong to). Values are strings;
lists and dicts are JSON. This module imports neither torch nor onnx, so the onnxruntime path stays light.

Keys (all prefixed ``kdpose.``; the model's facts, from ``model`` to ``codec`` and ``task`` / ``kwargs``, are
:class:`kdpose.model_info.ModelInfo`'s, written the same way into kdpose weights files):

==================  ===========================================================================
``version``         kdpose version that wrote the file
``model``           zoo name (e.g. ``rtmpose-t``) or the class name
``input_size``      ``[w, h]`` of the model input
``input_channels``  3 (images) or 1 (depth)
``channel_order``   channel order the ONNX input expects: ``RGB`` (images arrive BGR from OpenCV and
                    are converted, then normalised: the MMPose convention)
``mean`` / ``std``  per-channel normalisation applied before the model, in ``channel_order``
``skeleton``        keypoint layout name (``coco``, ``coco_wholebody``, ...)
``num_keypoints``   K
``codec``           JSON: ``{"type": class name, <its parameters: split ratio, sigma, stride ...>}``
``task``            ``topdown``, ``bottomup`` or ``detection``
``kwargs``          JSON: zoo-factory arguments that rebuild the network (pose machines: ``width``, ...)
``output_type``     the head output NamedTuple's class name (e.g. ``SimCCOutput``)
``output_fields``   JSON list: NamedTuple field for each ONNX output, in order
``precision``       ``fp32``, ``fp16`` (float32 inputs/outputs kept), ``bf16``, ``int8`` (static QDQ,
                    calibrated) or ``int8-dynamic`` (``kdpose.inference.precision``; files of older kdpose
                    versions say ``int8-static`` for static int8). Runners refuse precisions they cannot execute
``calibration``     int8 files: the crops the activation ranges were calibrated on
``weights``         where the exported weights came from: a pretrained tag, a weights file's name or a URL
                    (absent: random initialisation, or an export through the API without ``weights=``)
==================  ===========================================================================
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..model_info import MMPOSE_MEAN, MMPOSE_STD, PREFIX, ModelInfo


def require_onnx_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path once it names an existing file; a folder is named as one (not "no such file": the path
    exists, it is the wrong kind of thing)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a directory, not an ONNX file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    return path


@dataclass
class ExportMetadata:
    """Everything a runtime needs to feed an exported model and decode its outputs."""

    input_size: tuple[int, int]                     # (w, h)
    output_names: list[str]                         # ONNX output names, in order
    input_name: str = "input"
    input_channels: int = 3
    channel_order: str = "RGB"
    mean: tuple[float, ...] = MMPOSE_MEAN
    std: tuple[float, ...] = MMPOSE_STD
    skeleton: str | None = None
    num_keypoints: int | None = None
    codec: dict[str, Any] = field(default_factory=dict)
    output_type: str | None = None
    output_fields: list[str] = field(default_factory=list)
    model: str | None = None
    version: str | None = None
    precision: str = "fp32"                         # "fp32" | "fp16" | "bf16" | "int8" (static) | "int8-dynamic"
    source: str = "kdpose"                          # "kdpose" | "inferred" (foreign file, settings from shapes)
    task: str | None = None                         # the model's task (None: a foreign file)
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None                      # provenance: pretrained tag, weights file name or URL

    @classmethod
    def from_model_info(cls, info: ModelInfo, output_names: list[str], **export_facts: Any) -> "ExportMetadata":
        """The metadata of an export of the network ``info`` describes (``export_facts``: output type / fields,
        number of keypoints, version, precision)."""
        return cls(input_size=info.input_size, output_names=list(output_names), input_channels=info.in_channels,
                   channel_order=info.channel_order, mean=tuple(info.mean), std=tuple(info.std), skeleton=info.layout,
                   codec=dict(info.codec), model=info.name, task=info.task, kwargs=dict(info.kwargs), **export_facts)

    def model_info(self) -> ModelInfo:
        """The :class:`ModelInfo` of the exported network (a foreign file: what the shapes tell)."""
        return ModelInfo(name=self.model or "", task=self.task or "topdown", layout=self.skeleton,
                         input_size=self.input_size, in_channels=self.input_channels, channel_order=self.channel_order,
                         mean=tuple(self.mean), std=tuple(self.std), codec=dict(self.codec), kwargs=dict(self.kwargs))

    def to_props(self) -> dict[str, str]:
        """Flatten to ``metadata_props`` strings (JSON for non-strings)."""
        props: dict[str, str] = {}
        for key, value in asdict(self).items():
            if key in ("output_names", "input_name", "source") or value is None:
                continue  # names live in the graph itself; source is a reader-side notion
            props[PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], input_name: str, output_names: list[str]) -> "ExportMetadata | None":
        """Parse ``metadata_props``; None when the file carries no kdpose metadata (a foreign ONNX file).

        Raises:
            ValueError: a kdpose key holds a value that cannot be parsed (the caller adds the file name).
        """
        ours = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
        if "input_size" not in ours:
            return None
        text_keys = {"channel_order", "skeleton", "output_type", "model", "version", "precision", "task", "weights"}
        parsed: dict[str, Any] = {}
        for key, value in ours.items():
            if key not in cls.__dataclass_fields__:
                continue  # written by a newer kdpose: ignore rather than refuse to run
            try:
                parsed[key] = value if key in text_keys else json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"metadata key '{PREFIX}{key}' is not valid JSON ({value!r})") from exc
        for key in ("input_size", "mean", "std"):
            if key in parsed:
                parsed[key] = tuple(parsed[key])
        return cls(input_name=input_name, output_names=list(output_names), **parsed)

    @property
    def split_ratio(self) -> float | None:
        """SimCC bins per input pixel, when the codec has one."""
        for key in ("simcc_split_ratio", "split_ratio"):
            if key in self.codec:
                return float(self.codec[key])
        return None
