"""`kdpose infer --bboxes` uses every box of the file (training validation's bbox_score_thr 0) and, by default
(--nms auto), gives the poses validation scores: kdpose eval of its predictions.json is validation's AP, for a
detection-results file and for the ground truth itself; a video's frames meet a boxes file only when its image ids
fit them (--first-frame-id)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from kdpose.cli.main import main  # noqa: E402
from kdpose.inference.detectors import DetectionFile  # noqa: E402
from kdpose.inference.estimator import PoseEstimator  # noqa: E402

from .conftest import make_tiny_model, synthetic_scene  # noqa: E402

POSE = "cspnext-m-udp.synth-standard_128x96"


def _det_file(fixtures):
    return fixtures / "coco" / "test_coco_det_AP_H_56.json"


def test_detection_file_boxes_are_all_kept_unless_bbox_thr(fixtures):
    file = _det_file(fixtures)
    image = fixtures / "coco" / "000000000785.jpg"
    scores = DetectionFile(file).lookup(image.name)[1]
    assert len(scores) == 22 and (scores >= 0.3).sum() == 2
    every = PoseEstimator(make_tiny_model(), detector=str(file))
    assert every.box_score_thr == 0.0 and len(every.predict_arrays(image).keypoints) == 22
    cut = PoseEstimator(make_tiny_model(), detector=str(file), bbox_thr=0.3)
    assert len(cut.predict_arrays(image).keypoints) == 2
    detector = PoseEstimator(make_tiny_model(), detector=lambda im: (np.zeros((1, 4)), np.ones(1)))
    assert detector.box_score_thr == 0.3  # a detector's output keeps its default cut


@pytest.fixture(scope="module")
def infer_vs_validation(fixtures, tmp_path_factory):
    """predictions.json of `kdpose infer --bboxes` on the fixture images, and the metrics kdpose's validation
    (PoseEvaluator on load_detections, bbox_score_thr 0) gives the same model on the same boxes."""
    import torch

    from kdpose.data import TopDownDataset, collate_topdown, load_detections
    from kdpose.engine.validate import PoseEvaluator
    from kdpose.models import load_model

    out = tmp_path_factory.mktemp("infer_eval")
    coco = fixtures / "coco"
    images = sorted(coco.glob("*.jpg"))
    code = main(["infer", *map(str, images), "--model", POSE, "--bboxes", str(_det_file(fixtures)), "--json",
                 "--no-vis", "--threads", "1", "--out", str(out)])  # the default --nms auto: validation's NMS
    assert code == 0
    model = load_model(POSE)
    samples = load_detections(_det_file(fixtures), coco / "test_coco.json", "coco", 0.0, image_root=coco)
    evaluator = PoseEvaluator(TopDownDataset(samples, model.codec), collate_topdown, coco / "test_coco.json",
                              model.codec, model.skeleton, layout="coco", batch_size=16, workers=0)
    return out / "predictions.json", evaluator(model, torch.device("cpu")), len(samples)


def test_infer_gives_one_pose_per_box_of_the_file(fixtures, infer_vs_validation):
    pred, _, n_val = infer_vs_validation
    boxes = json.loads(_det_file(fixtures).read_text())
    on_images = [b for b in boxes if b["image_id"] in {785, 40083, 196141, 197388}]
    assert len(boxes) == len(on_images) == n_val == 118  # validation also reads all 118 (33 scored >= 0.3)
    job = json.loads(pred.read_text())
    # OKS-NMS (--nms auto, as validation) removes duplicates only; --nms off gives exactly one pose per box:
    assert 0 < len(job) <= 118


def test_infer_then_eval_matches_validation_ap(fixtures, infer_vs_validation, tmp_path, capsys):
    pred, val, _ = infer_vs_validation
    metrics = tmp_path / "metrics.json"
    assert main(["eval", "--gt", str(fixtures / "coco" / "test_coco.json"), "--pred", str(pred),
                 "--out", str(metrics)]) == 0
    got = json.loads(metrics.read_text())
    for key in ("AP", "AP50", "AR"):
        assert got[key] == pytest.approx(val[key], abs=2e-3), (key, got, val)


def test_infer_without_nms_writes_exactly_one_pose_per_box(fixtures, tmp_path, oracle_onnx):
    coco = fixtures / "coco"
    out = tmp_path / "out"
    assert main(["infer", str(coco / "000000000785.jpg"), str(coco / "000000040083.jpg"), "--model", oracle_onnx,
                 "--bboxes", str(_det_file(fixtures)), "--json", "--no-vis", "--nms", "off", "--threads", "1",
                 "--out", str(out)]) == 0
    boxes = [b for b in json.loads(_det_file(fixtures).read_text()) if b["image_id"] in (785, 40083)]
    job = json.loads((out / "predictions.json").read_text())
    assert len(job) == len(boxes) == 48  # 22 + 26 boxes, 4 of them scoring >= 0.3
    np.testing.assert_allclose([r["bbox"] for r in job], [b["bbox"] for b in boxes], atol=0.01)  # written to 2 decimals


# ---------------------------------------------------------------- ground-truth boxes: infer + eval = validation


@pytest.fixture(scope="module")
def gt_boxes_vs_validation(fixtures, tmp_path_factory):
    """`kdpose infer --bboxes <ground truth>` (all defaults) on the fixture images, and the trainer's validation
    of the same model on the same file: its val reader (eval mode), PoseEvaluator's predictions, OKS-NMS and AP."""
    import torch

    from kdpose.data import TopDownDataset, collate_topdown
    from kdpose.engine.validate import PoseEvaluator, nms_per_image
    from kdpose.layouts import get_layout
    from kdpose.models import load_model

    coco = fixtures / "coco"
    gt = coco / "test_coco.json"
    out = tmp_path_factory.mktemp("gt_infer")
    assert main(["infer", *map(str, sorted(coco.glob("*.jpg"))), "--model", POSE, "--bboxes", str(gt), "--json",
                 "--no-vis", "--threads", "1", "--out", str(out)]) == 0
    model = load_model(POSE)
    samples = get_layout("coco").read_annotations(gt, mode="eval", image_root=coco)
    evaluator = PoseEvaluator(TopDownDataset(samples, model.codec), collate_topdown, gt, model.codec,
                              model.skeleton, layout="coco", batch_size=16, workers=0)
    results = evaluator.predict(model, torch.device("cpu"))
    kept = nms_per_image([dict(r) for r in results], model.skeleton.sigmas_array, evaluator.nms_thr)
    return out / "predictions.json", kept, evaluator.evaluate(results), len(samples)


def _by_image_and_score(results: list[dict]) -> list[dict]:
    return sorted(results, key=lambda r: (r["image_id"], -r["score"]))


def test_infer_on_ground_truth_boxes_gives_validations_poses(fixtures, gt_boxes_vs_validation, capsys):
    pred, val_poses, _, n_val = gt_boxes_vs_validation
    annotations = json.loads((fixtures / "coco" / "test_coco.json").read_text())["annotations"]
    # 14 people, 2 with no labelled keypoint (validation crops 12); 2 boxes reach the right / bottom edge, which
    # validation clips to W-1 / H-1; OKS-NMS then runs on both sides
    assert len(annotations) == 14 and n_val == 12
    job = _by_image_and_score(json.loads(pred.read_text()))
    val_poses = _by_image_and_score(val_poses)
    assert len(job) == len(val_poses)
    assert [r["image_id"] for r in job] == [r["image_id"] for r in val_poses]
    np.testing.assert_allclose([r["keypoints"] for r in job], [r["keypoints"] for r in val_poses], atol=0.02)
    np.testing.assert_allclose([r["score"] for r in job], [r["score"] for r in val_poses], atol=1e-4)


def test_infer_then_eval_on_ground_truth_boxes_is_validations_ap(fixtures, gt_boxes_vs_validation, tmp_path):
    pred, _, val, _ = gt_boxes_vs_validation
    metrics = tmp_path / "metrics.json"
    assert main(["eval", "--gt", str(fixtures / "coco" / "test_coco.json"), "--pred", str(pred),
                 "--out", str(metrics)]) == 0
    got = json.loads(metrics.read_text())
    for key in ("AP", "AP50", "AP75", "AR"):
        assert got[key] == pytest.approx(val[key], abs=1e-4), (key, got, val)


def test_infer_says_which_ground_truth_people_give_no_pose(fixtures, tmp_path, oracle_onnx, capsys):
    coco = fixtures / "coco"
    assert main(["infer", str(coco / "000000040083.jpg"), "--model", oracle_onnx, "--bboxes",
                 str(coco / "test_coco.json"), "--json", "--no-vis", "--nms", "off", "--out", str(tmp_path)]) == 0
    assert "2 annotations of" in capsys.readouterr().err  # the file's two people without a labelled keypoint
    assert len(json.loads((tmp_path / "predictions.json").read_text())) == 2  # of the image's 3 annotations


# ---------------------------------------------------------------- video frame ids


def _clip(tmp_path, frames=4):
    path = tmp_path / "clip.avi"
    image, _, boxes = synthetic_scene(people=1, size=(320, 240), seed=3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path, boxes[0]


def _boxes_file(tmp_path, ids, box):
    x1, y1, x2, y2 = (float(v) for v in box)
    dets = [{"image_id": i, "category_id": 1, "score": 0.9, "bbox": [x1, y1, x2 - x1, y2 - y1]} for i in ids]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    return str(tmp_path / "dets.json")


@pytest.mark.parametrize("ids, extra, message", [
    ([1, 2, 3, 4], [], "has image ids 1..4; the frames of .* are numbered 0..3: give --first-frame-id N"),
    ([1, 2, 3], [], "has image ids 1..3; .* numbered 0..3: give --first-frame-id 1 if the file counts frames from 1"),
    ([0, 1, 2, 3], ["--first-frame-id", "1"], r"ids 0..3; .* numbered 1..4 \(--first-frame-id 1\)"),
])
def test_video_refuses_a_boxes_file_that_does_not_fit_its_frames(tmp_path, oracle_onnx, capsys, ids, extra,
                                                                  message):
    clip, box = _clip(tmp_path)
    assert main(["infer", str(clip), "--model", oracle_onnx, "--bboxes", _boxes_file(tmp_path, ids, box), "--json",
                 "--no-vis", "--out", str(tmp_path / "out"), *extra]) != 0
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out" / "predictions.json").exists()


@pytest.mark.parametrize("ids, extra", [([0, 1, 2, 3], []), ([1, 2, 3, 4], ["--first-frame-id", "1"]),
                                        ([2, 3], ["--first-frame-id", "0"])])
def test_video_boxes_by_frame_id(tmp_path, oracle_onnx, ids, extra):
    clip, box = _clip(tmp_path)
    out = tmp_path / "out"
    assert main(["infer", str(clip), "--model", oracle_onnx, "--bboxes", _boxes_file(tmp_path, ids, box), "--json",
                 "--no-vis", "--out", str(out), *extra]) == 0
    job = json.loads((out / "predictions.json").read_text())
    assert [r["image_id"] for r in job] == ids  # each frame got the boxes of its own id, and carries that id
    first = int(extra[1]) if extra else 0
    assert [r["frame_id"] for r in job] == [i - first for i in ids]


def test_first_frame_id_is_for_videos(tmp_path, oracle_onnx, capsys):
    image, _, _ = synthetic_scene(people=1, seed=1)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    assert main(["infer", str(tmp_path / "a.png"), "--model", oracle_onnx, "--first-frame-id", "1",
                 "--out", str(tmp_path / "out")]) != 0
    assert "--first-frame-id is for a video" in capsys.readouterr().err


def test_a_bad_box_of_a_video_frame_skips_that_frame_and_the_job_goes_on(tmp_path, oracle_onnx, capsys):
    """A box outside frame 2 stopped the whole video with exit 2 and no predictions.json, after frames 0 and 1 were
    computed; an image job already skipped such an image. Now the frame is skipped, named, and counted."""
    clip, box = _clip(tmp_path)
    dets = json.loads(Path(_boxes_file(tmp_path, [0, 1, 2, 3], box)).read_text())
    dets[2]["bbox"] = [5000.0, 5000.0, 50.0, 100.0]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    assert main(["infer", str(clip), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"), "--json",
                 "--no-vis", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert re.search(r"kdpose: skipped .*dets\.json: frame 2 \(image_id 2\): box 0 \[5000, 5000, 50, 100\]",
                     captured.err), captured.err
    assert "3 frames, 3 people" in captured.out and "1 frames skipped for their --bboxes boxes" in captured.out
    assert [r["frame_id"] for r in json.loads((out / "predictions.json").read_text())] == [0, 1, 3]


def test_caller_boxes_are_cropped_as_given_and_none_is_dropped():
    # a box with 0.4 px inside the image passed the check and was then dropped by clipping, so every later pose
    # belonged to the next box; a box crossing the border was clipped, unlike validation's crop of the same box
    from kdpose.inference.estimator import PoseEstimator

    from .conftest import make_oracle_model, synthetic_scene

    image, gt, boxes = synthetic_scene(people=2, seed=4)      # 640 x 480
    w = image.shape[1]
    given = np.array([[w - 0.4, 100, w + 39.6, 150], boxes[0], [boxes[1, 0], boxes[1, 1], w + 50, boxes[1, 3]]],
                     np.float32)
    res = PoseEstimator(make_oracle_model(), nms_thr=None).predict_arrays(image, bboxes=given)
    assert len(res.keypoints) == 3
    np.testing.assert_array_equal(res.bboxes, given)
    # the second box is the first person's: its pose is that person's, not the next box's
    assert np.median(np.linalg.norm(res.keypoints[1] - gt[0], axis=-1)) < 5
