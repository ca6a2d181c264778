"""Numpy decoding of pose-head outputs for inference: SimCC, heatmap and regression codecs, flip-back included.

The ONNX path (``pip install "kdpose[onnx]"``) runs onnxruntime, which returns numpy arrays; these functions turn
them into keypoints without importing torch. They follow the torch codecs in ``kdpose.codecs`` exactly (the
training code's decode; ``tests/inference/test_numpy_decoding.py`` checks that both give the same numbers) and are
built from the codec's ``params()``, which exported files carry in their metadata.

Keypoint scores of SimCC models (``score_mode``):

- ``"mmpose"`` (default): ``min(max_x, max_y)`` of the raw x / y logits, as MMPose's ``get_simcc_maximum``.
- ``"rtmlib"``: ``(max_x + max_y) / 2``, as rtmlib's ``get_simcc_maximum`` (since December 2023, e.g. rtmlib
  0.0.16). It is never below the MMPose score, so a threshold tuned on rtmlib's scores keeps fewer points on
  MMPose's scores.

In both, a keypoint whose score is <= 0 is marked invalid at ``-1 / split_ratio``. Heatmap and regression models
have one score convention (the heatmap maximum, the head's confidence), so ``score_mode`` applies to SimCC only.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from kdpose.errors import ConfigError
from kdpose.utils.gaussian import opencv_gaussian_kernel

SCORE_MODES = ("mmpose", "rtmlib")
Outputs = tuple  # the head's outputs as numpy arrays, in the order of the decoder's ``fields``


def check_score_mode(score_mode: str) -> str:
    if score_mode not in SCORE_MODES:
        raise ConfigError(f"score_mode must be one of {', '.join(SCORE_MODES)}, got {score_mode!r}")
    return score_mode


# ---------------------------------------------------------------------------------------------------- SimCC
def _correlate_rows(rows: np.ndarray, kernel: np.ndarray, pad_mode: str) -> np.ndarray:
    """Each row of ``rows`` (M, W) correlated with the odd ``kernel``, borders padded by ``pad_mode``."""
    r = len(kernel) // 2
    padded = np.pad(rows, ((0, 0), (r, r)), mode=pad_mode)
    out = np.zeros_like(rows)
    for i, k in enumerate(kernel.astype(rows.dtype)):
        out += k * padded[:, i:i + rows.shape[1]]
    return out


def refine_simcc_dark(logits: np.ndarray, idx: np.ndarray, sigma: float) -> np.ndarray:
    """DARK sub-bin refinement of 1-D SimCC logits (B, K, W) at their arg-max bins ``idx`` (B, K) -> (B, K) bins.

    Blur with a zero-padded Gaussian rescaled to the original maximum, clip to [1e-3, 50], take the log, and step
    by ``-d1 / d2`` (central differences) from the arg-max."""
    b, k, w = logits.shape
    size = int((20 * sigma - 7) // 3)
    size -= 1 - size % 2
    rows = logits.reshape(b * k, w)
    blurred = _correlate_rows(rows, opencv_gaussian_kernel(size), "constant")
    blurred = blurred * (rows.max(-1, keepdims=True) / blurred.max(-1, keepdims=True))
    logd = np.pad(np.log(np.clip(blurred, 1e-3, 50.0)), ((0, 0), (2, 2)), mode="edge").reshape(b, k, w + 4)
    p = idx[..., None] + 2
    d = [np.take_along_axis(logd, p + s, -1)[..., 0] for s in (-2, -1, 0, 1, 2)]
    dx = 0.5 * (d[3] - d[1])
    dxx = 1e-9 + 0.25 * (d[4] - 2 * d[2] + d[0])
    return idx.astype(logits.dtype) - dx / dxx


class SimCCDecoder:
    """SimCC logits ``(x (B, K, Wx), y (B, K, Wy))`` -> keypoints (B, K, 2) in crop pixels, scores (B, K)."""

    fields = ("x", "y")

    def __init__(self, split_ratio: float = 2.0, sigma: Sequence[float] = (4.9, 5.66), use_dark: bool = False,
                 score_mode: str = "mmpose"):
        self.split_ratio = float(split_ratio)
        self.sigma = (float(sigma[0]), float(sigma[1]))
        self.use_dark = bool(use_dark)
        self.score_mode = check_score_mode(score_mode)

    def decode(self, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
        x, y = (np.asarray(o, np.float32) for o in outputs[:2])
        idx_x, idx_y = x.argmax(-1), y.argmax(-1)
        max_x = np.take_along_axis(x, idx_x[..., None], -1)[..., 0]
        max_y = np.take_along_axis(y, idx_y[..., None], -1)[..., 0]
        scores = np.minimum(max_x, max_y) if self.score_mode == "mmpose" else 0.5 * (max_x + max_y)
        if self.use_dark:
            locs = np.stack([refine_simcc_dark(x, idx_x, self.sigma[0]),
                             refine_simcc_dark(y, idx_y, self.sigma[1])], -1)
        else:
            locs = np.stack([idx_x, idx_y], -1).astype(np.float32)
        keypoints = locs / np.float32(self.split_ratio)
        keypoints[scores <= 0] = -1.0 / self.split_ratio   # MMPose / rtmlib: bin -1, then / split_ratio
        return keypoints.astype(np.float32), scores.astype(np.float32)

    def unflip(self, outputs: Outputs, flip_indices: Sequence[int]) -> Outputs:
        """Outputs of a mirrored crop -> the original frame: swap left/right channels, reverse the x bins."""
        index = np.asarray(flip_indices, np.int64)
        return outputs[0][:, index, ::-1], outputs[1][:, index]


# ---------------------------------------------------------------------------------------------------- heatmaps
def _gather(maps: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    b, k, h, w = maps.shape
    flat = (np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)).reshape(b, k, 1)
    return np.take_along_axis(maps.reshape(b, k, h * w), flat, -1)[..., 0]


def _blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """MMPose's DARK smoothing: ``cv2.GaussianBlur(hm, (kernel, kernel), 0)`` of each map padded with zeros,
    rescaled to the map's peak (``kdpose.codecs.heatmap.gaussian_blur``)."""
    g = opencv_gaussian_kernel(kernel)
    b, k, h, w = heatmaps.shape
    rows = _correlate_rows(heatmaps.reshape(-1, w), g, "constant").reshape(b, k, h, w)
    cols = _correlate_rows(rows.transpose(0, 1, 3, 2).reshape(-1, h), g, "constant")
    blurred = cols.reshape(b, k, w, h).transpose(0, 1, 3, 2)
    peak = heatmaps.max(axis=(-2, -1), keepdims=True)
    return blurred * peak / np.maximum(blurred.max(axis=(-2, -1), keepdims=True), 1e-12)


class HeatmapDecoder:
    """Heatmaps (B, K, Hh, Wh) -> keypoints (B, K, 2) in crop pixels and scores (B, K) (the heatmap maxima)."""

    fields = ("heatmaps",)

    def __init__(self, input_size: Sequence[int], heatmap_size: Sequence[int] | None = None,
                 encoding: str = "unbiased", decoding: str = "dark", blur_kernel: int = 11,
                 flip_shift: bool | None = None, **_unused: Any):
        (iw, ih) = (int(input_size[0]), int(input_size[1]))
        hw, hh = (iw // 4, ih // 4) if heatmap_size is None else (int(heatmap_size[0]), int(heatmap_size[1]))
        self.stride = ((iw - 1) / (hw - 1), (ih - 1) / (hh - 1)) if encoding == "udp" else (iw / hw, ih / hh)
        self.decoding = decoding
        self.udp = encoding == "udp"
        self.blur_kernel = int(blur_kernel)
        self.flip_shift = (encoding != "udp") if flip_shift is None else bool(flip_shift)

    def decode(self, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
        heatmaps = np.asarray(outputs[0], np.float32)
        b, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(b, k, h * w)
        idx = flat.argmax(-1)
        scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
        coords = np.stack([idx % w, idx // w], -1).astype(np.float32)
        valid = scores > 0
        coords[~valid] = -1.0
        xi, yi = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
        if self.decoding == "dark":
            offset = self._dark_offset(heatmaps, xi, yi)
        else:   # MMPose's refine_keypoints: a quarter pixel towards the higher neighbour, away from the border
            dx = _gather(heatmaps, xi + 1, yi) - _gather(heatmaps, xi - 1, yi)
            dy = _gather(heatmaps, xi, yi + 1) - _gather(heatmaps, xi, yi - 1)
            use_x = (xi > 1) & (xi < w - 1) & (yi > 0) & (yi < h)
            use_y = (yi > 1) & (yi < h - 1) & (xi > 0) & (xi < w)
            offset = 0.25 * np.stack([np.sign(dx) * use_x, np.sign(dy) * use_y], -1)
        coords = np.where(valid[..., None], coords + offset.astype(np.float32), coords)
        return (coords * np.asarray(self.stride, np.float32)).astype(np.float32), scores.astype(np.float32)

    def _dark_offset(self, heatmaps: np.ndarray, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
        """DARK's Newton step at the integer peaks (B, K, 2), as ``kdpose.codecs.heatmap.refine_dark``: MMPose's
        ``refine_keypoints_dark`` (2-px stencil, border peaks left alone) or, for UDP, ``refine_keypoints_dark_udp``."""
        h, w = heatmaps.shape[-2:]
        blurred = _blur(heatmaps, self.blur_kernel)
        smooth = np.log(np.clip(blurred, 1e-3, 50.0) if self.udp else np.maximum(blurred, 1e-10))
        pad = 1 if self.udp else 2
        smooth = np.pad(smooth, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
        x, y = np.maximum(x0, 0) + pad, np.maximum(y0, 0) + pad

        def at(dx: int, dy: int) -> np.ndarray:
            return _gather(smooth, x + dx, y + dy)

        c = at(0, 0)
        gx, gy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
        if self.udp:
            eps = np.finfo(np.float32).eps
            hxx, hyy = at(1, 0) - 2 * c + at(-1, 0) + eps, at(0, 1) - 2 * c + at(0, -1) + eps
            hxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * c - at(-1, 0) - at(0, -1) + at(-1, -1))
            usable = np.ones(c.shape, bool)
        else:
            hxx, hyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0)), 0.25 * (at(0, 2) - 2 * c + at(0, -2))
            hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
            usable = (x0 > 1) & (x0 < w - 2) & (y0 > 1) & (y0 < h - 2)
        det = hxx * hyy - hxy * hxy
        ok = usable & (det != 0)
        safe = np.where(ok, det, 1.0)
        return np.stack([-(hyy * gx - hxy * gy) / safe, -(-hxy * gx + hxx * gy) / safe], -1) * ok[..., None]

    def unflip(self, outputs: Outputs, flip_indices: Sequence[int]) -> Outputs:
        """Swap left/right channels, mirror x and (MMPose ``shift_heatmap``) shift one pixel right."""
        flipped = outputs[0][:, np.asarray(flip_indices, np.int64), :, ::-1]
        if self.flip_shift:
            flipped = np.concatenate([flipped[..., :1], flipped[..., :-1]], -1)
        return (flipped,)


# ---------------------------------------------------------------------------------------------------- regression
class RegressionDecoder:
    """``(coords (B, K, 2) normalised, scores (B, K), sigma (B, K, 2))`` -> keypoints in crop pixels, scores."""

    fields = ("coords", "scores", "sigma")

    def __init__(self, input_size: Sequence[int], use_confidence: bool = True, flip_shift: bool = True,
                 **_unused: Any):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_confidence = bool(use_confidence)
        self.flip_shift = bool(flip_shift)

    def decode(self, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
        coords = np.asarray(outputs[0], np.float32)
        keypoints = coords * np.asarray(self.input_size, np.float32)
        scores = np.asarray(outputs[1], np.float32) if self.use_confidence else np.ones(coords.shape[:2], np.float32)
        return keypoints.astype(np.float32), scores.astype(np.float32)

    def unflip(self, outputs: Outputs, flip_indices: Sequence[int]) -> Outputs:
        index = np.asarray(flip_indices, np.int64)
        coords = outputs[0][:, index].copy()
        coords[..., 0] = 1.0 - (1.0 / self.input_size[0] if self.flip_shift else 0.0) - coords[..., 0]
        return coords, outputs[1][:, index], outputs[2][:, index]


# ---------------------------------------------------------------------------------------------------- building
def decoder_from_params(params: dict, input_size: Sequence[int], score_mode: str = "mmpose", path: str = ""):
    """The numpy decoder of a codec described by its ``params()`` (as exported files carry them).

    Raises:
        ConfigError: an unknown codec type, or ``score_mode="rtmlib"`` for a codec without SimCC scores.
    """
    check_score_mode(score_mode)
    kind = str(params.get("type", "")).lower().removesuffix("codec")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k != "type"}
    kwargs.setdefault("input_size", tuple(input_size))
    where = f"{path}: " if path else ""
    if kind != "simcc" and score_mode != "mmpose":
        raise ConfigError(f"{where}score_mode={score_mode!r} is rtmlib's SimCC score rule; this model's codec is "
                          f"'{kind}', whose scores have one convention (use score_mode='mmpose')")
    if kind == "simcc":
        ratio = kwargs.get("split_ratio", kwargs.get("simcc_split_ratio", 2.0))
        w, h = kwargs["input_size"]
        # RTMPose's sigma rule (kdpose.codecs.simcc.default_sigma); only DARK refinement uses it
        sigma = kwargs.get("sigma") or tuple(round((round(n * ratio) / 16) ** 0.5, 2) for n in (w, h))
        if isinstance(sigma, (int, float)):
            sigma = (float(sigma), float(sigma))
        return SimCCDecoder(ratio, sigma, bool(kwargs.get("use_dark", False)), score_mode)
    if kind == "heatmap":
        return HeatmapDecoder(**kwargs)
    if kind == "regression":
        return RegressionDecoder(**kwargs)
    raise ConfigError(f"{where}codec {params!r} cannot be decoded by the inference pipeline "
                      "(known: simcc, heatmap, regression)")


def flip_average(run: Callable[[np.ndarray], Outputs], inputs: np.ndarray, decoder: Any,
                 flip_indices: Sequence[int]) -> Outputs:
    """Flip test in numpy (``kdpose.inference.flip.flip_test`` without torch): one forward of the crops and their
    mirrors (2B), the mirrored half mapped back with ``decoder.unflip``, then both halves averaged."""
    b = inputs.shape[0]
    both = run(np.ascontiguousarray(np.concatenate([inputs, inputs[..., ::-1]], 0)))
    n = len(decoder.fields)
    out, back = tuple(o[:b] for o in both[:n]), decoder.unflip(tuple(o[b:] for o in both[:n]), flip_indices)
    return tuple((a + c) * np.float32(0.5) for a, c in zip(out, back))
