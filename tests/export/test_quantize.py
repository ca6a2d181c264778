"""fp16 and int8 variants (static QDQ by default, dynamic when asked): they load, keep float32 I/O and the metadata
with their precision, stay close to fp32, and runners refuse precisions they cannot execute."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from kdpose.errors import CheckpointError, ConfigError
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


def test_dynamic_int8_is_labelled_and_runs_close(fp32_file, tmp_path):
    dst = quantize_int8(fp32_file, tmp_path / "m.int8-dynamic.onnx", mode="dynamic")
    proto = onnx.load(str(dst))
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMulInteger", "ConvInteger"} & ops
    assert read_metadata(dst).precision == "int8-dynamic" and OrtRunner(dst).precision == "int8-dynamic"
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
    assert read_metadata(dst).precision == "int8"
    assert "8 crops given by the caller" in _props(dst)["kdpose.calibration"]
    x = np.random.default_rng(0).standard_normal((4, 3, 48, 32)).astype(np.float32)
    ref, q = _outputs(fp32_file, x), _outputs(dst, x)
    assert np.corrcoef(q[0].ravel(), ref[0].ravel())[0, 1] > 0.98


def _props(path):
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def test_int8_default_is_static_calibrated_on_synthetic_crops(fp32_file, tmp_path):
    dst = quantize_int8(fp32_file, tmp_path / "m.int8.onnx", calibration_count=6)
    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and not {"ConvInteger", "MatMulInteger"} & ops
    assert read_metadata(dst).precision == "int8" and OrtRunner(dst).precision == "int8"
    assert "rendered synthetic people" in _props(dst)["kdpose.calibration"]
    assert _props(dst)["kdpose.model"] == "tiny"                       # the fp32 file's metadata is kept
    with pytest.raises(ConfigError, match="unknown int8 mode 'fast'"):
        quantize_int8(fp32_file, tmp_path / "x.onnx", mode="fast")
    with pytest.raises(ConfigError, match="dynamic int8 takes no calibration"):
        quantize_int8(fp32_file, tmp_path / "x.onnx", mode="dynamic", calibration=np.zeros((1, 3, 48, 32)))


def _with_precision(src, dst, precision):
    proto = onnx.load(str(src))
    for p in proto.metadata_props:
        if p.key == "kdpose.precision":
            p.value = precision
    onnx.save(proto, str(dst))
    return dst


def test_runner_refuses_precisions_it_cannot_execute(fp32_file, tmp_path):
    from kdpose.inference.backends import OnnxBackend

    bf16 = _with_precision(fp32_file, tmp_path / "m.bf16.onnx", "bf16")
    with pytest.raises(CheckpointError, match=r"m.bf16.onnx: precision bf16 cannot run on CPUExecutionProvider: "
                                              r"onnxruntime's CPU provider has no bf16 kernels"):
        OrtRunner(bf16)
    future = _with_precision(fp32_file, tmp_path / "m.int4.onnx", "int4")
    with pytest.raises(CheckpointError, match="precision 'int4' .* is not one this kdpose can run"):
        OrtRunner(future)
    old = _with_precision(fp32_file, tmp_path / "m.old.onnx", "int8-static")   # older kdpose's name for static int8
    assert OrtRunner(old).precision == "int8"
    # an .onnx file runs in its own precision: asking for another one is a one-line error
    assert OnnxBackend(fp32_file, precision="auto").precision == "fp32"
    with pytest.raises(ConfigError, match=r"exported in \(fp32\); precision='bf16' applies to PyTorch"):
        OnnxBackend(fp32_file, precision="bf16")


def test_runner_names_bf16_when_the_graph_itself_is_bf16(simcc_model, tmp_path):
    """A graph computing in bf16 (what a bf16 export would be) cannot even load on the CPU provider."""
    import io
    import warnings

    import torch

    class Bf16(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model.to(torch.bfloat16)

        def forward(self, x):
            out = self.model(x.to(torch.bfloat16))
            return out.x.float(), out.y.float()

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Bf16(simcc_model), (torch.zeros(1, 3, 48, 32),), buf, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["simcc_x", "simcc_y"])
    path = tmp_path / "graph.bf16.onnx"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="graph.bf16.onnx: precision bf16 cannot run on CPUExecutionProvider"):
        OrtRunner(path)


def test_quantising_a_variant_or_an_empty_file_is_refused(fp32_file, tmp_path):
    """An fp16 or int8 file quantised again, or an empty file, was written under the new precision and loaded nowhere."""
    half = quantize_fp16(fp32_file, tmp_path / "m.fp16.onnx")
    int8 = quantize_int8(fp32_file, tmp_path / "m.int8.onnx", calibration=np.zeros((2, 3, 48, 32), np.float32))
    for variant, again in [(half, lambda s, d: quantize_int8(s, d, mode="dynamic")), (half, quantize_int8),
                           (int8, quantize_fp16), (int8, quantize_int8)]:
        with pytest.raises(ConfigError, match=f"{variant.name}: is a .*; make the variants from the fp32 export"):
            again(variant, tmp_path / "again.onnx")
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(CheckpointError, match="e.onnx: holds no ONNX graph"):
        quantize_fp16(tmp_path / "e.onnx", tmp_path / "e.fp16.onnx")
    assert not (tmp_path / "again.onnx").exists() and not (tmp_path / "e.fp16.onnx").exists()


def test_static_int8_below_opset_13_is_refused(simcc_model, tmp_path):
    """Per-channel QDQ needs opset 13: at 11 / 12 an unloadable file was written and the export said it worked."""
    src = export_onnx(simcc_model, tmp_path / "m11.onnx", opset=11)
    with pytest.raises(ConfigError, match="m11.onnx: static int8 needs opset >= 13 and this file is opset 11"):
        quantize_int8(src, tmp_path / "m11.int8.onnx", calibration=np.zeros((2, 3, 48, 32), np.float32))
    OrtRunner(quantize_int8(src, tmp_path / "m11.dyn.onnx", mode="dynamic"))   # dynamic int8 loads at opset 11


def test_static_int8_of_a_fixed_batch_file_calibrates_in_its_batches(simcc_model, tmp_path):
    """Crops went one at a time into a file of fixed batch 4: a 30-line onnxruntime traceback."""
    from kdpose.errors import DataError

    src = export_onnx(simcc_model, tmp_path / "b4.onnx", dynamic_batch=False, batch_size=4)
    calib = np.random.default_rng(1).standard_normal((5, 3, 48, 32)).astype(np.float32)
    dst = quantize_int8(src, tmp_path / "b4.int8.onnx", calibration=calib)
    x = np.random.default_rng(0).standard_normal((4, 3, 48, 32)).astype(np.float32)
    ref, q = _outputs(src, x), _outputs(dst, x)
    assert np.corrcoef(q[0].ravel(), ref[0].ravel())[0, 1] > 0.98
    with pytest.raises(DataError, match=r"b4.onnx: calibration crops are 3x16x16 \(C x H x W\), the file takes 3x48x32"):
        quantize_int8(src, tmp_path / "x.onnx", calibration=np.zeros((2, 3, 16, 16), np.float32))


def test_int8_asked_of_an_fp32_file_and_a_folder_get_the_right_message(fp32_file, tmp_path):
    """'int8' asked of an fp32 file said "unknown precision 'int8'" (it is a file precision); a folder said "no such
    ONNX file"."""
    from kdpose.export.onnx import read_metadata
    from kdpose.inference.backends import load_backend

    with pytest.raises(ConfigError, match="an .onnx file runs in the precision it was exported in \\(fp32\\)"):
        load_backend(fp32_file, precision="int8")
    (tmp_path / "models.onnx").mkdir()
    for call in (read_metadata, lambda p: quantize_fp16(p, tmp_path / "x.onnx")):
        with pytest.raises(CheckpointError, match="models.onnx: a directory, not an ONNX file"):
            call(tmp_path / "models.onnx")
