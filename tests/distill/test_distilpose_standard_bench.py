"""benchmarks/distilpose/run.py --scale standard: rows, the teacher's data reused, and a quick run end to end with a
stand-in teacher (the strong teacher's tag ships later)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ..conftest import assert_same_renders

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def std(bench):
    return bench.standard_module()


@pytest.fixture(scope="module")
def stand_in_teacher(tmp_path_factory) -> Path:
    """A random CSPNeXt-t UDP heatmap model at 96x128 (the real teacher is a CSPNeXt-m of the same size)."""
    from kdpose.models import create_model, save_weights

    path = tmp_path_factory.mktemp("teacher") / "stand-in.safetensors"
    return save_weights(create_model("cspnext-t-udp", layout="coco", input_size=(96, 128)), path)


def test_student_data_is_the_teachers(std):
    """Same synthetic keys -> same cache folders: the teacher's 20000 renders are reused, not made again."""
    from kdpose.engine.config import load_recipe

    student = load_recipe(REPO / "configs" / std.RECIPE)
    for teacher_recipe in ("cspnext-m_udp_synth-standard_from-rtmpose-m.yaml", "cspnext-m_udp_synth-standard.yaml"):
        teacher = load_recipe(REPO / "configs" / teacher_recipe)   # the strong and the weaker teacher
        assert_same_renders(student, teacher)
    assert tuple(student.model.input_size) == tuple(teacher.model.input_size) == std.INPUT_SIZE
    assert student.distill.teacher_weights == std.TEACHER_TAG and student.distill.teacher == std.TEACHER_MODEL
    # the recipe's own schedule is the driver's default budget
    assert student.train.max_epochs * student.train.epoch_iters == std.DEFAULT_ITERS
    assert std.schedule_sets(std.DEFAULT_ITERS) == ["train.max_epochs=5", "train.epoch_iters=120",
                                                    "train.stage2_epochs=1", "eval.interval=5"]


def test_rows_and_teachers(std, stand_in_teacher):
    tables = std.tables(None)
    assert std.needed(tables, ["4", "5", "6"]) == (["teacher"], ["baseline", "cs", "sh", "cs+sh"])
    assert std.needed(tables, ["6"]) == (["teacher"], ["baseline", "sh"])
    assert [label for label, name in tables["5"].rows if name is None] == [
        "weaker teacher", "student from the weaker teacher"]
    weak = std.teacher_of(str(stand_in_teacher))
    assert weak.model == "cspnext-t-udp" and weak.key.startswith("stand-in-")
    assert std.needed(std.tables(weak), ["5"]) == (["teacher", "teacher-weak"], ["baseline", "cs+sh-weak", "cs+sh"])

    sh = std.STUDENTS["sh"].overrides("w.safetensors", "cspnext-m-udp")
    assert "distill.teacher_weights=w.safetensors" in sh and std.NO_CONFIDENCE in sh  # no L_CS: score 1
    assert std.NO_CONFIDENCE not in std.STUDENTS["cs+sh"].overrides("w", "cspnext-m-udp")
    assert std.STUDENTS["baseline"].overrides("w", "m") == ["distill.method=", std.NO_CONFIDENCE]
    assert std.teacher_of(std.TEACHER_TAG).model == "cspnext-m-udp"   # also before the tag is registered


def test_wrong_teacher_files_are_refused(std, stand_in_teacher, tmp_path):
    from kdpose.models import create_model, save_weights

    with pytest.raises(SystemExit, match="no such file or pretrained tag"):
        std.teacher_of(str(tmp_path / "missing.safetensors"))
    path = save_weights(create_model("cspnext-t-udp", layout="coco", input_size=(64, 96)), tmp_path / "t.safetensors")
    with pytest.raises(SystemExit, match="96x128 heatmap model"):
        std.teacher_of(str(path))
    from kdpose.models import PRETRAINED

    if std.TEACHER_TAG not in PRETRAINED:  # until the strong teacher ships: one clear error before any training
        with pytest.raises(SystemExit, match="not registered yet.*--teacher-weights"):
            std.check_teacher_ready(std.teacher_of(std.TEACHER_TAG))
    std.check_teacher_ready(std.teacher_of(str(stand_in_teacher)))  # a file is ready as it is


def test_quick_run_end_to_end(bench, std, stand_in_teacher, tmp_path, monkeypatch):
    monkeypatch.setattr(std, "measure_cost", lambda model, size: {"params_m": 1.0, "gflops": 0.1, "cpu_ms": 2.0})
    out, work = tmp_path / "out", tmp_path / "work"
    argv = ["--scale", "standard", "--quick", "--seeds", "0", "--device", "cpu", "--threads", "1",
            "--teacher-weights", str(stand_in_teacher), "--weak-teacher", "none", "--work-root", str(work),
            "--out", str(out)]
    assert bench.main(argv) == 0

    rows = {r["run"]: r for r in json.loads((out / "standard" / "results_quick.json").read_text())}
    assert set(rows) == {"teacher", "baseline", "cs", "sh", "cs+sh"}
    for row in rows.values():
        assert [s["seed"] for s in row["seeds"]] == [0]
        for metric in ("ap", "pck"):
            value = row["seeds"][0][metric]
            assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0, (row["run"], metric)
    assert rows["teacher"]["model"] == "cspnext-t-udp" and rows["cs+sh"]["model"] == std.STUDENT_MODEL
    key = std.teacher_of(str(stand_in_teacher)).key
    assert (work / "standard" / "quick" / "it5" / key / "cs+sh" / "seed0" / "final.safetensors").is_file()
    assert (work / "standard" / "quick" / "it5" / "baseline" / "seed0" / "final.safetensors").is_file()

    text = (out / "standard" / "results_quick.md").read_text()
    assert text.count("QUICK smoke settings") == 3
    assert text.count(std.TOKEN_ROWS) == 4 and text.count(std.NO_WEAK) == 2
    assert "| + L_CS + L_SH | `cs+sh` | deeppose-cspnext-t |" in text
    assert "students 5 iterations of batch 8" in text
    assert (f"--scale standard --tables 4 5 6 --seeds 0 --quick --teacher-weights {stand_in_teacher} "
            "--weak-teacher none`") in text
