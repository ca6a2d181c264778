"""COCO person-box AP (``coco_bbox_eval``, ``kdpose eval --iou-type bbox``) on hand-built cases with known AP."""
import json

import pytest

from kdpose.cli.main import main
from kdpose.detection.evaluate import coco_bbox_eval
from kdpose.errors import DataError

# three people on two 640x480 images (no keypoints, no area: a detection ground truth); one dog (category 2)
GT = {"images": [{"id": 1, "width": 640, "height": 480}, {"id": 2, "width": 640, "height": 480}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100]},
                      {"id": 2, "image_id": 1, "category_id": 1, "bbox": [300, 100, 120, 240]},
                      {"id": 3, "image_id": 2, "category_id": 1, "bbox": [50, 60, 80, 200]},
                      {"id": 4, "image_id": 2, "category_id": 2, "bbox": [400, 300, 90, 60]}],
      "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}]}


def result(image_id, bbox, score, **extra):
    return {"image_id": image_id, "category_id": 1, "bbox": bbox, "score": score, **extra}


def test_exact_boxes_score_one_and_other_categories_are_ignored():
    res = [result(a["image_id"], a["bbox"], 0.9) for a in GT["annotations"][:3]]
    res.append({"image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.99})   # a wrong dog box
    m = coco_bbox_eval(GT, res)
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)
    assert m["APS"] == -1 and m["APL"] == pytest.approx(1.0)   # area defaults to w * h: all three are large


def test_loose_box_counts_below_its_iou_only():
    # two exact boxes, and one at IoU 0.72 ranked last: matched at IoU thresholds 0.50..0.70 (5 of 10), missed at
    # 0.75..0.95 where recall stops at 2/3 with precision 1, i.e. 67 of the 101 recall points
    res = [result(1, [0, 0, 100, 72], 0.5), result(1, [300, 100, 120, 240], 0.9), result(2, [50, 60, 80, 200], 0.8)]
    m = coco_bbox_eval(GT, res)
    assert m["AP50"] == pytest.approx(1.0)
    assert m["AP75"] == pytest.approx(67 / 101)
    assert m["AP"] == pytest.approx((5 + 5 * 67 / 101) / 10)


def test_bbox_score_ranks_boxes_when_every_result_has_one():
    # pose results as kdpose infer writes them: "score" is the pose score, "bbox_score" the detector's
    tp1 = result(1, [0, 0, 100, 100], 0.1, bbox_score=0.9)
    fp = result(1, [500, 300, 50, 50], 0.9, bbox_score=0.1)
    tp2 = result(1, [300, 100, 120, 240], 0.8, bbox_score=0.8)
    tp3 = result(2, [50, 60, 80, 200], 0.7, bbox_score=0.7)
    assert coco_bbox_eval(GT, [tp1, fp, tp2, tp3])["AP"] == pytest.approx(1.0)
    plain = [{k: v for k, v in r.items() if k != "bbox_score"} for r in (tp1, fp, tp2, tp3)]
    assert coco_bbox_eval(GT, plain)["AP"] < 0.9   # ranked by pose score, the false positive comes first


def test_no_results_gives_pycocotools_numbers():
    """No boxes: 0 where the ground truth has people of that size, -1 (pycocotools' "no data") where it has none;
    before, every field was 0.0, so an empty small-size bucket read as a miss."""
    m = coco_bbox_eval(GT, [])
    assert m["AP"] == 0.0 and m["AR"] == 0.0 and m["APL"] == 0.0 and m["ARL"] == 0.0
    assert m["APS"] == -1 and m["APM"] == -1 and m["ARS"] == -1 and m["ARM"] == -1
    only_dogs = [{"image_id": 2, "category_id": 2, "bbox": [400, 300, 90, 60], "score": 0.9}]
    assert coco_bbox_eval(GT, only_dogs) == m


@pytest.mark.parametrize("bad, message", [
    ([{"image_id": 1, "score": 0.5}], "result 0 is missing field 'bbox'"),
    ([result(1, [0, 0, 10], 0.5)], "result 0 has a 'bbox' of 3 numbers, expected 4"),
    ([result(7, [0, 0, 10, 10], 0.5)], "image_id 7, which is not in the ground truth"),
    ([[0, 0, 10, 10]], "result 0 is a list, expected an object"),
])
def test_bad_results_name_the_file(tmp_path, bad, message):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=f"dets.json: .*{message}"):
        coco_bbox_eval(GT, str(path))


def test_cli_box_ap(tmp_path, capsys):
    gt, pred, out = tmp_path / "gt.json", tmp_path / "dets.json", tmp_path / "m.json"
    gt.write_text(json.dumps(GT))
    pred.write_text(json.dumps([result(a["image_id"], a["bbox"], 0.9) for a in GT["annotations"][:2]]))
    assert main(["eval", "--gt", str(gt), "--pred", str(pred), "--iou-type", "bbox", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["AR"] == pytest.approx(2 / 3) and metrics["AP"] == pytest.approx(67 / 101)
    assert "APS" in capsys.readouterr().out
    pred.write_text(json.dumps({"bbox": [0, 0, 1, 1]}))
    assert main(["eval", "--gt", str(gt), "--pred", str(pred), "--iou-type", "bbox"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdpose: error:") and "dets.json: expected a list of results" in err


def test_real_detector_results_match_plain_pycocotools(fixtures):
    """MMPose's person boxes for the COCO fixture images (AP_H 56 detector) scored through kdpose and through
    pycocotools directly: the validation and normalisation change nothing."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dets = fixtures / "coco/test_coco.json", fixtures / "coco/test_coco_det_AP_H_56.json"
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        ev = COCOeval(coco, coco.loadRes(str(dets)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = coco_bbox_eval(str(gt), str(dets))
    assert [ours[k] for k in ("AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR")] == \
        pytest.approx(list(ev.stats[:9]))
    assert 0.7 < ours["AP"] < 0.9   # a good detector on 14 people
