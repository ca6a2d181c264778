"""The demo's multi-seed reference (kdpose.demo.reference): lookup by method / layout / setting / minutes, the
sentence the report shows after the verdict, and the shipped file being package data. No training."""
from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pytest

from kdpose.demo import DemoOptions
from kdpose.demo.reference import (REFERENCE_FILE, find_reference, load_references, reference_key, reference_line,
                                   run_options, save_reference)
from kdpose.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def _entry(opts: DemoOptions, **changes) -> dict:
    entry = {"method": opts.method, "layout": opts.layout, "setting": opts.setting.name, "minutes": opts.minutes,
             "options": run_options(opts), "metric": "AP", "seeds": [0, 1, 2], "date": "2030-01-02",
             "rows": {"teacher": {"label": "teacher", "ap_mean": 0.51, "ap_std": 0.0},
                      "student": {"label": "student", "ap_mean": 0.2, "ap_std": 0.1},
                      "kd": {"label": "student + KD", "ap_mean": 0.243, "ap_std": 0.13}},
             "paired": {"ap": {"better": 2, "of": 3}, "pck": {"better": 3, "of": 3}}}
    return {**entry, **changes}


def test_lookup_matches_method_layout_setting_and_minutes(tmp_path):
    path = tmp_path / "reference.json"
    opts = DemoOptions(method="distilpose", minutes=10)
    save_reference(_entry(opts), path)
    save_reference(_entry(DemoOptions(method="dwpose", minutes=10)), path)  # a second entry is kept next to it
    assert set(load_references(path)) == {"distilpose/coco/standard/10min", "dwpose/coco/standard/10min"}
    assert find_reference(opts, path)["method"] == "distilpose"
    assert find_reference(DemoOptions(method="dwpose", minutes=10.0), path)["setting"] == "standard"
    assert find_reference(DemoOptions(method="distilpose", minutes=3), path) is None  # other minutes
    assert find_reference(DemoOptions(method="sdpose", minutes=10), path) is None  # other method
    assert find_reference(DemoOptions(method="distilpose", layout="wholebody", minutes=10), path) is None
    # the same key on other data is not this setting
    assert find_reference(DemoOptions(method="distilpose", minutes=10, train_images=100), path) is None


def test_missing_or_broken_file(tmp_path):
    assert find_reference(DemoOptions(), tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        find_reference(DemoOptions(), tmp_path / "bad.json")


def test_reference_line_with_and_without_an_entry():
    opts = DemoOptions(method="dwpose", minutes=10)
    assert reference_line(_entry(opts), opts) == (
        "Over seeds 0 1 2 of this setting (BENCHMARKS.md, 2030-01-02): teacher AP 0.510 +- 0.000, plain AP 0.200 "
        "+- 0.100, distilled AP 0.243 +- 0.130; the distilled student is better on 2 of 3 seeds (PCK: 3 of 3).")
    assert reference_line(None, opts) == (
        "No multi-seed reference for this setting yet (python benchmarks/demo_seeds.py --method dwpose --layout coco "
        "--minutes 10 --seeds 0 1 2).")
    no_teacher = _entry(opts, rows={k: v for k, v in _entry(opts)["rows"].items() if k != "teacher"})
    assert "teacher" not in reference_line(no_teacher, opts)  # self-distillation: no teacher row


def test_reference_file_ships_with_the_package():
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kdpose"]
    relative = REFERENCE_FILE.relative_to(REPO / "src" / "kdpose").as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns)
    assert isinstance(json.loads(REFERENCE_FILE.read_text())["entries"], dict)
    assert reference_key("dwpose", "coco", "hard", 10.0) == "dwpose/coco/hard/10min"
