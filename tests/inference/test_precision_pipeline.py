"""Precision through the pipeline: PoseEstimator / kdpose infer with precision=..., int8 ONNX files."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from kdpose.cli.main import main  # noqa: E402
from kdpose.errors import ConfigError  # noqa: E402
from kdpose.inference.estimator import PoseEstimator  # noqa: E402

from .conftest import synthetic_scene  # noqa: E402


def test_int8_file_runs_in_its_precision(tmp_path, oracle_onnx):
    from kdpose.export.quantize import quantize_int8

    est = PoseEstimator(oracle_onnx, nms_thr=None)
    image, truth, boxes = synthetic_scene(people=3, seed=3)
    ref = est.predict_arrays(image, bboxes=boxes)
    # calibrate on the estimator's own crops of other scenes
    from kdpose.inference.topdown import crop_people

    scenes = [synthetic_scene(people=3, seed=s) for s in (11, 12)]
    calib = crop_people([s[0] for s in scenes], [s[2] for s in scenes], est.input_size, est.backend.mean,
                        est.backend.std).inputs
    q = quantize_int8(oracle_onnx, tmp_path / "oracle.int8.onnx", calibration=calib)
    int8 = PoseEstimator(str(q), nms_thr=None, precision="auto")
    assert int8.precision == "int8" and est.precision == "fp32" and "precision=int8" in repr(int8)
    got = int8.predict_arrays(image, bboxes=boxes)
    assert got.keypoints.shape == ref.keypoints.shape and np.isfinite(got.keypoints).all()
    with pytest.raises(ConfigError, match=r"exported in \(int8\); precision='fp32' applies"):
        PoseEstimator(str(q), precision="fp32")


def test_torch_model_precision_argument(tiny_model):
    image, _, boxes = synthetic_scene(people=2, seed=4)
    ref = PoseEstimator(tiny_model, nms_thr=None, threads=1).predict_arrays(image, bboxes=boxes)
    est = PoseEstimator(tiny_model, nms_thr=None, threads=1, precision="bf16")
    assert est.precision == "bf16"
    low = est.predict_arrays(image, bboxes=boxes)
    assert low.keypoints.dtype == np.float32 and low.keypoints.shape == ref.keypoints.shape
    with pytest.raises(ConfigError, match="'fp16' is for CUDA"):
        PoseEstimator(tiny_model, precision="fp16")


def test_infer_precision_flag(tmp_path, oracle_onnx, capsys):
    import cv2

    image, _, _ = synthetic_scene(people=1, seed=2)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    out = str(tmp_path / "o")
    args = ["infer", str(tmp_path / "a.png"), "--model", oracle_onnx, "--json", "--no-vis", "--out", out]
    assert main([*args, "--precision", "auto"]) == 0
    assert "fps (fp32; detector" in capsys.readouterr().out
    assert main([*args, "--precision", "bf16"]) == 2
    assert "precision='bf16' applies to PyTorch models" in capsys.readouterr().err
