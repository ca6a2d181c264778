"""A COCO file's crowd regions (``iscrowd: 1``) are ignore regions for the detector whatever ``ignore_unlabelled``
says: in validation (pycocotools' rule) and in training (no positives on them)."""
import json

import cv2
import numpy as np
import pytest

from kdpose.detection.data import CachedScenes, SceneDetectionDataset, load_eval_set
from kdpose.detection.evaluate import coco_bbox_eval, to_bbox_results

PEOPLE = [[20.0, 30.0, 40.0, 90.0], [120.0, 40.0, 50.0, 100.0]]  # xywh
CROWD = [60.0, 10.0, 60.0, 60.0]


@pytest.fixture()
def coco_file(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((160, 200, 3), 90, np.uint8))
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": b, "area": b[2] * b[3],
             "num_keypoints": 5} for i, b in enumerate(PEOPLE)]
    anns.append({"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": CROWD, "area": 3000.0,
                 "num_keypoints": 0})
    data = {"images": [{"id": 1, "width": 200, "height": 160, "file_name": "a.jpg"}], "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "val.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("ignore_unlabelled", [False, True])
def test_crowd_regions_stay_ignored_in_box_ap(coco_file, ignore_unlabelled):
    val = load_eval_set(coco_file, ignore_unlabelled=ignore_unlabelled)
    assert [a["iscrowd"] for a in val.coco_gt["annotations"]] == [0, 0, 1]
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in PEOPLE])
    people_found = to_bbox_results([1], [(xyxy, np.array([0.9, 0.8]))])
    # finding exactly the two people is perfect, as pycocotools scores the file itself (it was AP 0.505 when the
    # crowd became a third person to find)
    assert coco_bbox_eval(val.coco_gt, people_found)["AP"] == pytest.approx(1.0)
    assert coco_bbox_eval(str(coco_file), people_found)["AP"] == pytest.approx(1.0)


def test_crowd_regions_are_not_training_positives(coco_file):
    scenes = CachedScenes(coco_file)
    assert scenes.targets(0).crowd.tolist() == [False, False, True]
    for ignore_unlabelled in (False, True):
        item = SceneDetectionDataset(scenes, (96, 96), augment=False, ignore_unlabelled=ignore_unlabelled)[0]
        assert item.ignore.tolist() == [False, False, True]
