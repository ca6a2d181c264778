"""Codecs: keypoints <-> training targets (numpy encode) and outputs -> keypoints (torch decode)."""
from .paf import PafCodec, PafOutput, PafPeople, PafTarget  # noqa: F401  (depth pose machines)
from .simcc import SimCCCodec, SimCCOutput, SimCCTarget, default_sigma
from .heatmap import HeatmapCodec, HeatmapOutput, HeatmapTarget  # noqa: F401  (SimpleBaseline, HRNet, TokenPose)
from .regression import RegressionCodec, RegressionOutput, RegressionTarget  # noqa: F401  (DeepPose, DistilPose)

__all__ = ["SimCCCodec", "SimCCOutput", "SimCCTarget", "default_sigma"]
