"""benchmarks/real_photos.py: which shipped tags it measures, and its scoring and table on known predictions (the
ground truth itself, and half of it) of the real COCO fixture, without running a model (a model on the photos takes
about a minute on a busy 2-core machine)."""
from __future__ import annotations

import json

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
    bench.main(["--fixtures", str(fixtures / "coco"), "--tags", TAG])
    # the four photos in name order, their own annotation file, one thread by default
    assert calls == [(TAG, ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000197388.jpg"], gt, 1)]
    assert capsys.readouterr().out.splitlines() == [
        *bench.HEADER.splitlines(), f"| `{TAG}` | synthetic, `standard` preset | 100.0 | 100.0 | 100.0 | 70.7 |"]
