"""Top-down augmentations (MMPose / RTMPose semantics) as small deterministic objects.

A transform is ``transform(state, rng) -> state``: it draws its random parameters from the explicit
``np.random.Generator`` and applies them to one :class:`TopDownState` (one person). Geometric transforms
only change the crop parameters (centre, scale, rotation, flip) and the keypoints; the image is warped once
by :class:`TopdownAffine` (the flip is folded into that single warp, which samples exactly the same pixels as
flipping first). Photometric transforms then act on the crop.

Depth images (HxW uint16) go through the same geometry; the RGB-only transforms (HSV, blur, median blur)
leave them untouched, coarse dropout applies (a hole reads as "no depth", 0).

Pipelines (RTMPose's two-stage recipe, ``configs/body_2d_keypoint/rtmpose/coco``):

* ``"strong"`` (stage 1): flip 0.5 -> half-body -> bbox shift/scale [0.6, 1.4]/rotate 80 -> affine -> YOLOX HSV
  -> Blur p0.1 -> MedianBlur p0.1 -> CoarseDropout p1.0
* ``"weak"`` (stage 2, the last epochs): the same with shift 0, scale [0.75, 1.25], rotate 60, dropout p0.5.
* ``"val"``: centre/scale -> affine.

``data.augment`` picks the ranges (:data:`AUGMENT_RECIPES`): ``rtmpose`` (the body and COCO-WholeBody configs),
``rtmpose-wide`` (the COCO+UBody configs and the whole-body RTMPose-x 384x288 one), ``mmpose-topdown`` (MMPose 0.x's
one-stage top-down pipeline of the TokenPose / DistilPose / SDPose configs: shift, flip, half-body, scale 0.35,
rotation 45, no photometric transforms) and ``light`` (kdpose's CPU miniatures).

:class:`StagedPipeline` holds them and ``set_stage("weak")`` switches (the trainer calls it at
``max_epochs - stage2_num_epochs``, like MMPose's ``PipelineSwitchHook``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from .geometry import (
    bbox_xyxy_to_center_scale,
    compose_affine,
    fix_aspect_ratio,
    flip_keypoints,
    get_warp_matrix,
    hflip_matrix,
    transform_points,
    warp_image,
    warp_nearest,
)


@dataclass
class TopDownState:
    """One person instance travelling through the pipeline.

    Attributes:
        image: the full source image (HxWx3 uint8 BGR or HxW uint16 depth) until :class:`TopdownAffine`,
            then the crop (input_h x input_w).
        bbox: (4,) xyxy person box in source-image pixels.
        keypoints: (K, 2) float32, source-image pixels (flipped if ``flipped``), crop pixels after the warp.
        visible: (K,) float32 in [0, 1].
        center, scale: (2,) crop centre and size (w, h) in source-image pixels (of the flipped image if
            ``flipped``).
        rotation: crop rotation in degrees.
        flipped: the instance is horizontally mirrored (folded into the warp).
        matrix: (2, 3) source image -> crop affine, set by :class:`TopdownAffine` (includes the flip).
    """

    image: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    center: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    rotation: float = 0.0
    flipped: bool = False
    matrix: np.ndarray | None = None

    @property
    def is_depth(self) -> bool:
        return self.image.ndim == 2

    @property
    def image_width(self) -> int:
        return int(self.image.shape[1])


Transform = Callable[[TopDownState, np.random.Generator], TopDownState]


def truncated_normal(rng: np.random.Generator, size, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Standard normal truncated to [low, high] (scipy ``truncnorm``'s distribution), by vectorised rejection."""
    out = rng.standard_normal(size)
    bad = (out < low) | (out > high)
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = (out < low) | (out > high)
    return out


# ------------------------------------------------------------------------------------------ geometric
@dataclass
class GetBBoxCenterScale:
    """bbox (xyxy) -> centre and padded scale (MMPose ``GetBBoxCenterScale``, padding 1.25)."""

    padding: float = 1.25

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        state.center, state.scale = bbox_xyxy_to_center_scale(state.bbox, self.padding)
        return state


@dataclass
class RandomFlip:
    """Horizontal flip with probability ``prob``: keypoints mirrored (x -> W-1-x) and re-indexed by
    ``flip_indices``; centre mirrored; the image flip itself happens inside the warp."""

    flip_indices: Sequence[int]
    prob: float = 0.5

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        if rng.random() >= self.prob:
            return state
        w = state.image_width
        state.keypoints, state.visible = flip_keypoints(state.keypoints, state.visible, w, self.flip_indices)
        state.center = np.array([w - 1 - state.center[0], state.center[1]], dtype=np.float32)
        state.bbox = np.array([w - 1 - state.bbox[2], state.bbox[1], w - 1 - state.bbox[0], state.bbox[3]], np.float32)
        state.flipped = not state.flipped
        return state


@dataclass
class RandomHalfBody:
    """MMPose ``RandomHalfBody``: with probability ``prob`` (if at least ``min_total_keypoints`` are labelled),
    re-centre the crop on the labelled upper- or lower-body keypoints; scale = their extent * ``padding``."""

    upper_ids: Sequence[int]
    lower_ids: Sequence[int]
    min_total_keypoints: int = 9
    min_upper_keypoints: int = 2
    min_lower_keypoints: int = 3
    padding: float = 1.5
    prob: float = 0.3
    upper_prioritized_prob: float = 0.7

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        vis = state.visible
        if vis.sum() < self.min_total_keypoints or rng.random() > self.prob:
            return state
        upper = [i for i in self.upper_ids if vis[i] > 0]
        lower = [i for i in self.lower_ids if vis[i] > 0]
        prefer_upper = rng.random() < self.upper_prioritized_prob
        if len(upper) < self.min_upper_keypoints and len(lower) < self.min_lower_keypoints:
            return state
        if len(lower) < self.min_lower_keypoints:
            ids = upper
        elif len(upper) < self.min_upper_keypoints:
            ids = lower
        else:
            ids = upper if prefer_upper else lower
        pts = state.keypoints[ids]
        state.center = pts.mean(axis=0).astype(np.float32)
        state.scale = ((pts.max(axis=0) - pts.min(axis=0)) * self.padding).astype(np.float32)
        return state


@dataclass
class RandomBBoxTransform:
    """MMPose ``RandomBBoxTransform``: truncated-normal shift (fraction of the scale), scale and rotation.

    Four values v ~ N(0, 1) truncated to [-1, 1]: centre += v[0:2] * shift_factor * scale (with ``shift_prob``),
    scale *= v[2] * (max-min)/2 + (max+min)/2 (with ``scale_prob``), rotation = v[3] * rotate_factor degrees
    (with ``rotate_prob``).
    """

    shift_factor: float = 0.16
    shift_prob: float = 0.3
    scale_factor: tuple[float, float] = (0.5, 1.5)
    scale_prob: float = 1.0
    rotate_factor: float = 80.0
    rotate_prob: float = 0.6

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        v = truncated_normal(rng, 4)
        u = rng.random(3)
        lo, hi = self.scale_factor
        if u[0] < self.shift_prob:
            state.center = (state.center + v[:2] * self.shift_factor * state.scale).astype(np.float32)
        if u[1] < self.scale_prob:
            state.scale = (state.scale * (v[2] * (hi - lo) * 0.5 + (hi + lo) * 0.5)).astype(np.float32)
        state.rotation = float(v[3] * self.rotate_factor) if u[2] < self.rotate_prob else 0.0
        return state


@dataclass
class FixAspectRatio:
    """Grow the crop scale to the input aspect ratio now (MMPose 0.x ``bbox_xywh2cs`` does it before any random
    shift, which is then relative to the aspect-fixed box). ``input_size`` is (w, h)."""

    input_size: tuple[int, int]

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        state.scale = fix_aspect_ratio(state.scale, self.input_size[0] / self.input_size[1])
        return state


@dataclass
class RandomShiftBBoxCenter:
    """MMPose 0.x ``TopDownRandomShiftBboxCenter``: with probability ``prob``, centre += U(-1, 1) * ``shift_factor``
    * scale per axis (uniform, unlike :class:`RandomBBoxTransform`'s truncated normal)."""

    shift_factor: float = 0.16
    prob: float = 0.3

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        if rng.random() < self.prob:
            state.center = (state.center + rng.uniform(-1.0, 1.0, 2) * self.shift_factor * state.scale).astype(
                np.float32)
        return state


@dataclass
class RandomHalfBodyV0:
    """MMPose 0.x ``TopDownHalfBodyTransform``: with more than ``min_keypoints`` labelled keypoints and probability
    ``prob``, crop the upper body (when a standard-normal draw is < 0.5 and more than 2 upper keypoints are
    labelled; p = 0.69) or else the lower body (every keypoint not in ``upper_ids``, if more than 2), else the upper;
    at least 2 are needed. Scale = their extent grown to the input aspect ratio, times 1.5."""

    upper_ids: Sequence[int]
    input_size: tuple[int, int]
    min_keypoints: int = 8
    prob: float = 0.3
    padding: float = 1.5

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        labelled = state.visible > 0
        if labelled.sum() <= self.min_keypoints or rng.random() >= self.prob:
            return state
        is_upper = np.zeros(len(labelled), bool)
        is_upper[list(self.upper_ids)] = True
        upper, lower = np.flatnonzero(labelled & is_upper), np.flatnonzero(labelled & ~is_upper)
        if rng.standard_normal() < 0.5 and len(upper) > 2:
            ids = upper
        elif len(lower) > 2:
            ids = lower
        else:
            ids = upper
        if len(ids) < 2:
            return state
        pts = state.keypoints[ids].astype(np.float32)
        state.center = pts.mean(axis=0)
        extent = fix_aspect_ratio(pts.max(axis=0) - pts.min(axis=0), self.input_size[0] / self.input_size[1])
        state.scale = (extent * self.padding).astype(np.float32)
        return state


@dataclass
class RandomScaleRotation:
    """MMPose 0.x ``TopDownGetRandomScaleRotation``: scale *= clip(N(0,1) * ``scale_factor`` + 1, 1 - sf, 1 + sf);
    rotation = clip(N(0,1) * ``rotate_factor``, -2 rf, 2 rf) degrees with probability ``rotate_prob``, else 0."""

    scale_factor: float = 0.35
    rotate_factor: float = 45.0
    rotate_prob: float = 0.6

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        sf, rf = self.scale_factor, self.rotate_factor
        state.scale = (state.scale * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)).astype(np.float32)
        rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
        state.rotation = rotation if rng.random() <= self.rotate_prob else 0.0
        return state


@dataclass
class TopdownAffine:
    """Fix the aspect ratio to ``input_size`` and warp the image and keypoints into the (w, h) crop
    (MMPose ``TopdownAffine`` with the standard matrix). Visibility is not changed: keypoints that land outside
    the crop keep their coordinates and the codec decides their weight. kdpose uses this one warp for every codec,
    UDP heatmaps included, because every prediction goes back to the image through its inverse
    (``invert_crop_points``); a UDP-warped crop would come back shifted by up to 1.6 px. RGB crops are bilinear
    (MMPose's), depth crops nearest-neighbour."""

    input_size: tuple[int, int]

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        w, h = self.input_size
        state.scale = fix_aspect_ratio(state.scale, w / h)
        m = get_warp_matrix(state.center, state.scale, state.rotation, self.input_size)
        # keypoints/centre live in flipped-image coordinates, so ``m`` maps them; the source image is not
        # flipped, so it is warped with m ∘ flip (same pixels as flipping first, one resampling only)
        image_matrix = compose_affine(m, hflip_matrix(state.image_width)) if state.flipped else m
        state.keypoints = transform_points(state.keypoints, m)
        if state.is_depth:  # bilinear would invent depths at every silhouette and smear sensor holes (0) into
            # surfaces; nearest keeps measured values only, as kdpose's bottom-up depth crops
            state.image = warp_nearest(state.image, image_matrix, self.input_size, border_value=0)
        else:
            state.image = warp_image(state.image, image_matrix, self.input_size)
        state.matrix = image_matrix
        return state


# --------------------------------------------------------------------------------------- photometric
@dataclass
class YOLOXHSVRandomAug:
    """mmdet ``YOLOXHSVRandomAug``: per channel, with probability 1/2, an integer gain in
    ``U(-1, 1) * (hue, sat, val)`` added in OpenCV HSV (hue modulo 180, sat/val clipped). RGB only."""

    hue_delta: int = 5
    saturation_delta: int = 30
    value_delta: int = 30

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        gains = rng.uniform(-1, 1, 3) * np.array([self.hue_delta, self.saturation_delta, self.value_delta])
        gains = (gains * rng.integers(0, 2, 3)).astype(np.int16)
        if state.is_depth:
            return state
        # per-channel lookup tables: the same values as adding the gains in int16, without int16 images
        x = np.arange(256, dtype=np.int16)
        luts = [((x + gains[0]) % 180).astype(np.uint8)] + [np.clip(x + g, 0, 255).astype(np.uint8) for g in gains[1:]]
        h, s, v = cv2.split(cv2.cvtColor(state.image, cv2.COLOR_BGR2HSV))
        hsv = cv2.merge([cv2.LUT(h, luts[0]), cv2.LUT(s, luts[1]), cv2.LUT(v, luts[2])])
        state.image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return state


@dataclass
class _RandomOddKernelFilter:
    """With probability ``prob``, filter the crop with an odd kernel size drawn in [3, blur_limit] (Albumentations'
    kernel choice). RGB only: a depth crop is left as it is, but the kernel is still drawn so that the seeded
    random sequence is the same for RGB and depth. Subclasses say which filter in :meth:`_filter`."""

    prob: float = 0.1
    blur_limit: int = 7

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        if rng.random() >= self.prob:
            return state
        k = int(rng.choice(np.arange(3, self.blur_limit + 1, 2)))
        if not state.is_depth:
            state.image = self._filter(state.image, k)
        return state

    def _filter(self, image: np.ndarray, k: int) -> np.ndarray:
        """(H, W, 3) uint8 -> the same shape filtered with a k x k kernel."""
        raise NotImplementedError


@dataclass
class RandomBlur(_RandomOddKernelFilter):
    """Albumentations ``Blur`` (box filter, odd kernel 3..blur_limit) with probability ``prob``. RGB only."""

    def _filter(self, image: np.ndarray, k: int) -> np.ndarray:
        return cv2.blur(image, (k, k))


@dataclass
class RandomMedianBlur(_RandomOddKernelFilter):
    """Albumentations ``MedianBlur`` (odd kernel 3..blur_limit) with probability ``prob``. RGB only."""

    def _filter(self, image: np.ndarray, k: int) -> np.ndarray:
        return cv2.medianBlur(image, k)


@dataclass
class CoarseDropout:
    """Albumentations ``CoarseDropout`` (old float API: hole sizes are fractions of the image), fill 0.
    Keypoints are not touched (as in MMPose, which passes only the image to Albumentations)."""

    prob: float = 1.0
    min_holes: int = 1
    max_holes: int = 1
    min_height: float = 0.2
    max_height: float = 0.4
    min_width: float = 0.2
    max_width: float = 0.4
    fill_value: int = 0

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        if rng.random() >= self.prob:
            return state
        h, w = state.image.shape[:2]
        n = int(rng.integers(self.min_holes, self.max_holes + 1))
        hh = (h * rng.uniform(self.min_height, self.max_height, n)).astype(int)
        ww = (w * rng.uniform(self.min_width, self.max_width, n)).astype(int)
        y1 = rng.integers(0, h - hh + 1)
        x1 = rng.integers(0, w - ww + 1)
        image = state.image.copy()
        for i in range(n):  # n holes (1 in RTMPose), each one vectorised slice assignment
            image[y1[i] : y1[i] + hh[i], x1[i] : x1[i] + ww[i]] = self.fill_value
        state.image = image
        return state


# ----------------------------------------------------------------------------------------- pipelines
@dataclass
class Compose:
    """Apply transforms in order with one generator."""

    transforms: list

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        for t in self.transforms:
            state = t(state, rng)
        return state


class StagedPipeline:
    """Named pipelines with a switch (RTMPose's two-stage augmentation).

    >>> p = StagedPipeline({"strong": Compose([]), "weak": Compose([])}); p.set_stage("weak"); p.stage
    'weak'
    """

    STAGE_ALIASES = {1: "strong", 2: "weak", "stage1": "strong", "stage2": "weak"}

    def __init__(self, stages: dict[str, Compose], stage: str | None = None):
        if not stages:
            raise ValueError("StagedPipeline needs at least one stage")
        self.stages = dict(stages)
        self.stage = stage or next(iter(self.stages))
        self.set_stage(self.stage)

    def set_stage(self, stage: str | int) -> None:
        name = self.STAGE_ALIASES.get(stage, stage)
        if name not in self.stages:
            raise ValueError(f"unknown pipeline stage '{stage}' (available: {', '.join(self.stages)})")
        self.stage = name

    def __call__(self, state: TopDownState, rng: np.random.Generator) -> TopDownState:
        return self.stages[self.stage](state, rng)


@dataclass(frozen=True)
class AugmentRecipe:
    """The parameters that differ between RTMPose configs (stage 1 = strong, stage 2 = weak)."""

    strong_scale: tuple[float, float] = (0.6, 1.4)
    strong_rotate: float = 80.0
    weak_scale: tuple[float, float] = (0.75, 1.25)
    weak_rotate: float = 60.0
    strong_dropout_prob: float = 1.0
    weak_dropout_prob: float = 0.5


@dataclass(frozen=True)
class TopDownV0Recipe:
    """MMPose 0.x's top-down training pipeline (``TopDownGetBboxCenterScale`` -> ``TopDownRandomShiftBboxCenter``
    -> ``TopDownRandomFlip`` -> ``TopDownHalfBodyTransform`` -> ``TopDownGetRandomScaleRotation`` ->
    ``TopDownAffine``), as in the TokenPose / DistilPose / SDPose configs: one stage, no colour, blur or cut-out."""

    shift_factor: float = 0.16
    shift_prob: float = 0.3
    flip_prob: float = 0.5
    half_body_min_keypoints: int = 8
    half_body_prob: float = 0.3
    scale_factor: float = 0.35
    rotate_factor: float = 45.0
    rotate_prob: float = 0.6


AUGMENT_RECIPES: dict[str, AugmentRecipe | TopDownV0Recipe] = {
    # RTMPose body configs and the COCO-WholeBody ones (m/l 256x192, l 384x288)
    "rtmpose": AugmentRecipe(),
    # RTMPose COCO+UBody configs (every size, so DWPose's UBody recipes) and COCO-WholeBody RTMPose-x 384x288:
    # scale [0.5, 1.5], rotation 90 in both stages (stage 2: shift 0, cut-out p 0.5)
    "rtmpose-wide": AugmentRecipe(strong_scale=(0.5, 1.5), strong_rotate=90.0, weak_scale=(0.5, 1.5), weak_rotate=90.0),
    # kdpose's short CPU recipes (minutes, not 420 epochs): RTMPose's strong pipeline (rotation up to 80 degrees, a
    # hole of up to 40% of the crop in every sample) slowed learning several-fold there (BENCHMARKS.md), so both
    # stages take RTMPose's weak scale range with rotation 30 and no holes; stage 1 keeps the centre shift every
    # recipe's first stage has (0.16, p 0.3), stage 2 none
    "light": AugmentRecipe(strong_scale=(0.75, 1.25), strong_rotate=30.0, weak_scale=(0.75, 1.25), weak_rotate=30.0,
                           strong_dropout_prob=0.0, weak_dropout_prob=0.0),
    # MMPose 0.29 top-down pipeline of the SDPose / DistilPose / TokenPose configs: shift 0.16 (p 0.3), flip 0.5,
    # half-body (> 8 keypoints, p 0.3), scale 1 +- 0.35, rotation 45 (clipped at 90, p 0.6), no photometric transforms
    "mmpose-topdown": TopDownV0Recipe(),
}


def _train_stage(
    input_size: tuple[int, int], flip_indices, upper_ids, lower_ids, shift: float, scale, rotate, dropout_p
) -> Compose:
    return Compose(
        [
            GetBBoxCenterScale(1.25),
            RandomFlip(flip_indices, prob=0.5),
            RandomHalfBody(upper_ids, lower_ids),
            RandomBBoxTransform(shift_factor=shift, scale_factor=tuple(scale), rotate_factor=rotate),
            TopdownAffine(input_size),
            YOLOXHSVRandomAug(),
            RandomBlur(prob=0.1),
            RandomMedianBlur(prob=0.1),
            CoarseDropout(prob=dropout_p),
        ]
    )


def _v0_stage(input_size: tuple[int, int], skeleton, r: TopDownV0Recipe) -> Compose:
    return Compose(
        [
            GetBBoxCenterScale(1.25),
            FixAspectRatio(input_size),
            RandomShiftBBoxCenter(r.shift_factor, r.shift_prob),
            RandomFlip(skeleton.flip_indices, prob=r.flip_prob),
            RandomHalfBodyV0(skeleton.upper_ids, input_size, r.half_body_min_keypoints, r.half_body_prob),
            RandomScaleRotation(r.scale_factor, r.rotate_factor, r.rotate_prob),
            TopdownAffine(input_size),
        ]
    )


def build_train_pipeline(
    skeleton, input_size: tuple[int, int], recipe: str | AugmentRecipe | TopDownV0Recipe = "rtmpose"
) -> StagedPipeline:
    """RTMPose's training pipeline with stages ``"strong"`` (default) and ``"weak"`` for ``skeleton``
    (flip indices and half-body ids come from it). ``recipe`` names an entry of ``AUGMENT_RECIPES``; a
    :class:`TopDownV0Recipe` has one stage, used for both names."""
    r = AUGMENT_RECIPES[recipe] if isinstance(recipe, str) else recipe
    if isinstance(r, TopDownV0Recipe):
        stage = _v0_stage(tuple(input_size), skeleton, r)
        return StagedPipeline({"strong": stage, "weak": stage}, stage="strong")
    common = (input_size, skeleton.flip_indices, skeleton.upper_ids, skeleton.lower_ids)
    strong = _train_stage(*common, 0.16, r.strong_scale, r.strong_rotate, r.strong_dropout_prob)
    weak = _train_stage(*common, 0.0, r.weak_scale, r.weak_rotate, r.weak_dropout_prob)
    return StagedPipeline({"strong": strong, "weak": weak}, stage="strong")


def build_val_pipeline(input_size: tuple[int, int], padding: float = 1.25) -> Compose:
    """Evaluation pipeline: centre/scale (padding 1.25) -> affine. Deterministic."""
    return Compose([GetBBoxCenterScale(padding), TopdownAffine(input_size)])
