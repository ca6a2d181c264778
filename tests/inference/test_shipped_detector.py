"""A trained kdpose detector shipped as a tag (issue 23) is a detector by name everywhere: ``PersonDetector(TAG)``,
``PoseEstimator(detector=TAG)``, ``kdpose infer --det/--detector TAG``; a detector tag that is not shipped, or a pose
model's tag, is a one-line error; and ``kdpose.detection.registry.DEFAULT_DETECTOR`` is the one switch of the
default (None today: the whole image, with a warning). No detector is shipped yet: the tests register the tiny run
of ``tiny_detector_entry`` (tests/conftest.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kdpose.cli.main import main
from kdpose.detection import PersonDetector, registry
from kdpose.errors import ConfigError
from kdpose.inference.detectors import resolve_detector
from kdpose.models import PRETRAINED

cv2 = pytest.importorskip("cv2")
POSE = "rtmpose-s.synth-demo_96x64"  # a small shipped pose model


@pytest.fixture
def shipped_detector(tiny_detector_entry, monkeypatch):
    entry, _ = tiny_detector_entry
    monkeypatch.setitem(PRETRAINED, entry.tag, entry)
    return entry


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    from kdpose.data.synth import SynthConfig, render_scene

    path = tmp_path_factory.mktemp("scene") / "000001.png"
    scene = render_scene(SynthConfig.from_preset("standard", width=160, height=120), seed=(0, 0, 0))
    cv2.imwrite(str(path), scene.image)
    return path


def test_a_shipped_tag_is_a_detector_by_name(shipped_detector, scene_file):
    assert shipped_detector.tag in registry.shipped_detector_tags()
    image = cv2.imread(str(scene_file))
    by_file = PersonDetector(shipped_detector.location, score_thr=0.005)(image)
    by_tag = PersonDetector(shipped_detector.tag, score_thr=0.005)(image)
    resolved = resolve_detector(shipped_detector.tag, score_thr=0.005)(image)
    assert len(by_file[0]) > 0
    for boxes, scores in (by_tag, resolved):
        np.testing.assert_array_equal(boxes, by_file[0])
        np.testing.assert_array_equal(scores, by_file[1])


def _infer(scene_file, out, *extra):
    return main(["infer", str(scene_file), "--model", POSE, "--json", "--no-vis", "--bbox-thr", "0.005",
                 "--out", str(out), *extra])


@pytest.mark.parametrize("flag", ["--det", "--detector"])
def test_infer_takes_a_shipped_detector_tag(shipped_detector, scene_file, tmp_path, capsys, flag):
    assert _infer(scene_file, tmp_path, flag, shipped_detector.tag) == 0
    err = capsys.readouterr().err
    assert "no person detector" not in err
    records = json.loads((tmp_path / "predictions.json").read_text())
    # the untrained tiny detector's boxes score ~0.01: the people come from it, not from the whole image (score 1)
    assert records and all(r["bbox_score"] < 0.1 for r in records)


@pytest.mark.parametrize("name, message", [
    ("kdpose-det-tiny.synth-nothing_320", "unknown detector tag 'kdpose-det-tiny.synth-nothing_320': kdpose ships"),
    (POSE, f"'{POSE}' is the tag of a rtmpose-s pose model, not a person detector"),
])
def test_a_tag_that_is_no_shipped_detector_is_one_line(scene_file, tmp_path, capsys, name, message):
    assert _infer(scene_file, tmp_path, "--detector", name) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error: ") and message in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="unknown detector"):
        PersonDetector("kdpose-det-tiny.synth-nothing_320")


def test_the_default_detector_is_one_constant(shipped_detector, scene_file, tmp_path, capsys, monkeypatch):
    from kdpose.demo.config import DemoOptions

    # today: no default detector (infer takes the whole image, the demo draws on the ground-truth boxes) ...
    assert registry.DEFAULT_DETECTOR is None or registry.DEFAULT_DETECTOR in registry.shipped_detector_tags()
    assert _infer(scene_file, tmp_path / "none") == 0
    assert "no person detector" in capsys.readouterr().err
    # ... and setting the one constant switches both
    monkeypatch.setattr(registry, "DEFAULT_DETECTOR", shipped_detector.tag)
    assert DemoOptions().detector_name == shipped_detector.tag
    assert _infer(scene_file, tmp_path / "default") == 0
    assert "no person detector" not in capsys.readouterr().err
    records = json.loads((tmp_path / "default" / "predictions.json").read_text())
    assert records and all(r["bbox_score"] < 0.1 for r in records)
    assert _infer(scene_file, tmp_path / "gt", "--det", "none") == 0  # --det none still means the whole image
    assert all(r["bbox_score"] == 1.0 for r in json.loads((tmp_path / "gt" / "predictions.json").read_text()))
