"""The CPU-scale depth Table II driver (benchmarks/pose_machines/cpu_table2.py): the synthetic-share partition, the
paired per-seed counts of the report, and a tiny end-to-end run that reuses its finished runs and pretraining."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ..conftest import benchmark_fixture


bench = benchmark_fixture("benchmarks/pose_machines/cpu_table2.py", "pose_machines_cpu_table2")


def test_shares_are_nested_random_subsets_fixed_per_seed(bench):
    parts = {p: bench.share_indices(800, p, seed=0) for p in (0.25, 0.5, 0.75, 1.0)}
    assert [len(parts[p]) for p in (0.25, 0.5, 0.75, 1.0)] == [200, 400, 600, 800]
    assert np.array_equal(parts[1.0], np.arange(800))
    assert set(parts[0.25]) <= set(parts[0.5]) <= set(parts[0.75])  # nested within a seed
    assert np.all(np.diff(parts[0.5]) > 0)  # ascending, no repeats
    assert np.array_equal(bench.share_indices(800, 0.25, seed=0), parts[0.25])  # deterministic
    other = bench.share_indices(800, 0.25, seed=1)
    assert len(set(other) & set(parts[0.25])) < 100  # another seed draws other scenes (about 50 in common)
    assert not np.array_equal(parts[0.25], np.arange(200))  # random, not the first scenes
    with pytest.raises(ValueError, match="share"):
        bench.share_indices(800, 0.0, seed=0)


def _scores(f: float) -> dict:
    keys = ("f_real", "ap_real", "ar_real", "pck_real", "f_syn", "max_conf_real")
    return {k: f for k in keys}


def test_report_counts_finetuning_gains_and_seeds_against_the_full_share(bench):
    args = bench.parse_args(["--seeds", "0", "1", "2", "--markdown", "-"])

    def runs(before, after, scenes):
        return {s: {"scenes": scenes, "before": _scores(b), "after": _scores(a)}
                for s, b, a in zip((0, 1, 2), before, after)}

    results = {"share100": runs((0.20, 0.30, 0.25), (0.40, 0.30, 0.35), 800),
               "share25": runs((0.10, 0.35, 0.30), (0.50, 0.20, 0.30), 200),
               "control": runs((0.20, 0.30, 0.25), (0.45, 0.25, 0.40), 800)}
    text = bench.format_table(results, args, "--seeds 0 1 2")
    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ") for line in text.splitlines()
            if line.startswith("| ") and "---" not in line}
    assert rows["100 %"][1:3] == ["800", "3"] and rows["100 %"][-3:] == ["2/3", "-", "-"]  # 0.30 -> 0.30 no gain
    # 25 %: finetuning raised F on seed 0 only; before it beats 100 % on seeds 1, 2; after only on seed 0
    assert rows["25 %"][-3:] == ["1/3", "2/3", "1/3"]
    assert rows["25 %"][3] == "0.250 +- 0.132"  # F real-like before: mean +- sample std over the seeds
    control = rows["100 %, then the same steps on its synthetic scenes (control)"]
    assert control[-3:] == ["2/3", "-", "2/3"]  # its "before" is the 100 % row's network: not compared
    assert len(rows) == 4 and "50 %" not in rows  # rows not run are left out


def test_tiny_run_writes_the_table_and_reuses_runs_and_pretraining(bench, tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# B\n\n<!-- pose_machines:cpu-table2 -->\nOLD\n<!-- /pose_machines:cpu-table2 -->\ntail\n")
    base = ["--seeds", "0", "--runs", "share50", "control", "--steps", "2", "--scenes", "4", "2", "2", "--width", "8",
            "--work", str(tmp_path / "work"), "--markdown", str(md), "--results", str(tmp_path)]
    torch.manual_seed(0)
    assert bench.main(base + ["--ft-steps", "2"]) == 0
    tag = "seed0_w8_steps2_lr0.002_ft2_ftlr0.0005_scenes4-2-2.json"
    run = json.loads((tmp_path / "work" / "share50" / tag).read_text())
    assert run["scenes"] == 2 and run["ft_steps"] == 2 and "pretrain_reused" not in run
    assert set(run["before"]) == set(run["after"]) and {"f_real", "pck_real", "max_conf_real"} <= set(run["before"])
    control = json.loads((tmp_path / "work" / "control" / tag).read_text())
    assert control["scenes"] == 4  # all synthetic scenes, fused
    # the control pretrains the 100 % row's network (kept under share100/) ...
    assert (tmp_path / "work" / "share100" / "seed0_w8_steps2_lr0.002_syn4_pretrain.safetensors").is_file()
    text = md.read_text()
    assert "OLD" not in text and text.endswith("tail\n")
    assert "| 50 % | 2 | 1 |" in text and "(control) | 4 | 1 |" in text
    assert "--scenes 4 2 2" in text and (tmp_path / "cpu_table2.md").is_file()
    assert bench.main(base + ["--ft-steps", "2"]) == 0  # finished: read back, not retrained
    saved = json.loads((tmp_path / "cpu_table2.json").read_text())
    assert saved["share50"]["0"]["before"] == run["before"] and "log" not in saved["share50"]["0"]
    # ... which the 100 % row then reuses: only its finetuning runs
    assert bench.main(base + ["--ft-steps", "3", "--runs", "share100"]) == 0
    full = json.loads((tmp_path / "work" / "share100" / tag.replace("ft2", "ft3")).read_text())
    assert full["pretrain_reused"] is True and full["before"] == pytest.approx(control["before"])
