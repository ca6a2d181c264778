"""Pose-model backends behind one small interface: PyTorch (a ``PoseModel``) or onnxruntime (an ``.onnx`` file).

Both take a normalised (B, C, H, W) float32 batch of crops and return decoded keypoints in crop pixels and their
scores. The torch backend decodes with the model's codec (``kdpose.codecs``); the ONNX backend decodes in numpy
(``kdpose.inference.decoding``, equal to the codecs, tested), so running an .onnx file never needs torch.
``score_mode="rtmlib"`` gives SimCC keypoint scores as rtmlib computes them (the mean of the x and y maxima)
instead of MMPose's lower of the two.
"""
from __future__ import annotations

import copy
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from kdpose.checks import check_input_size, check_number
from kdpose.errors import ConfigError, MissingExtraError
from kdpose.inference.precision import PrecisionModel, check_onnx_request, resolve_precision
from kdpose.skeletons import Skeleton, get_skeleton
from kdpose.utils.threads import inference_threads, torch_threads

log = logging.getLogger("kdpose")


class PoseBackend(Protocol):
    """What the pipeline needs from a model."""

    input_size: tuple[int, int]  # (w, h)
    skeleton: Skeleton
    codec: Any
    channel_order: str  # "RGB": BGR images are converted before normalisation
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: str

    def predict(self, inputs: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(B, C, H, W) float32 -> keypoints (B, K, 2) in crop pixels, scores (B, K)."""


def _decode(codec: Any, output: Any) -> tuple[np.ndarray, np.ndarray]:
    kpts, scores = codec.decode(output)
    return kpts.detach().float().cpu().numpy(), scores.detach().float().cpu().numpy()


def resolve_torch_device(device: str) -> str:
    """The torch device to use; warns loudly (log + RuntimeWarning) when CUDA is asked for but absent."""
    import torch

    kind = device.lower().partition(":")[0] if isinstance(device, str) else None
    if kind not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device '{device}' (use cpu, cuda, cuda:N or mps)")
    try:  # 'cuda:x' ran on the CPU with the no-CUDA warning, and was a RuntimeError traceback where CUDA is
        index = torch.device(device).index
    except RuntimeError:
        raise ConfigError(f"unknown device '{device}' (use cpu, cuda, cuda:N or mps)") from None
    if kind == "cuda" and torch.cuda.is_available() and index is not None and index >= torch.cuda.device_count():
        raise ConfigError(f"{device}: no such CUDA device (torch sees {torch.cuda.device_count()}: cuda:0 to "
                          f"cuda:{torch.cuda.device_count() - 1})")
    if kind == "cuda" and not torch.cuda.is_available():
        msg = (f"kdpose: {device} was requested but torch sees no CUDA device (CPU-only torch build or no driver); "
               "running on the CPU, which is much slower")
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return "cpu"
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        warnings.warn(f"kdpose: {device} was requested but MPS is not available; running on the CPU",
                      RuntimeWarning, stacklevel=3)
        return "cpu"
    return device


class TorchBackend:
    """A ``PoseModel`` (``forward -> head output``, ``.codec``, ``.skeleton``) run with torch.

    ``threads``: CPU threads of the forward pass (set around each call, then restored, so torch's global setting
    is left as the caller had it); None = :func:`kdpose.utils.threads.default_threads`, unless ``OMP_NUM_THREADS``
    is set, which is then obeyed as torch obeys it.

    ``precision``: ``fp32`` (None), ``bf16`` (CPUs with AMX / AVX512-BF16, recent GPUs), ``fp16`` (CUDA) or
    ``auto``: the fastest of these whose accuracy guard (``kdpose.inference.guard``, on rendered synthetic people)
    passes; on a CPU without native bf16 ``auto`` is fp32 (bf16 is emulated there, slower than fp32). Outputs are
    decoded in fp32 whatever the precision (``kdpose.inference.precision``)."""

    channel_order = "RGB"

    def __init__(self, model: Any, device: str = "cpu", threads: int | None = None, score_mode: str = "mmpose",
                 precision: str | None = None):
        from kdpose.inference.decoding import check_score_mode, decoder_from_params

        if model.info.task != "topdown":
            raise ConfigError(f"{model.info.name}: a {model.info.task} model; PoseEstimator runs top-down pose models "
                              "(bottom-up pose machines: kdpose.BottomUpEstimator)")
        if threads is not None:
            check_number(threads, "PoseEstimator", "threads", low=1, integer=True)
        self.threads = inference_threads(threads)
        self.device = resolve_torch_device(device)
        self.model = model.eval().to(self.device)
        self.codec = model.codec
        self.skeleton = model.skeleton
        self.input_size = tuple(int(v) for v in self.codec.input_size)
        # what the network was trained on: its channel order and normalisation
        self.channel_order = model.info.channel_order
        self.mean, self.std = tuple(model.info.mean), tuple(model.info.std)
        self.score_mode = check_score_mode(score_mode)
        # MMPose's scores: the codec's own decode; rtmlib's: the numpy decoder with that score rule
        self.decoder = None if score_mode == "mmpose" else decoder_from_params(self.codec.params(), self.input_size,
                                                                               score_mode)
        self.net = self.model
        self._guarded: dict[str, Any] = {}  # precision -> its network, built while ``auto`` ran the guard
        self.precision, self.precision_reason = resolve_precision(precision, self.device, guard=self._guard)
        self.net = self._guarded.get(self.precision) or (
            self.model if self.precision == "fp32" else PrecisionModel(self.model, self.precision))
        self._guarded = {}

    def with_precision(self, precision: str) -> "TorchBackend":
        """The same model and settings run in another precision (a shallow copy sharing the fp32 model)."""
        other = copy.copy(self)
        other.precision, other.precision_reason = precision, "requested"
        other.net = self.model if precision == "fp32" else PrecisionModel(self.model, precision)
        return other

    def _guard(self, precision: str) -> bool:
        """``auto``: does ``precision`` pass the accuracy guard against fp32 on rendered synthetic people?"""
        from kdpose.inference.guard import AUTO_GUARD_IMAGES, accuracy_guard, synthetic_val_set

        try:
            val = synthetic_val_set(self.skeleton.name, num_images=AUTO_GUARD_IMAGES)
        except ConfigError as exc:  # a layout the generator cannot render
            log.info("kdpose: precision auto: no accuracy guard for %s (%s): fp32", self.skeleton.name, exc)
            return False
        variant = self.with_precision(precision)
        self._guarded[precision] = variant.net
        report = accuracy_guard(self.with_precision("fp32"), variant, val, precision)
        log.info("kdpose: precision auto: %s", report.line())
        return report.passed

    def _forward(self, x):
        return self.net(x)

    def predict(self, inputs: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from kdpose.inference.flip import flip_test

        threads = self.threads if self.device == "cpu" else None
        with torch.inference_mode(), torch_threads(threads):
            x = torch.from_numpy(np.ascontiguousarray(inputs, np.float32)).to(self.device)
            if flip:
                out = flip_test(self._forward, x, self.codec, self.skeleton.flip_indices)
            else:
                out = self._forward(x)
            if self.decoder is not None:
                return self.decoder.decode(tuple(t.detach().float().cpu().numpy() for t in out))
            return _decode(self.codec, out)


# codec "type" in the export metadata -> (module, codec class, head-output NamedTuple)
_CODECS = {"simcc": ("kdpose.codecs.simcc", "SimCCCodec", "SimCCOutput"),
           "heatmap": ("kdpose.codecs.heatmap", "HeatmapCodec", "HeatmapOutput"),
           "regression": ("kdpose.codecs.regression", "RegressionCodec", "RegressionOutput")}


def codec_from_metadata(params: dict, input_size: tuple[int, int], path: str = "") -> tuple[Any, type]:
    """Rebuild the codec an ONNX file was exported with (its ``params()`` are the constructor arguments) and
    return it with its head-output type."""
    import importlib

    kind = str(params.get("type", "")).lower().removesuffix("codec")
    if kind not in _CODECS:
        raise ConfigError(f"{path}: codec {params!r} cannot be decoded by the inference pipeline "
                          f"(known: {', '.join(_CODECS)})")
    module, codec_name, output_name = _CODECS[kind]
    mod = importlib.import_module(module)
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k != "type"}
    kwargs.setdefault("input_size", tuple(input_size))
    if kind == "simcc" and "simcc_split_ratio" in kwargs:  # the name MMPose uses
        kwargs["split_ratio"] = kwargs.pop("simcc_split_ratio")
    try:
        codec = getattr(mod, codec_name)(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{path}: codec parameters {params!r} do not fit {codec_name} ({exc})") from None
    return codec, getattr(mod, output_name)


class OnnxBackend:
    """An ``.onnx`` pose model run with onnxruntime through :class:`kdpose.export.runtime.OrtRunner`; the outputs are
    decoded (and flip-averaged) in numpy, so this path does not import torch.

    Files exported by kdpose describe themselves (metadata: input size, mean/std, channel order, layout, codec).
    Official RTMPose/DWPose files (input ``input`` 1x3xHxW, outputs ``simcc_x``/``simcc_y``) carry no layout, so
    ``layout`` must be given (e.g. ``"coco"`` or ``"coco_wholebody"``); they are fed RGB input normalised with
    MMPose's mean/std, the convention they were trained with.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", layout: str | None = None,
                 threads: int | None = None, score_mode: str = "mmpose", precision: str | None = None,
                 input_size: tuple[int, int] | None = None):
        import importlib.util

        from kdpose.inference.decoding import decoder_from_params

        if importlib.util.find_spec("onnxruntime") is None:
            raise MissingExtraError(f"{path}: running an .onnx model needs the optional package 'onnxruntime', which "
                                    "is not installed: pip install \"kdpose[onnx]\"")
        from kdpose.export.runtime import OrtRunner

        self.runner = OrtRunner(path, device=device, threads=threads, skeleton=layout, input_size=input_size)
        self.precision = self.runner.precision  # the file's (metadata); refused at load when not runnable here
        check_onnx_request(precision, self.precision, path)
        meta = self.runner.meta
        self.path = Path(path)
        self.device = device
        self.input_size = tuple(int(v) for v in meta.input_size)
        if meta.task not in (None, "topdown"):
            raise ConfigError(f"{path}: a {meta.task} model; PoseEstimator runs top-down pose models (bottom-up pose "
                              "machines: kdpose.BottomUpEstimator)")
        if meta.skeleton is None:
            raise ConfigError(f"{path}: the file names no keypoint layout; pass layout= (e.g. 'coco' for "
                              "RTMPose body models, 'coco_wholebody' for DWPose)")
        self.skeleton = get_skeleton(meta.skeleton)
        if meta.num_keypoints is not None and meta.num_keypoints != self.skeleton.num_keypoints:
            raise ConfigError(f"{path}: the model predicts {meta.num_keypoints} keypoints but layout "
                              f"'{self.skeleton.name}' has {self.skeleton.num_keypoints}")
        if meta.input_channels != 3:
            raise ConfigError(f"{path}: takes {meta.input_channels}-channel input; the image pipeline needs 3")
        self.channel_order = meta.channel_order.upper()
        self.mean, self.std = tuple(meta.mean), tuple(meta.std)
        self.score_mode = score_mode
        self.decoder = decoder_from_params(meta.codec, self.input_size, score_mode, str(path))
        self._codec_params = meta.codec

    @property
    def provider(self) -> str:
        return self.runner.provider

    @property
    def codec(self) -> Any:
        """The torch codec the file was exported with (imports torch; inference itself uses ``decoder``)."""
        return codec_from_metadata(self._codec_params, self.input_size, str(self.path))[0]

    def _forward(self, x: np.ndarray) -> tuple:
        return tuple(self.runner(x)[: len(self.decoder.fields)])

    def predict(self, inputs: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        from kdpose.inference.decoding import flip_average

        x = np.ascontiguousarray(inputs, np.float32)
        out = flip_average(self._forward, x, self.decoder, self.skeleton.flip_indices) if flip else self._forward(x)
        return self.decoder.decode(out)


def load_backend(model: Any, weights: str | None = None, backend: str = "torch", device: str = "cpu",
                 layout: str | None = None, threads: int | None = None,
                 input_size: Sequence[int] | None = None, score_mode: str = "mmpose",
                 precision: str | None = None) -> PoseBackend:
    """Build a backend from a zoo name, an ``.onnx`` path or a ``PoseModel`` instance (``score_mode``: see
    :mod:`kdpose.inference.decoding`; ``precision``: see :class:`TorchBackend`; an ``.onnx`` file runs in its own
    precision, so for one ``precision`` must be None, ``auto`` or the file's)."""
    if not isinstance(model, (str, os.PathLike)):
        if not hasattr(model, "info"):  # TorchBackend would fail with "'int' object has no attribute 'info'"
            raise TypeError(f"PoseEstimator: model must be a zoo name, a pretrained tag, an .onnx path or a "
                            f"PoseModel, got {type(model).__name__} {model!r}")
        if backend != "torch":
            raise ConfigError("a PoseModel instance runs with backend='torch'; export it to ONNX for onnxruntime")
        if weights is not None:
            raise ConfigError("weights= is for zoo names; load them into the PoseModel instance instead")
        return TorchBackend(model, device, threads=threads, score_mode=score_mode, precision=precision)
    if str(model).lower().endswith(".onnx"):
        if backend not in ("onnxruntime", "onnx", "torch"):
            raise ConfigError(f"unknown backend '{backend}' (use torch or onnxruntime)")
        if weights is not None:
            raise ConfigError(f"{model}: an .onnx file carries its own weights; weights={weights} would be ignored "
                              "(export the model with those weights instead: kdpose export)")
        # an .onnx file always runs with onnxruntime, whatever the default backend says; input_size is what a
        # foreign file with a symbolic input size needs (the runner checks it against a file that states one)
        size = None if input_size is None else check_input_size(input_size, "PoseEstimator")
        return OnnxBackend(model, device=device, layout=layout, threads=threads, score_mode=score_mode,
                           precision=precision, input_size=size)
    if backend not in ("torch", "onnxruntime", "onnx"):
        raise ConfigError(f"unknown backend '{backend}' (use torch or onnxruntime)")
    if backend != "torch":
        raise ConfigError(f"backend '{backend}' needs an .onnx file: export '{model}' with 'kdpose export' first")
    from kdpose.models import load_model

    # layout / input size not given here: load_model takes them from the weights file's model facts
    kwargs: dict = {}
    if layout is not None:
        kwargs["layout"] = layout
    if input_size is not None:
        kwargs["input_size"] = check_input_size(input_size, "PoseEstimator")
    from kdpose.models import MODELS
    from kdpose.models.pretrained import backbone_only_message

    why = backbone_only_message(str(model), weights)
    if why is not None:  # it used to load, head random, and print junk poses with every score 0 and no warning
        raise ConfigError(why)
    if weights is None and str(model) in MODELS:  # (an unknown name is load_model's error, with no warning first)
        msg = (f"kdpose: no weights given for '{model}': the model has random weights and its poses are "
               "meaningless (pass weights=... or a pretrained tag)")
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    return TorchBackend(load_model(str(model), weights=weights, **kwargs), device, threads=threads,
                        score_mode=score_mode, precision=precision)
