"""A trained kdpose detector shipped as a tag (issue 23) is a detector by name everywhere: ``PersonDetector(TAG)``,
``PoseEstimator(detector=TAG)``, ``kdpose infer --det/--detector TAG``; a detector tag that is not shipped, or a pose
model's tag, is a one-line error; and ``kdpose.detection.registry.DEFAULT_DETECTOR`` is the one switch of the
default (the shipped standard-preset detector; None: the whole image, with a warning). Most tests register the tiny
run of ``tiny_detector_entry`` (tests/conftest.py) as a second shipped tag; the last one runs the real shipped file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kdpose.cli.main import main
from kdpose.data.geometry import bbox_xywh_to_xyxy
from kdpose.detection import PersonDetector, registry
from kdpose.errors import ConfigError
from kdpose.inference.detectors import resolve_detector
from kdpose.inference.tracking import box_iou
from kdpose.models import PRETRAINED

cv2 = pytest.importorskip("cv2")
POSE = "rtmpose-s.synth-demo_96x64"  # a small shipped pose model
SHIPPED = "kdpose-det-tiny.synth-standard_320"  # the shipped detector, the default


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

    # the default is the shipped standard-preset detector; None means the whole image (infer) / ground truth (demo)
    assert registry.DEFAULT_DETECTOR == SHIPPED
    monkeypatch.setattr(registry, "DEFAULT_DETECTOR", None)
    assert DemoOptions().detector_name is None
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


def test_infer_uses_the_shipped_detector_by_default_and_says_it_is_synthetic(tmp_path, capsys):
    """The real shipped file: on a standard scene with people, `kdpose infer` without --det finds them with the
    default detector (confident boxes, one pose each, not the whole image) and says at the start that its boxes
    come from a synthetic-only detector, naming the official one to use on photos."""
    from kdpose.data.synth import SynthConfig, render_scene

    scene = render_scene(SynthConfig.from_preset("standard", width=640, height=480, max_people=4), seed=(3, 0, 0))
    labelled = [p for p in scene.instances if p.num_keypoints > 0]
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), scene.image)
    assert main(["infer", str(path), "--model", POSE, "--json", "--no-vis", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"the person detector {SHIPPED} was trained on kdpose's synthetic scenes only" in err
    assert "--det yolox-m.humanart" in err and "no person detector" not in err
    records = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert len(labelled) == 3 and len(records) >= len(labelled)
    assert all(0.3 <= r["bbox_score"] < 1.0 for r in records)  # detector scores above --bbox-thr, not the image's 1
    found = np.array([bbox_xywh_to_xyxy(np.array(r["bbox"], np.float64)) for r in records])
    for person in labelled:  # every labelled person has a detected box that overlaps it well
        assert box_iou(person.bbox[None].astype(np.float64), found).max() > 0.7
