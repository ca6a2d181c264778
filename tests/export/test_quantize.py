"""fp16 and dynamic-int8 variants: they load, keep float32 I/O and the metadata, and stay close to fp32."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from kdpose.errors import CheckpointError
from kdpose.export.onnx import export_onnx, read_metadata
from kdpose.export.quantize import quantize_fp16, quantize_int8
from kdpose.export.runtime import OrtRunner


@pytest.fixture
def fp32_file(simcc_model, tmp_path):
    return export_onnx(simcc_model, tmp_path / "m.onnx", model_name="tiny")


def _outputs(path, x):
    return OrtRunner(path, threads=1)(x)


def _decode(sx, sy):
    return np.stack([sx.argmax(-1), sy.argmax(-1)], -1) / 2.0


def test_fp16_runs_close_with_metadata(fp32_file, tmp_path):
    dst = quantize_fp16(fp32_file, tmp_path / "m.fp16.onnx")
    proto = onnx.load(str(dst))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    meta = read_metadata(dst)
    assert meta.precision == "fp16" and meta.model == "tiny" and meta.input_size == (32, 48)
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 32)).astype(np.float32)
    ref, half = _outputs(fp32_file, x), _outputs(dst, x)
    assert half[0].dtype == np.float32
    scale = np.abs(ref[0]).max()
    assert np.abs(half[0] - ref[0]).max() < 5e-3 * scale
    assert dst.stat().st_size < 0.6 * fp32_file.stat().st_size


def test_int8_runs_close_with_metadata(fp32_file, tmp_path):
    dst = quantize_int8(fp32_file, tmp_path / "m.int8.onnx")
    proto = onnx.load(str(dst))
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMulInteger", "ConvInteger"} & ops
    assert read_metadata(dst).precision == "int8"
    x = np.random.default_rng(0).standard_normal((4, 3, 48, 32)).astype(np.float32)
    ref, q = _outputs(fp32_file, x), _outputs(dst, x)
    scale = np.abs(ref[0]).max()
    assert np.abs(q[0] - ref[0]).max() < 0.1 * scale
    # logits stay strongly correlated, and the decoded positions agree for most keypoints
    assert np.corrcoef(q[0].ravel(), ref[0].ravel())[0, 1] > 0.99
    agree = np.abs(_decode(*q) - _decode(*ref)).max(-1) <= 1.0
    assert agree.mean() > 0.8
    assert dst.stat().st_size < 0.5 * fp32_file.stat().st_size


def test_quantize_missing_source_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="missing.onnx: no such ONNX file"):
        quantize_int8(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    with pytest.raises(CheckpointError, match="missing.onnx"):
        quantize_fp16(tmp_path / "missing.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_static_int8_with_calibration(fp32_file, tmp_path):
    calib = np.random.default_rng(1).standard_normal((8, 3, 48, 32)).astype(np.float32)
    dst = quantize_int8(fp32_file, tmp_path / "m.int8s.onnx", calibration=calib)
    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert read_metadata(dst).precision == "int8-static"
    x = np.random.default_rng(0).standard_normal((4, 3, 48, 32)).astype(np.float32)
    ref, q = _outputs(fp32_file, x), _outputs(dst, x)
    assert np.corrcoef(q[0].ravel(), ref[0].ravel())[0, 1] > 0.98
