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


def write_seed(folder: Path, seed: int) -> None:
    """A demo's results.json as pipeline.run_topdown_demo writes it (the keys the aggregation reads)."""
    plain, kd, stage1, plain_pck, kd_pck, wall = SEEDS[seed]
    rows = [_row("teacher", "teacher", 0.51, 0.80), _row("student", "student", plain, plain_pck),
            _row("kd_stage1", "student + KD (stage 1 only)", stage1, None), _row("kd", "student + KD", kd, kd_pck)]
    results = {"rows": rows, "metric": "AP", "kd_better": kd > plain, "verdict": "...", "wall_s": wall}
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
