"""``kdpose demo --method sdpose`` and ``--method distilpose``: a tiny run of each through every phase (a few images,
one iteration per epoch, random weights in place of the shipped assets), checking what each method trains, the
fairness of the comparison and the report rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kdpose.demo import DemoOptions, run_demo
from kdpose.demo.config import INPUT_SIZE, PRETRAIN_MODELS, STUDENT_MODEL, TEACHER_MODEL
from kdpose.demo.methods import (DISTILPOSE_PRESET, DISTILPOSE_STUDENT, DISTILPOSE_TEACHER, METHOD_PLUGINS,
                                 SDPOSE_CYCLES, SDPOSE_W_KT)


def _tiny_run(root: Path, method: str):
    import torch

    from kdpose.models import create_model, save_weights

    torch.manual_seed(0)
    teacher = root / "teacher.safetensors"
    save_weights(create_model(TEACHER_MODEL, layout="coco", input_size=INPUT_SIZE), teacher)
    backbone = root / "backbone.safetensors"
    save_weights(create_model(PRETRAIN_MODELS[STUDENT_MODEL], layout="coco", input_size=INPUT_SIZE), backbone)
    opts = DemoOptions(out=root / "out", minutes=0.1, method=method, train_images=4, val_images=2, threads=1,
                       workers=0, batch_size=4, epoch_iters=1, video_frames=2, bench_iters=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("kdpose.demo.assets.teacher_asset", lambda layout: teacher)
        mp.setattr("kdpose.demo.assets.student_backbone_asset", lambda layout: backbone)
        results = run_demo(opts)
    return opts, results, teacher, backbone


@pytest.fixture(scope="module")
def sdpose_demo(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("demo_sdpose"), "sdpose")


@pytest.fixture(scope="module")
def distilpose_demo(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("demo_distilpose"), "distilpose")


def _config(opts, run: str) -> dict:
    return yaml.safe_load((opts.out / "runs" / run / "config.yaml").read_text())


def _check_fair_pair(opts, rows: dict, model: str, backbone: Path) -> None:
    """Plain and distilled student: same network, backbone, data, seed, optimiser and number of steps."""
    plain, kd = _config(opts, "student"), _config(opts, "kd")
    for key in ("data", "optim", "schedule"):
        assert plain[key] == kd[key], key
    # the network is the same; only the plain DeepPose's decode rule (model.kwargs) may differ
    assert {k: v for k, v in plain["model"].items() if k != "kwargs"} == \
        {k: v for k, v in kd["model"].items() if k != "kwargs"}
    assert plain["model"]["name"] == model and plain["model"]["init_weights"] == str(backbone)
    assert plain["model"]["init_prefix"] == "backbone."
    assert plain["train"]["seed"] == kd["train"]["seed"] and plain["train"]["max_epochs"] == kd["train"]["max_epochs"]
    assert rows["student"]["iterations"] == rows["kd"]["iterations"] > 0
    assert rows["student"]["gflops"] == pytest.approx(rows["kd"]["gflops"])
    assert rows["student"]["params_m"] == pytest.approx(rows["kd"]["params_m"])


def _check_report(opts, results) -> None:
    for rel in ("report.html", "report.md", "results.json", "onnx/student.onnx", "onnx/kd.onnx",
                "images/video_poses.mp4", "images/samples_coco.png", "images/curves.png", "images/metric_bars.png",
                "images/ap_vs_gflops.png"):
        assert (opts.out / rel).is_file() and (opts.out / rel).stat().st_size > 0, rel
    page = (opts.out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(results["figures"])
    rows = {r["key"]: r for r in results["rows"]}
    assert results["kd_better"] == (rows["kd"]["ap"] > rows["student"]["ap"])
    label = METHOD_PLUGINS[opts.method].label
    assert f"The {label}-distilled student " + ("beats" if results["kd_better"] else "does NOT beat") \
        in results["verdict"] and "PCK@0.2" in results["verdict"]
    for key in ("student", "kd"):
        assert 0.0 <= rows[key]["pck"] <= 1.0 and rows[key]["onnx_ms"] > 0
    saved = json.loads((opts.out / "results.json").read_text())
    assert [r["label"] for r in saved["rows"]] == [r["label"] for r in results["rows"]]


def test_sdpose_runs_every_phase_without_a_teacher(sdpose_demo):
    opts, results, _, backbone = sdpose_demo
    names = [p["name"] for p in results["phases"]]
    assert len(names) == 6 and names[1].startswith("student rtmpose-t without distillation")
    assert names[2].startswith(f"student + SDPose, {SDPOSE_CYCLES} cycles")
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["teacher", "student", "kd"]
    assert rows["teacher"]["ap"] is None and rows["teacher"]["model"] == "-"
    assert "not applicable" in rows["teacher"]["how"] and not (opts.out / "onnx" / "teacher.onnx").exists()
    assert rows["kd"]["label"] == "student + SDPose (2 cycles -> 1)"
    assert "| teacher | - | not applicable" in (opts.out / "report.md").read_text()
    _check_fair_pair(opts, rows, STUDENT_MODEL, backbone)
    distill = _config(opts, "kd")["distill"]
    assert distill["method"] == "sdpose" and distill["teacher"] == ""
    assert distill["params"] == {"cycles": SDPOSE_CYCLES, "w_kt": SDPOSE_W_KT}
    train = [json.loads(line) for line in (opts.out / "runs" / "kd" / "log.jsonl").read_text().splitlines()]
    logged = next(r for r in train if r.get("kind") == "train")
    assert {"loss_pose_c1", "loss_pose_c2", "loss_kt"} <= set(logged) and "loss_vt" not in logged
    _check_report(opts, results)


def test_sdpose_student_is_a_plain_rtmpose_t(sdpose_demo):
    import torch
    from safetensors.torch import load_file

    from kdpose.export import OrtRunner
    from kdpose.models import load_model

    opts, results, _, _ = sdpose_demo
    rows = {r["key"]: r for r in results["rows"]}
    assert set(load_file(rows["kd"]["weights"])) == set(load_file(rows["student"]["weights"]))
    model = load_model(STUDENT_MODEL, weights=rows["kd"]["weights"], layout="coco", input_size=INPUT_SIZE).eval()
    assert model.head.cycles == 1
    x = np.random.default_rng(0).standard_normal((1, 3, INPUT_SIZE[1], INPUT_SIZE[0])).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    got = OrtRunner(Path(rows["kd"]["onnx"]), threads=1).run(x)
    got = list(got.values()) if isinstance(got, dict) else list(got)
    np.testing.assert_allclose(got[0], ref[0].numpy(), atol=1e-4)


def test_distilpose_trains_a_heatmap_teacher_and_a_regression_pair(distilpose_demo):
    opts, results, teacher_asset, backbone = distilpose_demo
    names = [p["name"] for p in results["phases"]]
    assert len(names) == 7 and names[1].startswith(f"teacher {DISTILPOSE_TEACHER}: train")
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["teacher", "student", "kd"]
    assert rows["teacher"]["model"] == DISTILPOSE_TEACHER and rows["student"]["model"] == DISTILPOSE_STUDENT
    assert rows["teacher"]["gflops"] > rows["student"]["gflops"] and rows["teacher"]["iterations"] > 0
    teacher_cfg = _config(opts, "teacher")["model"]
    assert teacher_cfg["name"] == DISTILPOSE_TEACHER and teacher_cfg["init_weights"] == str(teacher_asset)
    assert teacher_cfg["init_prefix"] == "backbone."
    _check_fair_pair(opts, rows, DISTILPOSE_STUDENT, backbone)
    distill = _config(opts, "kd")["distill"]
    assert distill["method"] == "distilpose" and distill["teacher"] == DISTILPOSE_TEACHER
    assert distill["teacher_weights"] == rows["teacher"]["weights"]
    assert distill["params"] == {"preset": DISTILPOSE_PRESET}
    # only L_CS trains the confidence output: the plain student decodes score 1, the distilled one its confidence
    assert _config(opts, "student")["model"]["kwargs"] == {"use_confidence": False}
    assert _config(opts, "kd")["model"]["kwargs"] == {}
    logged = next(json.loads(line) for line in (opts.out / "runs" / "kd" / "log.jsonl").read_text().splitlines()
                  if json.loads(line).get("kind") == "train")
    assert {"loss_reg", "loss_sh", "loss_cs"} <= set(logged)
    assert (opts.out / "onnx" / "teacher.onnx").is_file() and 0.0 <= rows["teacher"]["pck"] <= 1.0
    _check_report(opts, results)


def test_distilpose_teacher_heatmaps_match_the_students_simulated_heatmaps(distilpose_demo):
    import torch

    from kdpose.export import OrtRunner
    from kdpose.models import load_model

    opts, results, _, _ = distilpose_demo
    rows = {r["key"]: r for r in results["rows"]}
    teacher = load_model(DISTILPOSE_TEACHER, weights=rows["teacher"]["weights"], layout="coco", input_size=INPUT_SIZE)
    student = load_model(DISTILPOSE_STUDENT, weights=rows["kd"]["weights"], layout="coco",
                         input_size=INPUT_SIZE).eval()
    assert tuple(teacher.codec.heatmap_size) == tuple(student.codec.heatmap_size) == (16, 24)
    x = np.random.default_rng(1).standard_normal((1, 3, INPUT_SIZE[1], INPUT_SIZE[0])).astype(np.float32)
    with torch.no_grad():
        ref = student(torch.from_numpy(x))
    got = OrtRunner(Path(rows["kd"]["onnx"]), threads=1).run(x)
    got = list(got.values()) if isinstance(got, dict) else list(got)
    np.testing.assert_allclose(got[0], ref[0].numpy(), atol=1e-4)  # normalised keypoint coordinates


def test_distilpose_exported_students_keep_their_decode_rule(distilpose_demo):
    from kdpose.inference import PoseEstimator

    opts, results, _, _ = distilpose_demo
    rows = {r["key"]: r for r in results["rows"]}
    image = np.full((120, 160, 3), 127, np.uint8)
    box = np.array([[40.0, 10.0, 100.0, 110.0]])
    _, plain_scores = PoseEstimator(rows["student"]["onnx"], backend="onnxruntime", threads=1).predict_arrays(
        image, bboxes=box)
    _, kd_scores = PoseEstimator(rows["kd"]["onnx"], backend="onnxruntime", threads=1).predict_arrays(
        image, bboxes=box)
    assert np.all(plain_scores == 1.0) and not np.all(kd_scores == 1.0)
