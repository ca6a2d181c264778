"""A tiny ``kdpose demo`` (a few images, two iterations per phase) through every phase: files and tables, not
accuracy. The shipped teacher is replaced by a random rtmpose-m so that the test does not depend on it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kdpose.demo import DemoOptions, run_demo
from kdpose.demo.pipeline import verdict_text
from kdpose.demo.methods import DWPOSE_TEACHER_TAG
from kdpose.demo.setting import STANDARD

from .conftest import fake_shipped

INPUT_SIZE = STANDARD.input_size  # the dwpose demo's body-17 setting


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shipped_file = fake_shipped(root)
    opts = DemoOptions(out=root / "out", minutes=0.1, train_images=4, val_images=2, threads=1, workers=0,
                       batch_size=4, epoch_iters=1, video_frames=4, bench_iters=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("kdpose.demo.assets.shipped_file", shipped_file)
        results = run_demo(opts)
    return opts, results, shipped_file(STANDARD.student_backbone_tag)


def test_every_phase_ran_and_wrote_its_files(tiny_demo):
    opts, results, _ = tiny_demo
    out = opts.out
    names = [p["name"] for p in results["phases"]]
    assert len(names) == 8 and names[1] == f"teacher: load the shipped {DWPOSE_TEACHER_TAG}"
    for rel in ("report.html", "report.md", "results.json", "onnx/student.onnx", "onnx/kd.onnx",
                "onnx/teacher.onnx", "images/clip.mp4", "images/video_poses.mp4", "images/samples_coco.png",
                "images/samples_openpose.png", "images/curves.png", "images/metric_bars.png",
                "images/ap_vs_gflops.png", "images/ap_vs_latency.png", "runs/student/config.yaml",
                "runs/kd_stage1/final.safetensors", "runs/kd/final.safetensors"):
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    for fig in results["figures"]:
        assert (out / fig["path"]).read_bytes().startswith(b"\x89PNG")
    assert results["video"]["frames"] == opts.video_frames


def test_results_table_structure_and_fair_comparison(tiny_demo):
    opts, results, _ = tiny_demo
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["teacher", "student", "kd_stage1", "kd"]
    for row in rows.values():
        assert 0.0 <= row["ap"] <= 1.0 or row["ap"] == -1.0
        assert row["gflops"] > 0 and row["params_m"] > 0 and row["torch_ms"] > 0
    assert rows["teacher"]["gflops"] > rows["student"]["gflops"] == pytest.approx(rows["kd"]["gflops"])
    assert rows["student"]["onnx_ms"] > 0 and rows["kd"]["onnx_ms"] > 0
    assert rows["student"]["iterations"] == rows["kd"]["iterations"]  # same number of optimiser steps
    assert results["kd_better"] == (rows["kd"]["ap"] > rows["student"]["ap"])
    assert ("beats" if results["kd_better"] else "does NOT beat") in results["verdict"]
    saved = json.loads((opts.out / "results.json").read_text())
    assert [r["label"] for r in saved["rows"]] == [r["label"] for r in results["rows"]]


def test_report_embeds_everything_and_gives_the_commands(tiny_demo):
    opts, results, _ = tiny_demo
    page = (opts.out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(results["figures"]) >= 7
    assert "src='images/" not in page and "http" not in page
    md = (opts.out / "report.md").read_text()
    assert results["command"] in md and "kdpose train" in md
    assert results["command"].startswith("kdpose demo --out ") and "--minutes 0.1" in results["command"]
    # no multi-seed reference for a 0.1-minute run: the report says so and how to measure one
    assert results["reference"] is None and json.loads((opts.out / "results.json").read_text())["reference"] is None
    assert results["reference_line"].startswith("No multi-seed reference") and results["reference_line"] in md


def test_onnx_student_matches_pytorch(tiny_demo):
    from kdpose.export import OrtRunner
    from kdpose.models import load_model

    opts, results, _ = tiny_demo
    kd = next(r for r in results["rows"] if r["key"] == "kd")
    model = load_model(kd["model"], weights=kd["weights"], layout="coco", input_size=INPUT_SIZE)
    x = np.random.default_rng(0).standard_normal((2, 3, INPUT_SIZE[1], INPUT_SIZE[0])).astype(np.float32)
    import torch

    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    got = OrtRunner(Path(kd["onnx"]), threads=1).run(x)
    got = list(got.values()) if isinstance(got, dict) else list(got)
    np.testing.assert_allclose(got[0], ref[0].numpy(), atol=1e-4)


def test_pck_on_val_scores_exact_and_shifted_predictions(tiny_demo):
    from kdpose.data import load_coco_keypoints
    from kdpose.demo.metrics import pck_on_val

    opts, _, _ = tiny_demo
    ann = next((opts.out / "data").glob("val-*/person_keypoints_val.json"))
    truth = {tuple(s.bbox.round(3)): s for s in load_coco_keypoints(ann, "coco", mode="eval")}

    class Oracle:  # predicts the annotation, shifted by `shift` x the longer box side
        def __init__(self, shift):
            self.shift = shift

        def predict_arrays(self, image, bboxes):
            s = truth[tuple(bboxes[0].round(3))]
            side = float(max(s.bbox[2] - s.bbox[0], s.bbox[3] - s.bbox[1]))
            return (s.keypoints + self.shift * side)[None], np.ones((1, len(s.keypoints)))

    assert pck_on_val(Oracle(0.0), ann, "coco") == pytest.approx(1.0)
    assert pck_on_val(Oracle(0.1), ann, "coco") == pytest.approx(1.0)  # 0.14 x side < 0.2
    assert pck_on_val(Oracle(0.5), ann, "coco") == pytest.approx(0.0)


def test_both_students_start_from_the_shipped_backbone(tiny_demo):
    import yaml

    opts, _, backbone = tiny_demo
    for run in ("student", "kd_stage1"):
        model_cfg = yaml.safe_load((opts.out / "runs" / run / "config.yaml").read_text())["model"]
        assert model_cfg["init_weights"] == str(backbone) and model_cfg["init_prefix"] == "backbone.", run
    teacher_cfg = yaml.safe_load((opts.out / "runs" / "teacher_eval" / "config.yaml").read_text()) \
        if (opts.out / "runs" / "teacher_eval" / "config.yaml").is_file() else None
    assert teacher_cfg is None or teacher_cfg["model"]["init_weights"] == ""


def _row(ap, pck=None, **parts):
    return {"ap": ap, "pck": pck, "metrics": {p: {"AP": v} for p, v in parts.items()} or None}


def test_verdict_names_the_winner_the_margin_and_pck():
    text = verdict_text("DWPose", "AP", _row(0.1234, 0.86), _row(0.1034, 0.85), per_part=False)
    assert text.startswith("The DWPose-distilled student beats the student trained without distillation: "
                           "AP 0.123 vs 0.103 (+0.020)")
    assert "PCK@0.2: 0.860 vs 0.850." in text and "equal" not in text and "per part" not in text
    text = verdict_text("DWPose", "AP", _row(0.09), _row(0.1), per_part=False)
    assert "does NOT beat" in text and "(-0.010)" in text and "PCK" not in text


def test_wholebody_verdict_says_when_ap_cannot_separate_and_compares_each_part():
    # a short whole-body run: both students' whole-body AP ~0, the body already apart (seed 0 of the demo's reference)
    kd = _row(0.00002, 0.724, body=0.0, foot=0.0033, face=0.0, hand=0.0, lefthand=0.0, wholebody=0.00002)
    plain = _row(0.00004, 0.831, body=0.0506, foot=0.0079, face=0.0001, hand=0.0004, lefthand=0.0003, wholebody=0.00004)
    text = verdict_text("DWPose", "wholebody.AP", kd, plain, per_part=True)
    assert "does NOT beat" in text and "wholebody.AP 0.000 vs 0.000 (+0.000)" in text
    assert "At 3 decimals the two are equal" in text
    assert text.endswith("AP per part: body 0.000 vs 0.051, foot 0.003 vs 0.008, face 0.000 vs 0.000, "
                         "hand 0.000 vs 0.000.")
