"""The CPU-scale depth Table IV driver (benchmarks/pose_machines/cpu_table4.py): its PCK@0.2, the domain batches,
the paired per-seed counts of the report, and a tiny end-to-end run (random stand-in for the shipped model)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdpose.tasks import depth_setting
from kdpose.tasks.depth_setting import (STUDENT, DepthBatches, build_pose_machine, real_like_cfg, render_scenes,
                                    synthetic_cfg)

from ..conftest import benchmark_fixture


bench = benchmark_fixture("benchmarks/pose_machines/cpu_table4.py", "pose_machines_cpu_table4")


def test_pck_at_counts_keypoints_within_kappa_times_box_height(bench):
    gt = np.stack([np.arange(17) * 5.0, np.full(17, 50.0)], -1)[None]  # one person, box height 100 px
    scene = SimpleNamespace(keypoints=gt, visible=np.ones((1, 17)), boxes=np.array([[0.0, 0.0, 90.0, 100.0]]))
    pred = gt.copy()
    pred[0, :5, 1] += 30.0  # 0.3 h away: missed at kappa 0.2, found at 0.35
    preds = [(pred, np.ones((1, 17)))]
    assert bench.pck_at(preds, [scene]) == pytest.approx(100 * 12 / 17)
    assert bench.pck_at(preds, [scene], kappa=0.35) == pytest.approx(100.0)
    assert bench.pck_at([(np.zeros((0, 17, 2)), np.zeros((0, 17)))], [scene]) == 0.0  # nobody predicted


def test_domain_batches_pair_labelled_source_with_unlabelled_target_inputs(bench):
    model = build_pose_machine(STUDENT, seed=0)
    syn, real = render_scenes(synthetic_cfg(), 3, 1, "train"), render_scenes(real_like_cfg(), 2, 3, "train")
    source, target = DepthBatches(syn, model.codec, 8, 0), DepthBatches(real, model.codec, 8, 7)
    batch = bench.DomainBatches(source, target).batch(4)
    assert torch.equal(batch.inputs, batch.source.inputs)  # what train_steps logs the confidence on
    assert torch.equal(batch.source.inputs, source.batch(4).inputs)  # same step, same crops
    assert torch.equal(batch.target_inputs, target.batch(4).inputs)
    assert batch.source.inputs.shape == (3, 1, 184, 184) and batch.target_inputs.shape == (2, 1, 184, 184)


def test_inpaint_fills_small_sensor_holes_and_leaves_large_invalid_regions(bench):
    depth = np.full((60, 80), 2000, np.uint16)
    depth[10:13, 10:13] = 0  # a 9 px sensor hole inside a flat surface
    depth[30:60, 40:80] = 0  # 1200 px without any surface in range
    out = bench.inpaint_holes(depth, max_area=200)
    assert out.dtype == np.uint16 and np.all(np.abs(out[10:13, 10:13].astype(int) - 2000) <= 20)
    assert np.all(out[30:60, 40:80] == 0) and np.array_equal(out[depth > 0], depth[depth > 0])
    assert np.all(bench.inpaint_holes(depth, max_area=2000) > 0)  # a larger limit fills both
    assert np.all(depth[10:13, 10:13] == 0)  # the input is not modified


def _fake(f_real: float, **extra) -> dict:
    keys = ("f_real", "f_real_upper", "ap_real", "ar_real", "pck_real", "f_syn", "f_syn_upper", "ap_syn", "ar_syn")
    return {**{k: f_real for k in keys}, **extra}


def test_report_counts_seeds_against_the_shipped_and_step_matched_rows(bench):
    results = {"shipped": {s: {"eval": _fake(0.30)} for s in (0, 1, 2)},
               "synthetic": {s: {"eval": _fake(f)} for s, f in zip((0, 1, 2), (0.28, 0.33, 0.31))},
               "finetune": {s: {"eval": _fake(f)} for s, f in zip((0, 1, 2), (0.40, 0.29, 0.35))},
               "ada": {s: {"min_loss": _fake(0.27, cr=0.25, selected_step=51),
                           "max_confusion": _fake(0.10, cr=0.5, selected_step=250)} for s in (0, 1, 2)},
               "mixed": {s: {"eval": _fake(f)} for s, f in zip((0, 1, 2), (0.29, 0.34, 0.32))},
               "inpaint": {s: {"eval": _fake(0.25)} for s in (0, 1, 2)}}
    text = bench.format_table(results, [0, 1, 2], 250, 5e-4, "--seeds 0 1 2")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    assert rows["synthetic only (shipped, 3500 steps)"][1] == "1 model"
    assert rows["synthetic only, + 250 steps"][-2:] == ["2/3", "- |"]
    assert rows["finetune on labelled real-like, 250 steps"][-2:] == ["2/3", "2/3 |"]  # 0.40 > 0.28, 0.35 > 0.31
    assert rows["ADA, 250 steps, min pose loss"][-3:] == ["0.25 / 51,51,51", "0/3", "0/3 |"]
    assert rows["finetune on labelled real-like, 250 steps"][2] == "0.347 +- 0.055"
    assert rows["mixed: synthetic + labelled real-like, 250 steps"][-2:] == ["2/3", "3/3 |"]
    assert rows["in-paint the real-like test images (shipped model)"][1] == "1 model"  # one model, compared once
    assert rows["in-paint the real-like test images (shipped model)"][-2:] == ["0/1", "- |"]
    assert "synthetic w/o background fusion" not in text  # a run not made is left out, not shown as zeros
    assert bench.paired({0: {"f_real": 1.0}}, {}) == "n/a"


def test_tiny_run_trains_selects_writes_and_resumes(bench, tmp_path, monkeypatch):
    calls = []

    def stand_in():  # a small random network in place of the shipped Nw=64 model
        calls.append(1)
        return build_pose_machine(STUDENT, seed=3).eval()

    monkeypatch.setattr(depth_setting, "load_teacher", stand_in)
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# B\n\n<!-- pose_machines:cpu-table4 -->\nPLACEHOLDER\n<!-- /pose_machines:cpu-table4 -->\ntail\n")
    argv = ["--seeds", "0", "--steps", "10", "--runs", "shipped", "ada", "mixed", "inpaint",
            "--scenes", "4", "3", "2", "2",
            "--work", str(tmp_path / "work"), "--markdown", str(md), "--results", str(tmp_path / "res")]
    torch.manual_seed(0)
    assert bench.main(argv) == 0
    run = json.loads((tmp_path / "work" / "ada" / "seed0_steps10_scenes4-3-2-2.json").read_text())
    assert [h["step"] for h in run["history"]] == [3, 5, 7, 9, 10]  # 5 snapshots over the run
    assert all(0 <= h["confusion"] <= h["images"] == 4 for h in run["history"])
    assert [h["lambda"] for h in run["history"]] == sorted(h["lambda"] for h in run["history"])  # rising schedule
    losses = [h["val_pose_loss"] for h in run["history"]]
    assert run["min_loss"]["selected_step"] == run["history"][int(np.argmin(losses))]["step"]
    assert 0.0 <= run["max_confusion"]["cr"] <= 1.0
    text = md.read_text()
    assert "PLACEHOLDER" not in text and text.endswith("tail\n") and "| ADA, 10 steps, min pose loss | 1 |" in text
    assert "--scenes 4 3 2 2" in text and "on 2 real-like test scenes" in text
    assert "synthetic only, + 10 steps" not in text  # not run
    mixed = json.loads((tmp_path / "work" / "mixed" / "seed0_steps10_scenes4-3-2-2.json").read_text())
    assert mixed["steps"] == 10 and "f_real" in mixed["eval"] and len(mixed["log"]) >= 2
    inpaint = json.loads((tmp_path / "work" / "inpaint" / "eval_inpaint_scenes4-3-2-2.json").read_text())
    shipped = json.loads((tmp_path / "work" / "shipped" / "eval_scenes4-3-2-2.json").read_text())
    assert inpaint["eval"]["f_syn"] == shipped["eval"]["f_syn"]  # the same model; only real-like images change
    n = len(calls)
    assert bench.main(argv) == 0 and len(calls) == n  # finished runs are read back, not retrained
