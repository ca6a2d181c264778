"""A tiny "oracle" pose model for pipeline tests: keypoint k is the pixel whose colour is closest to colour k.

It has no weights to train, so back-projection, channel order, batching, flip test and the ONNX/PyTorch agreement
can be checked with exact expectations on synthetic scenes of coloured dots."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kdpose.codecs import SimCCCodec, SimCCOutput
from kdpose.data.sample import MEAN_RGB, STD_RGB
from kdpose.models import PoseModel
from kdpose.models.pose_model import topdown_info
from kdpose.skeletons import get_skeleton

INPUT_SIZE = (48, 64)  # (w, h)


def keypoint_colors_bgr(k: int) -> np.ndarray:
    """(K, 3) distinct, saturated BGR colours (uint8): evenly spaced hues (L1 distance > 60 for K <= 17)."""
    import cv2

    hsv = np.stack([np.arange(k) * 180 // k, np.full(k, 255), np.full(k, 255)], 1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]


class ColorOracle(nn.Module):
    """(B, 3, H, W) normalised RGB -> SimCCOutput whose arg-max is the pixel of colour k."""

    def __init__(self, colors_bgr: np.ndarray, split_ratio: int = 2):
        super().__init__()
        rgb = torch.tensor(colors_bgr[:, ::-1].copy(), dtype=torch.float32)  # the model sees RGB
        self.register_buffer("colors", rgb.view(1, -1, 3, 1, 1))
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD_RGB).view(1, 3, 1, 1))
        self.split = split_ratio

    def forward(self, x):
        rgb = x * self.std + self.mean  # undo the normalisation
        dist = (rgb.unsqueeze(1) - self.colors).abs().sum(2)  # (B, K, H, W)
        match = torch.relu(1.0 - dist / 60.0)  # 1 at the exact colour, 0 beyond 60 levels
        sx = match.amax(2).repeat_interleave(self.split, -1)  # (B, K, W*split)
        sy = match.amax(3).repeat_interleave(self.split, -1)
        return SimCCOutput(sx, sy)


class _Head(nn.Module):
    def forward(self, feats):
        return feats[-1]


class _Backbone(nn.Module):
    def __init__(self, oracle):
        super().__init__()
        self.oracle = oracle

    def forward(self, x):
        return [self.oracle(x)]


def make_oracle_model(layout: str = "coco") -> PoseModel:
    sk = get_skeleton(layout)
    codec = SimCCCodec(INPUT_SIZE, split_ratio=2.0)
    return PoseModel(_Backbone(ColorOracle(keypoint_colors_bgr(sk.num_keypoints))), _Head(), codec, sk,
                     info=topdown_info("color-oracle", sk, codec)).eval()


class TinyConvPose(nn.Module):
    """Random-weight conv net with a SimCC head (batch-independent in eval mode)."""

    def __init__(self, k: int):
        super().__init__()
        w, h = INPUT_SIZE
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1))
        self.fx = nn.Linear(8 * (h // 4) * (w // 4), k * w * 2)
        self.fy = nn.Linear(8 * (h // 4) * (w // 4), k * h * 2)
        self.k = k

    def forward(self, x):
        f = self.body(x).flatten(1)
        return [SimCCOutput(self.fx(f).view(x.shape[0], self.k, -1), self.fy(f).view(x.shape[0], self.k, -1))]


def make_tiny_model(layout: str = "coco") -> PoseModel:
    torch.manual_seed(0)
    sk = get_skeleton(layout)
    codec = SimCCCodec(INPUT_SIZE)
    return PoseModel(TinyConvPose(sk.num_keypoints), _Head(), codec, sk,
                     info=topdown_info("tiny-conv", sk, codec)).eval()


DOT_RADIUS = 4


def draw_dots(image: np.ndarray, keypoints: np.ndarray, colors: np.ndarray, radius: int = DOT_RADIUS) -> np.ndarray:
    """Paint each keypoint (K, 2) as a small filled square of its colour."""
    h, w = image.shape[:2]
    for (x, y), c in zip(np.round(keypoints).astype(int), colors):
        image[max(0, y - radius):min(h, y + radius + 1), max(0, x - radius):min(w, x + radius + 1)] = c
    return image


def synthetic_scene(people: int = 3, size=(640, 480), seed: int = 0, k: int = 17):
    """Black image with ``people`` dot-skeletons; returns image, GT keypoints (N, K, 2), GT boxes (N, 4)."""
    rng = np.random.default_rng(seed)
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)
    colors = keypoint_colors_bgr(k)
    kpts, boxes = [], []
    slot = w // people
    for i in range(people):
        bw, bh = rng.uniform(60, min(120, slot - 20)), rng.uniform(100, 200)
        x0, y0 = i * slot + rng.uniform(5, slot - bw - 5), rng.uniform(10, h - bh - 10)
        # a 3 x 6 grid of cells, one dot per cell (jittered), so dots never touch
        cell = np.array([bw / 3, bh / 6])
        grid = np.stack(np.meshgrid(np.arange(3), np.arange(6)), -1).reshape(-1, 2)[:k]
        p = np.array([x0, y0]) + (grid + 0.5 + rng.uniform(-0.2, 0.2, (k, 2))) * cell
        draw_dots(image, p, colors)
        kpts.append(np.round(p))
        boxes.append([x0, y0, x0 + bw, y0 + bh])
    return image, np.asarray(kpts, np.float32), np.asarray(boxes, np.float32)


@pytest.fixture
def oracle_model():
    return make_oracle_model()


@pytest.fixture
def tiny_model():
    return make_tiny_model()


@pytest.fixture(scope="session")
def oracle_onnx(tmp_path_factory) -> str:
    """The oracle model exported once per test session (kdpose metadata, dynamic batch)."""
    pytest.importorskip("onnxruntime")
    from kdpose.export.onnx import export_onnx

    path = tmp_path_factory.mktemp("oracle") / "oracle.onnx"
    export_onnx(make_oracle_model(), path)
    return str(path)
