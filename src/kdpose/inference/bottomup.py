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
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..checks import check_input_size, check_number
from ..errors import ConfigError, DataError

# the median of a depth image's measured pixels (mm) outside this range means another unit (TUM: 5000 per metre;
# centimetres): the model then finds nobody, and says nothing, so the caller is warned. People whole in view of a
# depth camera put the median at 1-10 m (the models' range is 0-8 m; centimetres of a 4 m room read 0.4 "m")
MM_PLAUSIBLE = (1000.0, 10000.0)


def depth_unit_problem(depth: np.ndarray) -> str | None:
    """Why ``depth`` ((H, W) uint16) looks like another unit than millimetres, or None: the median of its measured
    (non-zero) pixels lies outside 1-10 m."""
    measured = depth[depth > 0]
    if measured.size == 0:
        return None
    median = float(np.median(measured))
    if MM_PLAUSIBLE[0] <= median <= MM_PLAUSIBLE[1]:
        return None
    return (f"median depth {median:.0f}, not the 1000-10000 mm of people in a room: depth models take uint16 "
            "millimetres (convert TUM-style 5000-per-metre or centimetre images first)")

# detection thresholds (eta) of the depth paper's PR curves
DEFAULT_ETAS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6)


def prepare_image(image: np.ndarray, input_size: tuple[int, int], in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """One whole image -> (network input (C, h, w) float32, (2, 3) image -> input affine).

    ``in_channels`` 1: ``image`` is (H, W) uint16 depth in millimetres, warped nearest-neighbour and mapped from
    [0, 8] m to [-0.5, 0.5]; 3: (H, W, 3) uint8 BGR, warped bilinearly, RGB with MMPose's mean / std."""
    from ..data.bottomup import sample_affine
    from ..data.geometry import warp_image, warp_nearest
    from ..data.sample import normalize_depth, normalize_image

    image = np.asarray(image)
    if in_channels == 1:
        if image.ndim != 2 or image.dtype != np.uint16:
            raise DataError(f"a depth model takes (H, W) uint16 depth in millimetres, got {image.dtype} {image.shape}")
        problem = depth_unit_problem(image)
        if problem:
            warnings.warn(f"kdpose: {problem}", RuntimeWarning, stacklevel=2)
        matrix = sample_affine((image.shape[1], image.shape[0]), input_size, None)
        return normalize_depth(warp_nearest(image, matrix, input_size, border_value=0)), matrix
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"an image model takes (H, W, 3) uint8 BGR images, got {image.dtype} {image.shape}")
    matrix = sample_affine((image.shape[1], image.shape[0]), input_size, None)
    return normalize_image(warp_image(image, matrix, input_size)), matrix


def to_image_pixels(keypoints: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, K, 2) input pixels -> image pixels through the inverse of the (2, 3) letterbox ``matrix``."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    return (keypoints @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)


MAX_ASPECT = 16  # a whole image wider (or taller) than this is refused: its letterboxed input would be huge


def whole_image_size(image_shape: Sequence[int], height: int, stride: int = 8) -> tuple[int, int]:
    """The (w, h) network input a whole image is letterboxed to when none is given: the model's input height and the
    image's aspect ratio, the width rounded to a multiple of the stride (the depth paper's 488x368 for 640x480
    images at 368; 248x184 for 320x240 at 184)."""
    h, w = int(image_shape[0]), int(image_shape[1])
    return max(stride, int(round(height * w / h / stride)) * stride), int(height)


def predict_people(forward: Callable[[np.ndarray], Any], codec: Any, images: Sequence[np.ndarray],
                   input_size: tuple[int, int] | None, in_channels: int, thresholds: Sequence[float],
                   batch_size: int = 8) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
    """People in whole images, decoded at each detection threshold from one forward pass per batch.

    Args:
        forward: (B, C, h, w) float32 numpy batch -> ``PafOutput`` of float32 CPU tensors.
        codec: the model's ``PafCodec`` (peak NMS, PAF scoring, assembly).
        input_size: (w, h) every image is letterboxed to; None: :func:`whole_image_size` of each image at the
            codec's input height (images of one size share a forward pass).
        thresholds: the etas to decode at (the PR curve's; one value for plain inference).

    Returns:
        ({eta: [(keypoints (N, K, 2) image pixels, scores (N, K)) per image]}, the largest keypoint confidence
        of the last stage over all images: whether the network has left the all-background phase).
    """
    out: dict[float, list] = {float(eta): [None] * len(images) for eta in thresholds}
    peak = 0.0
    for start in range(0, len(images), batch_size):
        chunk = list(range(start, min(len(images), start + batch_size)))
        sizes = [tuple(input_size) if input_size is not None else
                 whole_image_size(np.shape(images[i]), codec.input_size[1], codec.stride) for i in chunk]
        for size in dict.fromkeys(sizes):  # one forward per input size, in order of appearance
            ids = [i for i, s in zip(chunk, sizes) if s == size]
            prepared = [prepare_image(images[i], size, in_channels) for i in ids]
            output = forward(np.stack([p[0] for p in prepared]))
            peak = max(peak, float(output.heatmaps[:, -1, : codec.num_keypoints].max()))
            # the image's own height inside the input (letterbox padding excluded): the limb-length prior's scale
            heights = [min(float(size[1]), float(np.sqrt(abs(np.linalg.det(m[:, :2])))) * np.shape(images[i])[0])
                       for i, (_, m) in zip(ids, prepared)]
            heights = [float(size[1]) if abs(h - size[1]) < 1e-3 else h for h in heights]
            for eta in out:
                decoded = codec.decode(output, peak_threshold=eta, content_heights=heights)
                for i, (_, matrix), people in zip(ids, prepared, decoded):
                    out[eta][i] = (to_image_pixels(people.keypoints, matrix), people.scores)
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
        input_size: (w, h) network input whole images are letterboxed to; default: the model's input height and each
            image's aspect ratio (:func:`whole_image_size`; an ONNX file's size is fixed at export).
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
        check_number(batch_size, "BottomUpEstimator", "batch_size", low=1, integer=True)
        if input_size is not None:  # a 0 side failed on the first image ("singular affine matrix")
            input_size = check_input_size(input_size, "BottomUpEstimator")
        if peak_threshold is not None:  # a confidence in [0, 1]: above it no peak survives, below it every pixel
            check_number(peak_threshold, "BottomUpEstimator", "peak_threshold", low=0, high=1)
        self.batch_size = int(batch_size)
        self._warned_sizes: set[tuple[int, int]] = set()  # image sizes warned of by scale_problem
        if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx"):
            self._init_onnx(Path(model), weights, device, input_size, threads)
        else:
            if backend not in ("torch", "onnxruntime", "onnx"):
                raise ConfigError(f"unknown backend '{backend}' (use torch or onnxruntime)")
            if backend != "torch":
                raise ConfigError(f"backend '{backend}' needs an .onnx file: export the model with 'kdpose export'")
            self._init_torch(model, weights, device, layout)
            self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None
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
        elif not hasattr(model, "codec"):  # the lines below would fail with "'int' object has no attribute 'codec'"
            raise TypeError(f"BottomUpEstimator: model must be a zoo name, a pretrained tag, an .onnx path or a "
                            f"bottom-up PoseModel, got {type(model).__name__} {model!r}")
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

    def predict(self, images: Sequence[np.ndarray | str | os.PathLike], thresholds: Sequence[float] | None = None
                ) -> tuple[dict[float, list[tuple[np.ndarray, np.ndarray]]], float]:
        """See :func:`predict_people` (``thresholds`` default: this estimator's ``peak_threshold``). Images are
        arrays or file paths (read as depth or colour, as the model takes); one array alone is one image."""
        etas = [self.peak_threshold] if thresholds is None else list(thresholds)
        if isinstance(images, (np.ndarray, str, os.PathLike)):  # a single array was iterated row by row
            images = [images]
        elif images is None:
            raise DataError("BottomUpEstimator: expected images (arrays or paths), got None")
        arrays = [self._image(image, i) for i, image in enumerate(images)]
        return predict_people(self.forward, self.codec, arrays, self.input_size, self.in_channels, etas,
                              self.batch_size)

    def _image(self, image: Any, index: int) -> np.ndarray:
        """``image`` as an array this estimator can letterbox, or a ``DataError`` naming it (these were IndexError,
        ZeroDivisionError and a process killed for memory: a 1x5000 image asked for a 920000-pixel-wide input)."""
        from ..data.image import read_image

        if isinstance(image, (str, os.PathLike)):
            image = read_image(image, "depth" if self.in_channels == 1 else "color")
        if not isinstance(image, np.ndarray):
            raise DataError(f"image {index}: expected a numpy array or a file path, got {type(image).__name__}")
        if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
            raise DataError(f"image {index}: empty or not an image (shape {image.shape})")
        h, w = image.shape[:2]
        if self.input_size is None and max(h, w) > MAX_ASPECT * min(h, w):
            raise DataError(f"image {index}: {w}x{h} pixels, an aspect ratio beyond {MAX_ASPECT}:1; the whole image "
                            "is letterboxed at the model's input height, so crop it first")
        problem = self.scale_problem(image.shape)
        if problem and (h, w) not in self._warned_sizes:
            self._warned_sizes.add((h, w))
            warnings.warn(f"kdpose: {problem}", RuntimeWarning, stacklevel=3)
        return image

    def scale_problem(self, image_shape: Sequence[int]) -> str | None:
        """Why images of ``image_shape`` run at a smaller scale than the model learnt, or None. The network was
        trained on crops of its input height (people at input height / image height); a fixed input of another
        aspect (a square ONNX export, a caller's ``input_size``) letterboxes by the tighter side, so people come out
        smaller and fewer are found (the shipped depth teacher on 320x240 scenes at 184x184: F 0.333 -> 0.290)."""
        if self.input_size is None:
            return None
        h, w = int(image_shape[0]), int(image_shape[1])
        trained = self.codec.input_size[1] / h
        used = min(self.input_size[0] / w, self.input_size[1] / h)
        if used >= 0.9 * trained:
            return None
        fit = whole_image_size((h, w), self.codec.input_size[1], self.codec.stride)
        return (f"{w}x{h} images are letterboxed into the fixed {self.input_size[0]}x{self.input_size[1]} input at "
                f"{used / trained:.2f} of the scale the model learnt (smaller people, fewer found): use input "
                f"{fit[0]}x{fit[1]} for them (kdpose export --input-size {fit[0]}x{fit[1]}, or the torch model)")

    def __call__(self, image: np.ndarray | Sequence[np.ndarray]):
        from .estimator import Person

        single = isinstance(image, (np.ndarray, str, os.PathLike))
        if image is None:
            raise DataError("BottomUpEstimator: expected an image (array or path) or a list of them, got None")
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


def people_to_results(image_id: int, people: Sequence) -> list[dict]:
    """COCO results-format entries (``image_id``, ``category_id`` 1, ``keypoints`` flat x, y, score, ``score``,
    ``bbox`` xywh) of one image's ``Person`` list (``kdpose eval --pred`` reads them)."""
    out = []
    for person in people:
        x0, y0, x1, y1 = (float(v) for v in person.bbox)
        flat = np.concatenate([person.keypoints, person.scores[:, None]], 1).reshape(-1)
        out.append({"image_id": int(image_id), "category_id": 1, "keypoints": [round(float(v), 3) for v in flat],
                    "score": round(float(person.score), 4), "bbox": [x0, y0, x1 - x0, y1 - y0]})
    return out


def depth_to_bgr(depth: np.ndarray, max_mm: float = 8000.0) -> np.ndarray:
    """(H, W) uint16 millimetres -> (H, W, 3) uint8 BGR for drawing: near is warm, far cold, invalid (0) black."""
    import cv2

    scaled = np.clip(depth.astype(np.float32) / max_mm, 0.0, 1.0)
    image = cv2.applyColorMap((255 * (1.0 - scaled)).astype(np.uint8), cv2.COLORMAP_JET)
    image[depth == 0] = 0
    return image


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


__all__ = ["BottomUpEstimator", "DEFAULT_ETAS", "depth_to_bgr", "paf_codec_from_metadata", "people_to_results",
           "predict_people", "prepare_image", "to_image_pixels", "torch_forward", "whole_image_size"]
