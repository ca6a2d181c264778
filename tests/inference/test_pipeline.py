import numpy as np
import pytest

from kdpose.errors import DataError
from kdpose.inference.estimator import PoseArrays, PoseEstimator
from kdpose.inference.topdown import rescore, sanitize_boxes

from .conftest import DOT_RADIUS, INPUT_SIZE, make_oracle_model, synthetic_scene


def crop_px(boxes):
    """Image pixels per crop pixel for each box (padding 1.25, aspect fixed to the input's)."""
    w, h = INPUT_SIZE
    bw, bh = (boxes[:, 2] - boxes[:, 0]) * 1.25, (boxes[:, 3] - boxes[:, 1]) * 1.25
    return np.maximum(bw / w, bh / h)


def test_back_projection_lands_on_the_true_keypoints(oracle_model):
    image, gt, boxes = synthetic_scene(people=3)
    est = PoseEstimator(oracle_model, nms_thr=None)
    res = est.predict_arrays(image, bboxes=boxes)
    assert isinstance(res, PoseArrays) and res.keypoints.shape == (3, 17, 2)
    kpts, scores = res  # rtmlib's unpacking
    order = np.arange(len(boxes))  # the caller's boxes: person i is box i
    err = np.linalg.norm(kpts[order] - gt, axis=-1)
    tol = DOT_RADIUS + crop_px(boxes)[:, None] + 0.5
    assert (err <= tol).all(), err.max()
    assert np.median(err) < 4
    assert (scores > 0.5).all()
    np.testing.assert_allclose(res.bboxes[order], boxes, atol=1e-4)


def test_bgr_and_rgb_inputs_give_the_same_result(oracle_model):
    image, gt, boxes = synthetic_scene(people=2, seed=1)
    est = PoseEstimator(oracle_model, nms_thr=None)
    a = est.predict_arrays(image, bboxes=boxes)
    b = est.predict_arrays(np.ascontiguousarray(image[..., ::-1]), bboxes=boxes, rgb=True)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    # feeding RGB as if it were BGR swaps the colours: the oracle no longer finds its dots
    c = est.predict_arrays(np.ascontiguousarray(image[..., ::-1]), bboxes=boxes)
    assert np.median(c.scores) < 0.5 < np.median(a.scores)


def test_batched_equals_per_person_and_multi_image(tiny_model):
    image, _, boxes = synthetic_scene(people=3, seed=2)
    image = image + np.random.default_rng(0).integers(0, 60, image.shape, dtype=np.uint8)
    est = PoseEstimator(tiny_model, nms_thr=None)
    batched = est.predict_arrays(image, bboxes=boxes)
    for i in range(3):
        single = est.predict_arrays(image, bboxes=boxes[i:i + 1])
        j = int(np.flatnonzero(np.all(batched.bboxes == boxes[i], 1))[0])
        np.testing.assert_allclose(single.keypoints[0], batched.keypoints[j], atol=1e-3)
        np.testing.assert_allclose(single.scores[0], batched.scores[j], atol=1e-5)
    # several images in one call (one forward), and a tiny max_batch (several forwards) agree
    flipped = np.ascontiguousarray(image[:, ::-1])
    many = est([image, flipped], bboxes=[boxes, boxes[:1]])
    assert [len(p) for p in many] == [3, 1]
    est.max_batch = 1
    again = est([image, flipped], bboxes=[boxes, boxes[:1]])
    for p, q in zip(many[0], again[0]):
        np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)


def test_flip_test_on_symmetric_oracle_keeps_positions():
    model = make_oracle_model()
    image, gt, boxes = synthetic_scene(people=1, seed=3)
    plain = PoseEstimator(model, nms_thr=None).predict_arrays(image, bboxes=boxes)
    flipped = PoseEstimator(model, nms_thr=None, flip_test=True).predict_arrays(image, bboxes=boxes)
    # The oracle is not mirror-symmetric in its keypoint identities, so the flipped pass finds each colour at
    # the mirrored position under the swapped index; the average still peaks on a true dot for unpaired points
    nose = 0
    assert np.linalg.norm(flipped.keypoints[0, nose] - plain.keypoints[0, nose]) <= 2 * crop_px(boxes)[0] + 1


def test_rescore_is_mmpose_rule():
    s = np.array([[0.1, 0.5, 0.9], [0.1, 0.15, 0.05]])
    np.testing.assert_allclose(rescore(np.array([0.8, 1.0]), s), [0.8 * 0.7, 0.0], rtol=1e-6)


def test_bad_boxes_are_clipped_dropped_or_rejected():
    boxes, scores = sanitize_boxes(np.array([[-50, -50, 30, 40], [10, 10, 10, 80], [700, 10, 800, 90],
                                             [50, 60, 20, 10], [np.nan, 0, 5, 5]]), None, (100, 100))
    np.testing.assert_allclose(boxes, [[0, 0, 30, 40], [20, 10, 50, 60]])
    assert scores.tolist() == [1.0, 1.0]
    with pytest.raises(DataError, match="expected"):
        sanitize_boxes(np.zeros((2, 3)), None, (10, 10))


def test_zero_boxes_tiny_and_odd_images_give_documented_results(tiny_model):
    est = PoseEstimator(tiny_model, nms_thr=None)
    empty = est.predict_arrays(np.zeros((30, 40, 3), np.uint8), bboxes=np.zeros((0, 4)))
    assert empty.keypoints.shape == (0, 17, 2) and empty.bboxes.shape == (0, 4)
    assert est(np.zeros((30, 40, 3), np.uint8), bboxes=np.zeros((0, 4))) == []
    one = est.predict_arrays(np.zeros((1, 1, 3), np.uint8))  # 1x1 image: whole-image box, one person
    assert one.keypoints.shape == (1, 17, 2)
    gray16 = np.full((50, 40), 30000, np.uint16)
    rgba = np.zeros((50, 40, 4), np.uint8)
    assert len(est(gray16)) == 1 and len(est(rgba)) == 1
    with pytest.raises(DataError):
        est(np.zeros((5, 5, 2), np.uint8))
    with pytest.raises(DataError, match="no such file"):
        est("/nonexistent/x.jpg")


def test_oks_nms_removes_duplicate_people_found_by_a_detector(oracle_model):
    image, gt, boxes = synthetic_scene(people=2, seed=4)
    dup = np.concatenate([boxes, boxes[:1] + [2, -3, 4, 1]])  # a second, slightly shifted box on person 0
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    est = PoseEstimator(oracle_model, detector=lambda im: (dup, scores))  # OKS-NMS on (thr 0.9)
    res = est.predict_arrays(image)
    assert len(res.keypoints) == 2
    assert (np.diff(res.instance_scores) <= 0).all()  # best first
    np.testing.assert_allclose(res.bboxes, dup[[1, 2]], atol=1e-4)  # the better of the duplicates is kept
    off = PoseEstimator(oracle_model, detector=lambda im: (dup, scores), nms_thr=None).predict_arrays(image)
    assert len(off.keypoints) == 3
    # the same boxes given by the caller: one pose per box, in the caller's order, unless NMS is asked for
    mine = est.predict_arrays(image, bboxes=dup)
    assert len(mine.keypoints) == 3
    np.testing.assert_allclose(mine.bboxes, dup, atol=1e-4)
    assert len(est.predict_arrays(image, bboxes=dup, nms=True).keypoints) == 2
    assert len(PoseEstimator(oracle_model, nms_caller_boxes=True).predict_arrays(image, bboxes=dup).keypoints) == 2


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_normalize_crops_matches_the_definition(order, monkeypatch):
    import cv2

    from kdpose.inference.topdown import normalize_crops

    crops = np.random.default_rng(0).integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    chans = crops[..., ::-1] if order == "RGB" else crops
    ref = ((chans.astype(np.float64) - mean) / std).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(normalize_crops(crops, mean, std, order), ref, atol=1e-5)
    monkeypatch.delattr(cv2.dnn, "blobFromImagesWithParams")  # the numpy fallback gives the same numbers
    np.testing.assert_allclose(normalize_crops(crops, mean, std, order), ref, atol=1e-5)
