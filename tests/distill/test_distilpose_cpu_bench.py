"""benchmarks/distilpose/run.py --scale cpu: row building, per-seed read-back and the report (no training)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cpu(bench):
    return bench.cpu_module()


def test_rows_and_overrides(cpu, tmp_path):
    assert cpu.needed(["6"]) == (["teacher-s"], ["baseline", "sh"])
    assert cpu.needed(["5"]) == (["teacher-s", "teacher-t"], ["cs+sh-from-t", "cs+sh"])
    teachers, students = cpu.needed(["4", "5", "6"])
    assert teachers == ["teacher-s", "teacher-t"]
    assert students == ["baseline", "cs", "sh", "cs+sh", "cs+sh-from-t"]  # shared rows trained once
    # the token rows are listed, never trained
    assert [label for label, name in cpu.TABLES["4"].rows if name is None] == [
        "+ L_KT", "+ L_VT", "+ TDE (L_KT + L_VT)", "all"]

    assert cpu.STUDENTS["baseline"].overrides(tmp_path) == ["distill.method=", cpu.NO_CONFIDENCE]
    sh = cpu.STUDENTS["sh"].overrides(tmp_path / "t")
    assert f"distill.teacher_weights={tmp_path / 't' / 'final.safetensors'}" in sh
    assert "distill.params={preset: 'sh'}" in sh and cpu.NO_CONFIDENCE in sh  # no L_CS: score 1
    from_t = cpu.STUDENTS["cs+sh-from-t"].overrides(tmp_path)
    assert "distill.teacher=cspnext-t-udp" in from_t and cpu.NO_CONFIDENCE not in from_t

    assert cpu.student_sets(12) == []
    assert cpu.student_sets(8) == ["train.max_epochs=8", "train.stage2_epochs=1", "eval.interval=8"]


def test_paired_counts(cpu):
    ref = {"seeds": [{"seed": 0, "ap": 0.010, "pck": 0.80}, {"seed": 1, "ap": 0.020, "pck": 0.70},
                     {"seed": 2, "ap": 0.030, "pck": 0.90}]}
    row = {"seeds": [{"seed": 0, "ap": 0.015, "pck": 0.79}, {"seed": 1, "ap": 0.010, "pck": 0.75},
                     {"seed": 2, "ap": None, "pck": None}]}
    assert cpu.paired(row, ref, "ap") == (1, 2)  # seed 2 did not finish: not counted
    assert cpu.paired(row, ref, "pck") == (1, 2)
    teacher = {"seeds": [{"seed": 0, "ap": 0.012, "pck": 0.76}]}  # one run pairs with every seed
    assert cpu.paired(row, teacher, "pck") == (1, 2)


def _fake_run(work: Path, ap: float, pck: float, minutes: float = 3.0) -> None:
    work.mkdir(parents=True)
    (work / "log.jsonl").write_text(json.dumps({"kind": "train", "iter": 1, "elapsed_min": minutes}) + "\n"
                                    + json.dumps({"kind": "val", "iter": 2, "AP": ap}) + "\n")
    (work / "pck.json").write_text(json.dumps({"pck": pck}))


def test_report_from_finished_runs(bench, cpu, tmp_path, monkeypatch):
    monkeypatch.setattr(cpu, "measure_cost", lambda model, size: {
        "params_m": 2.38 if model == cpu.STUDENT_MODEL else 8.58, "gflops": 0.041, "cpu_ms": 11.0})
    root = tmp_path / "work" / "cpu" / "full"
    _fake_run(root / "teacher-s" / "seed0", 0.0120, 0.900)
    for seed, (base_ap, sh_ap, base_pck, sh_pck) in enumerate([(0.001, 0.003, 0.80, 0.82), (0.002, 0.001, 0.81,
                                                                                              0.83)]):
        _fake_run(root / "baseline" / f"seed{seed}", base_ap, base_pck)
        _fake_run(root / "sh" / f"seed{seed}", sh_ap, sh_pck)
    out = tmp_path / "out"
    assert bench.main(["--scale", "cpu", "--tables", "6", "--seeds", "0", "1", "--report-only", "--no-markdown",
                       "--work-root", str(tmp_path / "work"), "--out", str(out)]) == 0

    text = (out / "cpu" / "results.md").read_text()
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    teacher = lines["| CSPNeXt-s UDP heatmap (teacher)"]
    assert lines["| row"].endswith("| params (M) | GMACs | CPU ms |")  # measure_cost's "gflops" value is MACs
    assert "| 1.20 (1 run) | 90.00 (1 run) | (teacher, 1 run) | 8.58 |" in teacher
    assert "| 0.15 +- 0.07 | 80.50 +- 0.71 | reference |" in lines["| DeepPose-CSPNeXt-t"]
    assert "| 0.20 +- 0.14 | 82.50 +- 0.71 | 1/2 / 2/2 | 2.38 | 0.041 | 11.0 |" in lines["| DeepPose-CSPNeXt-t + SH"]
    assert "--scale cpu --tables 6 --seeds 0 1`" in text and "15 training minutes" in text
    rows = {r["run"]: r for r in json.loads((out / "cpu" / "results.json").read_text())}
    assert rows["sh"]["ap"] == pytest.approx([0.002, 0.0014142], rel=1e-4)


def test_table4_lists_token_rows_as_not_applicable(cpu):
    results = {name: {"run": name, "model": cpu.STUDENT_MODEL, "seeds": [], "ap": (None, None),
                      "pck": (None, None), "params_m": 2.38, "gflops": 0.041, "cpu_ms": 11.0}
               for name in cpu.STUDENTS}
    text = cpu.format_table(cpu.TABLES["4"], results, [0, 1, 2], 12, quick=False)
    assert text.count(cpu.NOT_APPLICABLE) == 4
    assert "| + L_SH | `sh` | deeppose-cspnext-t | not run | not run |" in text


def test_token_pair_rows(cpu, tmp_path):
    teachers, students = cpu.needed(["4t"])
    assert teachers == ["token-teacher-s"]
    assert students == ["token-baseline", "token-kt", "token-vt", "token-tde", "token-all"]
    assert {cpu.STUDENTS[s].recipe for s in students} == {"distilpose_cpu_token_t.yaml"}
    assert {cpu.STUDENTS[s].model for s in students} == {"distilpose-cspnext-t"}
    tde = cpu.STUDENTS["token-tde"].overrides(tmp_path)
    assert "distill.teacher=tokenpose-cspnext-s" in tde and "distill.params={preset: 'tde'}" in tde
    assert cpu.NO_CONFIDENCE in tde  # no L_CS: the confidence is never trained
    assert cpu.NO_CONFIDENCE not in cpu.STUDENTS["token-all"].overrides(tmp_path)  # "all" includes L_CS
    assert cpu.STUDENTS["token-baseline"].overrides(tmp_path) == ["distill.method=", cpu.NO_CONFIDENCE]
