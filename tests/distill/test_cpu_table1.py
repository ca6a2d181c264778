"""The CPU-scale depth Table I driver (benchmarks/pose_machines/cpu_table1.py): per-architecture options, the run
plan, the reuse of cpu_table2's identical MPM pretraining, the paired counts of the report, and a tiny end-to-end
run that reads its finished runs back instead of training again."""
from __future__ import annotations

import json

import pytest
import torch

from ..conftest import benchmark_fixture


bench = benchmark_fixture("benchmarks/pose_machines/cpu_table1.py", "pose_machines_cpu_table1")


def test_steps_and_seed_caps_per_architecture(bench):
    args = bench.parse_args(["--steps", "rpm=99", "--max-seeds", "cpm=1", "spm=2", "--extra", "spm=1200",
                             "--extra-seeds", "2", "--markdown", "-"])
    assert args.steps == {"mpm": 1200, "spm": 500, "rpm": 99, "cpm": 40}  # defaults kept where not given
    # seed-major: every architecture gets seed 0 before any gets seed 1; capped ones stop early; extra rows last
    plan = [(row, seed) for row, _, _, seed in bench.planned_runs(args)]
    assert plan == [("mpm", 0), ("spm", 0), ("rpm", 0), ("cpm", 0), ("mpm", 1), ("spm", 1), ("rpm", 1), ("mpm", 2),
                    ("rpm", 2), ("spm@1200", 0), ("spm@1200", 1)]
    steps = {(row, seed): (kind, n) for row, kind, n, seed in bench.planned_runs(args)}
    assert steps["rpm", 2] == ("rpm", 99) and steps["spm@1200", 1] == ("spm", 1200) and steps["spm", 0] == ("spm", 500)
    for bad in (["--steps", "vgg=3"], ["--steps", "mpm=0"], ["--steps", "mpm"], ["--max-seeds", "rpm=x"]):
        with pytest.raises(SystemExit, match="KIND=N"):
            bench.parse_args(bad)


def test_only_the_identical_table2_mpm_pretraining_is_reused(bench, tmp_path):
    args = bench.parse_args([])
    share = tmp_path / "share100"
    share.mkdir()
    weights = share / "seed1_w32_steps1200_lr0.002_pretrain.safetensors"
    weights.write_bytes(b"")
    (share / "seed1_w32_steps1200_lr0.002_ft200_ftlr0.0005.json").write_text("{}")
    found = bench.table2_pretraining("mpm", 1, 1200, args, tmp_path)
    assert found == (weights, share / "seed1_w32_steps1200_lr0.002_ft200_ftlr0.0005.json")
    assert bench.table2_pretraining("spm", 1, 1200, args, tmp_path) is None  # table 2 trains only MPMs
    assert bench.table2_pretraining("mpm", 0, 1200, args, tmp_path) is None  # another seed: not on disk
    assert bench.table2_pretraining("mpm", 1, 1000, args, tmp_path) is None  # other steps
    assert bench.table2_pretraining("mpm", 1, 1200, bench.parse_args(["--lr", "1e-3"]), tmp_path) is None
    small = bench.parse_args(["--scenes", "16", "4"])
    assert bench.table2_pretraining("mpm", 1, 1200, small, tmp_path) is None  # other synthetic scenes


def _run(kind: str, steps: int, f_real: float, f_syn: float, train_s: float | None = 100.0) -> dict:
    keys = ("f_real", "f_real_upper", "ap_real", "ar_real", "pck_real", "f_syn", "f_syn_upper", "max_conf_real")
    scores = {k: f_syn if k.endswith("syn") else f_real for k in keys}
    return {"kind": kind, "steps": steps, "train_s": train_s, "eval": scores}


def test_report_counts_seeds_beating_the_mpm_and_leaves_out_missing_rows(bench):
    args = bench.parse_args(["--seeds", "0", "1", "2", "--archs", "mpm", "spm", "rpm", "--extra", "spm=1200",
                             "--markdown", "-"])
    results = {"mpm": {s: _run("mpm", 1200, f, 0.1) for s, f in zip((0, 1, 2), (0.10, 0.05, 0.06))},
               "spm": {s: _run("spm", 500, f, g) for s, f, g in zip((0, 1, 2), (0.12, 0.04, 0.07), (0.2, 0, 0))},
               "cpm": {0: _run("cpm", 40, 0.5, 0.5)},  # not in --archs: not shown
               "spm@1200": {0: _run("spm", 1200, 0.09, 0.3)}}
    costs = {"mpm": {"params": 52768, "forward_ms": 12.6}}
    text = bench.format_table(results, costs, args, "--seeds 0 1 2")
    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ") for line in text.splitlines()
            if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"architecture", "MPM-2S", "SPM-2S", "SPM-2S, 1200 steps (extra row)"}  # RPM not run
    extra = rows["SPM-2S, 1200 steps (extra row)"]
    assert extra[3:6] == ["1200", "100", "1"] and extra[-2:] == ["0/1", "1/1"]  # vs the MPM of seed 0
    assert rows["MPM-2S"][1:6] == ["53 K", "13", "1200", "100", "3"] and rows["MPM-2S"][-2:] == ["-", "-"]
    assert rows["SPM-2S"][1:3] == ["n/a", "n/a"]  # no cost measured
    assert rows["SPM-2S"][-2:] == ["2/3", "1/3"]  # F real-like higher on seeds 0, 2; synthetic on seed 0
    assert rows["SPM-2S"][6] == "0.077 +- 0.040"  # F real-like: mean +- sample std over the seeds


def test_tiny_run_writes_the_table_and_reads_finished_runs_back(bench, tmp_path, monkeypatch):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# B\n\n<!-- pose_machines:cpu-table1 -->\nOLD\n<!-- /pose_machines:cpu-table1 -->\ntail\n")
    argv = ["--seeds", "0", "--archs", "mpm", "spm", "--steps", "mpm=2", "spm=1", "--scenes", "4", "2",
            "--width", "8", "--work", str(tmp_path / "work"), "--markdown", str(md), "--results", str(tmp_path)]
    torch.manual_seed(0)
    assert bench.main(argv) == 0
    run = json.loads((tmp_path / "work" / "spm" / "seed0_w8_steps1_lr0.002_scenes4-2.json").read_text())
    assert run["steps"] == 1 and run["train_s"] > 0 and "reused_from" not in run
    assert {"f_real", "f_real_upper", "f_syn", "pck_real", "max_conf_real"} <= set(run["eval"])
    costs = json.loads((tmp_path / "work" / "costs_w8.json").read_text())
    assert set(costs) == {"mpm", "spm"} and costs["spm"]["params"] == run["params"] and costs["mpm"]["forward_ms"] > 0
    text = md.read_text()
    assert "OLD" not in text and text.endswith("tail\n") and "| MPM-2S |" in text and "| SPM-2S |" in text
    assert "--steps mpm=2 spm=1" in text and "--scenes 4 2" in text

    calls = []
    monkeypatch.setattr(bench, "train_one", lambda *a, **k: calls.append(a))
    assert bench.main(argv) == 0
    assert calls == []  # finished runs are read back, not trained again
    saved = json.loads((tmp_path / "cpu_table1.json").read_text())
    assert saved["runs"]["spm"]["0"]["eval"] == run["eval"] and "log" not in saved["runs"]["spm"]["0"]
