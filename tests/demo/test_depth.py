"""``kdpose demo --method stagewise``: a tiny run through every phase (random teacher), the fairness of the two
students, the verdict, the plan and the shipped depth teacher."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kdpose.demo import depth_assets
from kdpose.demo.config import DemoOptions
from kdpose.demo.depth import STEPS_PER_MINUTE, kd_verdict, plan_depth
from kdpose.tasks.depth_setting import STUDENT, TEACHER, DepthBatches, build_pose_machine, render_scenes, synthetic_cfg
from kdpose.errors import CheckpointError


@pytest.fixture
def random_teacher(tmp_path, monkeypatch):
    """An untrained teacher written as the shipped asset would be, and the demo pointed at it."""
    path = depth_assets.save_fp16(build_pose_machine(TEACHER, seed=5), tmp_path / "teacher.safetensors", {})
    monkeypatch.setattr(depth_assets, "depth_teacher_asset", lambda spec=TEACHER: path)
    return path


def test_tiny_stagewise_demo_runs_every_phase(tmp_path, random_teacher):
    from kdpose.demo import run_demo

    out = tmp_path / "demo"
    opts = DemoOptions(out=out, method="stagewise", minutes=0.05, train_images=4, val_images=2, bench_iters=2,
                       threads=1)
    results = run_demo(opts)  # the dispatch in pipeline.run_demo
    for name in ("report.html", "report.md", "results.json", "images/skeletons.png", "images/pr_val.png",
                 "images/pr_real.png", "images/curves.png", "images/f_vs_gflops.png", "weights/student.safetensors",
                 "weights/kd.safetensors"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rows = {r["key"]: r for r in results["rows"]}
    assert [r["label"] for r in results["rows"]] == ["teacher", "student", "student + stagewise KD"]
    steps = round(STEPS_PER_MINUTE * 0.05)
    assert rows["student"]["iterations"] == rows["kd"]["iterations"] == steps == len(results["train_logs"]["kd"])
    assert rows["teacher"]["iterations"] is None  # loaded, not trained
    for row in rows.values():
        for key in ("f", "f_real", "f_upper"):
            assert 0.0 <= row[key] <= 1.0, (row["key"], key)
        assert row["params_m"] > 0 and row["gflops"] > 0 and row["torch_ms"] > 0
    assert rows["teacher"]["params_m"] > 3 * rows["student"]["params_m"]
    assert "loss_teacher" in results["train_logs"]["kd"][0] and "loss_hint" in results["train_logs"]["kd"][0]
    saved = json.loads((out / "results.json").read_text())
    assert saved["verdict"] == results["verdict"] and "KD" in saved["verdict"]
    page = (out / "report.html").read_text()
    assert "F real-like" in page and "student + stagewise KD" in page and "data:image/png;base64," in page

    # every network also as ONNX at the whole-image size, timed in onnxruntime, and equal to PyTorch
    from kdpose.tasks.depth_setting import EVAL_SIZE
    from kdpose.export import OrtRunner
    from kdpose.models import load_weights

    assert all(r["onnx_ms"] > 0 for r in rows.values())
    runner = OrtRunner(out / "onnx" / "kd.onnx", threads=1)
    assert tuple(runner.meta.input_size) == EVAL_SIZE and runner.meta.input_channels == 1
    student = build_pose_machine(STUDENT, input_size=EVAL_SIZE)
    load_weights(student, out / "weights" / "kd.safetensors")
    x = np.random.default_rng(0).standard_normal((1, 1, EVAL_SIZE[1], EVAL_SIZE[0])).astype(np.float32)
    with torch.no_grad():
        expected = student.eval()(torch.from_numpy(x))
    got = list(runner.run(x).values())
    reference = [t.numpy() for t in (expected if isinstance(expected, (list, tuple)) else
                                     [getattr(expected, f) for f in expected.__dataclass_fields__])
                 if isinstance(t, torch.Tensor)]
    assert got and all(any(g.shape == r.shape and np.allclose(g, r, atol=1e-4) for r in reference) for g in got)


def test_both_students_see_the_same_batches_from_the_same_start():
    scenes = render_scenes(synthetic_cfg(), 3, seed=1)
    a, b = build_pose_machine(STUDENT, seed=4), build_pose_machine(STUDENT, seed=4)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    batch_a, batch_b = DepthBatches(scenes, a.codec, 4, 9).batch(7), DepthBatches(scenes, b.codec, 4, 9).batch(7)
    assert torch.equal(batch_a.inputs, batch_b.inputs) and torch.equal(batch_a.target.heatmaps, batch_b.target.heatmaps)
    assert not torch.equal(batch_a.inputs, DepthBatches(scenes, a.codec, 4, 9).batch(8).inputs)


def test_verdict_says_plainly_whether_kd_won():
    plain = {"f": 0.10, "f_real": 0.05, "max_conf": 0.5}
    assert kd_verdict(plain, {**plain, "f": 0.20})[0] is True
    won, text = kd_verdict(plain, {**plain, "f": 0.10})
    assert won is False and "did NOT win" in text
    won, text = kd_verdict({**plain, "f": 0.0}, {**plain, "f": 0.0})
    assert won is False and "F = 0 for both" in text


def test_plan_scales_with_minutes_and_trains_the_teacher_only_when_asked():
    default = plan_depth(DemoOptions(method="stagewise"), teacher_shipped=True)
    assert default.student_steps == 600 and default.teacher_steps == 0
    assert plan_depth(DemoOptions(method="stagewise", minutes=2), True).student_steps == 120
    assert plan_depth(DemoOptions(method="stagewise"), teacher_shipped=False).teacher_steps > default.student_steps
    assert plan_depth(DemoOptions(method="stagewise", epoch_iters=3), False).teacher_steps == 3


def test_fp16_teacher_asset_round_trip(tmp_path):
    model = build_pose_machine(TEACHER, seed=2).eval()
    path = depth_assets.save_fp16(model, tmp_path / "t.safetensors", {"steps": "1"})
    loaded = depth_assets.load_depth_teacher(path)
    x = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.2
    with torch.no_grad():
        diff = (model(x).heatmaps - loaded(x).heatmaps).abs().max()
    assert float(diff) < 1e-2
    with pytest.raises(CheckpointError, match="missing"):
        depth_assets.load_depth_teacher(tmp_path / "nope.safetensors")


def test_shipped_depth_teacher_is_small_and_loads():
    path = depth_assets.depth_teacher_asset()
    if not path.is_file():
        pytest.fail(f"{path} is not shipped (python -m kdpose.demo.depth_assets)")
    assert path.stat().st_size < 1_000_000
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["metrics"])
    assert meta["steps"] >= 1000 and 0.0 <= meta["val"]["F"] <= 1.0
    model = depth_assets.load_depth_teacher()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert np.isclose(sum(p.numel() for p in model.parameters()) / 1e6, 0.1688, atol=1e-3)
