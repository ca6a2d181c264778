"""Where person boxes come from.

The ``detector`` argument of :class:`kdpose.PoseEstimator` accepts

* ``None`` / ``"none"`` / ``"whole"``: one box covering the whole image (score 1), for images cropped to one person
  or when the caller passes ``bboxes=`` itself;
* a callable ``image (H, W, 3) uint8 BGR -> (boxes (N, 4) xyxy, scores (N,))`` (any detector; the built-in one
  follows this protocol);
* a registered detector name (``DETECTORS``: factories ``(device: str) -> callable``; the built-in detector
  registers itself there, and ``kdpose infer --det NAME`` uses it);
* a detector file: ``.onnx`` (a kdpose export of the built-in detector, or an official RTMDet / YOLOX person
  detector) or ``.safetensors`` (built-in detector weights), run by :class:`kdpose.detection.PersonDetector`;
* a path to a COCO detection-results file (a JSON list of ``{"image_id", "bbox": [x, y, w, h], "score",
  "category_id"}``, e.g. ``COCO_val2017_detections_AP_H_56_person.json``). Entries are matched to images by
  ``file_name`` when the entries carry one, otherwise by ``image_id`` = the integer file stem
  (``000000397133.jpg`` -> 397133) or, for videos, the frame index.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Union

import numpy as np

from kdpose.data.geometry import bbox_xywh_to_xyxy
from kdpose.errors import ConfigError, DataError
from kdpose.registry import Registry

DetectorFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
DetectorSpec = Union[None, str, os.PathLike, DetectorFn, "DetectionFile"]

# name -> factory(device: str) -> DetectorFn. Detector modules register here (explicit imports, no side effects
# needed by users: ``resolve_detector`` only looks names up).
DETECTORS: Registry = Registry("detector")


class DetectionFile:
    """Person boxes read from a COCO detection-results JSON file.

    Args:
        path: the file.
        category_id: keep entries of this category (1 = person); entries without ``category_id`` are kept.
    """

    def __init__(self, path: str | os.PathLike, category_id: int = 1):
        self.path = Path(path)
        try:
            entries = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise DataError(f"{self.path}: no such detection-results file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.path}: cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(entries, dict) and "annotations" in entries:
            entries = entries["annotations"]
        if not isinstance(entries, list):
            raise DataError(f"{self.path}: expected a JSON list of detections (COCO results format)")
        by_key: dict = defaultdict(list)
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or "bbox" not in e or ("image_id" not in e and "file_name" not in e):
                raise DataError(f"{self.path}: entry {i} is not a detection (needs 'bbox' and 'image_id')")
            if e.get("category_id", category_id) != category_id:
                continue
            bbox = e["bbox"]
            if not (isinstance(bbox, list) and len(bbox) == 4):
                raise DataError(f"{self.path}: entry {i} has a malformed bbox {bbox!r} (expected [x, y, w, h])")
            key = e["file_name"] if "file_name" in e else e["image_id"]
            by_key[key].append([*bbox, float(e.get("score", 1.0))])
        self._by_key = {k: np.asarray(v, np.float64) for k, v in by_key.items()}

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, name: str | None = None, image_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) xyxy and scores (N,) of an image, by file name or image id (empty when none)."""
        keys: list = []
        if name is not None:
            keys += [name, Path(name).name]
            if Path(name).stem.isdigit():
                keys.append(int(Path(name).stem))
        if image_id is not None:
            keys.append(int(image_id))
        for key in keys:
            if key in self._by_key:
                det = self._by_key[key]
                return bbox_xywh_to_xyxy(det[:, :4]), det[:, 4].astype(np.float32)
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)


def resolve_detector(spec: DetectorSpec, device: str = "cpu") -> DetectorFn | DetectionFile | None:
    """Normalise the ``detector`` argument (see the module docstring); ``device`` is passed to named detectors."""
    if spec is None or isinstance(spec, DetectionFile):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        if text.lower() in ("", "none", "whole", "whole_image"):
            return None
        if text.lower().endswith(".json"):
            return DetectionFile(text)
        if text.lower().endswith((".onnx", ".safetensors")):  # a detector file: kdpose.detection runs it
            from kdpose.detection import PersonDetector

            return PersonDetector(text, device=device)
        import kdpose.detection  # noqa: F401  (registers the built-in detector names; no torch import)

        if text in DETECTORS:
            return DETECTORS.get(text)(device)
        known = f" (registered: {', '.join(DETECTORS.names())})" if len(DETECTORS) else ""
        raise ConfigError(f"unknown detector '{text}'{known}: pass a callable image -> (boxes, scores), a COCO "
                          "detection-results .json file, or 'none' (whole image)")
    if callable(spec):
        return spec
    raise ConfigError(f"detector must be None, a callable or a detection-results file, got {type(spec).__name__}")


def run_detector(detector: DetectorFn, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Call a detector and check what it returns: boxes (N, 4) float32, scores (N,) float32."""
    out = detector(image)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ConfigError(f"detector {detector!r} must return (boxes (N, 4), scores (N,)), got {type(out).__name__}")
    boxes, scores = (np.asarray(a, np.float32) for a in out)
    boxes = boxes.reshape(-1, 4) if boxes.size else np.zeros((0, 4), np.float32)
    scores = scores.reshape(-1)
    if len(scores) != len(boxes):
        raise ConfigError(f"detector returned {len(boxes)} boxes but {len(scores)} scores")
    return boxes, scores
