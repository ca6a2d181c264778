"""Tiny PoseModels of each output family (SimCC, heatmap, regression) for fast export tests."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdpose.codecs.heatmap import HeatmapCodec, HeatmapOutput
from kdpose.codecs.regression import RegressionCodec, RegressionOutput
from kdpose.codecs.simcc import SimCCCodec, SimCCOutput
from kdpose.models import PoseModel
from kdpose.models.pose_model import topdown_info
from kdpose.skeletons import get_skeleton

INPUT_SIZE = (32, 48)  # (w, h)


class TinyBackbone(nn.Module):
    """(B, 3, H, W) -> [(B, 8, H/4, W/4)]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
                                  nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.SiLU())

    def forward(self, x):
        return [self.conv(x)]


class TinySimCCHead(nn.Module):
    def __init__(self, k: int, feat: int, bins: tuple[int, int]):
        super().__init__()
        self.k, self.bins = k, bins
        self.fc_x = nn.Linear(feat, k * bins[0])
        self.fc_y = nn.Linear(feat, k * bins[1])

    def forward(self, feats):
        f = feats[-1].flatten(1)
        return SimCCOutput(self.fc_x(f).view(-1, self.k, self.bins[0]), self.fc_y(f).view(-1, self.k, self.bins[1]))


class TinyHeatmapHead(nn.Module):
    def __init__(self, k: int):
        super().__init__()
        self.conv = nn.Conv2d(8, k, 1)

    def forward(self, feats):
        return HeatmapOutput(self.conv(feats[-1]))


class TinyRegressionHead(nn.Module):
    def __init__(self, k: int, feat: int):
        super().__init__()
        self.k = k
        self.fc = nn.Linear(feat, k * 5)

    def forward(self, feats):
        out = self.fc(feats[-1].flatten(1)).view(-1, self.k, 5)
        return RegressionOutput(out[..., :2].sigmoid(), out[..., 2], out[..., 3:].exp())


def _feat_dim() -> int:
    return 8 * (INPUT_SIZE[0] // 4) * (INPUT_SIZE[1] // 4)


def make_simcc_model(input_size=INPUT_SIZE) -> PoseModel:
    torch.manual_seed(0)
    skeleton = get_skeleton("coco")
    codec = SimCCCodec(input_size)
    head = TinySimCCHead(skeleton.num_keypoints, 8 * (input_size[0] // 4) * (input_size[1] // 4), codec.num_bins)
    return PoseModel(TinyBackbone(), head, codec, skeleton, info=topdown_info("tiny-simcc", skeleton, codec)).eval()


@pytest.fixture
def simcc_model() -> PoseModel:
    return make_simcc_model()


@pytest.fixture
def heatmap_model() -> PoseModel:
    torch.manual_seed(1)
    skeleton = get_skeleton("coco")
    codec = HeatmapCodec(INPUT_SIZE, (INPUT_SIZE[0] // 4, INPUT_SIZE[1] // 4))
    return PoseModel(TinyBackbone(), TinyHeatmapHead(skeleton.num_keypoints), codec, skeleton,
                     info=topdown_info("tiny-heatmap", skeleton, codec)).eval()


@pytest.fixture
def regression_model() -> PoseModel:
    torch.manual_seed(2)
    skeleton = get_skeleton("coco")
    codec = RegressionCodec(INPUT_SIZE)
    return PoseModel(TinyBackbone(), TinyRegressionHead(skeleton.num_keypoints, _feat_dim()), codec, skeleton,
                     info=topdown_info("tiny-regression", skeleton, codec)).eval()
