"""benchmarks/bench_detector.py eval scores weights on a detector recipe's val split the way its trainer validates
(the recipe's scenes and ignore_unlabelled rule, the detector validation's scorer): on the tiny run's saved recipe it
gives the very numbers that run's validation logged, and its ground truth is the trainer's, crowd regions included."""
from __future__ import annotations

import json

import pytest

from kdpose.engine.config import load_recipe
from kdpose.tasks.base import get_task

from ..conftest import benchmark_fixture

bench = benchmark_fixture("benchmarks/bench_detector.py", "bench_detector_bench")


def _logged_validation(run) -> dict:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "val"][-1]


def test_eval_gives_the_numbers_the_trainers_validation_logged(bench, tiny_detector_run, tmp_path):
    recipe = tiny_detector_run / "config.yaml"
    out = tmp_path / "rows.json"
    assert bench.main(["eval", str(tiny_detector_run / "final.safetensors"), "--recipe", str(recipe),
                       "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    logged = _logged_validation(tiny_detector_run)
    assert row["input"] == [64, 64]  # the recipe's input size
    for key in ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR"):
        assert row[key] == pytest.approx(logged[key], abs=1e-9), key


def test_eval_scores_against_the_trainers_ground_truth_with_its_ignore_rule(bench, tiny_detector_run):
    recipe = str(tiny_detector_run / "config.yaml")
    cfg, settings, eval_set = bench.recipe_eval_set(recipe, [])
    trainer_cfg = load_recipe(recipe)
    assert settings["ignore_unlabelled"] is True
    assert eval_set.coco_gt == get_task(trainer_cfg).eval_set(trainer_cfg).coco_gt
    crowd = [a for a in eval_set.coco_gt["annotations"] if a["iscrowd"]]
    assert crowd and len(crowd) < len(eval_set.coco_gt["annotations"])  # unlabelled people are ignore regions
    assert bench.val_overrides(8, None, 2) == ["data.val.synthetic_images=8", "data.val.synthetic_max_people=2"]
