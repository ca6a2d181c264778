"""Distillation methods: one file each, registered in DISTILLERS; add a method with one import line below."""
from ..registry import Registry

DISTILLERS = Registry("distiller")

# methods (one import line each)
from .base import (Distiller, DistillMethod, FrozenTeacher, build_distiller, get_distill_method,  # noqa: E402
                   register_distiller)
from . import stagewise  # noqa: F401,E402  (stagewise: pose-machine stagewise distillation + hints)
from . import distilpose  # noqa: F401,E402  (distilpose: DistilPose heatmap -> regression)
from . import dwpose  # noqa: F401,E402  (dwpose, dwpose_stage2: DWPose two-stage pose distillation)
from . import sdpose  # noqa: F401,E402  (sdpose: SDPose multi-cycle self-distillation)

__all__ = ["DISTILLERS", "DistillMethod", "Distiller", "FrozenTeacher", "build_distiller", "get_distill_method",
           "register_distiller"]
