"""The model-size-at-default-difficulty benchmark driver (benchmarks/synth_difficulty.py): log reading, table."""
import importlib.util
import json
import sys
from pathlib import Path


def _load(monkeypatch):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "synth_difficulty.py"
    spec = importlib.util.spec_from_file_location("synth_difficulty_bench", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)
    spec.loader.exec_module(bench)
    return bench


def test_reads_val_records_and_formats_the_size_table(tmp_path, monkeypatch):
    bench = _load(monkeypatch)
    work = bench.run_dir(tmp_path, "cspnext-t-udp", 0)
    assert work == tmp_path / "cspnext-t-udp" and bench.run_dir(tmp_path, "m", 2) == tmp_path / "m-seed2"
    work.mkdir()
    log = [{"kind": "train", "loss": 1.0}, {"kind": "val", "AP": 0.002, "AP50": 0.017, "AR": 0.009,
                                             "elapsed_min": 4.0},
           {"kind": "val", "AP": 0.005, "AP50": 0.038, "AR": 0.017, "elapsed_min": 12.4}]
    (work / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    (work / "pck.json").write_text(json.dumps({"pck": 0.5}))
    vals = bench.val_records(work)
    assert [v["AP"] for v in vals] == [0.002, 0.005]
    assert bench.final_pck(work, "cspnext-t-udp") == 0.5  # cached: no model is built
    assert bench.val_records(tmp_path / "missing") == [] and bench.final_pck(tmp_path / "missing", "x") is None

    rows = [{"model": "cspnext-t-udp", "val": vals, "pck": 0.5, "params_m": 5.5, "gflops": 0.3},
            {"model": "cspnext-m-udp", "val": vals[:1], "pck": None, "params_m": 17.0, "gflops": 1.2}]
    table = bench.format_table(rows, seed=0)
    lines = table.splitlines()
    assert "| model | params (M) | GFLOPs | AP ep1 | AP ep2 | AP50 | AR | PCK@0.2 | minutes |" in lines
    assert "| cspnext-t-udp | 5.50 | 0.300 | 0.20 | 0.50 | 3.80 | 1.70 | 50.0 | 12 |" in lines
    assert "| cspnext-m-udp | 17.00 | 1.200 | 0.20 | n/a | 1.70 | 0.90 | n/a | 4 |" in lines
    assert "--models cspnext-t-udp cspnext-m-udp --seed 0" in table


def test_easy_table_names_its_settings_and_keeps_columns_without_records(monkeypatch):
    bench = _load(monkeypatch)
    assert "occlusion: 0" in bench.EASY and "distance_range" in bench.EASY
    rows = [{"model": "cspnext-t-udp", "val": [], "pck": None, "params_m": 5.5, "gflops": 0.3}]
    table = bench.format_table(rows, seed=1, options="--difficulty easy --work-root work_dirs/sd_easy")
    lines = table.splitlines()
    assert lines[0].startswith("**Model size at the easy settings**") and "--difficulty easy" in lines[0]
    header = next(l for l in lines if l.startswith("| model"))
    row = next(l for l in lines if l.startswith("| cspnext-t-udp"))
    assert header.count("|") == row.count("|") == 9 and "| n/a | n/a | n/a | n/a | n/a |" in row
    assert table.endswith("--seed 1 --difficulty easy --work-root work_dirs/sd_easy`")
