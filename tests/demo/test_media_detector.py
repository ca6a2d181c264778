"""``kdpose demo --detector``: the pictures and the video take a person detector's boxes instead of the ground-truth
ones (a fake detector callable here, counted; shipped tags resolve through ``kdpose.inference.detectors``)."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.data.synth import SynthConfig, write_coco_dataset
from kdpose.demo.media import gt_boxes_by_image, render_clip, run_video, sample_grid
from kdpose.inference import PoseEstimator

POSE = "rtmpose-s.synth-demo_96x64"


class CountingDetector:
    """One box in the middle of every image, score 0.9; remembers how often it ran."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        h, w = image.shape[:2]
        return np.array([[0.25 * w, 0.1 * h, 0.75 * w, 0.9 * h]], np.float32), np.array([0.9], np.float32)


def test_pictures_and_video_use_the_detector(tmp_path):
    pytest.importorskip("onnxruntime")
    from kdpose.export.onnx import export_onnx
    from kdpose.models import load_model

    ann = write_coco_dataset(tmp_path / "val", SynthConfig.from_preset("standard", width=160, height=120), 2,
                             seed=0, split="val")
    detector = CountingDetector()
    est = PoseEstimator(POSE, threads=1)
    grid = sample_grid({"a": est, "b": est}, ann, "coco", tmp_path / "media", num_images=2, detector=detector)
    assert grid["coco"].is_file() and detector.calls == min(2, len(gt_boxes_by_image(ann, "coco")))
    onnx = export_onnx(load_model(POSE), tmp_path / "pose.onnx")
    clip, det_file = render_clip(tmp_path / "media", "coco", seed=0, frames=3, size=(160, 120), preset="standard")
    detector.calls = 0
    video = run_video(onnx, clip, det_file, "coco", tmp_path / "media", threads=1, detector=detector)
    assert video["frames"] == 3 and detector.calls == 3


def test_the_default_is_the_shipped_detector_and_none_means_the_ground_truth(tmp_path):
    from kdpose.demo.config import DemoOptions
    from kdpose.detection.registry import DEFAULT_DETECTOR, shipped_detector_tags

    assert DEFAULT_DETECTOR in shipped_detector_tags()
    assert DemoOptions(out=tmp_path / "a").detector_name == DEFAULT_DETECTOR
    for spelling in ("none", "None"):
        opts = DemoOptions(out=tmp_path / "b", detector=spelling)
        opts.validate()  # 'none' is no detector name to look up
        assert opts.detector_name is None
    # a bottom-up demo takes no detector, but 'none' asks for none
    DemoOptions(out=tmp_path / "c", method="stagewise", detector="none").validate()
