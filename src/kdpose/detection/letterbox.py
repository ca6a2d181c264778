"""Letterbox pre-processing shared by the built-in detector and the official RTMDet / YOLOX ONNX files.

The image is resized with its aspect ratio kept so that it fits the network input, placed at the top-left corner
(the convention of YOLOX's ``preproc``, rtmlib and MMDetection's ``Pad``: boxes map back by one division, no
offset) and the rest is filled with ``pad_value`` (114 grey for every model here). Normalisation and channel order
are per model family (:class:`Preprocess`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Preprocess:
    """How a detector family wants its input.

    Attributes:
        input_size: (w, h) of the network input.
        rgb: convert the BGR image to RGB before normalising.
        mean, std: per-channel normalisation in the order fed to the network; None = raw 0..255 floats.
        pad_value: letterbox fill (in the image's own 0..255 space, before normalisation).
    """

    input_size: tuple[int, int]
    rgb: bool = False
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    pad_value: int = PAD_VALUE


def letterbox(image: np.ndarray, input_size: tuple[int, int], pad_value: int = PAD_VALUE) -> tuple[np.ndarray, float]:
    """Fit ``image`` (H, W, 3) uint8 into an (h, w, 3) canvas, top-left aligned.

    Returns:
        the canvas (h, w, 3) uint8 and the ratio r (input pixels per image pixel): image point p -> p * r.
    """
    w, h = input_size
    ih, iw = image.shape[:2]
    ratio = min(w / iw, h / ih)
    # floor and bilinear, as YOLOX / rtmlib do, so official models see the pixels they were validated with
    nw, nh = max(1, min(w, int(iw * ratio))), max(1, min(h, int(ih * ratio)))
    canvas = np.full((h, w, 3), pad_value, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (iw, ih) else image
    return canvas, ratio


def to_input(canvases: list[np.ndarray], pre: Preprocess) -> np.ndarray:
    """Letterboxed BGR canvases -> (B, 3, h, w) float32 network input (channel swap + normalisation)."""
    x = np.stack(canvases).astype(np.float32)  # (B, h, w, 3)
    if pre.rgb:
        x = x[..., ::-1]
    if pre.mean is not None:
        x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def prepare_batch(images: list[np.ndarray], pre: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """BGR images -> ((B, 3, h, w) float32 input, (B,) ratios)."""
    boxed = [letterbox(im, pre.input_size, pre.pad_value) for im in images]
    return to_input([b[0] for b in boxed], pre), np.asarray([b[1] for b in boxed], np.float64)


def boxes_to_image(boxes: np.ndarray, ratio: float, image_size: tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy input-pixel boxes -> image pixels, clipped to the image (w, h)."""
    out = np.asarray(boxes, np.float32).reshape(-1, 4) / np.float32(ratio)
    w, h = image_size
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out
