"""Settings of the synthetic generator: one frozen dataclass, validated once, with the difficulty knobs.

Every knob is documented where it is defined; ``SynthConfig.validated()`` raises ``ConfigError`` with a one-line
message naming the bad setting. The defaults are deliberately hard (small far people, crowds, occluders, border
truncation, extreme poses) so that a tiny model clearly under-performs a large one on this data: that is the
``hard`` preset. ``standard`` (``PRESETS``) is built like COCO instead: front-biased headings, COCO's share of
occluded keypoints, and people an annotator would not label (too small, hardly visible) left unlabelled."""
from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError

# Bumped whenever a change alters the pixels or annotations produced for a given seed.
GENERATOR_VERSION = "kdpose-synth 1.0"

LAYOUTS = {"coco": "coco", "body": "coco", "wholebody": "coco_wholebody", "coco_wholebody": "coco_wholebody"}
MODALITIES = ("rgb", "depth")
SPLITS = {"train": 0, "val": 1, "test": 2}

# Named settings. ``hard`` is the generator's defaults (crowds, occluders, people seen from every side, tiny far
# people labelled down to 12 px): CrowdPose-like, 39 % of labelled body keypoints occluded. ``standard`` follows
# COCO (docs/synthetic.md, BENCHMARKS.md "Synthetic presets"):
#   - labelling rule: a person whose visible silhouette is under 32 x 32 px (COCO's "small" bound) or who shows
#     fewer than 4 visible body keypoints is kept for detection but gets no keypoints (num_keypoints 0), so
#     pycocotools ignores it in keypoint AP and top-down training skips it, as MMPose does on COCO;
#   - heading: 70 % of people face the camera (within a 40-degree spread), the rest face any direction, like
#     photos of people rather than a surveillance view;
#   - fewer occluders, crowds, truncated and extreme poses, and people closer (1.5-12 m); measured share of
#     occluded (v=1) labelled body keypoints: BENCHMARKS.md "Synthetic presets" (COCO's is 9 %; most of what is
#     left here is the renderer's self-occlusion test: ears at the head's edge, hips behind the hands).
PRESETS: dict[str, dict] = {
    "hard": {},
    "standard": {"distance_range": (1.5, 12.0), "occlusion": 0.15, "crowding": 0.3, "truncation": 0.1,
                 "pose_extremity": 0.3, "clutter": 4, "heading": 0.3, "facing_margin": 0.4,
                 "min_label_area": 1024.0, "min_visible_keypoints": 4},
}


@dataclass(frozen=True)
class SynthConfig:
    """Settings of one synthetic data stream.

    Attributes:
        width, height: image size in pixels.
        layout: ``"coco"`` (17 keypoints) or ``"wholebody"`` (COCO-WholeBody, 133 keypoints).
        modality: ``"rgb"`` (BGR uint8 image) or ``"depth"`` (uint16 millimetres, Kinect-2-like).
        min_people, max_people: number of people per scene, uniform in [min, max].
        distance_range: (near, far) person distance from the camera in metres, sampled log-uniformly so that
            far (small) people are common; ``None`` = (1.3, 24) for RGB, (1.0, 7.0) for depth (sensor range).
        occlusion: 0..1, how often occluder objects stand in front of people and people line up behind each other.
        crowding: 0..1, how tightly people are grouped (0 = spread over the room, 1 = shoulder to shoulder).
        truncation: 0..1, probability that a person is placed across the image border (cut off).
        pose_extremity: 0..1, share of extreme poses (crouch, sit, arms raised, crossed limbs, bending) and the
            width of the joint-angle ranges within their anatomical limits.
        clutter: maximum number of clutter objects (boxes, poles, balls) in the scene.
        background_dir: optional folder of user background images (RGB mode); procedural backgrounds otherwise.
        image_format: ``"jpg"`` or ``"png"`` for RGB images (depth is always 16-bit PNG).
        jpeg_quality: (low, high) JPEG quality range of the simulated compression artefacts (RGB).
        blur: 0..1, strength of the random defocus / motion blur (RGB).
        noise: 0..1, strength of the sensor noise (RGB and depth).
        fusion_margin_mm: depth margin kept between people and the fused background (depth mode, paper).
        dropout_prob: probability that an image gets the paper's silhouette pixel dropout (depth mode).
        dropout_rate: share of silhouette pixels set to 0 when dropout is applied (paper: 0.2).
        min_keypoints: instances with fewer labelled keypoints are kept in the JSON (for detection) but are not
            served as top-down training items by ``SyntheticPoseDataset``.
        min_keypoint_size: people whose box is smaller than this (longer side, pixels) are annotated for
            detection only (keypoints unlabelled, as COCO leaves tiny people unlabelled).
        heading: 0..1, share of people facing any direction (uniform over 360 degrees); the others face the
            camera, turned by a normal angle of 40 degrees' spread (1 = every heading equally likely).
        min_label_area: people whose visible silhouette covers fewer pixels are annotated for detection only
            (COCO's labelling of small people: 1024 = 32 x 32 in ``standard``; 0 labels everyone).
        min_visible_keypoints: people with fewer visible (v=2) body keypoints are annotated for detection only
            (an annotator does not guess a hidden pose).
        facing_margin: 0..1, how far past grazing a surface keypoint (eye, ear, nose) must turn away before it
            counts as self-occluded (cosine; 0 = any turn away, the ``hard`` rule).
    """

    width: int = 640
    height: int = 480
    layout: str = "coco"
    modality: str = "rgb"
    min_people: int = 1
    max_people: int = 4
    distance_range: tuple[float, float] | None = None
    occlusion: float = 0.5
    crowding: float = 0.5
    truncation: float = 0.25
    pose_extremity: float = 0.5
    clutter: int = 6
    background_dir: str | None = None
    image_format: str = "jpg"
    jpeg_quality: tuple[int, int] = (45, 95)
    blur: float = 0.5
    noise: float = 0.5
    fusion_margin_mm: float = 150.0
    dropout_prob: float = 0.5
    dropout_rate: float = 0.2
    min_keypoints: int = 1
    min_keypoint_size: int = 12
    heading: float = 1.0
    min_label_area: float = 0.0
    min_visible_keypoints: int = 0
    facing_margin: float = 0.0

    @classmethod
    def from_preset(cls, preset: str = "hard", **settings) -> "SynthConfig":
        """The settings of a named preset (``PRESETS``), with ``settings`` overriding single knobs."""
        if preset not in PRESETS:
            raise ConfigError(f"synth: unknown preset '{preset}' (valid: {', '.join(PRESETS)})")
        knobs = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in settings if k not in knobs]
        if unknown:  # the dataclass would say only "__init__() got an unexpected keyword argument"
            raise ConfigError(f"synth: unknown setting(s) {', '.join(unknown)} (valid: {', '.join(knobs)})")
        return cls(**{**PRESETS[preset], **settings}).validated()

    @property
    def skeleton_name(self) -> str:
        return LAYOUTS[self.layout]

    @property
    def wholebody(self) -> bool:
        return self.skeleton_name == "coco_wholebody"

    @property
    def distances(self) -> tuple[float, float]:
        if self.distance_range is not None:
            return (float(self.distance_range[0]), float(self.distance_range[1]))
        return (1.3, 24.0) if self.modality == "rgb" else (1.0, 7.0)

    def replace(self, **changes) -> "SynthConfig":
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> "SynthConfig":
        """Return self after checking every setting; raise ``ConfigError`` naming the first bad one."""
        self._check_types()
        if not (isinstance(self.width, int) and isinstance(self.height, int)) or self.width < 16 or self.height < 16:
            raise ConfigError(f"synth: image size must be at least 16x16 pixels, got {self.width}x{self.height}")
        if self.width * self.height > 4096 * 4096:
            raise ConfigError(f"synth: image size {self.width}x{self.height} is too large (max 4096x4096 pixels)")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"synth: unknown layout '{self.layout}' (valid: coco, wholebody)")
        if self.modality not in MODALITIES:
            raise ConfigError(f"synth: unknown modality '{self.modality}' (valid: {', '.join(MODALITIES)})")
        if self.min_people < 0 or self.max_people < max(1, self.min_people):
            raise ConfigError(
                f"synth: people per scene must satisfy 0 <= min_people <= max_people and max_people >= 1, "
                f"got min_people={self.min_people}, max_people={self.max_people}"
            )
        near, far = self.distances
        if not (0.3 <= near <= far):
            raise ConfigError(f"synth: distance_range must satisfy 0.3 <= near <= far metres, got ({near}, {far})")
        for name in ("occlusion", "crowding", "truncation", "pose_extremity", "blur", "noise", "dropout_prob",
                     "dropout_rate", "heading", "facing_margin"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"synth: {name} must be in [0, 1], got {value}")
        if self.clutter < 0:
            raise ConfigError(f"synth: clutter must be >= 0, got {self.clutter}")
        if self.image_format not in ("jpg", "png"):
            raise ConfigError(f"synth: image_format must be 'jpg' or 'png', got '{self.image_format}'")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise ConfigError(f"synth: jpeg_quality must be (low, high) with 1 <= low <= high <= 100, got {lo, hi}")
        if min(self.min_keypoints, self.min_keypoint_size, self.min_label_area, self.min_visible_keypoints) < 0:
            raise ConfigError("synth: min_keypoints, min_keypoint_size, min_label_area and min_visible_keypoints "
                              "must be >= 0")
        if self.fusion_margin_mm < 0:
            raise ConfigError(f"synth: fusion_margin_mm must be >= 0, got {self.fusion_margin_mm}")
        if self.background_dir is not None and not Path(self.background_dir).is_dir():
            exists = Path(self.background_dir).exists()
            what = "is a file; give the folder that holds it" if exists else "does not exist"
            raise ConfigError(f"{self.background_dir}: background folder {what}")
        return self

    def _check_types(self) -> None:
        """Each knob of the right kind, first: the range checks of :meth:`validated` on a string or None would fail
        with Python's own words ("'<' not supported between instances of 'str' and 'int'"), naming no setting."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_KNOBS:
                ok, want = isinstance(value, numbers.Integral) and not isinstance(value, bool), "an integer"
            elif f.name in _PAIR_KNOBS:
                ok = value is None if f.name == "distance_range" else False
                ok = ok or (isinstance(value, (tuple, list)) and len(value) == 2
                            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value))
                want = "a (low, high) pair of numbers"
            elif f.name == "background_dir":
                ok, want = value is None or isinstance(value, (str, os.PathLike)), "a folder path"
            elif f.type == "str":
                ok, want = isinstance(value, str), "a string"
            else:
                ok, want = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
            if not ok:
                raise ConfigError(f"synth: {f.name} must be {want}, got {type(value).__name__} {value!r}")


_INT_KNOBS = ("width", "height", "min_people", "max_people", "clutter", "min_keypoints", "min_keypoint_size",
              "min_visible_keypoints")
_PAIR_KNOBS = ("distance_range", "jpeg_quality")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480); raises ``ConfigError`` on anything else."""
    parts = str(text).lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"synth: bad image size '{text}' (expected WIDTHxHEIGHT, e.g. 640x480)") from None
    if w <= 0 or h <= 0:
        raise ConfigError(f"synth: image size must be positive, got '{text}'")
    return w, h
