"""Detector backends: each maps a list of BGR images to per-image ``(boxes (N, 4) xyxy image px, scores (N,))``.

* :class:`TorchDetector` -- the built-in model in PyTorch.
* :class:`OnnxDetector` -- an ``.onnx`` file through :class:`kdpose.export.runtime.OrtRunner`:
  a kdpose export of the built-in model (recognised by its metadata), or an official RTMDet / YOLOX person
  detector as rtmlib / MMDeploy users have it:

  ===========  ====================================  ===================================================
  layout       outputs                               post-processing
  ===========  ====================================  ===================================================
  end2end      ``dets`` (B, N, 5), ``labels`` (B, N)   NMS already in the graph: threshold, keep label 0
  raw YOLOX    one output (B, A, 5 + C)              grid decode (strides 8/16/32) + score + torch NMS
  ===========  ====================================  ===================================================

  Pre-processing (``FAMILIES``): letterbox top-left with pad 114 for both; YOLOX feeds raw BGR 0..255 floats,
  RTMDet normalises BGR with mean (103.53, 116.28, 123.675) / std (57.375, 57.12, 58.395) (MMDetection's
  RTMDet data preprocessor, ``bgr_to_rgb=False``). Raw grids are always YOLOX; for end2end files the family is
  taken from the file name (``yolox`` in it -> YOLOX, else RTMDet) unless given.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError
from ..utils.threads import inference_threads, torch_threads
from .letterbox import Preprocess, boxes_to_image, prepare_batch
from .postprocess import PostprocessCfg, decode_builtin, decode_dets, decode_yolox_raw

FAMILIES = ("rtmdet", "yolox")
RTMDET_BGR_MEAN = (103.53, 116.28, 123.675)
RTMDET_BGR_STD = (57.375, 57.12, 58.395)


def family_preprocess(family: str, input_size: tuple[int, int]) -> Preprocess:
    """Pre-processing of an official detector family for an input (w, h)."""
    if family == "yolox":
        return Preprocess(tuple(input_size), rgb=False, mean=None, std=None)
    if family == "rtmdet":
        return Preprocess(tuple(input_size), rgb=False, mean=RTMDET_BGR_MEAN, std=RTMDET_BGR_STD)
    raise ConfigError(f"unknown detector family '{family}' (valid: {', '.join(FAMILIES)})")


def _to_image_space(results, ratios: np.ndarray, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for (boxes, scores), ratio, image in zip(results, ratios, images):
        boxes = boxes.numpy() if isinstance(boxes, torch.Tensor) else boxes
        scores = scores.numpy() if isinstance(scores, torch.Tensor) else scores
        out.append((boxes_to_image(boxes, ratio, (image.shape[1], image.shape[0])), np.asarray(scores, np.float32)))
    return out


class TorchDetector:
    """The built-in :class:`~kdpose.models.person_detector.PersonDetectorModel` run in PyTorch (eval mode, no grad).

    ``threads``: CPU threads of each call, the pose model's rule (:func:`kdpose.utils.threads.inference_threads`:
    None = half the CPUs, 1 to 4, unless ``OMP_NUM_THREADS`` is set): on every core it ran 60x slower on a busy
    2-core machine (50 s a frame against 0.84 s on one thread)."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu", post: PostprocessCfg | None = None,
                 threads: int | None = None):
        from .data import builtin_preprocess

        self.model = model.to(device).eval()
        self.device = device
        self.threads = inference_threads(threads) if str(device) == "cpu" else None
        self.pre = builtin_preprocess(model.input_size)
        self.post = post or PostprocessCfg()

    @property
    def input_size(self) -> tuple[int, int]:
        return self.pre.input_size

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        x, ratios = prepare_batch(list(images), self.pre)
        with torch_threads(self.threads):
            out = self.model(torch.from_numpy(x).to(self.device))
            results = decode_builtin(out.cls_logits, out.box_deltas, self.model.codec, self.post)
        return _to_image_space([(b.cpu(), s.cpu()) for b, s in results], ratios, images)


class OnnxDetector:
    """A detector ``.onnx`` file run with onnxruntime (see the module docstring for the supported files).

    Args:
        path: the file.
        device, threads: onnxruntime settings (``OrtRunner``).
        family: ``"rtmdet"`` / ``"yolox"`` pre-processing for official files (default: from the file name).
        input_size: (w, h) for files with a symbolic input size.
        post: score / NMS thresholds (the end2end files only use ``score_thr``: their NMS is in the graph).
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 family: str | None = None, input_size: tuple[int, int] | None = None,
                 post: PostprocessCfg | None = None):
        from ..export.runtime import OrtRunner

        self.path = Path(path)
        self.runner = OrtRunner(self.path, device=device, threads=threads, input_size=input_size)
        self.post = post or PostprocessCfg()
        meta = self.runner.meta
        names = self.runner.output_names
        size = tuple(int(v) for v in meta.input_size)
        if meta.source == "kdpose":
            if meta.output_type != "DetOutput":
                raise CheckpointError(f"{self.path}: a kdpose {meta.output_type or 'model'} file, not a detector")
            from .boxes import PointBoxCoder

            self.layout = "builtin"
            self.coder = PointBoxCoder(size, tuple(meta.codec.get("strides", (8, 16, 32))))
            self.pre = Preprocess(size, rgb=meta.channel_order == "RGB", mean=tuple(meta.mean), std=tuple(meta.std))
            return
        if "dets" in names and "labels" in names:
            self.layout = "end2end"
            family = family or ("yolox" if "yolox" in self.path.name.lower() else "rtmdet")
        elif len(names) == 1:
            self.layout = "yolox_raw"
            if family not in (None, "yolox"):
                raise ConfigError(f"{self.path}: a raw grid output is a YOLOX layout, not {family}")
            family = "yolox"
        else:
            raise CheckpointError(f"{self.path}: not a detector layout kdpose knows (outputs {names}; expected "
                                  "'dets' + 'labels' (MMDeploy end2end) or one raw YOLOX (1, A, 5 + C) output)")
        self.family = family
        self.pre = family_preprocess(family, size)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.pre.input_size

    def decode(self, outputs: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Raw outputs of one run -> per image (boxes (N, 4), scores (N,)) in *input* pixels."""
        with torch_threads(1):  # tiny post-processing: waking torch's whole pool after onnxruntime costs more
            if self.layout == "builtin":
                logits, deltas = (torch.from_numpy(np.asarray(outputs[n])) for n in self.runner.output_names[:2])
                return [(b.numpy(), s.numpy()) for b, s in decode_builtin(logits, deltas, self.coder, self.post)]
            if self.layout == "end2end":
                return decode_dets(outputs["dets"], outputs["labels"], self.post.score_thr)
            (raw,) = outputs.values()
            return decode_yolox_raw(raw, self.input_size, self.post)

    def predict(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        x, ratios = prepare_batch(list(images), self.pre)
        return _to_image_space(self.decode(self.runner.run(x)), ratios, images)
