"""benchmarks/demo_seeds.py on hand-written seed folders: reused seeds, the demo subprocess of a missing one (faked),
the aggregated numbers, paired counts, reference.json and the BENCHMARKS.md section. No training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdpose.demo.reference import load_references

from ..conftest import benchmark_fixture

# per seed: (plain AP, distilled AP, stage-1 AP, plain PCK, distilled PCK, wall s)
SEEDS = {0: (0.10, 0.15, 0.12, 0.50, 0.55, 600.0), 1: (0.20, 0.18, 0.19, 0.60, 0.65, 660.0),
         2: (0.30, 0.40, 0.35, 0.70, 0.75, 720.0)}


demo_seeds = benchmark_fixture("benchmarks/demo_seeds.py", "demo_seeds_bench")


def _row(key: str, label: str, ap: float | None, pck: float | None) -> dict:
    return {"key": key, "label": label, "ap": ap, "pck": pck, "metrics": None if ap is None else {"AP": ap}}


def write_seed(folder: Path, seed: int, setting: str = "standard", extra: str = "", method: str = "dwpose",
               minutes: str = "10", command_seed: int | None = None) -> None:
    """A demo's results.json as pipeline.run_topdown_demo writes it (the keys the aggregation and the reuse check
    read: its subtitle names the setting, its command the options); ``extra``: more flags of the recorded command."""
    plain, kd, stage1, plain_pck, kd_pck, wall = SEEDS[seed]
    rows = [_row("teacher", "teacher", 0.51, 0.80), _row("student", "student", plain, plain_pck),
            _row("kd_stage1", "student + KD (stage 1 only)", stage1, None), _row("kd", "student + KD", kd, kd_pck)]
    size = {"standard": "640x480", "hard": "320x240"}[setting]
    command = (f"kdpose demo --out {folder / f'seed{seed}'} --minutes {minutes} --layout coco --method {method} "
               f"--seed {seed if command_seed is None else command_seed} {extra}").strip()
    results = {"rows": rows, "metric": "AP", "kd_better": kd > plain, "verdict": "...", "wall_s": wall,
               "subtitle": f"Synthetic multi-person data (`{setting}` setting: {size} scenes), input 96x128, "
                           f"generated 2026-12-05 14:08 UTC.", "command": command}
    (folder / f"seed{seed}").mkdir(parents=True)
    (folder / f"seed{seed}" / "results.json").write_text(json.dumps(results))


@pytest.fixture()
def paths(tmp_path):
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\nbefore\n\n<!-- demo:seeds-dwpose-coco -->\nold\n"
                        "<!-- /demo:seeds-dwpose-coco -->\n\nafter\n")
    return {"root": tmp_path / "runs", "reference": tmp_path / "reference.json", "markdown": markdown}


def _main(demo_seeds, paths, *extra: str) -> int:
    return demo_seeds.main(["--method", "dwpose", "--minutes", "10", "--seeds", "0", "1", "2",
                            "--work-root", str(paths["root"]), "--reference", str(paths["reference"]),
                            "--markdown", str(paths["markdown"]), *extra])


def test_runs_only_missing_seeds_and_aggregates(demo_seeds, paths, monkeypatch):
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0)
    write_seed(folder, 2)
    calls = []

    def fake_launch(cmd):  # the demo of seed 1: writes its results.json
        calls.append(cmd)
        write_seed(folder, int(cmd[cmd.index("--seed") + 1]))

    monkeypatch.setattr(demo_seeds, "launch", fake_launch)
    assert _main(demo_seeds, paths, "--threads", "2") == 0
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "kdpose", "demo"] and cmd[cmd.index("--seed") + 1] == "1"
    assert cmd[cmd.index("--out") + 1] == str(folder / "seed1") and cmd[cmd.index("--threads") + 1] == "2"
    assert cmd[cmd.index("--method") + 1] == "dwpose" and cmd[cmd.index("--minutes") + 1] == "10"

    entry = load_references(paths["reference"])["dwpose/coco/standard/10min"]
    assert entry["seeds"] == [0, 1, 2] and entry["setting"] == "standard" and entry["metric"] == "AP"
    rows = entry["rows"]
    assert list(rows) == ["teacher", "student", "kd_stage1", "kd"]
    assert rows["student"]["ap"] == [0.10, 0.20, 0.30]
    assert rows["student"]["ap_mean"] == pytest.approx(0.2) and rows["student"]["ap_std"] == pytest.approx(0.1)
    assert rows["kd"]["ap_mean"] == pytest.approx(0.73 / 3)
    assert rows["kd"]["pck_mean"] == pytest.approx(0.65) and rows["kd"]["pck_std"] == pytest.approx(0.1)
    assert rows["teacher"]["ap_mean"] == pytest.approx(0.51) and rows["teacher"]["ap_std"] == 0.0
    assert rows["kd_stage1"]["ap_mean"] == pytest.approx(0.22) and rows["kd_stage1"]["pck_mean"] is None
    assert entry["paired"] == {"ap": {"better": 2, "of": 3}, "pck": {"better": 3, "of": 3}}
    assert entry["wall_min"]["mean"] == pytest.approx(11.0) and entry["wall_min"]["std"] == pytest.approx(1.0)
    assert entry["machine"]["cores"] >= 1 and entry["machine"]["cpu"] and entry["machine"]["threads"] == 2
    assert entry["options"] == {"train_images": 640, "val_images": 100, "from_scratch": False}
    assert entry["command"].endswith("--seeds 0 1 2 --threads 2")

    doc = paths["markdown"].read_text()
    assert doc.startswith("# Benchmarks\n\nbefore\n") and doc.endswith("\n\nafter\n") and "\nold\n" not in doc
    section = doc.split("<!-- demo:seeds-dwpose-coco -->")[1].split("<!-- /demo:seeds-dwpose-coco -->")[0]
    assert "| student | 0.200 +- 0.100 | 0.600 +- 0.100 | 0.100 0.200 0.300 |" in section
    assert "2 of 3 seeds by AP, 3 of 3 by PCK@0.2" in section


def test_report_only_runs_nothing_and_keeps_other_entries(demo_seeds, paths, monkeypatch):
    from kdpose.demo.reference import save_reference

    save_reference({"method": "sdpose", "layout": "coco", "setting": "standard", "minutes": 10.0}, paths["reference"])
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0)
    write_seed(folder, 1)
    monkeypatch.setattr(demo_seeds, "launch", lambda cmd: pytest.fail("--report-only ran a demo"))
    assert _main(demo_seeds, paths, "--report-only") == 0
    entries = load_references(paths["reference"])
    assert set(entries) == {"sdpose/coco/standard/10min", "dwpose/coco/standard/10min"}
    assert entries["dwpose/coco/standard/10min"]["seeds"] == [0, 1]  # seed 2 has not finished
    assert entries["dwpose/coco/standard/10min"]["paired"]["ap"] == {"better": 1, "of": 2}


def test_nothing_finished_is_an_error(demo_seeds, paths):
    assert _main(demo_seeds, paths, "--report-only") == 1
    assert not paths["reference"].exists()


def _refused(demo_seeds, paths, monkeypatch, capsys, *extra: str) -> str:
    """Runs the script expecting a refusal before any demo and any write; returns its stderr."""
    monkeypatch.setattr(demo_seeds, "launch", lambda cmd: pytest.fail(f"ran a demo: {cmd}"))
    assert _main(demo_seeds, paths, *extra) == 2
    assert not paths["reference"].exists()
    assert "\nold\n" in paths["markdown"].read_text()  # the BENCHMARKS.md section is untouched
    return capsys.readouterr().err


@pytest.mark.parametrize("report_only", [False, True])
def test_seed_of_another_setting_is_refused_not_aggregated(demo_seeds, paths, monkeypatch, capsys, report_only):
    """dwpose moved from `hard` to `standard`: a `hard` seed left in the folder must not enter the standard
    reference, neither reused by a run nor re-aggregated by --report-only."""
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0)
    write_seed(folder, 1, setting="hard")
    write_seed(folder, 2)
    err = _refused(demo_seeds, paths, monkeypatch, capsys, *(["--report-only"] if report_only else []))
    lines = [line for line in err.splitlines() if "seed1" in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert str(folder / "seed1" / "results.json") in line
    assert "setting 'hard'" in line and "'standard'" in line
    assert "train_images 800" in line and "640" in line  # the hard setting's default scenes count too
    assert "--work-root" in line and "delete" in line
    assert "seed0" not in err and "seed2" not in err  # the matching seeds are not reported


@pytest.mark.parametrize("flags, differs", [
    ("--train-images 100", "train_images 100"),
    ("--val-images 20", "val_images 20"),
    ("--from-scratch", "from_scratch True"),
    ("--minutes 5", "minutes 5"),
])
def test_seed_of_other_options_is_refused(demo_seeds, paths, monkeypatch, capsys, flags, differs):
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0)
    if flags.startswith("--minutes"):
        write_seed(folder, 1, minutes=flags.split()[1])
    else:
        write_seed(folder, 1, extra=flags)
    err = _refused(demo_seeds, paths, monkeypatch, capsys, "--report-only")
    assert str(folder / "seed1" / "results.json") in err and differs in err, err


def test_seed_of_another_method_or_seed_is_refused(demo_seeds, paths, monkeypatch, capsys):
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0, method="sdpose")
    write_seed(folder, 1, command_seed=7)  # a seed folder copied under another name
    err = _refused(demo_seeds, paths, monkeypatch, capsys)
    assert "method 'sdpose'" in err and "seed 7" in err, err
    assert len(err.strip().splitlines()) == 2


def test_seed_that_records_no_setting_or_is_not_json_is_refused(demo_seeds, paths, monkeypatch, capsys):
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0)
    results = json.loads((folder / "seed0" / "results.json").read_text())
    del results["subtitle"]  # cannot tell which setting it ran
    (folder / "seed0" / "results.json").write_text(json.dumps(results))
    (folder / "seed1").mkdir()
    (folder / "seed1" / "results.json").write_text("{not json")
    err = _refused(demo_seeds, paths, monkeypatch, capsys, "--report-only")
    assert "seed0" in err and "setting" in err and "seed1" in err, err


def test_same_demo_with_other_threads_and_out_is_reused(demo_seeds, paths, monkeypatch):
    """--threads and --out change neither the data nor the training: such seeds are the same demo (the finished
    distilpose seed 0 recorded a relative --out, later seeds an absolute one)."""
    folder = paths["root"] / "dwpose-coco-10min"
    write_seed(folder, 0, extra="--threads 2")
    write_seed(folder, 1, extra="--detector gt-boxes.onnx")  # validation AP uses the ground-truth boxes
    write_seed(folder, 2)
    results = json.loads((folder / "seed2" / "results.json").read_text())
    results["command"] = results["command"].replace(str(folder), "work_dirs/demo_seeds/dwpose-coco-10min")
    (folder / "seed2" / "results.json").write_text(json.dumps(results))
    monkeypatch.setattr(demo_seeds, "launch", lambda cmd: pytest.fail("reran a finished seed"))
    assert _main(demo_seeds, paths) == 0
    assert load_references(paths["reference"])["dwpose/coco/standard/10min"]["seeds"] == [0, 1, 2]
