"""``kdpose demo --method sdpose``, ``--method distilpose`` and ``--method dwpose --layout wholebody``: a tiny run of
each through every phase (a few images, one iteration per epoch, random weights in place of the shipped assets),
checking what each method trains, where (the `standard` setting), the fairness of the comparison and the report
rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kdpose.demo import DemoOptions, run_demo
from kdpose.demo.config import STUDENT_MODEL
from kdpose.demo.methods import (DISTILPOSE_PRESET, DISTILPOSE_STUDENT, DISTILPOSE_TEACHER, DISTILPOSE_TEACHER_TAG,
                                 DISTILPOSE_WHOLEBODY_TEACHER, DWPOSE_TEACHER, DWPOSE_WHOLEBODY_TEACHER_TAG,
                                 METHOD_PLUGINS, SDPOSE_CYCLES, SDPOSE_W_KT)
from kdpose.demo.setting import HARD, STANDARD, TeacherSpec

from .conftest import fake_shipped

INPUT_SIZE = STANDARD.input_size  # both methods' body-17 setting


def _tiny_run(root: Path, method: str, layout: str = "coco"):
    shipped_file = fake_shipped(root)
    opts = DemoOptions(out=root / "out", minutes=0.1, method=method, layout=layout, train_images=4, val_images=2,
                       threads=1, workers=0, batch_size=4, epoch_iters=1, video_frames=2, bench_iters=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("kdpose.demo.assets.shipped_file", shipped_file)
        results = run_demo(opts)
    return opts, results, shipped_file(DISTILPOSE_TEACHER_TAG), shipped_file(STANDARD.student_backbone_tag)


@pytest.fixture(scope="module")
def sdpose_demo(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("demo_sdpose"), "sdpose")


@pytest.fixture(scope="module")
def distilpose_demo(tmp_path_factory):
    return _tiny_run(tmp_path_factory.mktemp("demo_distilpose"), "distilpose")


@pytest.fixture(scope="module")
def dwpose_wholebody_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_dwpose_wb")
    opts, results, _, backbone = _tiny_run(root, "dwpose", "wholebody")
    return opts, results, fake_shipped(root)(DWPOSE_WHOLEBODY_TEACHER_TAG), backbone


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
    # the `standard` setting: COCO-like scenes at the strong teachers' scale, 96x128 crops
    assert plain["model"]["input_size"] == list(STANDARD.input_size)
    for split in ("train", "val"):
        assert plain["data"][split]["synthetic_preset"] == "standard"
        assert plain["data"][split]["synthetic_size"] == list(STANDARD.image_size)
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


def test_distilpose_uses_the_shipped_heatmap_teacher_and_a_regression_pair(distilpose_demo):
    opts, results, teacher_file, backbone = distilpose_demo
    names = [p["name"] for p in results["phases"]]
    assert len(names) == 7 and names[1] == f"teacher: load the shipped {DISTILPOSE_TEACHER_TAG}"
    assert not (opts.out / "runs" / "teacher").exists()  # loaded, never trained
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["teacher", "student", "kd"]
    assert rows["teacher"]["model"] == DISTILPOSE_TEACHER and rows["student"]["model"] == DISTILPOSE_STUDENT
    assert rows["teacher"]["gflops"] > rows["student"]["gflops"] and rows["teacher"]["iterations"] is None
    assert DISTILPOSE_TEACHER_TAG in rows["teacher"]["how"]
    _check_fair_pair(opts, rows, DISTILPOSE_STUDENT, backbone)
    distill = _config(opts, "kd")["distill"]
    assert distill["method"] == "distilpose" and distill["teacher"] == DISTILPOSE_TEACHER
    assert distill["teacher_weights"] == str(teacher_file)
    assert distill["params"] == {"preset": DISTILPOSE_PRESET}
    # only L_CS trains the confidence output: the plain student decodes score 1, the distilled one its confidence
    assert _config(opts, "student")["model"]["kwargs"] == {"use_confidence": False}
    assert _config(opts, "kd")["model"]["kwargs"] == {}
    logged = next(json.loads(line) for line in (opts.out / "runs" / "kd" / "log.jsonl").read_text().splitlines()
                  if json.loads(line).get("kind") == "train")
    assert {"loss_reg", "loss_sh", "loss_cs"} <= set(logged)
    assert (opts.out / "onnx" / "teacher.onnx").is_file() and 0.0 <= rows["teacher"]["pck"] <= 1.0
    assert f"docs/models/{DISTILPOSE_TEACHER_TAG}.md" in (opts.out / "report.md").read_text()
    _check_report(opts, results)


def test_each_method_says_where_it_runs_and_which_teacher():
    dwpose, sdpose, distilpose = (METHOD_PLUGINS[m] for m in ("dwpose", "sdpose", "distilpose"))
    assert dwpose.setting("coco") is sdpose.setting("coco") is distilpose.setting("coco") is STANDARD
    assert dwpose.teacher_spec("coco") == TeacherSpec("rtmpose-m", "rtmpose-m.synth-standard_128x96", "rtmpose-m")
    assert sdpose.teacher_spec("coco") is None
    assert distilpose.teacher_spec("coco").tag == DISTILPOSE_TEACHER_TAG
    # whole-body: DWPose distils the shipped whole-body RTMPose-m and SDPose needs no teacher, both on `standard`;
    # no whole-body heatmap teacher is shipped, so DistilPose trains a small one on the `hard` setting
    assert dwpose.setting("coco_wholebody") is sdpose.setting("coco_wholebody") is STANDARD
    assert dwpose.teacher_spec("coco_wholebody") == TeacherSpec("rtmpose-m", DWPOSE_WHOLEBODY_TEACHER_TAG, "rtmpose-m")
    assert sdpose.teacher_spec("coco_wholebody") is None
    assert distilpose.setting("coco_wholebody") is HARD
    spec = distilpose.teacher_spec("coco_wholebody")
    assert spec.tag is None and spec.model == spec.pretrain == DISTILPOSE_WHOLEBODY_TEACHER
    # every tag the demo loads is registered and shipped in this installation, with the layout the demo asks for
    from kdpose.demo.assets import shipped_file
    from kdpose.models.pretrained import get_pretrained_cfg

    assert get_pretrained_cfg(DWPOSE_WHOLEBODY_TEACHER_TAG).layout == "coco_wholebody"
    assert get_pretrained_cfg(DWPOSE_WHOLEBODY_TEACHER_TAG).input_size == STANDARD.input_size
    for tag in (dwpose.teacher_spec("coco").tag, DWPOSE_WHOLEBODY_TEACHER_TAG, DISTILPOSE_TEACHER_TAG,
                HARD.student_backbone_tag):
        assert shipped_file(tag) is not None, tag


def test_distilpose_teacher_heatmaps_match_the_students_simulated_heatmaps(distilpose_demo):
    import torch

    from kdpose.export import OrtRunner
    from kdpose.models import load_model

    opts, results, _, _ = distilpose_demo
    rows = {r["key"]: r for r in results["rows"]}
    teacher = load_model(DISTILPOSE_TEACHER, weights=rows["teacher"]["weights"], layout="coco", input_size=INPUT_SIZE)
    student = load_model(DISTILPOSE_STUDENT, weights=rows["kd"]["weights"], layout="coco",
                         input_size=INPUT_SIZE).eval()
    assert tuple(teacher.codec.heatmap_size) == tuple(student.codec.heatmap_size) == (24, 32)
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


def test_dwpose_wholebody_distils_the_shipped_wholebody_teacher(dwpose_wholebody_demo):
    """``kdpose demo --layout wholebody``: the shipped 133-keypoint RTMPose-m teaches the RTMPose-t students on the
    `standard` setting; the rows are scored per part and the exported students have 133 keypoints."""
    from kdpose.export import OrtRunner

    opts, results, teacher_file, backbone = dwpose_wholebody_demo
    names = [p["name"] for p in results["phases"]]
    assert names[1] == f"teacher: load the shipped {DWPOSE_WHOLEBODY_TEACHER_TAG}"
    assert not (opts.out / "runs" / "teacher").exists()  # loaded, never trained
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["teacher", "student", "kd_stage1", "kd"]
    assert rows["teacher"]["model"] == DWPOSE_TEACHER
    assert results["metric"] == "wholebody.AP"
    for row in rows.values():  # per-part AP of every row; its AP is the whole-body AP
        assert {"body", "foot", "face", "hand", "wholebody"} <= set(row["metrics"])
        assert row["ap"] == row["metrics"]["wholebody"]["AP"]
    # the same network, backbone, data and number of steps (stage 2 has its own warm-up, as on body 17)
    plain, stage1 = _config(opts, "student"), _config(opts, "kd_stage1")
    assert plain["model"] == stage1["model"] and plain["optim"] == stage1["optim"]
    assert plain["data"] == stage1["data"] == _config(opts, "kd")["data"]
    assert plain["model"]["init_weights"] == str(backbone) and plain["model"]["input_size"] == list(INPUT_SIZE)
    assert plain["data"]["train"]["synthetic_preset"] == "standard"
    assert rows["student"]["iterations"] == rows["kd"]["iterations"] > 0
    assert stage1["model"]["layout"] == "coco_wholebody"
    assert stage1["distill"]["method"] == "dwpose" and stage1["distill"]["teacher"] == DWPOSE_TEACHER
    assert stage1["distill"]["teacher_weights"] == str(teacher_file)
    x = np.zeros((1, 3, INPUT_SIZE[1], INPUT_SIZE[0]), np.float32)
    for key in ("teacher", "student", "kd"):
        got = OrtRunner(opts.out / "onnx" / f"{key}.onnx", threads=1).run(x)
        got = list(got.values()) if isinstance(got, dict) else list(got)
        assert got[0].shape[:2] == (1, 133), key
    assert f"docs/models/{DWPOSE_WHOLEBODY_TEACHER_TAG}.md" in (opts.out / "report.md").read_text()
    _check_report(opts, results)
