import json
import re

import numpy as np
import pytest

from kdpose.data import TopDownDataset
from kdpose.data.coco import load_coco_keypoints, load_coco_wholebody, load_crowdpose, load_ubody
from kdpose.inference.detectors import validation_box
from kdpose.data.detections import load_detections
from kdpose.data.mpii import load_mpii
from kdpose.errors import DataError

BODY_COUNTS = [17, 14, 15, 0, 15, 15, 0, 12, 17, 16, 16, 15, 16, 13]
FOOT_COUNTS = [6, 3, 0, 0, 6, 0, 0, 3, 3, 6, 3, 3, 2, 3]


def test_coco_counts(fixtures):
    for mode in ("train", "eval"):
        s = load_coco_keypoints(fixtures / "coco/test_coco.json", mode=mode)
        assert len(s) == 12
        flags = np.stack([x.flags for x in s])
        assert (flags > 0).sum() == 181 and (flags == 2).sum() == 164 and (flags == 1).sum() == 17
        assert [x.image_id for x in s] == sorted([x.image_id for x in s], key=[785, 40083, 196141, 197388].index)
    first = s[0]
    assert first.image_path.endswith("000000000785.jpg") and first.ann_id == 442619
    np.testing.assert_allclose(first.bbox, [280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68], rtol=1e-6)
    assert first.keypoints.shape == (17, 2) and first.visible.dtype == np.float32
    np.testing.assert_array_equal(first.keypoints[0], [367, 81])
    assert first.area == pytest.approx(27789.11055)


def test_coco_wholebody_counts(fixtures):
    s = load_coco_wholebody(fixtures / "coco/test_coco_wholebody.json")
    assert len(s) == 12
    kept = [i for i, c in enumerate(BODY_COUNTS) if c > 0]
    assert [int(x.visible[:17].sum()) for x in s] == [BODY_COUNTS[i] for i in kept]
    assert [int(x.visible[17:23].sum()) for x in s] == [FOOT_COUNTS[i] for i in kept]
    face = [68 if i + 1 in (1, 2, 3, 10) else 0 for i in kept]
    left = [21 if i + 1 in (2, 5, 6, 10, 13) else 0 for i in kept]
    right = [21 if i + 1 in (1, 5, 10, 12, 13) else 0 for i in kept]
    assert [int(x.visible[23:91].sum()) for x in s] == face
    assert [int(x.visible[91:112].sum()) for x in s] == left
    assert [int(x.visible[112:133].sum()) for x in s] == right
    assert s[0].meta["righthand_valid"] and not s[0].meta["lefthand_valid"]
    flags = np.concatenate([x.flags for x in s])
    assert ((flags > 0) & (flags < 1)).any()  # float confidences are kept raw, visible is v > 0
    assert len(load_ubody(fixtures / "coco/test_coco_wholebody.json")) == 12


def test_ubody_frame_step(tmp_path, fixtures):
    data = json.loads((fixtures / "coco/test_coco_wholebody.json").read_text())
    for i, img in enumerate(data["images"]):
        old = img["id"]
        img["id"] = i + 1
        for a in data["annotations"]:
            if a["image_id"] == old:
                a["image_id"] = i + 1
    p = tmp_path / "ubody.json"
    p.write_text(json.dumps(data))
    ids = {x.image_id for x in load_ubody(p, frame_step=2)}
    assert ids == {2, 4}


def test_crowdpose_counts(fixtures):
    s = load_crowdpose(fixtures / "crowdpose/test_crowdpose.json")
    assert len(s) == 4 and all(x.keypoints.shape == (14, 2) for x in s)
    assert {x.meta["crowd_index"] for x in s} == {0.33, 0.39}
    assert s[0].area == pytest.approx(0.53 * 273.15 * 352.42)
    dets = load_detections(fixtures / "crowdpose/test_crowdpose_det_AP_40.json",
                           fixtures / "crowdpose/test_crowdpose.json", "crowdpose")
    assert len(dets) == 6
    assert len(load_detections(fixtures / "crowdpose/test_crowdpose_det_AP_40.json",
                               fixtures / "crowdpose/test_crowdpose.json", "crowdpose", score_threshold=0.97)) == 5


def test_detections(fixtures):
    d = load_detections(fixtures / "coco/test_coco_det_AP_H_56.json", fixtures / "coco/test_coco.json")
    assert len(d) == 118
    assert len(load_detections(fixtures / "coco/test_coco_det_AP_H_56.json", fixtures / "coco/test_coco.json",
                               score_threshold=0.3)) == 33
    assert d[0].bbox_score == pytest.approx(0.9999731779098511) and d[0].keypoints.shape == (17, 2)
    np.testing.assert_allclose(d[0].bbox[2:] - d[0].bbox[:2], [225.09126579259754, 333.5602652943344], rtol=1e-5)


def test_mpii(fixtures):
    s = load_mpii(fixtures / "mpii/test_mpii.json")
    assert len(s) == 5
    assert [int(x.visible.sum()) for x in s] == [16, 16, 14, 14, 16]
    assert [x.meta["image_name"] for x in s][:2] == ["005808361.jpg", "052475643.jpg"]
    scale = 4.718488 * 200
    cx, cy = 966 - 1, 340 + 15 * 4.718488 - 1
    np.testing.assert_allclose(s[0].bbox, [cx - scale / 2, cy - scale / 2, cx + scale / 2, cy + scale / 2], rtol=1e-5)


def test_fixture_images_feed_the_dataset(fixtures):
    ds = TopDownDataset(load_coco_keypoints(fixtures / "coco/test_coco.json"), None, input_size=(48, 64))
    assert ds[11].inputs.shape == (3, 64, 48)


# ------------------------------------------------------------------------------------------ bad inputs
def write(tmp_path, obj, name="ann.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


GOOD_IMAGE = {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}


def ann(**kw):
    a = {"id": 7, "image_id": 1, "bbox": [10, 10, 30, 40], "keypoints": [20, 20, 2] * 17, "num_keypoints": 17,
         "iscrowd": 0, "area": 100.0}
    a.update(kw)
    return a


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json: file not found"):
        load_coco_keypoints(tmp_path / "nope.json")
    with pytest.raises(DataError, match=r"ann\.json: malformed JSON \(.* at line 1"):
        load_coco_keypoints(write(tmp_path, '{"images": ['))
    with pytest.raises(DataError, match=r"ann\.json: the annotation file is missing field 'annotations'"):
        load_coco_keypoints(write(tmp_path, {"images": []}))
    with pytest.raises(DataError, match="expected a list of MPII entries"):
        load_mpii(write(tmp_path, {"images": []}))


def test_missing_fields_and_wrong_counts(tmp_path):
    p = write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [ann(keypoints=[1, 2, 2] * 14)]})
    with pytest.raises(DataError, match=r"ann\.json: annotation 7 field 'keypoints' has 14 keypoints, "
                                        r"layout 'coco' expects 17"):
        load_coco_keypoints(p)
    assert len(load_coco_keypoints(p, layout="crowdpose")) == 1
    bad = ann()
    del bad["bbox"]
    with pytest.raises(DataError, match=r"annotation 7 is missing field 'bbox'"):
        load_coco_keypoints(write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [bad]}))
    with pytest.raises(DataError, match="refers to unknown image_id 3"):
        load_coco_keypoints(write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [ann(image_id=3)]}))
    with pytest.raises(DataError, match=r"image entry 1 is missing field 'width'"):
        load_coco_keypoints(write(tmp_path, {"images": [{"id": 1, "file_name": "a", "height": 3}], "annotations": []}))
    with pytest.raises(DataError, match="missing fields 'foot_kpts', 'face_kpts'"):
        load_coco_wholebody(write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [ann()]}))
    with pytest.raises(DataError, match=r"entry 0 has joints \(15, 2\)"):
        load_mpii(write(tmp_path, [{"image": "a", "joints": [[0, 0]] * 15, "joints_vis": [1] * 15,
                                    "center": [1, 1], "scale": 1}]))
    with pytest.raises(DataError, match="refers to image_id 9"):
        dets = write(tmp_path, [{"image_id": 9, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}], "d.json")
        load_detections(dets, write(tmp_path, {"images": [GOOD_IMAGE], "annotations": []}))
    # a score or box that is not a number: named, not numpy's bare ValueError (training's data.val.bbox_file)
    for change, problem in [({"score": "high"}, "detection 0 field 'score' is 'high', expected a finite number"),
                            ({"bbox": [0, 0, None, 1]}, "detection 0 field 'bbox' holds None"),
                            ({"bbox": [0, 0, 1]}, "detection 0 field 'bbox' has 3 numbers, expected 4")]:
        det = dict({"image_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}, **change)
        with pytest.raises(DataError, match=re.escape(problem)):
            load_detections(write(tmp_path, [det], "d.json"), write(tmp_path, {"images": [GOOD_IMAGE],
                                                                                "annotations": []}))


def test_train_and_eval_read_mmposes_top_down_instances(tmp_path):
    # MMPose's _is_valid_instance drops crowds and num_keypoints 0 in validation with ground-truth boxes too
    anns = [ann(id=1), ann(id=2, iscrowd=1), ann(id=3, num_keypoints=0), ann(id=4, bbox=[0, 0, 0, 5]),
            ann(id=5, keypoints=[0, 0, 0] * 17, num_keypoints=0)]
    p = write(tmp_path, {"images": [GOOD_IMAGE], "annotations": anns})
    assert [s.ann_id for s in load_coco_keypoints(p)] == [1]
    assert [s.ann_id for s in load_coco_keypoints(p, mode="eval")] == [1]
    with pytest.raises(ValueError):
        load_coco_keypoints(p, mode="test")
    # boxes are clipped to the image
    s = load_coco_keypoints(write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [ann(bbox=[-5, 70, 200, 50])]}))
    np.testing.assert_array_equal(s[0].bbox, [0, 70, 99, 79])


@pytest.mark.parametrize("change,problem", [
    ({"keypoints": [float("nan"), 20, 2] + [20, 20, 2] * 16},
     "annotation 7 field 'keypoints' holds a value that is not a finite number"),
    ({"keypoints": [20, 20, float("inf")] + [20, 20, 2] * 16},
     "annotation 7 field 'keypoints' holds a value that is not a finite number (NaN or inf)"),
    ({"keypoints": ["a", 20, 2] + [20, 20, 2] * 16}, "annotation 7 field 'keypoints' holds 'a'"),
    ({"keypoints": [20, 20, -1] + [20, 20, 2] * 16}, "annotation 7 field 'keypoints' has a negative visibility flag -1"),
    ({"keypoints": [[20, 20, 2]] * 17}, "annotation 7 field 'keypoints' is a nested list, expected a flat list of 51"),
    ({"bbox": [10, 10]}, "annotation 7 field 'bbox' has 2 numbers, expected 4"),
    ({"bbox": None}, "annotation 7 field 'bbox' is None"),
    ({"image_id": [1]}, "annotation 7 refers to unknown image_id [1]"),
    ({"id": "7"}, "annotation '7' (of image 1) has an id that is not an integer"),
])
def test_values_evaluation_refuses_are_refused_when_training_reads_them(tmp_path, change, problem):
    """NaN / inf coordinates, negative flags (min(1, v) made them a negative visibility weight) and malformed
    boxes were read as they were, or failed with numpy's bare ValueError / TypeError."""
    p = write(tmp_path, {"images": [GOOD_IMAGE], "annotations": [ann(**change)]})
    with pytest.raises(DataError, match=re.escape(f"{p}: {problem}")):
        load_coco_keypoints(p)


@pytest.mark.parametrize("images,anns,problem", [
    ([dict(GOOD_IMAGE, width=None)], [], "image entry 1 has width None, expected a positive number of pixels"),
    ([dict(GOOD_IMAGE, height=0)], [], "image entry 1 has height 0"),
    ([dict(GOOD_IMAGE, id=None)], [], "image entry None has id None, expected an integer"),
    ([GOOD_IMAGE, GOOD_IMAGE], [], "image id 1 appears twice in 'images'"),
    ([GOOD_IMAGE], [ann(id=4), ann(id=4)], "annotation id 4 appears twice in 'annotations'"),
    ({"1": GOOD_IMAGE}, [], "'images' is a dict, expected a list"),
])
def test_malformed_images_and_repeated_ids(tmp_path, images, anns, problem):
    p = write(tmp_path, {"images": images, "annotations": anns})
    with pytest.raises(DataError, match=re.escape(f"{p}: {problem}")):
        load_coco_keypoints(p)


def test_an_mpii_list_given_to_the_coco_reader_names_load_mpii(tmp_path):
    p = write(tmp_path, [{"image": "a.jpg", "joints": [[0, 0]] * 16}])
    with pytest.raises(DataError, match=re.escape("got a list (MMPose's MPII JSON? read it with "
                                                  "kdpose.data.load_mpii)")):
        load_coco_keypoints(p)


def test_missing_images_are_counted_once_before_training(tmp_path, caplog):
    """A few missing images were skipped one warning line at a time inside the progress bar: now one line, before
    training, says how many (a folder holding none of them is still an error)."""
    import logging

    import cv2

    from kdpose.data.coco import check_image_folder

    images = [dict(GOOD_IMAGE, id=i, file_name=f"{i}.jpg") for i in (1, 2, 3)]
    anns = [ann(id=10 + i, image_id=i) for i in (1, 2, 3)]
    p = write(tmp_path, {"images": images, "annotations": anns})
    cv2.imwrite(str(tmp_path / "1.jpg"), np.zeros((80, 100, 3), np.uint8))
    samples = load_coco_keypoints(p)
    with caplog.at_level(logging.WARNING, logger="kdpose.data.coco"):
        check_image_folder(samples, p, key="data.train.img_dir")
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: 2 of the 3 images of {p} are missing (e.g. 2.jpg); their people are skipped"]
    (tmp_path / "1.jpg").unlink()
    with pytest.raises(DataError, match="none of the first 3 images"):
        check_image_folder(samples, p, key="data.train.img_dir")


def test_wholebody_person_without_body_points_is_no_top_down_instance(tmp_path):
    # COCO-WholeBody's num_keypoints counts body points: a person with only a face and a hand labelled is dropped
    # (MMPose), by the reader and by the boxes infer takes from the same file, so validation and infer agree
    def wb(id, body):
        return {"id": id, "image_id": 1, "bbox": [10, 10, 30, 40], "iscrowd": 0, "area": 100.0,
                "keypoints": ([20, 20, 2] if body else [0, 0, 0]) * 17, "num_keypoints": 17 if body else 0,
                "foot_kpts": [0, 0, 0] * 6, "face_kpts": [22, 15, 2] * 68, "lefthand_kpts": [0, 0, 0] * 21,
                "righthand_kpts": [30, 30, 2] * 21}
    anns = [wb(1, True), wb(2, False), {**wb(3, True), "iscrowd": 1}]
    p = write(tmp_path, {"images": [GOOD_IMAGE], "annotations": anns})
    for mode in ("train", "eval"):
        assert [s.ann_id for s in load_coco_wholebody(p, mode=mode)] == [1]
    boxes = [validation_box(a, (100, 80)) for a in anns]
    assert boxes[0] is not None and boxes[1] is None and boxes[2] is None
    # without a num_keypoints field the labelled body points are counted, as the reader does
    del anns[1]["num_keypoints"]
    assert validation_box(anns[1], (100, 80)) is None
    # a detection ground truth (no keypoints): every box but the crowds
    assert validation_box({"bbox": [1, 1, 5, 5]}, None) is not None
    assert validation_box({"bbox": [1, 1, 5, 5], "iscrowd": 1}, None) is None
