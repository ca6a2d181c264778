"""A second accuracy number for weak models: PCK@0.2 on the demo's validation people (ground-truth boxes); the
library's :func:`kdpose.inference.pck.pck_on_annotations`."""
from __future__ import annotations

from ..inference.pck import pck_on_annotations as pck_on_val

__all__ = ["pck_on_val"]
