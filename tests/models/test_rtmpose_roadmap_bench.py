"""benchmarks/rtmpose/roadmap.py: the rows and what each changes, the RTMPose-m recipe's data reused, the budget, and a
quick run end to end (the reference and the 1x1-kernel row, one seed: two runs keep it under 30 s) whose table says
what it measured."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ..conftest import assert_same_renders, benchmark_fixture

REPO = Path(__file__).resolve().parents[2]


roadmap = benchmark_fixture("benchmarks/rtmpose/roadmap.py", "rtmpose_roadmap_bench")


def test_data_is_the_rtmpose_m_recipes(roadmap):
    """Same synthetic keys -> same cache folders: the 20000 renders already made are reused."""
    from kdpose.engine.config import load_recipe

    ours = load_recipe(REPO / "configs" / roadmap.RECIPE)
    assert_same_renders(ours, load_recipe(REPO / "configs" / "rtmpose-m_synth-standard.yaml"))
    assert tuple(ours.model.input_size) == roadmap.INPUT_SIZE == (96, 128)
    assert (ours.model.name, ours.model.init_weights, ours.model.init_prefix) == (
        "rtmpose-t", "cspnext-t-udp.synth-demo-backbone_96x64", "backbone.")
    assert ours.model.kwargs == {}  # the reference row is RTMPose-t as released
    # the recipe's own schedule is the driver's default budget
    assert ours.train.max_epochs * ours.train.epoch_iters == roadmap.DEFAULT_ITERS
    assert roadmap.schedule_sets(roadmap.DEFAULT_ITERS) == [
        "train.max_epochs=5", "train.epoch_iters=200", "train.stage2_epochs=1", "schedule.warmup_iters=100",
        "eval.interval=5"]
    assert ours.schedule.warmup_iters == 100 and ours.eval.interval == 5


def test_each_row_changes_one_thing(roadmap):
    rows = roadmap.ROWS
    assert rows["rtmpose"].overrides() == []
    assert rows["heatmap"].overrides() == ["model.name=cspnext-t-udp"]
    assert rows["loss-beta-1"].overrides() == ["model.kwargs={loss_beta: 1.0}"]
    assert rows["shared-sigma"].overrides() == ["model.kwargs={sigma: 3.46}"]
    assert rows["kernel-1x1"].overrides() == ["model.kwargs={final_layer_kernel_size: 1}"]
    assert [r.name for r in roadmap.selected(roadmap.DEFAULT_ROWS)] == roadmap.DEFAULT_ROWS
    assert [r.name for r in roadmap.selected(["kernel-9x9", "kernel-3x3"])] == ["rtmpose", "kernel-3x3", "kernel-9x9"]
    # the override string builds the row's network through the recipe
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.base import build_model

    for name, check in [("shared-sigma", lambda m: m.codec.sigma == (3.46, 3.46)),
                        ("kernel-1x1", lambda m: m.head.final_layer.kernel_size == (1, 1)),
                        ("loss-beta-1", lambda m: m.loss_fn.kl.beta == 1.0),
                        ("heatmap", lambda m: m.info.name == "cspnext-t-udp")]:
        cfg = load_recipe(REPO / "configs" / roadmap.RECIPE, ["model.init_weights="] + rows[name].overrides())
        assert check(build_model(cfg.model)), name


def test_budget_estimate_is_the_module_docs(roadmap):
    rows = roadmap.selected(roadmap.DEFAULT_ROWS)
    per_seed = roadmap.estimate_minutes(rows, 1, roadmap.DEFAULT_ITERS)
    assert per_seed == pytest.approx(4 * 1000 * 0.45 / 60 + 1000 * 1.2 / 60 + 5 * 1.5)  # 57.5 min
    assert roadmap.estimate_minutes(rows, 3, roadmap.DEFAULT_ITERS) / 60 == pytest.approx(2.875)
    assert "3 seeds ~2.9 h" in roadmap.__doc__


def test_quick_run_end_to_end(roadmap, tmp_path, monkeypatch):
    monkeypatch.setattr(roadmap, "measure_cost", lambda model, size, **kw: {
        "params_m": 2.9 if kw else 3.2, "gflops": 0.1, "cpu_ms": 2.0})
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--quick", "--seeds", "0", "--rows", "kernel-1x1", "--device", "cpu", "--threads", "1",
            "--work-root", str(work), "--out", str(out)]
    assert roadmap.main(argv) == 0

    rows = {r["run"]: r for r in json.loads((out / "results_quick.json").read_text())}
    assert list(rows) == ["rtmpose", "kernel-1x1"]
    for row in rows.values():
        assert [s["seed"] for s in row["seeds"]] == [0]
        for metric in ("ap", "pck"):
            value = row["seeds"][0][metric]
            assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0, (row["run"], metric)
    assert rows["kernel-1x1"]["kwargs"] == {"final_layer_kernel_size": 1}
    final = work / "quick" / "it5" / "kernel-1x1" / "seed0" / "final.safetensors"
    from kdpose.models import load_model

    assert load_model("rtmpose-t", weights=final).head.final_layer.kernel_size == (1, 1)  # the file says 1x1

    text = (out / "results_quick.md").read_text()
    assert "QUICK smoke settings" in text and "5 iterations of batch 8 per run" in text
    assert "| params (M) | GMACs | CPU ms | paper (COCO val AP) |" in text  # measure_cost's "gflops" is MACs
    assert "| `rtmpose` | rtmpose-t |" in text and "| reference | 3.20 | 0.100 | 2.0 |" in text
    assert "| 1x1 head conv | `kernel-1x1` | rtmpose-t |" in text and "| 2.90 | 0.100 | 2.0 | Table 2: 72.8 |" in text
    assert text.count("(1 run)") == 4  # AP and PCK of two rows
    assert "--seeds 0 --rows kernel-1x1 --quick`" in text
