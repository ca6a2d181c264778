"""``OrtRunner``: the one onnxruntime session wrapper of kdpose (inference, export parity, bench all use it).

It chooses the execution provider (CPU by default; CUDA / TensorRT when asked for and present) and says loudly
when the GPU was asked for but the session runs on the CPU -- the most common onnxruntime trap (onnxruntime and
onnxruntime-gpu installed side by side, missing cuDNN, wrong CUDA wheel). It reads kdpose's metadata from the
file, and also accepts the official RTMPose / DWPose ONNX files (MMDeploy ``end2end.onnx``: input ``input``,
outputs ``simcc_x`` / ``simcc_y``, no metadata), whose settings it infers from the tensor shapes when they are
static and otherwise asks the caller for.

No torch import here: inference from ONNX needs only numpy and onnxruntime.
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import Sequence

import numpy as np

from ..checks import check_path
from ..errors import CheckpointError, ConfigError, DataError
from .precision import check_runnable, file_precision
from .metadata import MMPOSE_MEAN, MMPOSE_STD, ExportMetadata, require_onnx_file

log = logging.getLogger("kdpose")

_GPU_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def resolve_providers(device: str, available: Sequence[str]) -> list:
    """onnxruntime provider list for ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``tensorrt``, ``tensorrt:N``),
    restricted to the ``available`` ones and always ending with the CPU provider as the fallback."""
    kind, _, index = device.lower().partition(":")
    if kind not in ("cpu", *_GPU_PROVIDERS):
        raise ConfigError(f"unknown device '{device}' (use cpu, cuda, cuda:N, tensorrt or tensorrt:N)")
    if index and not index.isdecimal():
        raise ConfigError(f"bad device index in '{device}' (expected e.g. cuda:0)")
    options = {"device_id": int(index)} if index else {}
    wanted: list = []
    if kind == "tensorrt":
        wanted.append(("TensorrtExecutionProvider", options))
    if kind in ("cuda", "tensorrt"):
        wanted.append(("CUDAExecutionProvider", options))
    providers = [p for p in wanted if p[0] in available]
    return [*providers, "CPUExecutionProvider"]


class OrtRunner:
    """An onnxruntime session for one pose-model file.

    Args:
        path: the ``.onnx`` file (kdpose export or an official RTMPose/DWPose file).
        device: ``cpu`` (default), ``cuda[:N]`` or ``tensorrt[:N]``.
        threads: intra-op threads (None: onnxruntime's default, one per physical core).
        input_size: (w, h); needed only for foreign files whose input size is symbolic; checked against the file.
        split_ratio: SimCC bins per pixel for foreign files whose output length is symbolic.
        mean, std: override the normalisation (foreign files default to MMPose's, which every RTMPose uses).
        skeleton: layout name; foreign files carry none (kdpose never guesses the layout from K).

    Attributes:
        meta: ``ExportMetadata`` (``meta.source`` is ``"kdpose"`` or ``"inferred"``).
        providers: the providers the session really uses, best first.
        input_name, output_names: graph I/O names.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        device: str = "cpu",
        threads: int | None = None,
        input_size: tuple[int, int] | None = None,
        split_ratio: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        skeleton: str | None = None,
    ):
        import onnxruntime as ort

        check_path(path, "OrtRunner")
        self.path = require_onnx_file(path)
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: onnxruntime's own warnings are noise for users
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        providers = resolve_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # onnxruntime raises InvalidProtobuf / Fail / NoSuchFile (pybind types)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = CheckpointError(f"{self.path}: onnxruntime cannot load it ({first[:200]})")
            if "bfloat16" in first:  # a bf16 graph: no bf16 kernels here (and no bf16 Conv before opset 22)
                try:
                    check_runnable("bf16", providers[0] if isinstance(providers[0], str) else providers[0][0],
                                   self.path)
                except CheckpointError as exc_bf16:
                    error = exc_bf16
            raise error from None
        self.device = device
        self.threads = threads
        self.providers: list[str] = list(self.session.get_providers())
        self._warn_if_fallback(device, ort.get_available_providers())

        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise CheckpointError(f"{self.path}: expected one input (an image batch), found {len(inputs)}")
        self.input_name: str = inputs[0].name
        self.input_shape: list = list(inputs[0].shape)  # ints for static dims, str/None for symbolic ones
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]
        if len(self.input_shape) != 4:
            raise CheckpointError(f"{self.path}: expected a 4-d (B, C, H, W) input, got shape {self.input_shape}")

        props = dict(self.session.get_modelmeta().custom_metadata_map)
        try:
            meta = ExportMetadata.from_props(props, self.input_name, self.output_names)
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        if meta is None:
            meta = self._infer_foreign(input_size, split_ratio)
        elif input_size is not None and tuple(input_size) != tuple(meta.input_size):
            raise ConfigError(f"{self.path}: input size {input_size[0]}x{input_size[1]} was given but the file "
                              f"was exported for {meta.input_size[0]}x{meta.input_size[1]} (w x h)")
        if mean is not None:
            meta.mean = tuple(float(v) for v in mean)
        if std is not None:
            meta.std = tuple(float(v) for v in std)
        if skeleton is not None and meta.source == "kdpose" and meta.skeleton and skeleton != meta.skeleton:
            # the file was trained for its layout: another one's flip pairs and names would mislabel every point
            raise ConfigError(f"{self.path}: the file is for layout {meta.skeleton!r}, not {skeleton!r} (--layout / "
                              "layout= is for foreign files, which do not name theirs)")
        if skeleton is not None:
            meta.skeleton = skeleton
        self.meta: ExportMetadata = meta
        self.precision: str = file_precision(meta.precision)  # fp32, fp16, bf16, int8, int8-dynamic
        check_runnable(self.precision, self.provider, self.path)

    # ------------------------------------------------------------------ setup helpers
    def _warn_if_fallback(self, device: str, available: Sequence[str]) -> None:
        kind = device.lower().partition(":")[0]
        wanted = _GPU_PROVIDERS.get(kind)
        if wanted is None or self.providers[0] != "CPUExecutionProvider":
            return
        msg = (f"kdpose: {device} was requested but onnxruntime runs {self.path.name} on the CPU "
               f"(available providers: {', '.join(available)}). Install the onnxruntime-gpu wheel that matches your "
               "CUDA/cuDNN, and uninstall the plain 'onnxruntime' wheel (both side by side hide the GPU build).")
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)

    def _infer_foreign(self, input_size: tuple[int, int] | None, split_ratio: float | None) -> ExportMetadata:
        """Settings for a file without kdpose metadata, from its static shapes (or the caller's values)."""
        _, channels, h, w = self.input_shape
        if isinstance(h, int) and isinstance(w, int):
            if input_size is not None and tuple(input_size) != (w, h):
                raise ConfigError(f"{self.path}: input size {input_size[0]}x{input_size[1]} was given but the "
                                  f"file takes {w}x{h} (w x h)")
            input_size = (w, h)
        elif input_size is None:
            raise ConfigError(f"{self.path}: has no kdpose metadata and a symbolic input size "
                              f"{self.input_shape}; pass input_size=(w, h)")
        channels = channels if isinstance(channels, int) else 3
        codec: dict = {}
        if self.output_names[:2] == ["simcc_x", "simcc_y"]:
            outs = self.session.get_outputs()
            bins_x, bins_y = outs[0].shape[-1], outs[1].shape[-1]
            if split_ratio is None:
                if not (isinstance(bins_x, int) and isinstance(bins_y, int)):
                    raise ConfigError(f"{self.path}: SimCC output length is symbolic; pass split_ratio "
                                      "(2.0 for every published RTMPose/DWPose model)")
                rx, ry = bins_x / input_size[0], bins_y / input_size[1]
                if abs(rx - ry) > 1e-6:
                    raise ConfigError(f"{self.path}: SimCC bins {bins_x}/{bins_y} give different split ratios for "
                                      f"x ({rx:g}) and y ({ry:g}); pass split_ratio")
                split_ratio = rx
            codec = {"type": "simcc", "input_size": list(input_size), "split_ratio": float(split_ratio)}
        num_kpts = self.session.get_outputs()[0].shape[1] if len(self.session.get_outputs()[0].shape) > 1 else None
        return ExportMetadata(
            input_size=tuple(int(v) for v in input_size),
            output_names=list(self.output_names),
            input_name=self.input_name,
            input_channels=channels,
            channel_order="RGB" if channels == 3 else "D",
            # every RTMPose/DWPose/MMPose model is trained with these statistics on RGB input
            mean=MMPOSE_MEAN if channels == 3 else (0.0,),
            std=MMPOSE_STD if channels == 3 else (1.0,),
            num_keypoints=num_kpts if isinstance(num_kpts, int) else None,
            codec=codec,
            output_type="SimCCOutput" if codec else None,
            output_fields=["x", "y"] if codec else list(self.output_names),
            source="inferred",
        )

    # ------------------------------------------------------------------ running
    @property
    def provider(self) -> str:
        """The provider that runs the model (first in the session's list)."""
        return self.providers[0]

    @property
    def static_batch(self) -> int | None:
        """The file's fixed batch size, or None for a dynamic batch axis."""
        b = self.input_shape[0]
        return b if isinstance(b, int) else None

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            raise DataError(f"{self.path}: input must be (B, C, H, W), got shape {tuple(x.shape)}")
        want = [d if isinstance(d, int) else None for d in self.input_shape[1:]]
        if want[1] is None:  # symbolic H/W: the metadata still says what the model was built for
            want[1], want[2] = self.meta.input_size[1], self.meta.input_size[0]
        if want[0] is None:
            want[0] = self.meta.input_channels
        if list(x.shape[1:]) != want:
            raise DataError(f"{self.path}: input shape {tuple(x.shape)} does not match the model's "
                            f"(B, {want[0]}, {want[1]}, {want[2]}) (input size {want[2]}x{want[1]}, w x h)")
        return np.ascontiguousarray(x, dtype=np.float32)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run on a normalised (B, C, H, W) float batch; returns ``{output name: (B, ...) array}``.

        Files with a fixed batch (e.g. the official batch-1 RTMPose files) are run chunk by chunk, the last chunk
        zero-padded, so callers can always pass any B.
        """
        x = self._check_input(np.asarray(x))
        fixed = self.static_batch
        if fixed is None or x.shape[0] == fixed:
            return dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: x})))
        chunks = []
        for start in range(0, x.shape[0], fixed):
            part = x[start:start + fixed]
            n = len(part)
            if n < fixed:
                part = np.concatenate([part, np.zeros((fixed - n, *part.shape[1:]), np.float32)])
            outs = self.session.run(self.output_names, {self.input_name: part})
            chunks.append([o[:n] for o in outs])
        return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(self.output_names)}

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Outputs as a tuple in graph order (e.g. ``simcc_x, simcc_y``)."""
        out = self.run(x)
        return tuple(out[n] for n in self.output_names)

    def __repr__(self) -> str:
        return (f"OrtRunner({str(self.path)!r}, provider={self.provider}, threads={self.threads}, "
                f"input_size={self.meta.input_size}, outputs={self.output_names})")
