import json

import numpy as np
import pytest

from kdpose.inference.estimator import PoseArrays
from kdpose.inference.outputs import AtomicVideoWriter, coco_records, openpose_document
from kdpose.skeletons import get_skeleton


def _result(k, n=2, track_ids=None, seed=0):
    rng = np.random.default_rng(seed)
    return PoseArrays(rng.uniform(0, 100, (n, k, 2)).astype(np.float32), rng.uniform(0, 1, (n, k)).astype(np.float32),
                      np.array([[10, 20, 50, 90]] * n, np.float32), np.full(n, 0.9, np.float32),
                      np.full(n, 0.7, np.float32), track_ids)


def test_coco_records_are_coco_results_plus_boxes_and_ids():
    res = _result(17, track_ids=np.array([3, 5]))
    recs = coco_records(res, image_id=42)
    assert [r["track_id"] for r in recs] == [3, 5]
    r = recs[0]
    assert r["image_id"] == 42 and r["category_id"] == 1 and r["bbox"] == [10.0, 20.0, 40.0, 70.0]
    np.testing.assert_allclose(np.reshape(r["keypoints"], (17, 3))[:, :2], res.keypoints[0], atol=1e-3)
    np.testing.assert_allclose(np.reshape(r["keypoints"], (17, 3))[:, 2], res.scores[0], atol=1e-3)
    json.dumps(recs)  # plain JSON types
    assert "track_id" not in coco_records(_result(17), 1)[0]


def test_wholebody_records_use_the_split_coco_wholebody_fields():
    # MMPose's results2json / xtcocotools need keypoints (body 17) + foot / face / hand fields, not one 133 list
    res = _result(133)
    rec = coco_records(res, image_id=5)[0]
    sizes = {f: len(rec[f]) // 3 for f in ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")}
    assert sizes == {"keypoints": 17, "foot_kpts": 6, "face_kpts": 68, "lefthand_kpts": 21, "righthand_kpts": 21}
    joined = np.concatenate([np.reshape(rec[f], (-1, 3)) for f in sizes])
    np.testing.assert_allclose(joined[:, :2], res.keypoints[0], atol=1e-3)
    np.testing.assert_allclose(joined[:, 2], res.scores[0], atol=1e-3)
    assert rec["bbox"] == [10.0, 20.0, 40.0, 70.0] and rec["score"] == pytest.approx(0.7)
    assert "foot_kpts" not in coco_records(_result(17), 1)[0]


def test_split_and_flat_wholebody_results_score_the_same():
    from kdpose.evaluation import wholebody_eval
    from kdpose.evaluation.results import split_wholebody_results

    rng = np.random.default_rng(1)
    flat = rng.uniform(5, 95, (133, 3))
    flat[:, 2] = 2
    fields = {"keypoints": (0, 17), "foot_kpts": (17, 23), "face_kpts": (23, 91), "lefthand_kpts": (91, 112),
              "righthand_kpts": (112, 133)}
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 90, 90], "area": 5000.0,
           "num_keypoints": 17, **{f: flat[lo:hi].reshape(-1).tolist() for f, (lo, hi) in fields.items()}}
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "annotations": [ann], "categories": [{"id": 1}]}
    noisy = flat.copy()
    noisy[:, :2] += rng.normal(0, 2, (133, 2))
    noisy[:, 2] = 0.8
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": noisy.reshape(-1).tolist()}]
    split = split_wholebody_results(results)
    assert set(split[0]) == {"image_id", "category_id", "score", *fields} and len(split[0]["keypoints"]) == 51
    assert wholebody_eval(gt, split) == wholebody_eval(gt, results)
    assert split_wholebody_results([{"keypoints": [0.0] * 51}]) == [{"keypoints": [0.0] * 51}]


def test_openpose_json_wholebody_layout_and_threshold():
    res = _result(133, track_ids=np.array([7, 8]))
    doc = openpose_document(res, get_skeleton("coco_wholebody"), (640, 480), kpt_thr=0.3)
    assert doc["canvas_width"] == 640 and doc["canvas_height"] == 480 and len(doc["people"]) == 2
    p = doc["people"][0]
    assert p["person_id"] == [7]
    assert len(p["pose_keypoints_2d"]) == 18 * 3 and len(p["face_keypoints_2d"]) == 70 * 3
    assert len(p["hand_left_keypoints_2d"]) == 21 * 3 and len(p["hand_right_keypoints_2d"]) == 21 * 3
    body = np.reshape(p["pose_keypoints_2d"], (18, 3))
    nose_score = res.scores[0, 0]
    if nose_score > 0.3:
        np.testing.assert_allclose(body[0], [*res.keypoints[0, 0], nose_score], atol=1e-3)
    else:
        assert body[0].tolist() == [0, 0, 0]
    low = np.reshape(p["hand_left_keypoints_2d"], (21, 3))
    assert (low[res.scores[0, 91:112] <= 0.3] == 0).all()
    body17 = openpose_document(_result(17), get_skeleton("coco"), (10, 10))["people"][0]
    assert body17["face_keypoints_2d"] == [] and body17["person_id"] == [-1]
    empty = openpose_document(PoseArrays(np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros((0, 4)), np.zeros(0),
                                         np.zeros(0)), get_skeleton("coco"), (10, 10))
    assert empty["people"] == []


def test_atomic_video_writer_renames_on_close_and_cleans_up_on_abort(tmp_path):
    cv2 = pytest.importorskip("cv2")
    w = AtomicVideoWriter(tmp_path / "v.mp4", fps=5)
    for i in range(3):
        w.write(np.full((32, 48, 3), 40 * i, np.uint8))
    assert not (tmp_path / "v.mp4").exists() and w.tmp.exists()
    w.close()
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and not w.tmp.exists()
    w2 = AtomicVideoWriter(tmp_path / "x.mp4", fps=5)
    w2.write(np.zeros((32, 48, 3), np.uint8))
    w2.abort()
    assert list(tmp_path.iterdir()) == [tmp_path / "v.mp4"]


def test_two_writers_of_one_clip_never_share_a_temp_file(tmp_path):
    """Two jobs drawing the same clip into one folder at once: each writes its own temp file, the last to finish
    wins whole (with one temp name per clip the second would have written into the first one's file)."""
    cv2 = pytest.importorskip("cv2")
    a, b = AtomicVideoWriter(tmp_path / "clip.mp4", fps=5), AtomicVideoWriter(tmp_path / "clip.mp4", fps=5)
    for i in range(4):
        a.write(np.full((32, 48, 3), 200, np.uint8))
        if i < 2:
            b.write(np.full((32, 48, 3), 10, np.uint8))
    assert a.tmp != b.tmp and a.tmp.suffix == ".mp4"
    a.close()
    b.close()
    cap = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    ok, frame = cap.read()
    assert ok and frame.mean() < 40
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    empty = AtomicVideoWriter(tmp_path / "none.mp4", fps=5)
    empty.close()
    empty.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
