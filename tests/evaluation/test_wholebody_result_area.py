"""Whole-body evaluation takes a prediction's area from its ``bbox`` when the results have boxes, as xtcocotools'
and pycocotools' ``loadRes`` do: the body pass then gives exactly ``kdpose eval --layout coco``'s numbers (the
medium / large ranges decide which unmatched predictions count)."""
import numpy as np
import pytest

from kdpose.errors import DataError
from kdpose.evaluation import coco_keypoint_eval, wholebody_eval
from kdpose.evaluation.wholebody import PART_FIELDS


def _person(rng, x0, y0, w, h):
    return np.stack([rng.uniform(x0, x0 + w, 133), rng.uniform(y0, y0 + h, 133)], 1)


def _case():
    rng = np.random.default_rng(3)
    gt_points = [_person(rng, 40, 30, 150, 300), _person(rng, 300, 60, 60, 110)]  # a large and a medium person
    anns = []
    for i, p in enumerate(gt_points):
        flat = np.concatenate([p, np.full((133, 1), 2.0)], 1)
        ann = {"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
               "bbox": [float(p[:, 0].min()), float(p[:, 1].min()), float(np.ptp(p[:, 0])), float(np.ptp(p[:, 1]))]}
        ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.6
        start = 0
        for field, k in PART_FIELDS:
            ann[field] = flat[start:start + k].reshape(-1).tolist()
            start += k
        anns.append(ann)
    gt = {"images": [{"id": 1, "width": 640, "height": 480, "file_name": "a.jpg"}], "annotations": anns,
          "categories": [{"id": 1, "name": "person"}]}
    results = []
    for i, p in enumerate(gt_points):  # found, with noise
        q = p + rng.normal(0, 3.0, p.shape)
        results.append({"image_id": 1, "category_id": 1, "score": 0.6 + 0.1 * i, "bbox": anns[i]["bbox"],
                        "keypoints": np.concatenate([q, np.ones((133, 1))], 1).reshape(-1).tolist()})
    for j in range(4):  # false positives: keypoints spread over a medium area, boxes of a large person
        q = _person(rng, 420 + 10 * j, 200, 50, 60)
        results.append({"image_id": 1, "category_id": 1, "score": 0.9 - 0.05 * j, "bbox": [400.0, 100.0, 200.0, 300.0],
                        "keypoints": np.concatenate([q, np.ones((133, 1))], 1).reshape(-1).tolist()})
    return gt, results


def test_body_pass_equals_the_coco_evaluation_with_boxes():
    gt, results = _case()
    body_gt = {**gt, "annotations": [{k: v for k, v in a.items() if k not in dict(PART_FIELDS) or k == "keypoints"}
                                     for a in gt["annotations"]]}
    body_results = [{**r, "keypoints": r["keypoints"][:51]} for r in results]
    coco = coco_keypoint_eval(body_gt, body_results)
    whole = wholebody_eval(gt, results)["body"]
    assert whole == pytest.approx(coco, abs=1e-12)
    # the boxes matter here: without them both take the keypoints' extent, and the large range differs
    no_box = wholebody_eval(gt, [{k: v for k, v in r.items() if k != "bbox"} for r in results])["body"]
    assert no_box["APL"] != pytest.approx(whole["APL"])
    assert no_box == pytest.approx(coco_keypoint_eval(body_gt, [{k: v for k, v in r.items() if k != "bbox"}
                                                                 for r in body_results]), abs=1e-12)


def test_results_with_and_without_boxes_mixed_are_refused():
    gt, results = _case()
    del results[2]["bbox"]
    with pytest.raises(DataError, match="result 2 has no 'bbox'"):
        wholebody_eval(gt, results)
    results[2]["bbox"] = [1.0, 2.0, float("nan"), 4.0]
    with pytest.raises(DataError, match="result 2 field 'bbox'"):
        wholebody_eval(gt, results)
