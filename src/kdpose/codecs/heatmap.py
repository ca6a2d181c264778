"""Gaussian heatmap codec (MSRA / unbiased / UDP encoding; argmax, DARK decoding; flip-back with shift).

References: Xiao et al., "Simple Baselines" (MSRA heatmaps); Zhang et al., "Distribution-Aware Coordinate
Representation" (DARK, https://arxiv.org/abs/1910.06278); Huang et al., "The Devil is in the Details" (UDP,
https://arxiv.org/abs/1911.07524). Numbers follow MMPose 0.x conventions (``TopDownGenerateTarget`` in
``mmpose/datasets/pipelines/top_down_transform.py``, ``keypoints_from_heatmaps`` in
``mmpose/core/evaluation/top_down_eval.py``; see docs/distilpose.md, "Codecs"), which MMPose 1.x keeps
(``generate_*_gaussian_heatmaps``, ``refine_keypoints``, ``refine_keypoints_dark[_udp]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from kdpose.utils.gaussian import opencv_gaussian_kernel


class HeatmapOutput(NamedTuple):
    """Head output of heatmap models: ``heatmaps`` (B, K, Hh, Wh)."""

    heatmaps: torch.Tensor


@dataclass
class HeatmapTarget:
    """Per-sample heatmap target (numpy in the data pipeline, batched tensors after collation).

    Attributes:
        heatmaps: (K, Hh, Wh) float32 target Gaussians (peak 1).
        weight: (K,) float32 per-keypoint weight (0 = not labelled or Gaussian fully outside the map).
    """

    heatmaps: np.ndarray
    weight: np.ndarray


_ENCODINGS = ("msra", "unbiased", "udp")
_DECODINGS = ("argmax", "dark")


class HeatmapCodec:
    """Keypoints in input-crop pixels <-> Gaussian heatmaps.

    Args:
        input_size: (w, h) of the model input.
        heatmap_size: (w, h) of the heatmaps (default: input / 4).
        sigma: Gaussian standard deviation in heatmap pixels.
        encoding: "msra" (centre rounded to the heatmap grid, Gaussian cut to a 6 sigma + 1 window),
            "unbiased" (sub-pixel centre, whole map; what TokenPose / DistilPose train with) or
            "udp" (unbiased data processing: stride (input - 1) / (heatmap - 1), sub-pixel centre in the window;
            kdpose crops with the standard warp for every encoding, so decode and ``invert_crop_points`` agree).
        decoding: "argmax" (argmax + MMPose's quarter-pixel offset towards the higher neighbour) or
            "dark" (Taylor step on the Gaussian-smoothed log-heatmap: MMPose's ``refine_keypoints_dark``, which
            leaves peaks within 2 px of the map border at the arg-max, or ``refine_keypoints_dark_udp`` for UDP).
        blur_kernel: odd kernel size of DARK's Gaussian smoothing (MMPose: 11 for 64x48 maps).
        flip_shift: shift un-flipped heatmaps one pixel right (MMPose ``shift_heatmap``); default True unless UDP,
            whose flip is already pixel-exact.
    """

    def __init__(self, input_size: Sequence[int] = (192, 256), heatmap_size: Sequence[int] | None = None,
                 sigma: float = 2.0, encoding: str = "unbiased", decoding: str = "dark", blur_kernel: int = 11,
                 flip_shift: bool | None = None):
        if encoding not in _ENCODINGS:
            raise ValueError(f"heatmap encoding must be one of {_ENCODINGS}, got {encoding!r}")
        if decoding not in _DECODINGS:
            raise ValueError(f"heatmap decoding must be one of {_DECODINGS}, got {decoding!r}")
        if blur_kernel % 2 != 1:
            raise ValueError(f"blur_kernel must be odd, got {blur_kernel}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if heatmap_size is None:
            heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.encoding = encoding
        self.decoding = decoding
        self.blur_kernel = int(blur_kernel)
        self.flip_shift = (encoding != "udp") if flip_shift is None else bool(flip_shift)

    # ------------------------------------------------------------------ geometry
    @property
    def stride(self) -> tuple[float, float]:
        """Input pixels per heatmap pixel, (sx, sy)."""
        (iw, ih), (hw, hh) = self.input_size, self.heatmap_size
        if self.encoding == "udp":
            return (iw - 1) / (hw - 1), (ih - 1) / (hh - 1)
        return iw / hw, ih / hh

    def params(self) -> dict:
        """Codec parameters (written into exported model metadata)."""
        return {"type": "heatmap", "input_size": list(self.input_size), "heatmap_size": list(self.heatmap_size),
                "sigma": self.sigma, "encoding": self.encoding, "decoding": self.decoding,
                "blur_kernel": self.blur_kernel, "flip_shift": self.flip_shift}

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, sigma={self.sigma}, "
                f"encoding={self.encoding!r}, decoding={self.decoding!r})")

    # ------------------------------------------------------------------ encode
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> HeatmapTarget:
        """(K, 2) keypoints in input-crop pixels and (K,) visibility -> HeatmapTarget."""
        kpts = np.asarray(keypoints, np.float64).reshape(-1, 2)
        vis = np.asarray(visible, np.float32).reshape(-1)
        (hw, hh), s = self.heatmap_size, self.sigma
        sx, sy = self.stride
        mu = kpts / np.array([sx, sy])                       # (K, 2) sub-pixel centre on the heatmap grid
        finite = np.isfinite(mu).all(1)
        mu = np.where(finite[:, None], mu, -1e6)              # NaN / inf: weight 0 and an all-zero map
        mu_int = np.trunc(mu + 0.5)                           # MMPose: (mu + 0.5).astype(int), towards zero
        radius = 3 * s
        # MMPose gives weight 0 when ul >= the map size or br < 0 for the window [ul, br) of 6 sigma + 1 around the
        # rounded centre (msra / udp) or the exact one (unbiased); br == 0 keeps weight 1 with an empty map
        anchor = mu if self.encoding == "unbiased" else mu_int
        ul, br = anchor - radius, anchor + radius + 1
        if self.encoding != "unbiased":
            ul, br = np.trunc(ul), np.trunc(br)
        inside = (ul[:, 0] < hw) & (ul[:, 1] < hh) & (br[:, 0] >= 0) & (br[:, 1] >= 0)
        weight = np.where((vis > 0) & inside & finite, 1.0, 0.0).astype(np.float32)
        centre = mu_int if self.encoding == "msra" else mu
        xs = np.arange(hw, dtype=np.float64)
        ys = np.arange(hh, dtype=np.float64)
        gx = np.exp(-((xs[None] - centre[:, :1]) ** 2) / (2 * s * s))   # (K, Wh)
        gy = np.exp(-((ys[None] - centre[:, 1:]) ** 2) / (2 * s * s))   # (K, Hh)
        if self.encoding != "unbiased":  # window around the rounded centre
            gx *= np.abs(xs[None] - mu_int[:, :1]) <= radius
            gy *= np.abs(ys[None] - mu_int[:, 1:]) <= radius
        heatmaps = gy[:, :, None] * gx[:, None, :] * weight[:, None, None]
        return HeatmapTarget(heatmaps=heatmaps.astype(np.float32), weight=weight)

    # ------------------------------------------------------------------ decode
    def decode(self, output: HeatmapOutput | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps (B, K, Hh, Wh) -> keypoints (B, K, 2) in input-crop pixels and scores (B, K) (heatmap max)."""
        heatmaps = output.heatmaps if isinstance(output, HeatmapOutput) else output
        coords, scores = argmax_2d(heatmaps)
        if self.decoding == "dark":
            coords = refine_dark(heatmaps, coords, self.blur_kernel, udp=self.encoding == "udp")
        else:
            coords = refine_quarter_offset(heatmaps, coords)
        sx, sy = self.stride
        keypoints = coords * coords.new_tensor([sx, sy])
        return keypoints, scores

    # ------------------------------------------------------------------ flip test
    def unflip(self, output: HeatmapOutput, flip_indices: Sequence[int]) -> HeatmapOutput:
        """Map the output of a horizontally flipped input back: swap left/right channels, mirror x, shift 1 px."""
        heatmaps = output.heatmaps if isinstance(output, HeatmapOutput) else output
        index = torch.as_tensor(list(flip_indices), dtype=torch.long, device=heatmaps.device)
        flipped = heatmaps.index_select(1, index).flip(-1)
        if self.flip_shift:
            # MMPose shift_heatmap: column j takes column j-1 (the first column is kept)
            flipped = torch.cat([flipped[..., :1], flipped[..., :-1]], dim=-1)
        return HeatmapOutput(flipped)


# ---------------------------------------------------------------------- decoding helpers (torch, export-safe)
def argmax_2d(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, H, W) -> integer peak coordinates (B, K, 2) as float (x, y) and the peak values (B, K).

    Peaks with a non-positive maximum get coordinates -1 (as MMPose's ``get_max_preds``).
    """
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w)
    scores, idx = flat.max(dim=-1)
    x = (idx % w).to(heatmaps.dtype)
    y = torch.div(idx, w, rounding_mode="floor").to(heatmaps.dtype)
    coords = torch.stack([x, y], dim=-1)
    coords = torch.where((scores > 0)[..., None], coords, torch.full_like(coords, -1.0))
    return coords, scores


def _gather(maps: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """maps (B, K, H, W), integer x/y (B, K) (clamped to the map) -> values (B, K)."""
    b, k, h, w = maps.shape
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    flat_idx = (y * w + x).reshape(b, k, 1)
    return maps.reshape(b, k, h * w).gather(-1, flat_idx).squeeze(-1)


def refine_quarter_offset(heatmaps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """MMPose's default post-processing (``refine_keypoints``): move x by 0.25 px towards the higher neighbour
    when 1 < x < W - 1 (and the peak is inside the map in y), and y likewise."""
    h, w = heatmaps.shape[-2:]
    x = coords[..., 0].long()
    y = coords[..., 1].long()
    dx = _gather(heatmaps, x + 1, y) - _gather(heatmaps, x - 1, y)
    dy = _gather(heatmaps, x, y + 1) - _gather(heatmaps, x, y - 1)
    use_x = (x > 1) & (x < w - 1) & (y > 0) & (y < h)
    use_y = (y > 1) & (y < h - 1) & (x > 0) & (x < w)
    offset = torch.stack([torch.sign(dx) * use_x, torch.sign(dy) * use_y], -1).to(coords.dtype)
    valid = (coords[..., :1] >= 0)
    return torch.where(valid, coords + 0.25 * offset, coords)


def gaussian_blur(heatmaps: torch.Tensor, kernel: int) -> torch.Tensor:
    """DARK's smoothing of (B, K, H, W) maps, as MMPose's ``gaussian_blur``: ``cv2.GaussianBlur(hm, (kernel,
    kernel), 0)`` of the map padded with zeros (a peak at the border is not mirrored into a second one), then
    rescaled so that each map keeps its maximum."""
    r = kernel // 2
    g = torch.as_tensor(opencv_gaussian_kernel(kernel), dtype=heatmaps.dtype, device=heatmaps.device)
    b, k, h, w = heatmaps.shape
    x = heatmaps.reshape(b * k, 1, h, w)
    x = F.conv2d(x, g.view(1, 1, 1, kernel), padding=(0, r))
    x = F.conv2d(x, g.view(1, 1, kernel, 1), padding=(r, 0))
    blurred = x.reshape(b, k, h, w)
    peak = heatmaps.amax(dim=(-2, -1), keepdim=True)
    blurred_peak = blurred.amax(dim=(-2, -1), keepdim=True)
    return blurred * peak / blurred_peak.clamp_min(1e-12)


def refine_dark(heatmaps: torch.Tensor, coords: torch.Tensor, blur_kernel: int = 11, udp: bool = False
                ) -> torch.Tensor:
    """DARK: a Newton step on the log of the smoothed heatmap at the integer peak.

    ``udp=False`` is MMPose's ``refine_keypoints_dark`` (log of max(map, 1e-10), second differences over 2 px,
    peaks within 2 px of the border left at the arg-max, where the Taylor expansion reaches past the map);
    ``udp=True`` is ``refine_keypoints_dark_udp`` (log of the map clipped to [1e-3, 50], 1-px stencil on the
    edge-replicated map, every peak refined).

    Args:
        heatmaps: (B, K, H, W) raw heatmaps.
        coords: (B, K, 2) integer peak coordinates from ``argmax_2d`` (-1 for invalid peaks).
    Returns:
        (B, K, 2) refined sub-pixel coordinates in heatmap pixels (invalid peaks unchanged).
    """
    h, w = heatmaps.shape[-2:]
    blurred = gaussian_blur(heatmaps, blur_kernel)
    smooth = blurred.clamp(1e-3, 50.0).log() if udp else blurred.clamp_min(1e-10).log()
    pad = 1 if udp else 2
    # edge-replicated so that every stencil is defined (only UDP uses the replicated values)
    smooth = F.pad(smooth, (pad, pad, pad, pad), mode="replicate")
    x0 = coords[..., 0].long()
    y0 = coords[..., 1].long()
    x = x0.clamp_min(0) + pad
    y = y0.clamp_min(0) + pad

    def at(dx: int, dy: int) -> torch.Tensor:
        return _gather(smooth, x + dx, y + dy)

    c = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    if udp:
        eps = float(torch.finfo(torch.float32).eps)   # MMPose inverts hessian + eps * I
        hxx = at(1, 0) - 2 * c + at(-1, 0) + eps
        hyy = at(0, 1) - 2 * c + at(0, -1) + eps
        hxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * c - at(-1, 0) - at(0, -1) + at(-1, -1))
        usable = torch.ones_like(c, dtype=torch.bool)
    else:
        hxx = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
        hyy = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
        hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        usable = (x0 > 1) & (x0 < w - 2) & (y0 > 1) & (y0 < h - 2)
    det = hxx * hyy - hxy * hxy
    ok = usable & (det != 0)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    # offset = -H^{-1} g with the 2x2 inverse written out
    ox = -(hyy * gx - hxy * gy) / safe_det
    oy = -(-hxy * gx + hxx * gy) / safe_det
    offset = torch.stack([ox, oy], -1) * ok[..., None]
    valid = coords[..., :1] >= 0
    return torch.where(valid, coords + offset, coords)
