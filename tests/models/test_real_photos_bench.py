"""benchmarks/real_photos.py: which shipped tags it measures, and its scoring and table on known predictions (the
ground truth itself, and half of it) of the real COCO fixture, without running a model (a model on the photos takes
about a minute on a busy 2-core machine); its person-detector table likewise with fake detectors (the ground-truth
boxes of the COCO and CrowdPose fixture photos, and those boxes shifted), and its line when no detector is shipped."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ..conftest import benchmark_fixture

bench = benchmark_fixture("benchmarks/real_photos.py", "real_photos_bench")
TAG = "rtmpose-m.synth-standard_128x96"


def ground_truth_records(gt_file, people: int | None = None) -> list[dict]:
    """The fixture's posed people as COCO results (keypoints exactly on the labels), the first ``people`` of them."""
    anns = [a for a in json.loads(gt_file.read_text())["annotations"] if a["num_keypoints"] > 0]
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in anns[:people]]


def test_measures_whole_topdown_coco_networks_only(bench):
    from kdpose.models import PRETRAINED

    tags = bench.shipped_pose_tags()
    assert TAG in tags and "cspnext-m-udp.synth-standard_128x96" in tags
    # backbone-only files and the depth model are shipped too, but have no head to score / no boxes to crop
    assert "cspnext-m-udp.synth-standard-backbone_128x96" not in tags
    assert "mpm-2s.synth-depth-demo_184x184" not in tags
    assert all(PRETRAINED[t].asset and PRETRAINED[t].check.modality == "rgb" for t in tags)


def test_perfect_and_half_predictions_score_as_expected(bench, fixtures):
    gt = fixtures / "coco" / bench.GT_NAME
    perfect = ground_truth_records(gt)
    assert len(perfect) == 12  # the 12 posed people of the 4 photos
    metrics = bench.evaluate(gt, perfect)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)
    half = bench.evaluate(gt, ground_truth_records(gt, 6))
    # recall stops at 6 / 12: AR 0.5, and precision 1 on 51 of pycocotools' 101 recall points
    assert half["AR"] == pytest.approx(0.5)
    assert half["AP"] == pytest.approx(51 / 101)


def test_table_row_in_percent_beside_the_synthetic_check(bench):
    row = bench.table_row(TAG, {"AP": 0.1191, "AP50": 0.2351, "AR": 0.125})
    # 70.7: the tag's AccuracyCheck AP (0.7069), not a number of this script
    assert row == f"| `{TAG}` | synthetic, `standard` preset | 11.9 | 23.5 | 12.5 | 70.7 |"


def test_main_prints_the_table_of_what_it_scored(bench, fixtures, monkeypatch, capsys):
    gt = fixtures / "coco" / bench.GT_NAME
    calls = []

    def fake_predict(tag, images, gt_file, threads):
        calls.append((tag, [p.name for p in images], gt_file, threads))
        return ground_truth_records(gt_file)

    monkeypatch.setattr(bench, "predict", fake_predict)
    monkeypatch.setattr("kdpose.detection.registry.shipped_detector_tags", lambda: [])  # no detector run here
    bench.main(["--fixtures", str(fixtures / "coco"), "--tags", TAG])
    # the four photos in name order, their own annotation file, one thread by default
    assert calls == [(TAG, ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"], gt, 1)]
    assert capsys.readouterr().out.splitlines() == [
        *bench.HEADER.splitlines(), f"| `{TAG}` | synthetic, `standard` preset | 100.0 | 100.0 | 100.0 | 70.7 |",
        "", bench.NO_DETECTOR]  # then the detector table, here its line that none is shipped


# ------------------------------------------------------------------------------------------------ person detectors
DET_TAG = "kdpose-det-nano.synth-test_320"  # a detector tag that is not shipped (the tests register it where needed)


def fake_detector(gt_file, shift: float = 0.0):
    """A detector that finds the ground-truth person boxes of ``gt_file`` in each image (found by file name), moved
    right by ``shift`` x their width, all with score 1."""
    data = json.loads(gt_file.read_text())
    names = {im["id"]: im["file_name"] for im in data["images"]}
    boxes: dict[str, list] = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(names[a["image_id"]], []).append([x + shift * w, y, x + shift * w + w, y + h])
    calls = []

    def detect(image):
        calls.append(image)
        found = np.array(boxes.get(Path(image).name, []), np.float64).reshape(-1, 4)
        return found, np.ones(len(found))

    detect.calls = calls
    return detect


@pytest.mark.parametrize("photo_set, images, people", [("coco", 4, 14), ("crowdpose", 2, 5)])
def test_detector_on_the_ground_truth_boxes_scores_one(bench, fixtures, photo_set, images, people):
    # every person box counts, the 2 COCO people without labelled keypoints too (14 = 12 posed + 2)
    detector = fake_detector(fixtures / photo_set / bench.DET_SETS[photo_set])
    n_images, n_people, metrics = bench.score_detector(detector, fixtures / photo_set, bench.DET_SETS[photo_set])
    assert (n_images, n_people) == (images, people)
    assert len(detector.calls) == images and all(Path(p).is_file() for p in detector.calls)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AR"] == pytest.approx(1.0)


@pytest.mark.parametrize("photo_set", ["coco", "crowdpose"])
def test_detector_on_shifted_boxes_scores_lower(bench, fixtures, photo_set):
    # moved by 0.2 x their width, every box keeps IoU 0.8 / 1.2 = 0.667 with its person: a hit at the IoU thresholds
    # 0.5 ... 0.65 (4 of COCO's 10) and a miss above, so AP = AR = 0.4 and AP50 stays 1
    gt = fixtures / photo_set / bench.DET_SETS[photo_set]
    _, _, metrics = bench.score_detector(fake_detector(gt, shift=0.2), fixtures / photo_set, gt.name)
    assert metrics["AP"] == pytest.approx(0.4) and metrics["AR"] == pytest.approx(0.4)
    assert metrics["AP50"] == pytest.approx(1.0)


def test_detector_row_in_percent_beside_the_synthetic_box_ap(bench, monkeypatch):
    from kdpose.models import PRETRAINED
    from kdpose.models.pretrained import AccuracyCheck, PretrainedCfg

    metrics = {"AP": 0.4, "AP50": 1.0, "AR": 0.4}
    row = bench.det_table_row(DET_TAG, "coco", 4, 14, metrics)
    assert row == f"| `{DET_TAG}` | coco | 4 | 14 | 40.0 | 100.0 | 40.0 | - |"  # no such tag: no synthetic AP
    check = AccuracyCheck(metrics=(("AP", 0.749), ("AP50", 0.967)), modality="detection", preset="standard")
    monkeypatch.setitem(PRETRAINED, DET_TAG, PretrainedCfg(DET_TAG, "kdpose-det-tiny", "", (320, 320), "",
                                                           asset="x.safetensors", check=check))
    # 74.9: the tag's AccuracyCheck box AP; pycocotools' -1 (no data) is a dash
    assert (bench.det_table_row(DET_TAG, "crowdpose", 2, 5, {**metrics, "AR": -1.0})
            == f"| `{DET_TAG}` | crowdpose | 2 | 5 | 40.0 | 100.0 | - | 74.9 |")


def test_main_detector_table_of_what_it_scored(bench, fixtures, monkeypatch, capsys):
    made = []

    def fake_make_detector(tag, threads):
        made.append((tag, threads))
        return fake_detector(fixtures / "coco" / bench.GT_NAME, 0.0)  # finds the COCO people only

    monkeypatch.setattr(bench, "make_detector", fake_make_detector)
    monkeypatch.setattr("kdpose.detection.registry.shipped_detector_tags", lambda: [DET_TAG])
    bench.main(["--fixtures", str(fixtures / "coco"), "--tables", "detector"])
    assert made == [(DET_TAG, 1)]  # the shipped tags by default, one detector for both photo sets
    assert capsys.readouterr().out.splitlines() == [
        *bench.DET_HEADER.splitlines(), f"| `{DET_TAG}` | coco | 4 | 14 | 100.0 | 100.0 | 100.0 | - |",
        f"| `{DET_TAG}` | crowdpose | 2 | 5 | 0.0 | 0.0 | 0.0 | - |"]


def test_main_says_so_in_one_line_when_no_detector_is_shipped(bench, fixtures, monkeypatch, capsys):
    monkeypatch.setattr(bench, "make_detector", lambda *a: pytest.fail("no detector to make"))
    monkeypatch.setattr("kdpose.detection.registry.shipped_detector_tags", lambda: [])
    bench.main(["--fixtures", str(fixtures / "coco"), "--tables", "detector"])
    assert capsys.readouterr().out.splitlines() == [bench.NO_DETECTOR]
    assert bench.detector_table([], {}) == bench.NO_DETECTOR
