"""Named person detectors: ``DETECTORS`` maps a name to a factory ``(device, score_thr) -> detector callable``
(``image (H, W, 3) uint8 BGR -> (boxes (N, 4) xyxy, scores (N,))``). ``kdpose.PoseEstimator(detector="name")`` and
``kdpose infer --det name`` look names up here; the built-in detectors are registered below, and a user registers
their own with ``DETECTORS.register(factory, name=...)``. No torch import until a factory runs."""
from __future__ import annotations

from ..registry import Registry

BUILTIN_NAMES = ("kdpose-det-nano", "kdpose-det-tiny")
DETECTORS: Registry = Registry("detector")


def _builtin(name: str):
    def factory(device: str = "cpu", score_thr: float = 0.3):
        from .detector import PersonDetector

        return PersonDetector(name, device=device, score_thr=score_thr)

    factory.__name__ = name
    factory.__doc__ = f"The built-in {name} (its weights at detection.detector.default_weights_path)."
    return factory


for _name in BUILTIN_NAMES:
    DETECTORS.register(_builtin(_name), name=_name)

__all__ = ["BUILTIN_NAMES", "DETECTORS"]
