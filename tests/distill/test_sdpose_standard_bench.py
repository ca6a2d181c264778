"""benchmarks/sdpose/run.py --scale standard: the recipe shares the `standard` renders, the budget check, and the
quick mode end to end (Tables 7, 6, 5: rows, numbers, paired counts)."""
from __future__ import annotations

import functools
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from ..conftest import assert_same_renders, benchmark_fixture

REPO = Path(__file__).resolve().parents[2]


sdpose_bench = benchmark_fixture("benchmarks/sdpose/run.py", "sdpose_bench_run")


@pytest.fixture(scope="module")
def std(sdpose_bench):
    return sdpose_bench.standard_module()


def test_recipe_reuses_the_standard_renders_and_rows_load(sdpose_bench, std):
    """Same synthetic keys as the RTMPose-m `standard` recipe -> same cache folders; every row's overrides pass the
    strict loader with this recipe."""
    from kdpose.engine.config import load_recipe

    recipe = load_recipe(REPO / "configs" / std.RECIPE)
    assert_same_renders(recipe, load_recipe(REPO / "configs" / "rtmpose-m_synth-standard.yaml"))
    assert (recipe.model.name, tuple(recipe.model.input_size)) == ("rtmpose-t", std.INPUT_SIZE)
    assert recipe.model.init_weights == "cspnext-t-udp.synth-demo-backbone_96x64"
    assert recipe.train.max_epochs * recipe.train.epoch_iters == std.DEFAULT_ITERS  # the driver's default budget
    assert recipe.distill.method == "sdpose" and recipe.distill.params == {"cycles": 2, "w_kt": 5.0e-3}

    tables = {t: std.on_standard(sdpose_bench.CPU_TABLES[t]()) for t in ("7", "6", "5")}
    order = std.training_order(tables)
    assert len(order) == 7 and order[0].task is None  # the plain model first: it checks the budget
    for run in order:
        assert run.recipe == std.RECIPE
        load_recipe(REPO / "configs" / run.recipe, run.overrides() + std.schedule_sets(3000))


def _log(work: Path, ap: float) -> None:
    work.mkdir(parents=True)
    (work / "log.jsonl").write_text(json.dumps({"kind": "val", "AP": ap}) + "\n")


def test_plain_check_sentences(std, tmp_path):
    mean, text = std.plain_check(tmp_path, [0], 4000)
    assert mean is None and "not checked yet" in text
    _log(tmp_path / "seed0", 0.45)
    _log(tmp_path / "seed1", 0.41)
    mean, text = std.plain_check(tmp_path, [0, 1], 4000)
    assert mean == pytest.approx(0.43) and text.startswith("Budget check") and "(45.0, 41.0)" in text
    _log(tmp_path / "seed2", 0.05)
    mean, text = std.plain_check(tmp_path, [0, 1, 2], 4000)
    assert mean > std.PLAIN_AP_TARGET and "WARNING" in text and "NOT above 30 % on every seed" in text  # seed 2


def _train_in_process(recipe: str, work_dir: Path, sets: list[str]) -> None:
    """``_miniature.train`` without a new interpreter per run (the same CLI command, ~4 s of imports saved)."""
    from _miniature import train_command

    from kdpose.cli.main import main

    cmd = train_command(recipe, work_dir, sets)
    if cmd is not None:
        assert main(cmd[cmd.index("train"):]) == 0


def test_quick_run_end_to_end(sdpose_bench, std, tmp_path, monkeypatch):
    cpu = sys.modules["sdpose_bench_cpu"]
    fake_cost = {"params_m": 3.2, "gflops": 0.1, "cpu_ms": 2.0}
    monkeypatch.setattr(std, "train", _train_in_process)
    monkeypatch.setattr(std, "build_entries", functools.partial(cpu.build_entries,
                                                                cost=lambda *a, **k: fake_cost))
    markdown_before = (REPO / "BENCHMARKS.md").read_text()
    out, work = tmp_path / "out", tmp_path / "work"
    common = ["--scale", "standard", "--quick", "--seeds", "0", "--device", "cpu", "--threads", "1",
              "--work-root", str(work), "--out", str(out)]
    assert sdpose_bench.main(common) == 0

    rows = json.loads((out / "standard" / "results_quick.json").read_text())
    by_table: dict[str, list[dict]] = {}
    for row in rows:
        by_table.setdefault(row["table"], []).append(row)
    assert list(by_table) == ["7", "6", "5"]
    assert [r["row"] for r in by_table["7"]] == ["1 cycle (RTMPose-t)", "2 cycles, 2->1", "3 cycles, 3->2, 2->1"]
    assert [r["deploy_cycles"] for r in by_table["6"]] == [1, 2, 3, 1]
    assert [r["run"] is None for r in by_table["5"]] == [False, False, False, True, False, True, False]
    runs = {r["run"] for r in rows if r["run"]}
    assert len(runs) == 7  # shared rows trained once
    for table, entries in by_table.items():
        ref = entries[0]
        for row in entries:
            if row["run"] is None:
                assert row["ap_mean"] is None and "params_m" not in row
                continue
            assert row["iters"] == 3 and row["params_m"] == 3.2
            for metric in ("ap", "pck"):
                value = row["seeds"][0][metric]
                assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0, (table, row["row"])
                assert row[f"{metric}_mean"] == value and row[f"{metric}_std"] == 0.0
                # paired count against the table's first row, seed by seed
                expected = None if row is ref else [int(value > ref["seeds"][0][metric]), 1]
                assert row[f"{metric}_wins"] == expected, (table, row["row"], metric)
    # Table 6 deploys the no-distillation runs with all their cycles: evaluated apart from the trainer's validation
    quick_runs = work / "standard" / "quick" / "it3"
    for entry in by_table["6"][1:3]:
        cycles = entry["deploy_cycles"]
        assert json.loads((quick_runs / entry["run"] / "seed0" / f"deploy_c{cycles}.json").read_text()) == {
            "ap": entry["ap_mean"], "pck": entry["pck_mean"]}

    text = (out / "standard" / "results_quick.md").read_text()
    assert text.count("QUICK smoke settings") == 3 and text.count("3 iterations of batch 4") == 3
    assert text.count("WARNING: the plain 1-cycle RTMPose-t is at AP") == 3  # quick: far below 0.3
    assert "| 3 cycles | 3 |" in text and "n/a: RTMCC has a single GAU layer" in text
    assert "`python benchmarks/sdpose/run.py --scale standard --tables 5 --seeds 0 --quick`" in text
    assert (REPO / "BENCHMARKS.md").read_text() == markdown_before  # quick mode never writes the tables

    # the budget probe reads the finished plain run: exit 1, its AP is not above 0.3
    assert sdpose_bench.main(common + ["--check-budget"]) == 1

    # every finished run left a record: on a machine without the work dirs nothing is trained again and the
    # tables come out the same, naming the CPU the runs were trained on
    records = out / "standard" / "records_quick" / "it3"
    record = json.loads((records / by_table["6"][1]["run"] / "seed0.json").read_text())
    # Table 6 deploys it with 2 cycles, Table 5's `none` row with one
    assert record["deployed"]["2"] == {"ap": by_table["6"][1]["ap_mean"], "pck": by_table["6"][1]["pck_mean"]}
    assert set(record["deployed"]) == {"1", "2"}
    assert record["precision"] in (["none"], ["bf16"]) and record["training_minutes"] > 0 and record["cpu"]
    assert len(list(records.glob("*/seed0.json"))) == 7
    shutil.rmtree(work)

    def no_training(*args):
        raise AssertionError(f"trained again: {args[1]}")

    monkeypatch.setattr(std, "train", no_training)
    assert sdpose_bench.main(common) == 0
    again = json.loads((out / "standard" / "results_quick.json").read_text())
    assert [(r["row"], r["ap_mean"], r["pck_mean"], r["ap_wins"]) for r in again] == [
        (r["row"], r["ap_mean"], r["pck_mean"], r["ap_wins"]) for r in rows]
    trained_on = f"Trained on: {record['cpu']} ({record['precision'][0]}) 7 runs."
    assert trained_on in (out / "standard" / "results_quick.md").read_text()
    assert sdpose_bench.main(common + ["--check-budget"]) == 1  # the plain run's record answers the budget probe
