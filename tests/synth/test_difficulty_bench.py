"""The model-size-at-default-difficulty benchmark driver (benchmarks/synth_difficulty.py): log reading, table."""
import json
from pathlib import Path

from ..conftest import benchmark_fixture

bench = benchmark_fixture("benchmarks/synth_difficulty.py", "synth_difficulty_bench")


def test_reads_val_records_and_formats_the_size_table(tmp_path, bench):
    work = bench.run_dir(tmp_path, "cspnext-t-udp", 0)
    assert work == tmp_path / "cspnext-t-udp" and bench.run_dir(tmp_path, "m", 2) == tmp_path / "m-seed2"
    work.mkdir()
    log = [{"kind": "train", "loss": 1.0}, {"kind": "val", "AP": 0.002, "AP50": 0.017, "AR": 0.009,
                                             "elapsed_min": 4.0},
           {"kind": "val", "AP": 0.005, "AP50": 0.038, "AR": 0.017, "elapsed_min": 12.4}]
    (work / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    vals = bench.val_records(work)
    assert [v["AP"] for v in vals] == [0.002, 0.005]
    assert bench.val_records(tmp_path / "missing") == [] and bench.final_pck(tmp_path / "missing", "x") is None

    rows = [{"model": "cspnext-t-udp", "val": vals, "pck": 0.5, "lr_sep": 0.04, "params_m": 5.5, "gflops": 0.3},
            {"model": "cspnext-m-udp", "val": vals[:1], "pck": None, "params_m": 17.0, "gflops": 1.2,
             "finished": False}]
    table = bench.format_table(rows, seed=0)
    lines = table.splitlines()
    assert "| model | params (M) | GMACs | AP ep1 | AP ep2 | AP50 | AR | PCK@0.2 | L/R sep. | minutes |" in lines
    assert "| cspnext-t-udp | 5.50 | 0.300 | 0.20 | 0.50 | 3.80 | 1.70 | 50.0 | 0.04 | 12 |" in lines
    assert "| cspnext-m-udp (unfinished, epoch 1) | 17.00 | 1.200 | 0.20 | n/a | 1.70 | 0.90 | n/a | n/a | 4 |" in lines
    assert "--models cspnext-t-udp cspnext-m-udp --seed 0" in table


def test_long_runs_show_every_kth_epoch_and_the_last(bench):
    assert bench.shown_epochs(3) == [1, 2, 3] and bench.shown_epochs(12) == list(range(1, 13))
    assert bench.shown_epochs(40) == [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    assert bench.shown_epochs(13) == [1, 2, 4, 6, 8, 10, 12, 13]


def _run_with_val_split(tmp_path, bench):
    """A run folder whose recipe points at a hand-written val annotation file where the recipe's cache key puts it."""
    from kdpose.tasks.synthetic import synthetic_split_paths
    from kdpose.engine.config import dump_recipe, load_recipe

    recipe = load_recipe(bench.CONFIGS / bench.RECIPE, [f"data.cache_dir={tmp_path / 'cache'}"])
    work = tmp_path / "run"
    work.mkdir()
    (work / "config.yaml").write_text(dump_recipe(recipe))
    ann = synthetic_split_paths(recipe.data, recipe.data.val, "val")[0]
    return work, ann


def _person(kpts, image_id, area=5000.0):
    flat = [v for x, y in kpts for v in (x, y, 2)]
    return {"id": len(kpts) + image_id, "image_id": image_id, "category_id": 1, "keypoints": flat,
            "num_keypoints": len(kpts), "area": area, "bbox": [0, 0, 100, 100], "iscrowd": 0}


def test_pck_cache_is_used_only_for_the_runs_own_val_split(tmp_path, bench):
    work, ann = _run_with_val_split(tmp_path, bench)
    (work / "final.safetensors").write_bytes(b"")  # never read below: the cache answers, or the data is missing
    (work / "pck.json").write_text(json.dumps({"pck": 0.5, "ann_file": str(ann.resolve())}))
    assert bench.final_pck(work, "cspnext-t-udp") == 0.5
    # measured on another split (the bug this guards against: the first val-* folder on disk): not used
    (work / "pck.json").write_text(json.dumps({"pck": 0.5, "ann_file": "/elsewhere/person_keypoints_val.json"}))
    assert not ann.exists() and bench.final_pck(work, "cspnext-t-udp") is None


def test_left_right_separation_is_the_median_predicted_over_true_pair_distance(tmp_path, bench):
    work, ann = _run_with_val_split(tmp_path, bench)
    base = [(50.0, 10.0 + 4 * k) for k in range(17)]  # a person: everything on a vertical line ...
    truth = list(base)
    truth[5], truth[6], truth[11], truth[12] = (40, 30), (60, 30), (45, 55), (55, 55)  # ... but shoulders, hips
    far = [(x + 300, y) for x, y in truth]  # a second person in the image, far away: never the match
    ann.parent.mkdir(parents=True)
    ann.write_text(json.dumps({"images": [{"id": 1}], "annotations": [_person(truth, 1), _person(far, 1)]}))
    collapsed = list(truth)
    collapsed[5] = collapsed[6] = (50, 30)  # shoulders on one spot: 0
    collapsed[11], collapsed[12] = (47.5, 55), (52.5, 55)  # hips at half their distance: 0.5
    exact = list(truth)  # 1, 1
    results = [{"image_id": 1, "category_id": 1, "score": 1.0, "keypoints": [v for x, y in p for v in (x, y, 1)]}
               for p in (collapsed, exact)]
    (work / "val_results.json").write_text(json.dumps(results))
    assert abs(bench.lr_separation(work) - 0.75) < 1e-9  # median of 0, 0.5, 1, 1
    assert bench.lr_separation(tmp_path / "missing") is None


def test_easy_table_names_its_settings_and_keeps_columns_without_records(bench):
    assert "occlusion: 0" in bench.EASY and "distance_range" in bench.EASY
    rows = [{"model": "cspnext-t-udp", "val": [], "pck": None, "params_m": 5.5, "gflops": 0.3}]
    table = bench.format_table(rows, seed=1, options="--difficulty easy --work-root work_dirs/sd_easy")
    lines = table.splitlines()
    assert lines[0].startswith("**Model size at the easy settings**") and "--difficulty easy" in lines[0]
    header = next(l for l in lines if l.startswith("| model"))
    row = next(l for l in lines if l.startswith("| cspnext-t-udp"))
    assert header.count("|") == row.count("|") == 10 and "| n/a | n/a | n/a | n/a | n/a | n/a |" in row
    assert table.endswith("--seed 1 --difficulty easy --work-root work_dirs/sd_easy`")


def test_each_work_root_difficulty_and_seed_gets_its_own_section(bench):
    root = Path("work_dirs/sd40lr")
    assert bench.section_key(root, True, "default", 0) == "difficulty"
    assert bench.section_key(root, False, "default", 0) == "difficulty-sd40lr"
    assert bench.section_key(root, False, "default", 1) == "difficulty-sd40lr-seed1"
    assert bench.section_key(root, True, "easy", 2) == "difficulty-sd40lr-seed2"
