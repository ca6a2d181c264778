"""Codecs: keypoints <-> training targets (numpy encode) and outputs -> keypoints (torch decode)."""
from .paf import PafCodec, PafOutput, PafPeople, PafTarget  # noqa: F401  (depth pose machines)
from .simcc import SimCCCodec, SimCCOutput, SimCCTarget, default_sigma

__all__ = ["SimCCCodec", "SimCCOutput", "SimCCTarget", "default_sigma"]
