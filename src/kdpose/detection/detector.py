"""``PersonDetector``: images in, person boxes out -- the detector callable of the top-down pipeline.

>>> det = PersonDetector("kdpose-det-tiny", weights="det-tiny.safetensors")   # doctest: +SKIP
>>> boxes, scores = det(bgr_image)           # (N, 4) xyxy image pixels, (N,) -- best first
>>> per_image = det([img1, img2])            # one (boxes, scores) pair per image, one batched forward
>>> det = PersonDetector("rtmdet-nano.onnx")  # an official RTMDet / YOLOX ONNX file (rtmlib / MMDeploy)
>>> det = PersonDetector("kdpose-det-tiny.synth-standard_320")  # a shipped tag (once trained, docs/detector.md)

It follows the detector contract of :class:`kdpose.PoseEstimator` (``detector=det``) and backs
``kdpose infer --det NAME|FILE.onnx|FILE.safetensors``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..checks import check_input_size, check_number
from ..errors import CheckpointError, ConfigError, DataError
from .postprocess import PostprocessCfg

from .registry import BUILTIN_NAMES, shipped_detector_tags, unknown_detector_message



def default_weights_path(name: str) -> Path:
    """Where a named built-in detector's weights are looked for: ``$KDPOSE_CACHE/detectors/<name>.safetensors``."""
    from ..models._download import cache_dir

    return cache_dir() / "detectors" / f"{name}.safetensors"


def create_detector_model(name: str = "kdpose-det-tiny", input_size: tuple[int, int] = (416, 416)):
    """A fresh (untrained) built-in model by name (``kdpose-det-nano`` / ``kdpose-det-tiny``, or ``nano`` /
    ``tiny``)."""
    from ..models.person_detector import PersonDetectorModel

    size = name.removeprefix("kdpose-det-")
    return PersonDetectorModel(size, tuple(input_size))


def load_detector_model(weights: str | os.PathLike, name: str | None = None,
                        input_size: tuple[int, int] | None = None):
    """The built-in model with trained ``weights`` (``.safetensors`` written by kdpose training); the size and input
    size are read from the file's model facts (``kdpose.model_info``) unless given."""
    from ..models import load_weights
    from ..models.weights import read_model_info, read_weights_metadata

    path = Path(weights)
    if path.is_dir():  # not "no such file": the path exists, it is the wrong kind of thing
        raise CheckpointError(f"{path}: a directory, not a weights file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    info = None
    if path.suffix == ".safetensors":
        try:
            read_weights_metadata(path)
        except Exception as exc:  # safetensors raises its own error types for non-safetensors bytes
            raise CheckpointError(f"{path}: not a readable .safetensors file ({type(exc).__name__})") from None
        info = read_model_info(path)
    name = name or (info.name if info is not None else None)
    if not name or name.removeprefix("kdpose-det-") not in ("nano", "tiny"):
        raise CheckpointError(f"{path}: not a kdpose detector weights file (model {name!r}); pass name=")
    if input_size is None and info is not None:
        input_size = info.input_size
    model = create_detector_model(name, input_size or (416, 416))
    load_weights(model, path)
    return model.eval()


def _load_image(image: Any, rgb: bool = False) -> np.ndarray:
    """A path or array -> (H, W, 3) uint8 BGR, with the pose pipeline's errors (``DataError`` naming the file)."""
    from ..data.image import read_image, to_bgr_uint8

    if isinstance(image, (str, os.PathLike)):
        return read_image(image, mode="color")
    return to_bgr_uint8(image, rgb=rgb)


class PersonDetector:
    """A person detector: the built-in model or an ONNX file.

    Args:
        model: ``"kdpose-det-nano"`` / ``"kdpose-det-tiny"`` (with ``weights``, or weights found at
            :func:`default_weights_path`), the tag of a shipped trained one (``kdpose-det-tiny.synth-standard_320``:
            :func:`~kdpose.detection.registry.shipped_detector_tags`), a ``.safetensors`` weights file of a built-in
            model, an ``.onnx`` file (a kdpose export, or an official RTMDet / YOLOX person detector), or a
            ``PersonDetectorModel``.
        weights: weights for a named built-in model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        score_thr: boxes below this score are dropped.
        iou_thr: NMS IoU threshold (built-in and raw-YOLOX outputs; end2end files have NMS in the graph).
        max_det: at most this many boxes per image.
        input_size: (w, h) network input of a built-in model (320x320, 416x416, 640x640 ...; multiple of 32), or of
            an ONNX file with a symbolic input size.
        family: ``"rtmdet"`` / ``"yolox"`` pre-processing of an official ONNX file (default: from its name).
        threads: CPU threads (PyTorch: None = half the CPUs, 1 to 4, unless ``OMP_NUM_THREADS`` is set, as
            the pose model's; onnxruntime: None = its default).
    """

    def __init__(self, model: Any = "kdpose-det-tiny", weights: str | os.PathLike | None = None,
                 device: str = "cpu", score_thr: float = 0.3, iou_thr: float = 0.6, max_det: int = 100,
                 input_size: tuple[int, int] | None = None, family: str | None = None, threads: int | None = None):
        # checked here: float() / int() below would fail with numpy's or Python's words, naming no argument
        check_number(score_thr, "PersonDetector", "score_thr")
        check_number(iou_thr, "PersonDetector", "iou_thr", low=0, high=1)
        check_number(max_det, "PersonDetector", "max_det", low=1, integer=True)
        if threads is not None:
            check_number(threads, "PersonDetector", "threads", low=1, integer=True)
        if input_size is not None:
            input_size = check_input_size(input_size, "PersonDetector")
        post = PostprocessCfg(score_thr=float(score_thr), iou_thr=float(iou_thr), max_det=int(max_det))
        if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx"):
            from .runners import OnnxDetector

            self.backend: Any = OnnxDetector(model, device=device, threads=threads, family=family,
                                             input_size=input_size, post=post)
            return
        from .runners import TorchDetector

        if isinstance(model, (str, os.PathLike)):
            text = str(model)
            if text.lower().endswith((".safetensors", ".pth", ".pt")):
                net = load_detector_model(text, input_size=input_size)
            elif text in shipped_detector_tags():
                from ..models import PRETRAINED

                cfg = PRETRAINED[text]
                net = load_detector_model(cfg.location, name=cfg.model, input_size=input_size or cfg.input_size)
            elif text in BUILTIN_NAMES or text in ("nano", "tiny"):
                name = text if text.startswith("kdpose-det-") else f"kdpose-det-{text}"
                path = Path(weights) if weights else default_weights_path(name)
                if path.is_dir():
                    raise CheckpointError(f"{path}: a directory, not a weights file")
                if not path.is_file():
                    raise CheckpointError(
                        f"{path}: no trained weights for '{name}' (kdpose ships none: train one with "
                        f"'kdpose train configs/detector_{name.removeprefix('kdpose-det-')}.yaml' and pass "
                        "weights=..., or use an .onnx detector)")
                net = load_detector_model(path, name=name, input_size=input_size)
            elif Path(text).is_dir():  # checked after the names, so a folder called "tiny" does not hide one
                raise CheckpointError(f"{text}: a directory, not a detector file (.onnx or .safetensors)")
            else:
                raise ConfigError(unknown_detector_message(text))
        else:
            from ..models.person_detector import PersonDetectorModel

            net = model
            if not isinstance(net, PersonDetectorModel):
                raise ConfigError(f"model must be a PersonDetectorModel, a name or a file, got {type(model).__name__}")
        self.backend = TorchDetector(net, device=device, post=post, threads=threads)

    @property
    def input_size(self) -> tuple[int, int]:
        """(w, h) of the network input."""
        return self.backend.input_size

    def predict(self, images: Sequence[Any], rgb: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """Several images (paths or arrays) in one batched forward -> one (boxes, scores) pair per image."""
        loaded = [_load_image(im, rgb) for im in images]
        if not loaded:
            return []
        return self.backend.predict(loaded)

    def __call__(self, image: Any, rgb: bool = False):
        """One image (path or (H, W, 3) array, BGR unless ``rgb``) -> (boxes (N, 4) float32 xyxy, scores (N,));
        a list of images -> a list of such pairs."""
        if isinstance(image, (list, tuple)):
            return self.predict(image, rgb)
        if isinstance(image, np.ndarray) and image.ndim == 4:
            raise DataError(f"image: expected (H, W, 3), got a 4-d array {image.shape}; pass a list of images")
        return self.predict([image], rgb)[0]

    def __repr__(self) -> str:
        return f"PersonDetector({type(self.backend).__name__}, input_size={self.input_size})"

