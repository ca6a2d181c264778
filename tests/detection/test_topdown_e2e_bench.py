"""benchmarks/topdown_e2e.py --quick: the shipped CSPNeXt-m pose tag on the ground-truth boxes and on a tiny
(2-iteration, registered for the test) detector's boxes of 4 `standard` val scenes. The ground-truth-box AP is what
kdpose's own scoring of the tag gives on those scenes rendered independently (the shipped checks' protocol), the
detector's box AP is what its accuracy check's measurement gives there, and every field is present and in range."""
from __future__ import annotations

import json

import pytest

from kdpose.engine.config import load_recipe
from kdpose.models import PRETRAINED, AccuracyCheck, load_model
from kdpose.tasks.accuracy import measure_detection, measure_topdown, render_detection, render_rgb
from kdpose.tasks.synthetic import synthetic_split_paths

from ..conftest import REPO, benchmark_fixture

e2e = benchmark_fixture("benchmarks/topdown_e2e.py", "topdown_e2e_bench")
POSE = "cspnext-m-udp.synth-standard_128x96"
# scenes 0..3 of the standard val split, as an accuracy check declares a set
FIRST_SCENES = dict(metrics=(), images=4, size=(640, 480), max_people=4, seed=0, split="val", preset="standard")


def test_the_standard_split_is_the_pose_recipes_val_split(e2e, tmp_path):
    """With --images 500 the benchmark reads the very cache folder the standard pose and detector recipes use."""
    recipe = load_recipe(REPO / e2e.PRESETS["standard"][0])
    assert e2e.PRESETS["standard"][0] == "configs/cspnext-m_udp_synth-standard.yaml"
    assert synthetic_split_paths(recipe.data, recipe.data.val, "val")[1].name == \
        synthetic_split_paths(load_recipe(REPO / "configs/kdpose-det-tiny_synth-standard.yaml").data,
                              recipe.data.val, "val")[1].name
    assert recipe.data.val.synthetic_images == 500


@pytest.mark.slow
def test_quick_mode_reports_both_protocols_on_the_same_images(e2e, tiny_detector_entry, monkeypatch, tmp_path, capsys):
    entry, _ = tiny_detector_entry
    monkeypatch.setitem(PRETRAINED, entry.tag, entry)
    out = tmp_path / "out"
    assert e2e.main(["--pose", POSE, "--detector", entry.tag, "--quick", "--cache-dir", str(tmp_path / "cache"),
                     "--out", str(out)]) == 0
    result = json.loads((out / "results_quick.json").read_text())
    text = (out / "results_quick.md").read_text()
    assert result["images"] == e2e.QUICK_IMAGES == 4 and result["quick"] and result["preset"] == "standard"
    gt, dt, box = result["ground_truth_boxes"], result["detected_boxes"], result["detector_box_ap"]
    # the ground-truth-box arm is kdpose's own scoring of the tag on the same scenes (rendered here independently)
    import torch

    with torch.no_grad():
        own = measure_topdown(load_model(POSE), render_rgb(AccuracyCheck(**FIRST_SCENES), "coco"))
    assert gt["poses"] == own["people"] == result["people"]["labelled"]
    for key in e2e.POSE_METRICS:
        assert gt[key] == pytest.approx(own[key], abs=1e-6), key
    # the detector's box AP: its accuracy check's measurement (score >= 0.01, 100 boxes, the ignore rule) there
    detector_check = AccuracyCheck(**FIRST_SCENES, modality="detection", ignore_unlabelled=True)
    with torch.no_grad():
        own_box = measure_detection(load_model(entry.tag), render_detection(detector_check))
    for key in e2e.BOX_METRICS:
        assert box[key] == pytest.approx(own_box[key], abs=1e-6), key
    assert box["ignore_unlabelled"] is True and box["boxes"] > 0 and dt["poses"] > 0
    for arm in (gt, dt, box):
        assert all(arm[k] == -1.0 or 0.0 <= arm[k] <= 1.0 for k in arm if k[:2] in ("AP", "AR")), arm
    assert 0.3 < gt["AP"] <= 1.0  # the shipped teacher is a trained model (AP 0.54 on its check)
    assert result["command"].startswith("python benchmarks/topdown_e2e.py --pose " + POSE)
    assert "| ground truth |" in text and f"| detected (`{entry.tag}`) |" in text and result["command"] in text
    assert "Detector box AP" in capsys.readouterr().out
