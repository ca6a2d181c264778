"""Named person detectors: ``DETECTORS`` maps a name to a factory ``(device, score_thr) -> detector callable``
(``image (H, W, 3) uint8 BGR -> (boxes (N, 4) xyxy, scores (N,))``). ``kdpose.PoseEstimator(detector="name")`` and
``kdpose infer --det name`` look names up here; the built-in detectors are registered below, and a user registers
their own with ``DETECTORS.register(factory, name=...)``. Trained built-in detectors shipped with the package are
pretrained tags (``kdpose.models.PRETRAINED``, e.g. ``kdpose-det-tiny.synth-standard_320``), resolved by
:class:`kdpose.detection.PersonDetector` and ``kdpose.inference.detectors.resolve_detector``.

:data:`DEFAULT_DETECTOR` is the one switch of the default: the detector ``kdpose infer`` uses when neither ``--det``
nor ``--bboxes`` is given, and ``kdpose demo`` for its pictures and video when ``--detector`` is not given. No torch
import until a factory runs."""
from __future__ import annotations

from ..registry import Registry

BUILTIN_NAMES = ("kdpose-det-nano", "kdpose-det-tiny")
DETECTORS: Registry = Registry("detector")
# The default person detector of `kdpose infer` and of `kdpose demo`'s pictures and video: the shipped detector of
# the `standard` synthetic scenes (val box AP 0.80; on real photos far lower, which infer says at the start). None:
# infer takes each image as one person (with a loud warning) and the demo draws on the ground-truth boxes.
DEFAULT_DETECTOR: str | None = "kdpose-det-tiny.synth-standard_320"


def _builtin(name: str):
    def factory(device: str = "cpu", score_thr: float = 0.3, threads: int | None = None):
        from .detector import PersonDetector

        return PersonDetector(name, device=device, score_thr=score_thr, threads=threads)

    factory.__name__ = name
    factory.__doc__ = f"The built-in {name} (its weights at detection.detector.default_weights_path)."
    return factory


for _name in BUILTIN_NAMES:
    DETECTORS.register(_builtin(_name), name=_name)


def shipped_detector_tags() -> list[str]:
    """Tags of the trained built-in detectors shipped with the package (``kdpose.models.PRETRAINED`` entries whose
    model is a ``kdpose-det-*``); none where torch is missing (an ONNX-only install runs no built-in network)."""
    try:
        from ..models import PRETRAINED
    except ImportError:
        return []
    return sorted(tag for tag, cfg in PRETRAINED.items() if cfg.model in BUILTIN_NAMES)


def unknown_detector_message(text: str) -> str:
    """One line on a detector name that is neither built in nor a shipped tag (with the shipped tags, or the fact
    that none is shipped yet, when it looks like a tag)."""
    shipped = shipped_detector_tags()
    if "." in text and text.split(".")[0] in BUILTIN_NAMES:
        return (f"unknown detector tag '{text}': kdpose ships "
                + (f"these detector tags: {', '.join(shipped)}" if shipped else "no trained detector yet")
                + " (docs/detector.md; or give a detector .safetensors / .onnx file)")
    known = ", ".join([*BUILTIN_NAMES, *shipped])
    return f"unknown detector '{text}' (built-in: {known}; or an .onnx / .safetensors file)"


__all__ = ["BUILTIN_NAMES", "DEFAULT_DETECTOR", "DETECTORS", "shipped_detector_tags", "unknown_detector_message"]
