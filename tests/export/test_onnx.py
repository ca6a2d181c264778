"""ONNX export: graph I/O names, checker, onnxruntime parity, dynamic batch, metadata, clear errors."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from kdpose.errors import CheckpointError, ConfigError, DataError
from kdpose.export.onnx import check_parity, export_onnx, read_metadata
from kdpose.export.runtime import OrtRunner


def _torch_out(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x))


def test_simcc_export_has_rtmpose_io_names_and_passes_checker(simcc_model, tmp_path):
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["simcc_x", "simcc_y"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 48, 32]
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert out_dims[0].dim_param == "batch" and [d.dim_value for d in out_dims[1:]] == [17, 64]


def test_simcc_parity_logits_and_decoded_keypoints(simcc_model, tmp_path):
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    report = check_parity(simcc_model, path, batch=4)
    assert report.ok, report.summary()
    assert report.max_diff < 1e-4
    assert set(report.max_abs_diff) == {"simcc_x", "simcc_y"}
    assert report.keypoint_px_diff is not None and report.keypoint_px_diff <= 0.5


@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_batch_matches_torch(simcc_model, tmp_path, batch):
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    runner = OrtRunner(path, threads=1)
    x = np.random.default_rng(batch).standard_normal((batch, 3, 48, 32)).astype(np.float32)
    sx, sy = runner(x)
    ref = _torch_out(simcc_model, x)
    assert sx.shape == (batch, 17, 64) and sy.shape == (batch, 17, 96)
    np.testing.assert_allclose(sx, ref.x.numpy(), atol=1e-4)
    np.testing.assert_allclose(sy, ref.y.numpy(), atol=1e-4)


def test_fixed_batch_file_is_run_in_chunks(simcc_model, tmp_path):
    path = export_onnx(simcc_model, tmp_path / "b2.onnx", dynamic_batch=False, batch_size=2)
    runner = OrtRunner(path, threads=1)
    assert runner.static_batch == 2
    x = np.random.default_rng(0).standard_normal((3, 3, 48, 32)).astype(np.float32)
    out = runner.run(x)
    np.testing.assert_allclose(out["simcc_x"], _torch_out(simcc_model, x).x.numpy(), atol=1e-4)


def test_metadata_round_trip(simcc_model, tmp_path):
    path = export_onnx(simcc_model, tmp_path / "m.onnx", model_name="tiny-simcc")
    meta = read_metadata(path)
    assert meta.source == "kdpose"
    assert meta.input_size == (32, 48)
    assert meta.input_channels == 3 and meta.channel_order == "RGB"
    assert meta.mean == (123.675, 116.28, 103.53) and meta.std == (58.395, 57.12, 57.375)
    assert meta.skeleton == "coco" and meta.num_keypoints == 17
    assert meta.codec["type"] == "simcc" and meta.codec["split_ratio"] == 2.0
    assert meta.codec["sigma"] == list(simcc_model.codec.sigma)
    assert meta.split_ratio == 2.0
    assert meta.output_type == "SimCCOutput" and meta.output_fields == ["x", "y"]
    assert meta.model == "tiny-simcc" and meta.precision == "fp32"
    from kdpose import __version__

    assert meta.version == __version__
    # the runner sees the same metadata through onnxruntime's ModelMetadata
    runner = OrtRunner(path)
    assert runner.meta == meta


def test_heatmap_family_output_name_and_parity(heatmap_model, tmp_path):
    path = export_onnx(heatmap_model, tmp_path / "hm.onnx")
    runner = OrtRunner(path, threads=1)
    assert runner.output_names == ["heatmaps"]
    assert runner.meta.codec["type"] == "heatmap" and runner.meta.codec["heatmap_size"] == [8, 12]
    report = check_parity(heatmap_model, path, batch=2)
    assert report.ok, report.summary()
    assert report.keypoint_px_diff is not None and report.keypoint_px_diff <= 0.5


def test_regression_family_uses_field_names(regression_model, tmp_path):
    path = export_onnx(regression_model, tmp_path / "reg.onnx")
    runner = OrtRunner(path, threads=1)
    assert runner.output_names == ["coords", "scores", "sigma"]
    report = check_parity(regression_model, path, batch=3)
    assert report.ok, report.summary()
    assert report.keypoint_px_diff <= 0.5


def test_export_rejects_mismatched_input_size(simcc_model, tmp_path):
    with pytest.raises(ConfigError, match="64x64 does not match the model's 32x48"):
        export_onnx(simcc_model, tmp_path / "m.onnx", input_size=(64, 64))
    assert not (tmp_path / "m.onnx").exists()


def test_export_to_a_directory_is_a_data_error(simcc_model, tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        export_onnx(simcc_model, tmp_path)


def test_export_keeps_training_flag(simcc_model, tmp_path):
    simcc_model.train()
    export_onnx(simcc_model, tmp_path / "m.onnx")
    assert simcc_model.training


def test_runner_errors_are_typed_and_name_the_file(simcc_model, tmp_path):
    with pytest.raises(CheckpointError, match="nope.onnx: no such ONNX file"):
        OrtRunner(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(CheckpointError, match="junk.onnx: onnxruntime cannot load it"):
        OrtRunner(junk)
    with pytest.raises(CheckpointError, match="junk.onnx: not a valid ONNX file"):
        read_metadata(junk)
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    runner = OrtRunner(path)
    with pytest.raises(DataError, match=r"m.onnx: input shape \(1, 3, 64, 64\) does not match .*32x48"):
        runner.run(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(DataError, match="must be"):
        runner.run(np.zeros((3, 48, 32), np.float32))
    with pytest.raises(ConfigError, match="exported for 32x48"):
        OrtRunner(path, input_size=(192, 256))
    with pytest.raises(ConfigError, match="unknown device"):
        OrtRunner(path, device="tpu")
    with pytest.raises(ConfigError, match="threads"):
        OrtRunner(path, threads=0)


def test_gpu_request_without_gpu_build_warns_loudly(simcc_model, tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: no fallback to observe")
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    with pytest.warns(RuntimeWarning, match="cuda:0 was requested but onnxruntime runs m.onnx on the CPU"):
        runner = OrtRunner(path, device="cuda:0")
    assert runner.provider == "CPUExecutionProvider"


def test_threads_setting_reaches_the_session(simcc_model, tmp_path):
    path = export_onnx(simcc_model, tmp_path / "m.onnx")
    runner = OrtRunner(path, threads=1)
    assert runner.session.get_session_options().intra_op_num_threads == 1


def _strip_metadata(src, dst, symbolic_hw: bool = False):
    proto = onnx.load(str(src))
    del proto.metadata_props[:]
    if symbolic_hw:
        for value in [proto.graph.input[0], *proto.graph.output]:
            for i, dim in enumerate(value.type.tensor_type.shape.dim):
                if i >= 2:
                    dim.dim_param = f"d{i}"
    onnx.save(proto, str(dst))
    return dst


def test_official_rtmpose_style_file_settings_inferred_from_shapes(simcc_model, tmp_path):
    """A file like MMDeploy's end2end.onnx (same I/O names, no kdpose metadata) runs and gets its settings
    from the static shapes; the layout is not guessed from K."""
    path = _strip_metadata(export_onnx(simcc_model, tmp_path / "k.onnx"), tmp_path / "end2end.onnx")
    runner = OrtRunner(path)
    meta = runner.meta
    assert meta.source == "inferred"
    assert meta.input_size == (32, 48) and meta.split_ratio == 2.0 and meta.num_keypoints == 17
    assert meta.mean == (123.675, 116.28, 103.53) and meta.skeleton is None
    assert OrtRunner(path, skeleton="coco").meta.skeleton == "coco"
    x = np.random.default_rng(0).standard_normal((2, 3, 48, 32)).astype(np.float32)
    np.testing.assert_allclose(runner(x)[0], _torch_out(simcc_model, x).x.numpy(), atol=1e-4)


def test_official_file_with_symbolic_size_requires_user_settings(simcc_model, tmp_path):
    path = _strip_metadata(export_onnx(simcc_model, tmp_path / "k.onnx"), tmp_path / "dyn.onnx", symbolic_hw=True)
    with pytest.raises(ConfigError, match="pass input_size"):
        OrtRunner(path)
    # the bin count is still static (onnxruntime infers it from the weights), so the split ratio is unambiguous
    runner = OrtRunner(path, input_size=(32, 48))
    assert runner.meta.input_size == (32, 48) and runner.meta.split_ratio == 2.0
    assert OrtRunner(path, input_size=(32, 48), split_ratio=2.0).meta.split_ratio == 2.0
    x = np.zeros((1, 3, 48, 32), np.float32)
    assert runner(x)[1].shape == (1, 17, 96)


def test_parity_report_pass_rules():
    from kdpose.export.onnx import ParityReport

    tight = ParityReport({"a": 5e-5}, {"a": 4.0}, None, batch=2, atol=1e-4)
    assert tight.ok and tight.passed
    loose = ParityReport({"a": 3e-4}, {"a": 4.0}, None, batch=2, atol=1e-4)
    assert not loose.ok and not loose.passed  # no float64 reference: cannot tell rounding from an export bug
    loose.fp64_err_torch, loose.fp64_err_onnx = 2e-4, 3e-4
    assert loose.passed                       # ORT as close to float64 as torch itself: rounding
    loose.fp64_err_onnx = 1e-2
    assert not loose.passed                   # ORT much further from the exact result: a real discrepancy
    assert "error vs float64: torch 2.00e-04, onnxruntime 1.00e-02" in loose.summary()


def test_provider_lists_for_each_device():
    from kdpose.export.runtime import resolve_providers

    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers("cpu", gpu) == ["CPUExecutionProvider"]
    assert resolve_providers("cuda:1", gpu) == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert resolve_providers("tensorrt", gpu) == [("TensorrtExecutionProvider", {}), ("CUDAExecutionProvider", {}),
                                                  "CPUExecutionProvider"]
    # asked-for providers that this onnxruntime build lacks are dropped (OrtRunner then warns)
    assert resolve_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="bad device index"):
        resolve_providers("cuda:x", gpu)
