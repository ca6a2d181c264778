"""Codecs: keypoints <-> training targets (numpy encode) and outputs -> keypoints (torch decode)."""
from .paf import PafCodec, PafOutput, PafPeople, PafTarget  # noqa: F401  (depth pose machines)
from .simcc import SimCCCodec, SimCCOutput, SimCCTarget, default_sigma
from .heatmap import HeatmapCodec, HeatmapOutput, HeatmapTarget  # noqa: F401  (SimpleBaseline, HRNet, TokenPose)
from .regression import RegressionCodec, RegressionOutput, RegressionTarget  # noqa: F401  (DeepPose, DistilPose)
from .points import PointBoxCoder  # noqa: F401  (the person detector's boxes)

__all__ = ["SimCCCodec", "SimCCOutput", "SimCCTarget", "default_sigma"]
