"""Bottom-up inference (depth pose machines): whole images in, every person out, with no detector.

>>> est = BottomUpEstimator("mpm-2s", weights="mpm-2s.synth-depth-demo_184x184")   # doctest: +SKIP
>>> people = est(depth_mm)            # (H, W) uint16 millimetres -> list of Person (keypoints in image pixels)

An image is letterboxed whole into the network input (height fits, as the depth paper's 444x368 inference; depth
warped nearest-neighbour so that invalid 0 pixels never blend into valid ones), the network predicts confidence maps
and part affinity fields, and the model's :class:`~kdpose.codecs.paf.PafCodec` assembles people, mapped back to
image pixels. The same code serves a ``PoseModel`` (torch) and an exported ``.onnx`` file (onnxruntime; the codec
is rebuilt from the file's metadata, and decoding runs in torch). The trainer's bottom-up evaluator, ``kdpose
infer`` / ``kdpose eval`` on depth images, the demo and the depth benchmarks all predict through
:func:`predict_people`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError, DataError

# detection thresholds (eta) of the depth paper's PR curves
DEFAULT_ETAS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6)


def prepare_image(image: np.ndarray, input_size: tuple[int, int], in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """One whole image -> (network input (C, h, w) float32, (2, 3) image -> input affine).

    ``in_channels`` 1: ``image`` is (H, W) uint16 depth in millimetres, warped nearest-neighbour and mapped from
    [0, 8] m to [-0.5, 0.5]; 3: (H, W, 3) uint8 BGR, warped bilinearly, RGB with MMPose's mean / std."""
    import cv2

    from ..data.bottomup import sample_affine
    from ..data.geometry import warp_image
    from ..data.sample import normalize_depth, normalize_image

    image = np.asarray(image)
    if in_channels == 1:
        if image.ndim != 2 or image.dtype != np.uint16:
            raise DataError(f"a depth model takes (H, W) uint16 depth in millimetres, got {image.dtype} {image.shape}")
        matrix = sample_affine((image.shape[1], image.shape[0]), input_size, None)
        return normalize_depth(warp_image(image, matrix, input_size, border_value=0,
                                          interpolation=cv2.INTER_NEAREST)), matrix
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"an image model takes (H, W, 3) uint8 BGR images, got {image.dtype} {image.shape}")
    matrix = sample_affine((image.shape[1], image.shape[0]), input_size, None)
    return normalize_image(warp_image(image, matrix, input_size)), matrix


def to_image_pixels(keypoints: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, K, 2) input pixels -> image pixels through the inverse of the (2, 3) letterbox ``matrix``."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    return (keypoints @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)


def predict_people(forward: Callable[[np.ndarray], Any], codec: Any, images: Sequence[np.ndarray],
                   input_size: tuple[int, int], in_channels: int, thresholds: Sequence[float],
                   batch_size: int = 8) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
    """People in whole images, decoded at each detection threshold from one forward pass per batch.

    Args:
        forward: (B, C, h, w) float32 numpy batch -> ``PafOutput`` of float32 CPU tensors.
        codec: the model's ``PafCodec`` (peak NMS, PAF scoring, assembly).
        thresholds: the etas to decode at (the PR curve's; one value for plain inference).

    Returns:
        ({eta: [(keypoints (N, K, 2) image pixels, scores (N, K)) per image]}, the largest keypoint confidence
        of the last stage over all images: whether the network has left the all-background phase).
    """
    out: dict[float, list] = {float(eta): [] for eta in thresholds}
    peak = 0.0
    for start in range(0, len(images), batch_size):
        prepared = [prepare_image(im, input_size, in_channels) for im in images[start:start + batch_size]]
        output = forward(np.stack([p[0] for p in prepared]))
        peak = max(peak, float(output.heatmaps[:, -1, : codec.num_keypoints].max()))
        for eta in out:
            for (_, matrix), people in zip(prepared, codec.decode(output, peak_threshold=eta)):
                out[eta].append((to_image_pixels(people.keypoints, matrix), people.scores))
    return out, peak


def torch_forward(model: Any, device: str = "cpu") -> Callable[[np.ndarray], Any]:
    """``forward`` of :func:`predict_people` for a torch pose machine (eval mode, no gradients, float32 outputs)."""
    import torch

    from ..codecs.paf import PafOutput

    model.eval().to(device)

    def forward(batch: np.ndarray) -> PafOutput:
        with torch.no_grad():
            output = model(torch.from_numpy(batch).to(device))
        return PafOutput(*(t.float().cpu() for t in output))

    return forward


class BottomUpEstimator:
    """Multi-person pose from whole images with a bottom-up model (depth pose machines), torch or onnxruntime.

    Args:
        model: a zoo name (``mpm-2s``, ...; with ``weights``), a ``PoseModel`` instance, or an exported ``.onnx``.
        weights: weights of a zoo name (file, URL or pretrained tag such as ``mpm-2s.synth-depth-demo_184x184``).
        backend: ``torch`` or ``onnxruntime`` (an ``.onnx`` file always runs with onnxruntime).
        device: ``cpu``, ``cuda``, ``cuda:N``.
        input_size: (w, h) network input whole images are letterboxed to; default the model's input size (an ONNX
            file's is fixed at export).
        peak_threshold: detection threshold eta of the confidence peaks; default the codec's.
        threads: onnxruntime intra-op threads.
        batch_size: images per forward pass.

    ``est(image)`` -> list of :class:`~kdpose.inference.estimator.Person` (``bbox`` = the extent of the found
    keypoints, ``score`` = ``bbox_score`` = the person score of the assembly: the sum of its keypoint scores); a list
    of images gives one list per image. ``est.predict(images, thresholds)`` gives the raw arrays at several etas.
    """

    def __init__(self, model: Any, weights: str | os.PathLike | None = None, backend: str = "torch",
                 device: str = "cpu", input_size: tuple[int, int] | None = None, peak_threshold: float | None = None,
                 threads: int | None = None, batch_size: int = 8, layout: str | None = None):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx"):
            self._init_onnx(Path(model), weights, device, input_size, threads)
        else:
            if backend not in ("torch", "onnxruntime", "onnx"):
                raise ConfigError(f"unknown backend '{backend}' (use torch or onnxruntime)")
            if backend != "torch":
                raise ConfigError(f"backend '{backend}' needs an .onnx file: export the model with 'kdpose export'")
            self._init_torch(model, weights, device, layout)
            self.input_size = tuple(int(v) for v in (input_size or self.codec.input_size))
        self.peak_threshold = float(self.codec.peak_threshold if peak_threshold is None else peak_threshold)

    def _init_torch(self, model: Any, weights: Any, device: str, layout: str | None) -> None:
        from ..models import load_model
        from ..models._registry import model_task
        from .backends import resolve_torch_device

        if isinstance(model, (str, os.PathLike)):
            name = str(model).split(".")[0] if "." in str(model) else str(model)
            if model_task(name) != "bottomup":
                raise ConfigError(f"{model}: a {model_task(name)} model; BottomUpEstimator runs bottom-up models "
                                  f"(pose machines: cpm, rpm, spm, mpm), PoseEstimator the top-down ones")
            model = load_model(str(model), weights=weights, layout=layout)
        elif weights is not None:
            raise ConfigError("weights= is for zoo names; load them into the model instance instead")
        self.device = resolve_torch_device(device)
        self.model = model
        self.codec, self.skeleton = model.codec, model.skeleton
        self.in_channels = int(model.info.in_channels)
        self.forward = torch_forward(model, self.device)
        self.backend = "torch"

    def _init_onnx(self, path: Path, weights: Any, device: str, input_size: tuple[int, int] | None,
                   threads: int | None) -> None:
        from ..export.runtime import OrtRunner
        from ..skeletons import get_skeleton

        if weights is not None:
            raise ConfigError(f"{path}: an .onnx file carries its own weights; weights={weights} would be ignored")
        runner = OrtRunner(path, device=device, threads=threads)
        meta = runner.meta
        if meta.output_type != "PafOutput":
            raise ConfigError(f"{path}: not a bottom-up model (outputs {meta.output_type}); use PoseEstimator")
        if input_size is not None and tuple(input_size) != tuple(meta.input_size):
            raise ConfigError(f"{path}: exported for {meta.input_size[0]}x{meta.input_size[1]} input (w x h); export "
                              f"it again at {input_size[0]}x{input_size[1]}")
        self.codec = paf_codec_from_metadata(meta.codec, str(path))
        self.skeleton = get_skeleton(meta.skeleton)
        self.in_channels = int(meta.input_channels)
        self.input_size = tuple(int(v) for v in meta.input_size)
        self.device, self.backend, self.runner = device, "onnxruntime", runner

        def forward(batch: np.ndarray):
            import torch

            from ..codecs.paf import PafOutput

            outputs = runner.run(batch)
            return PafOutput(*(torch.from_numpy(outputs[name]) for name in ("heatmaps", "pafs")))

        self.forward = forward

    def predict(self, images: Sequence[np.ndarray], thresholds: Sequence[float] | None = None
                ) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
        """See :func:`predict_people` (``thresholds`` default: this estimator's ``peak_threshold``)."""
        etas = [self.peak_threshold] if thresholds is None else list(thresholds)
        return predict_people(self.forward, self.codec, list(images), self.input_size, self.in_channels, etas,
                              self.batch_size)

    def __call__(self, image: np.ndarray | Sequence[np.ndarray]):
        from .estimator import Person

        single = isinstance(image, np.ndarray)
        images = [image] if single else list(image)
        people, _ = self.predict(images)
        out = []
        for keypoints, scores in people[self.peak_threshold]:
            persons = []
            for kpts, s in zip(keypoints, scores):
                found = s > 0
                xy = kpts[found] if found.any() else kpts
                bbox = np.array([*xy.min(0), *xy.max(0)], np.float32)
                total = float(s.sum())
                persons.append(Person(bbox=bbox, bbox_score=total, keypoints=kpts, scores=s, score=total))
            out.append(persons)
        return out[0] if single else out


def paf_codec_from_metadata(params: dict, path: str = "") -> Any:
    """The ``PafCodec`` an exported pose machine was built with (its ``params()`` are the constructor arguments)."""
    from ..codecs.paf import PafCodec

    if str(params.get("type", "")).lower() not in ("paf", "pafcodec"):
        raise ConfigError(f"{path}: codec {params.get('type')!r} is not a PAF codec")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k != "type"}
    kwargs["limbs"] = [tuple(limb) for limb in kwargs.get("limbs", ())]
    try:
        return PafCodec(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{path}: codec parameters do not fit PafCodec ({exc})") from None


__all__ = ["BottomUpEstimator", "DEFAULT_ETAS", "paf_codec_from_metadata", "predict_people", "prepare_image",
           "to_image_pixels", "torch_forward"]
