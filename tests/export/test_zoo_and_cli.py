"""Zoo models (RTMPose / DWPose) through export, and the ``kdpose export`` / ``kdpose bench`` commands."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from kdpose.cli.main import main
from kdpose.export.bench import realistic_random_weights
from kdpose.export.onnx import check_parity, export_onnx, read_metadata
from kdpose.export.runtime import OrtRunner
from kdpose.models import create_model, save_weights

SMALL = (64, 64)  # (w, h): the smallest input the RTMCC head's 1/32 feature map supports comfortably


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("name,k", [("rtmpose-t", 17), ("dwpose-t", 133)])
def test_rtmpose_family_export_parity(name, k, tmp_path):
    model = realistic_random_weights(create_model(name, input_size=SMALL).eval())
    path = export_onnx(model, tmp_path / f"{name}.onnx", model_name=name)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["simcc_x", "simcc_y"]
    report = check_parity(model, path, batch=3, fp64_reference=True)
    # Random networks amplify float32 rounding: torch and onnxruntime (different conv algorithms, BN folded
    # into convs) each differ from the exact float64 result by ~1e-4 on O(5) logits. The export is right when
    # onnxruntime is as close to float64 as PyTorch itself is.
    assert report.max_diff < 5e-4, report.summary()
    assert report.passed and report.fp64_err_onnx <= 3 * report.fp64_err_torch + 1e-5, report.summary()
    assert max(report.ref_scale.values()) > 1.0  # the check ran on trained-like logits, not ~1e-9 ones
    assert report.keypoint_px_diff <= 0.5
    meta = read_metadata(path)
    assert meta.model == name and meta.num_keypoints == k and meta.input_size == SMALL
    assert meta.skeleton == ("coco" if k == 17 else "coco_wholebody")
    runner = OrtRunner(path, threads=1)
    assert runner(np.zeros((1, 3, 64, 64), np.float32))[0].shape == (1, k, 128)


def test_cli_export_with_weights_matches_torch(tmp_path, capsys):
    model = realistic_random_weights(create_model("rtmpose-t", input_size=SMALL).eval(), seed=3)
    weights = save_weights(model, tmp_path / "w.safetensors")
    out = tmp_path / "out" / "rt.onnx"
    rc = main(["export", "rtmpose-t", "--weights", str(weights), "--out", str(out), "--input-size", "64x64",
               "--int8"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "parity: max |torch - onnxruntime|" in text and "wrote" in text
    assert out.is_file() and (tmp_path / "out" / "rt.int8.onnx").is_file()
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    np.testing.assert_allclose(OrtRunner(out)(x)[0], ref.x.numpy(), atol=1e-4)
    int8 = read_metadata(tmp_path / "out" / "rt.int8.onnx")
    assert int8.precision == "int8"
    # both files say which trained weights they hold (the file's name, not the local folder)
    assert read_metadata(out).weights == int8.weights == "w.safetensors"
    assert "rtmpose-t (w.safetensors)" in text


def test_cli_export_of_a_pretrained_tag_records_the_tag(tmp_path, capsys):
    out = tmp_path / "teacher.onnx"
    assert main(["export", "rtmpose-m.synth-standard_128x96", "--out", str(out), "--no-check"]) == 0
    assert "rtmpose-m (rtmpose-m.synth-standard_128x96)" in capsys.readouterr().out
    meta = read_metadata(out)
    assert meta.model == "rtmpose-m" and meta.weights == "rtmpose-m.synth-standard_128x96"


def test_cli_export_fixed_batch(tmp_path, capsys):
    out = tmp_path / "b1.onnx"
    assert main(["export", "rtmpose-t", "--out", str(out), "--input-size", "64x64", "--batch", "1"]) == 0
    assert OrtRunner(out).static_batch == 1
    assert "(random weights)" in capsys.readouterr().out and read_metadata(out).weights is None


@pytest.mark.parametrize("argv,message", [
    (["export", "rtmpose-t", "--out", "{tmp}/m.onnx", "--input-size", "64"], "--input-size must look like WxH"),
    (["export", "rtmpose-t", "--out", "{tmp}/m.onnx", "--batch", "0"], "--batch must be 'dynamic'"),
    (["export", "rtmpose-t", "--out", "{tmp}/m.txt"], "--out must end with .onnx"),
    (["export", "rtmpose-t", "--out", "{tmp}/m.onnx", "--weights", "{tmp}/none.safetensors"],
     "none.safetensors: no such weights file"),
    (["export", "rtmpose-zz", "--out", "{tmp}/m.onnx"], "unknown model 'rtmpose-zz'"),
    (["bench", "{tmp}/missing.onnx"], "missing.onnx: no such ONNX file"),
    (["bench", "rtmpose-t", "--backend", "tensorflow"], "unknown value(s) tensorflow"),
    (["bench", "rtmpose-t", "--plot", "{tmp}/p.png"], "--plot needs accuracy numbers"),
    (["bench", "rtmpose-t", "--ap", "rtmpose-t:68"], "--ap must look like MODEL=AP"),
])
def test_cli_bad_input_is_one_line_error(argv, message, tmp_path, capsys):
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("kdpose: error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["--out", "{tmp}/file/m.onnx"], "{tmp}/file: --out {tmp}/file/m.onnx lies under a file, not a folder"),
    (["--out", "{tmp}/dir.onnx"], "{tmp}/dir.onnx: --out names a folder; give a file name (e.g. "
                                   "{tmp}/dir.onnx/model.onnx)"),
    (["--out", "{tmp}/m.onnx", "--int8", "--calib-count", "0"], "--calib-count must be >= 1, got 0"),
    (["--out", "{tmp}/m.onnx", "--int8", "--opset", "11"],
     "--int8 (static, per-channel) needs --opset 13 or later (got 11); or use --int8 dynamic"),
])
def test_cli_export_refuses_before_building_the_model(argv, message, tmp_path, capsys, monkeypatch):
    # these used to fail only after the model was built, exported and checked for parity ("File exists", or a
    # "calibration count" message naming no option, with m.onnx already written)
    import kdpose.cli.export as export_cmd

    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "dir.onnx").mkdir()
    monkeypatch.setattr(export_cmd, "load_any_model", lambda *a: pytest.fail("model built before the check"))
    rc = main(["export", "rtmpose-t"] + [a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f"kdpose: error: {message}".replace("{tmp}", str(tmp_path))
    assert not (tmp_path / "m.onnx").exists()


def test_cli_bench_table_json_and_plot(tmp_path, capsys):
    js, png = tmp_path / "b.json", tmp_path / "p.png"
    rc = main(["bench", "rtmpose-t", "--input-size", "64x64", "--batch", "1,2", "--threads", "1", "--iters", "2",
               "--warmup", "0", "--ap", "rtmpose-t=68.5", "--plot", str(png), "--json", str(js)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "| rtmpose-t |" in text and "matmul peak" in text
    data = json.loads(js.read_text())
    assert {(r["backend"], r["batch"]) for r in data["rows"]} == {("torch", 1), ("torch", 2),
                                                                  ("onnxruntime", 1), ("onnxruntime", 2)}
    row = data["rows"][0]
    assert row["gflops"] == pytest.approx(2 * row["gmacs"]) and row["params_m"] > 3.0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["rtmpose-t", "--json", "{tmp}/file/b.json"],
     "{tmp}/file: --json {tmp}/file/b.json lies under a file, not a folder"),
    (["rtmpose-t", "--json", "{tmp}/dir"], "{tmp}/dir: --json names a folder; give a file name (e.g. "
                                           "{tmp}/dir/bench.json)"),
    (["rtmpose-t", "--ap", "rtmpose-t=68.5", "--plot", "{tmp}/file/p.png"],
     "{tmp}/file: --plot {tmp}/file/p.png lies under a file, not a folder"),
    (["rtmpose-t", "rtmpose-s", "--ap", "rtmpose-m=75.8"],
     "--ap rtmpose-m=75.8: rtmpose-m is not a benchmarked MODEL (MODELs: rtmpose-t, rtmpose-s; an .onnx file is "
     "named by its stem)"),
    (["rtmpose-t", "--ap", "rtmpose-t=nan"], "--ap rtmpose-t=nan: the AP must be a finite number >= 0 (e.g. 68.5 or "
                                             "0.685)"),
    (["{tmp}/m.onnx", "--ap", "m=60", "--plot", "{tmp}/p.png"],
     "--plot-x gflops: {tmp}/m.onnx is an ONNX file, which has no FLOP count; plot it with --plot-x latency, or drop "
     "its --ap"),
    (["rtmpose-t", "--backend", "torch", "--precision", "fp32,fp16"], "precision 'fp16' is for CUDA devices"),
])
def test_cli_bench_refuses_before_timing(argv, message, tmp_path, capsys, monkeypatch):
    # these used to fail only after every model was built, exported and timed (minutes), or after the models
    # before the bad one were
    import kdpose.cli.bench as bench_cmd

    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "dir").mkdir()
    (tmp_path / "m.onnx").write_bytes(b"")  # never read: the check comes first
    monkeypatch.setattr(bench_cmd, "_bench_one", lambda *a, **k: pytest.fail("a model was built or timed first"))
    rc = main(["bench"] + [a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("kdpose: error: " + message.replace("{tmp}", str(tmp_path))), err


def test_cli_bench_unknown_second_model_fails_before_the_first_is_timed(capsys, monkeypatch):
    import kdpose.cli.bench as bench_cmd

    monkeypatch.setattr(bench_cmd, "_bench_one", lambda *a, **k: pytest.fail("rtmpose-t was timed first"))
    assert main(["bench", "rtmpose-t", "rtmpose-zz", "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error: ") and "rtmpose-zz" in err and err.count("\n") == 1


def test_cli_bench_json_in_a_read_only_folder(tmp_path, capsys, monkeypatch):
    import os
    from pathlib import Path

    import kdpose.cli.bench as bench_cmd

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    # the folder reads as not writable for this user (a chmod would not stop root, who runs some test machines)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != ro and real_access(path, mode))
    monkeypatch.setattr(bench_cmd, "_bench_one", lambda *a, **k: pytest.fail("timed before checking --json"))
    assert main(["bench", "rtmpose-t", "--json", str(ro / "out" / "b.json")]) == 2
    assert capsys.readouterr().err == (f"kdpose: error: {ro}: cannot write --json {ro / 'out' / 'b.json'} there "
                                       "(permission denied)\n")


@pytest.mark.parametrize("name,size,outputs,check_decoded", [
    ("tokenpose-mini-s", (48, 64), ["heatmaps"], False),          # heatmap family (transformer)
    ("distilpose-mini-s", (48, 64), ["coords", "scores", "sigma"], True),  # regression family
    ("mpm-2s", (64, 64), ["heatmaps", "pafs"], False),           # depth pose machine, bottom-up
])
def test_other_families_export_parity(name, size, outputs, check_decoded, tmp_path):
    """Random-weight heatmaps have near-ties that DARK refinement amplifies, so the decoded-keypoint bound is
    asserted only where decoding is well conditioned (regression); raw outputs are compared for every family."""
    model = realistic_random_weights(create_model(name, input_size=size).eval())
    path = export_onnx(model, tmp_path / f"{name}.onnx", model_name=name)
    runner = OrtRunner(path, threads=1)
    assert runner.output_names == outputs
    report = check_parity(model, path, batch=2, fp64_reference=True)
    assert report.max_diff < 5e-4, report.summary()
    assert report.passed and report.fp64_err_onnx <= 3 * report.fp64_err_torch + 1e-5, report.summary()
    if check_decoded:
        assert report.keypoint_px_diff <= 0.5
    in_channels = getattr(model, "in_channels", 3)
    assert runner.meta.input_channels == in_channels
    if in_channels == 1:  # depth: metres in [0, 8] -> [-0.5, 0.5] as (mm - 4000) / 8000
        assert runner.meta.channel_order == "D" and runner.meta.mean == (4000.0,) and runner.meta.std == (8000.0,)


def test_cli_static_int8_calibrated_on_synthetic_crops(tmp_path, capsys):
    from kdpose.data.synth import SynthConfig, write_coco_dataset

    ann = write_coco_dataset(tmp_path / "synth", SynthConfig(width=160, height=120, max_people=2), 2, seed=0,
                             split="val")
    out = tmp_path / "t.onnx"
    rc = main(["export", "rtmpose-t", "--out", str(out), "--input-size", "64x64", "--no-check", "--int8",
               "--int8-calib", str(ann), "--calib-count", "4"])
    text = capsys.readouterr().out
    assert rc == 0 and "static int8, calibrated on 1 crops of " in text and "val.json" in text  # 1 person drawn
    assert read_metadata(tmp_path / "t.int8.onnx").precision == "int8"
    assert main(["export", "rtmpose-t", "--out", str(out), "--int8-calib", str(ann)]) == 2
    assert "--int8-calib needs --int8" in capsys.readouterr().err


def test_cli_int8_modes_and_the_accuracy_guard_line(tmp_path, capsys):
    model = realistic_random_weights(create_model("rtmpose-t", input_size=SMALL).eval(), seed=3)
    weights = save_weights(model, tmp_path / "w.safetensors")
    out = tmp_path / "t.onnx"
    base = ["export", "rtmpose-t", "--weights", str(weights), "--out", str(out), "--input-size", "64x64", "--no-check"]
    assert main([*base, "--int8", "dynamic"]) == 0
    text = capsys.readouterr().out
    assert "dynamic int8: measures onnxruntime's ConvInteger path" in text
    assert read_metadata(tmp_path / "t.int8-dynamic.onnx").precision == "int8-dynamic"
    # static (default) + fp16, both guarded on rendered people: one guard line per variant, exit 0 or 1 by verdict
    rc = main([*base, "--int8", "--fp16", "--calib-count", "4", "--val", "synthetic", "--val-count", "3"])
    captured = capsys.readouterr()
    assert "static int8, calibrated on 4 crops of rendered synthetic people" in captured.out
    lines = [line for line in captured.out.splitlines() if "accuracy guard" in line]
    assert [line.split(":")[0] for line in lines] == ["t.fp16.onnx", "t.int8.onnx"]
    assert "accuracy guard int8 vs fp32: AP " in lines[1] and "mean keypoint shift" in lines[1]
    assert rc == (1 if any(line.endswith("FAIL") for line in lines) else 0)
    if rc:
        assert "failed the accuracy guard" in captured.err
    assert main([*base, "--val", "synthetic"]) == 2
    assert "--val runs the accuracy guard of a quantised variant" in capsys.readouterr().err
    assert main([*base, "--int8", "dynamic", "--int8-calib", "x.json"]) == 2
    assert "--int8-calib calibrates static int8" in capsys.readouterr().err
    # a missing calibration or guard file is refused before anything is written (it came after the export)
    fresh = [*base[:base.index("--out") + 1], str(tmp_path / "n.onnx"), *base[base.index("--out") + 2:]]
    for extra in (["--int8", "--val", str(tmp_path / "nope.json")],
                  ["--int8", "--int8-calib", str(tmp_path / "no.json")]):
        assert main([*fresh, *extra]) == 2
        err = capsys.readouterr().err
        assert f"{extra[-1]}: file not found" in err and "\n" not in err.strip(), err
        assert not list(tmp_path.glob("n.*onnx")), extra


def test_cli_exports_the_person_detector(tmp_path, capsys):
    out = tmp_path / "det.onnx"
    assert main(["export", "kdpose-det-nano", "--out", str(out), "--input-size", "64x64"]) == 0
    assert "parity:" in capsys.readouterr().out
    runner = OrtRunner(out)
    assert runner.output_names == ["cls_logits", "box_deltas"] and runner.meta.codec["type"] == "PointBoxCoder"
    assert main(["export", "kdpose-det-nano", "--out", str(out), "--layout", "coco"]) == 2
    assert "--layout does not apply" in capsys.readouterr().err


def test_cli_static_int8_of_a_depth_model_is_refused_before_the_export(tmp_path, capsys):
    """The fp32 file was written first, then the export failed advising calibration crops the CLI cannot take."""
    out = tmp_path / "d.onnx"
    assert main(["export", "mpm-2s", "--input-size", "64x64", "--out", str(out), "--int8", "--no-check"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("kdpose: error: --int8 (static) calibrates on rendered RGB people and mpm-2s takes "
                           "1-channel input: use --int8 dynamic")
    assert not out.exists()
