"""benchmarks/fresh_vs_cached.py: the arms and what each changes, the budget plan, and a quick run end to end (the
``kdpose train`` runs in this process) whose JSON rows and table hold what the driver promises."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ..conftest import benchmark_fixture

REPO = Path(__file__).resolve().parents[2]

bench = benchmark_fixture("benchmarks/fresh_vs_cached.py", "fresh_vs_cached_bench")


def test_arms_change_only_the_training_scenes(bench):
    from kdpose.engine.config import load_recipe

    arms = bench.arms_of([2000, 20000])
    assert [a.name for a in arms] == ["cached-2000", "cached-20000", "fresh"]
    assert arms[0].overrides(4000) == ["data.train.synthetic_images=2000"]
    assert arms[2].overrides(4000) == ["data.train.synthetic_fresh=true", "data.train.synthetic_images=4000"]
    base = load_recipe(REPO / "configs" / bench.RECIPE)
    assert (base.model.name, tuple(base.model.input_size), base.data.train.synthetic_preset) == (
        "rtmpose-t", bench.INPUT_SIZE, "standard")
    assert base.data.batch_size == bench.BATCH and base.data.train.synthetic_images == 20000   # the teacher's split
    for arm in arms:
        cfg = load_recipe(REPO / "configs" / bench.RECIPE, arm.overrides(4000))
        assert cfg.data.val == base.data.val and cfg.model == base.model   # same val split, network, weights


def test_plan_fills_the_budget_with_whole_epochs(bench):
    p = bench.plan(0.45, 30, bench.EPOCH_ITERS)   # 4000 iterations of 0.45 s
    assert p["epoch_iters"] <= bench.EPOCH_ITERS and p["epochs"] == 32
    assert p["iterations"] == p["epochs"] * p["epoch_iters"] and abs(p["iterations"] * 0.45 / 60 - 30) < 1
    assert bench.schedule_sets(p) == ["train.max_epochs=32", f"train.epoch_iters={p['epoch_iters']}",
                                      "train.stage2_epochs=3", f"schedule.warmup_iters={p['iterations'] // 10}",
                                      "eval.interval=32"]
    slow = bench.plan(0.7, 30, bench.EPOCH_ITERS)   # fresh rendering on the same cores: fewer iterations
    assert slow["iterations"] < p["iterations"] and bench.plan(100.0, 0.01, 5)["iterations"] == 2
    assert bench.estimate_minutes(3, 3, 30) / 60 == pytest.approx(4.8, abs=0.05)
    assert "~4.8 h" in bench.__doc__ and "one seed ~1.6 h" in bench.__doc__
    assert bench.estimate_minutes(3, 1, 30) / 60 == pytest.approx(1.64, abs=0.01)


def _in_process(cmd):
    """``launch`` without a subprocess: the same recipe and overrides through kdpose.tasks.train."""
    if cmd is None:
        return
    from kdpose.engine.config import load_recipe
    from kdpose.tasks import train

    work = Path(cmd[cmd.index("--work-dir") + 1])
    sets = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--set"]
    train(load_recipe(cmd[4], sets), work, resume="--resume" in cmd)


def test_quick_run_writes_the_promised_rows(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "launch", _in_process)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--quick", "--seeds", "0", "--minutes", "0.001", "--device", "cpu", "--threads", "1",
            "--work-root", str(work), "--out", str(out)]
    assert bench.main(argv) == 0

    result = json.loads((out / "results_quick.json").read_text())
    assert result["budget_minutes"] == 0.001 and result["seeds"] == [0] and result["batch"] == bench.QUICK_BATCH
    assert result["command"] == "python benchmarks/fresh_vs_cached.py --minutes 0.001 --seeds 0 --quick"
    rows = {r["arm"]: r for r in result["rows"]}
    assert list(rows) == ["cached-12", "cached-24", "fresh"]
    for row in rows.values():
        assert set(row) >= {"arm", "label", "fresh", "scenes", "plan", "crops_trained", "render_core_min", "seeds",
                            "ap", "ar", "pck"}
        assert row["plan"]["iterations"] == 2 and row["plan"]["seconds_per_iter"] > 0
        (seed,) = row["seeds"]
        assert seed["seed"] == 0 and seed["iterations"] == 2 and seed["train_minutes"] > 0
        for metric in ("ap", "ar", "pck"):
            assert 0.0 <= seed[metric] <= 1.0 and math.isfinite(seed[metric]), (row["arm"], metric)
    assert rows["fresh"]["fresh"] and rows["fresh"]["render_core_min"] == 0
    assert (work / "quick" / "0.001min" / "fresh" / "plan.json").is_file()
    assert len(list((work / "quick" / "synth").glob("train-*"))) == 2   # the cached arms' splits; fresh writes none

    text = (out / "results_quick.md").read_text()
    assert "QUICK smoke settings" in text and "0.001 training minutes each" in text
    assert "| fresh scenes every epoch | `fresh` |" in text and "| 12 scenes rendered once | `cached-12` |" in text
    assert text.count("(1 run)") == 9 and "--minutes 0.001 --seeds 0 --quick`" in text
    # a second call reuses the plans and the finished runs (nothing trains again)
    monkeypatch.setattr(bench, "launch", lambda cmd: pytest.fail(f"ran again: {cmd}") if cmd else None)
    assert bench.main(argv) == 0
    # the plans and the finished runs are kept as records: without the work dirs (a new machine) nothing trains
    # again, no plan is calibrated again, and the table is the same, naming the CPU the runs trained on
    records = out / "records_quick" / "0.001min"
    assert sorted(p.relative_to(records).as_posix() for p in records.rglob("*.json")) == [
        f"{arm}/{name}" for arm in ("cached-12", "cached-24", "fresh") for name in ("plan.json", "seed0.json")]
    record = json.loads((records / "fresh" / "seed0.json").read_text())
    assert record["cpu"] and record["ap"] == rows["fresh"]["seeds"][0]["ap"]
    shutil.rmtree(work)
    monkeypatch.setattr(bench, "calibrate", lambda *a: pytest.fail("calibrated again"))
    assert bench.main(argv) == 0
    again = json.loads((out / "results_quick.json").read_text())
    assert [(r["arm"], r["ap"], r["pck"], r["plan"]) for r in again["rows"]] == [
        (r["arm"], r["ap"], r["pck"], r["plan"]) for r in result["rows"]]
    assert f"Trained on: {record['cpu']} (3 runs)." in (out / "results_quick.md").read_text()
