"""benchmarks/dwpose/run.py --scale standard: the teacher's data reused, the budget, the teacher checks (one line
while the strong teacher's tag is not registered) and a quick Table 4 end to end with a random stand-in teacher."""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import assert_same_renders, benchmark_fixture

REPO = Path(__file__).resolve().parents[2]
RUN_PY = REPO / "benchmarks" / "dwpose" / "run.py"
CELL = re.compile(r"^(\d+\.\d+) \+- (\d+\.\d+)$")
PAIRED = re.compile(r"^(\d+)/(\d+) / (\d+)/(\d+) vs `(\S+)`$")


# overrides the distillation tests' `bench` (DistilPose's driver) in this module
bench = benchmark_fixture("benchmarks/dwpose/run.py", "dwpose_bench_run")


@pytest.fixture(scope="module")
def std(bench):
    return bench._standard_module()


@pytest.fixture(scope="module")
def stand_in_teacher(tmp_path_factory) -> Path:
    """A random RTMPose-m, coco, 96x128: the strong teacher's architecture without its training."""
    import torch

    from kdpose.models import create_model, save_weights

    torch.manual_seed(1234)  # not a training seed: its head never equals a stage-2 student's fresh one
    path = tmp_path_factory.mktemp("teacher") / "stand-in.safetensors"
    return save_weights(create_model("rtmpose-m", layout="coco", input_size=(96, 128)), path)


def test_student_data_is_the_teachers(std):
    """Same synthetic keys -> same cache folders: the teacher's 20000 renders are reused, not made again."""
    from kdpose.engine.config import load_recipe

    teacher = load_recipe(REPO / "configs" / std.TEACHER_RECIPE)
    stage1, stage2 = (load_recipe(REPO / "configs" / name) for name in (std.S1_RECIPE, std.S2_RECIPE))
    for student in (stage1, stage2):
        assert_same_renders(student, teacher)
        assert tuple(student.model.input_size) == tuple(teacher.model.input_size) == std.INPUT_SIZE
        assert (student.model.name, student.model.layout, student.data.batch_size) == ("rtmpose-t", "coco", 32)
    assert (stage1.distill.method, stage1.distill.teacher) == ("dwpose", std.TEACHER_MODEL)
    assert stage1.distill.teacher_weights == std.TEACHER_TAG
    assert stage1.model.init_weights == "cspnext-t-udp.synth-demo-backbone_96x64" and not stage2.model.init_weights
    assert stage2.distill.method == "dwpose_stage2"
    # the recipes' own schedules are the driver's default budget: 600 stage-1 iterations, 20% more in stage 2
    assert stage1.train.max_epochs * stage1.train.epoch_iters == std.DEFAULT_ITERS
    assert stage2.train.max_epochs * stage2.train.epoch_iters == std.stage2_iters(std.DEFAULT_ITERS) == 120
    assert std.stage1_sets(std.DEFAULT_ITERS) == ("train.max_epochs=5", "train.epoch_iters=120",
                                                  "train.stage2_epochs=1", "eval.interval=5")


def test_teacher_files_are_checked(std, stand_in_teacher, tmp_path):
    from kdpose.models import PRETRAINED, create_model, save_weights

    teacher = std.teacher_of(str(stand_in_teacher))
    assert teacher.file == stand_in_teacher.resolve() and teacher.key.startswith("stand-in-")
    with pytest.raises(SystemExit, match="no such file or pretrained tag"):
        std.teacher_of(str(tmp_path / "missing.safetensors"))
    small = save_weights(create_model("rtmpose-t", layout="coco", input_size=(96, 128)), tmp_path / "t.safetensors")
    with pytest.raises(SystemExit, match="rtmpose-m coco 96x128 model"):
        std.teacher_of(str(small))
    if std.TEACHER_TAG in PRETRAINED:
        shipped = std.teacher_of(None)
        assert shipped.weights == std.TEACHER_TAG
        # keyed by the file's content too: the tag's interim file is replaced by the run's final weights later
        digest = hashlib.sha1(shipped.file.read_bytes()).hexdigest()[:8]
        assert shipped.key == f"{std.TEACHER_TAG}-{digest}"
        return
    # until the strong teacher ships: one clear line on stderr, exit status 1, no traceback, nothing trained
    done = subprocess.run([sys.executable, str(RUN_PY), "table4", "--scale", "standard", "--dry-run",
                           "--work-root", str(tmp_path / "work")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == std.NOT_READY and "--teacher-weights FILE" in done.stderr
    assert not (tmp_path / "work").exists()


def test_full_budget_commands(bench, stand_in_teacher, tmp_path, capsys):
    """--dry-run at the full budget: the shared cache, the stage budgets, Table 5's teacher + S2 on RTMPose-m."""
    work = tmp_path / "work"
    assert bench.main(["table5", "--scale", "standard", "--dry-run", "--seeds", "0", "--work-root", str(work),
                       "--teacher-weights", str(stand_in_teacher), "--teacher-s2-iters", "7"]) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("+ ")]
    assert len(commands) == 3  # baseline, baseline+s2, teacher+s2 (the teacher is measured, not trained)
    by_dir = {line.split(" --work-dir ")[1].split()[0]: line for line in commands}
    root = work / "standard" / "full" / bench._standard_module().teacher_of(str(stand_in_teacher)).key
    baseline, stage2, teacher_s2 = (by_dir[str(root / folder / "seed0")]
                                    for folder in ("it600/baseline", "it600/baseline+s2", "teacher+s2-it7"))
    assert f"data.cache_dir={REPO / '.kdpose_cache' / 'synth'} " in baseline and "train.threads=auto" in baseline
    assert "train.epoch_iters=120" in baseline and "distill.method=" in baseline
    assert "train.epoch_iters=120" in stage2
    assert f"distill.teacher_weights={root / 'it600' / 'baseline' / 'seed0' / 'final.safetensors'}" in stage2
    assert "model.name=rtmpose-m" in teacher_s2 and "distill.teacher=rtmpose-m" in teacher_s2
    assert teacher_s2.rindex("train.epoch_iters=7") > teacher_s2.rindex("train.epoch_iters=120")  # the last one wins
    assert f"distill.teacher_weights={root / 'teacher' / 'seed0' / 'final.safetensors'}" in teacher_s2


def test_quick_table4_end_to_end(bench, std, stand_in_teacher, tmp_path, capsys):
    work, md = tmp_path / "work", tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n<!-- dwpose:standard-table4 -->\n<!-- /dwpose:standard-table4 -->\n")
    argv = ["table4", "--scale", "standard", "--quick", "--seeds", "0", "--device", "cpu", "--threads", "1",
            "--teacher-weights", str(stand_in_teacher), "--work-root", str(work), "--markdown", str(md),
            "--results", str(tmp_path / "results.json")]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out

    root = work / "standard" / "quick" / std.teacher_of(str(stand_in_teacher)).key
    for run in ("it5/baseline", "it5/s1", "it5/baseline+s2", "it5/s1+s2", "teacher"):
        assert (root / run / "seed0" / "final.safetensors").is_file(), run
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) == {"teacher", "baseline", "s1", "baseline+s2", "s1+s2"}
    for name, row in results.items():
        assert row["n"] == 1 and set(row["seeds"]) == {"0"}, name
        for metric in ("body", "pck"):
            mean, std_ = row["stats"][metric]
            assert math.isfinite(mean) and 0.0 <= mean <= 1.0 and std_ == 0.0, (name, metric)

    table = out.split("**Table 4", 1)[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[1].startswith("`"):
            rows[cells[1].split("`")[1]] = cells
    assert list(rows) == ["teacher", "baseline", "s1", "baseline+s2", "s1+s2"]
    assert rows["s1"][0] == "+ first stage" and rows["teacher"][0] == "teacher RTMPose-m"
    for name, (_, _, ap, pck, vs) in rows.items():
        assert CELL.match(ap) and CELL.match(pck), (name, ap, pck)
        assert float(CELL.match(pck)[1]) == pytest.approx(100 * results[name]["stats"]["pck"][0], abs=0.05)
        if name == "baseline":
            assert vs == "reference"
        elif name == "teacher":
            assert vs == "-"  # the teacher of a table about students is paired with nothing
        else:
            ap_wins, ap_seeds, pck_wins, pck_seeds, ref = PAIRED.match(vs).groups()
            assert ref == "baseline" and ap_seeds == pck_seeds == "1" and ap_wins in "01" and pck_wins in "01"
    assert "QUICK smoke settings" in table
    assert "students 5 stage-1 + 1 stage-2 iterations of batch 8" in table
    assert f"run.py table4 --scale standard --teacher-weights {stand_in_teacher} --seeds 0 --quick`" in table
    assert md.read_text().count("standard-table4 -->\n<!--") == 1  # quick numbers never reach BENCHMARKS.md


def test_only_and_amp(bench, stand_in_teacher, tmp_path, capsys):
    """--only trains the named rows and the runs they take teachers from; --amp forces the students' precision and
    keeps those runs in their own folders, apart from the default (auto) ones."""
    work = tmp_path / "work"
    argv = ["table4", "--scale", "standard", "--dry-run", "--seeds", "0", "--work-root", str(work),
            "--teacher-weights", str(stand_in_teacher), "--only", "s1+s2"]
    root = work / "standard" / "full" / bench._standard_module().teacher_of(str(stand_in_teacher)).key

    def commands(extra: list[str]) -> dict[str, str]:
        assert bench.main(argv + extra) == 0
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("+ ")]
        return {line.split(" --work-dir ")[1].split()[0]: line for line in lines}

    forced = commands(["--amp", "none"])
    assert list(forced) == [str(root / "it600-fp32" / run / "seed0") for run in ("s1", "s1+s2")]
    assert all("--set train.amp=none " in line for line in forced.values())
    # stage 2 distils from the stage-1 student of the same precision
    s1_weights = root / "it600-fp32" / "s1" / "seed0" / "final.safetensors"
    assert f"distill.teacher_weights={s1_weights}" in forced[str(root / "it600-fp32" / "s1+s2" / "seed0")]
    default = commands([])
    assert list(default) == [str(root / "it600" / run / "seed0") for run in ("s1", "s1+s2")]
    assert not any("train.amp=" in line for line in default.values())
    with pytest.raises(SystemExit):  # a --scale standard option
        bench.main(["table4", "--scale", "cpu", "--amp", "bf16", "--dry-run", "--work-root", str(work)])
