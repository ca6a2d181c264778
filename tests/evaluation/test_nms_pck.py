import numpy as np
import pytest

from kdpose.errors import DataError
from kdpose.evaluation import (keypoint_pck_accuracy, mpii_head_sizes, oks_iou, oks_matrix, oks_nms, pck, pckh,
                               rescore_instances, soft_oks_nms)


def test_rescore_matches_mmpose_rule():
    s = rescore_instances([0.8, 0.5], np.array([[0.1, 0.3, 0.5, 0.9], [0.1, 0.2, 0.15, 0.0]]), 0.2)
    np.testing.assert_allclose(s, [0.8 * (0.3 + 0.5 + 0.9) / 3, 0.0])  # 0.2 itself is not above the threshold


def test_oks_iou_hand_computed():
    sigmas = np.array([0.1, 0.2])
    ref = np.array([[0.0, 0.0, 1.0], [10.0, 0.0, 1.0]])
    other = np.array([[[3.0, 4.0, 1.0], [10.0, 0.0, 0.1]]])  # d = 5 and 0
    area = 100.0
    e0 = 25 / (0.2**2) / (100 + np.spacing(1)) / 2
    expected = (np.exp(-e0) + 1.0) / 2
    np.testing.assert_allclose(oks_iou(ref, other, area, [area], sigmas), [expected])
    # with a visibility threshold only keypoint 0 counts
    np.testing.assert_allclose(oks_iou(ref, other, area, [area], sigmas, vis_thr=0.5), [np.exp(-e0)])
    # mean of the two areas
    np.testing.assert_allclose(oks_iou(ref, other, 100.0, [300.0], sigmas)[0],
                               (np.exp(-25 / 0.04 / 200 / 2) + 1) / 2, rtol=1e-9)
    m = oks_matrix(ref[None, :, :2], np.concatenate([ref[None], other]), [area], sigmas)
    np.testing.assert_allclose(m, [[1.0, expected]])


def test_oks_nms_keeps_distinct_people():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (17, 2))
    kpts = np.stack([a, a + 0.3, a + 40, a + 40.2, a + 0.1])
    kpts = np.concatenate([kpts, np.ones((5, 17, 1))], -1)
    scores = np.array([0.5, 0.9, 0.7, 0.6, 0.4])
    sig = np.full(17, 0.08)
    keep = oks_nms(kpts, scores, np.full(5, 4000.0), sig, thr=0.9)
    assert keep.tolist() == [1, 2]
    keep_soft, decayed = soft_oks_nms(kpts, scores, np.full(5, 4000.0), sig, thr=0.9, max_dets=3)
    assert keep_soft.tolist()[:2] == [1, 2] and len(keep_soft) == 3
    assert decayed[0] == pytest.approx(0.9) and decayed[2] < 0.5 * np.exp(-0.9**2 / 0.9) + 1e-9


def test_pck_bbox_normalised_hand_computed():
    gt = np.zeros((2, 3, 2))
    pred = np.array([[[1.0, 0], [6, 0], [0, 0]], [[0, 2.0], [0, 0], [30, 40]]])
    vis = np.array([[1, 1, 0], [1, 1, 1]])
    boxes = np.array([[0, 0, 100, 50], [0, 0, 40, 40]])  # sizes 100 and 40
    mean, per = pck(pred, gt, vis, boxes, alpha=0.05)  # thresholds 5 px and 2 px
    # kp0: 1 < 5 yes, 2 < 2 no -> 0.5; kp1: 6 no, 0 yes -> 0.5; kp2: only inst 1, 50 px no -> 0
    np.testing.assert_allclose(per, [0.5, 0.5, 0.0])
    assert mean == pytest.approx(1 / 3)
    acc, avg, cnt = keypoint_pck_accuracy(pred, gt, np.zeros((2, 3), bool), 0.05, np.ones((2, 2)))
    assert (acc == -1).all() and avg == 0 and cnt == 0


def test_pck_refuses_xywh_boxes():
    """A COCO x, y, w, h box given as xyxy had a negative size: every keypoint invalid, PCK 0.0 without a word."""
    gt = np.array([[[120.0, 220.0], [140.0, 260.0]]])
    xyxy = np.array([[100.0, 200.0, 150.0, 280.0]])
    assert pck(gt + 3, gt, np.ones((1, 2)), xyxy, alpha=0.1)[0] == pytest.approx(1.0)  # 4.2 px < 8 px
    with pytest.raises(DataError, match=r"box 0 \[100.0, 200.0, 50.0, 80.0\] has x2 < x1 .*must be xyxy"):
        pck(gt + 3, gt, np.ones((1, 2)), np.array([[100.0, 200.0, 50.0, 80.0]]), alpha=0.1)


def test_pckh_hand_computed():
    n = 2
    gt = np.zeros((n, 16, 2))
    pred = np.zeros((n, 16, 2))
    head = mpii_head_sizes(np.array([[[0, 0], [30, 40]], [[0, 0], [60, 80]]]))  # 0.6 * 50, 0.6 * 100
    np.testing.assert_allclose(head, [30, 60])
    from kdpose.errors import DataError

    with pytest.raises(DataError, match=r"headboxes must be \(N, 2, 2\).*got shape \(2, 4\)"):
        mpii_head_sizes(np.array([[0, 0, 30, 40], [0, 0, 60, 80]]))  # x1, y1, x2, y2: was read as nonsense
    pred[0, 9] = [20, 0]  # head top: 20 > 0.5 * 30 -> wrong
    pred[1, 9] = [25, 0]  # 25 <= 30 -> right
    pred[:, 13] = [15, 0]  # left shoulder: 15 <= 15 and <= 30 -> right
    pred[0, 12] = [16, 0]  # right shoulder inst 0 wrong
    vis = np.ones((n, 16))
    vis[1, 0] = 0
    m = pckh(pred, gt, vis, head)
    assert m["Head"] == pytest.approx(0.5)
    assert m["Shoulder"] == pytest.approx(0.5 * (1.0 + 0.5))
    # per joint: visible-count weighted mean without pelvis (6) and thorax (7); ankle 0 has 1 visible
    per_joint = np.ones(16)
    per_joint[9] = 0.5
    per_joint[12] = 0.5
    w = np.array([1] + [2] * 15, float)
    w[[6, 7]] = 0
    assert m["PCKh"] == pytest.approx((per_joint * w).sum() / w.sum())
    # at 0.1: only exact zeros count -> the moved joints fail
    per01 = per_joint.copy()
    per01[[9, 12, 13]] = [0, 0.5, 0.0]
    assert m["PCKh@0.1"] == pytest.approx((per01 * w).sum() / w.sum())


def test_pck_and_pckh_on_fixtures(fixtures):
    from kdpose.data import load_coco_keypoints, load_mpii

    mp = load_mpii(fixtures / "mpii/test_mpii.json")
    gt = np.stack([s.keypoints for s in mp])
    vis = np.stack([s.visible for s in mp])
    head = np.full(len(mp), 60.0)  # the fixture has no head boxes
    assert pckh(gt, gt, vis, head)["PCKh"] == pytest.approx(1.0)
    shifted = gt + np.array([31.0, 0.0])  # 31 > 0.5 * 60 everywhere
    assert pckh(shifted, gt, vis, head)["PCKh"] == 0.0
    coco = load_coco_keypoints(fixtures / "coco/test_coco.json")
    k = np.stack([s.keypoints for s in coco])
    v = np.stack([s.visible for s in coco])
    boxes = np.stack([s.bbox for s in coco])
    assert pck(k, k, v, boxes)[0] == pytest.approx(1.0)


def _pck_args(n=4, k=17):
    gt = np.random.default_rng(0).uniform(10, 90, (n, k, 2))
    return dict(pred=gt + 1, gt=gt, visible=np.ones((n, k)), bboxes=np.tile([0.0, 0.0, 100.0, 100.0], (n, 1)))


@pytest.mark.parametrize("arg, value, message", [
    # COCO-style (x, y, v) ground truth was a numpy broadcast ValueError naming no argument
    ("gt", np.ones((4, 17, 3)), r"gt must be \(4, 17, 2\) like pred .*got shape \(4, 17, 3\); pass gt\[\.\.\., :2\] "
                                r"and the visibility gt\[\.\.\., 2\] as visible"),
    ("gt", np.ones((3, 17, 2)), r"gt must be \(4, 17, 2\) like pred .*got shape \(3, 17, 2\)$"),
    ("pred", np.ones((4, 17, 3)), r"pred must be \(N, K, 2\) x, y, got shape \(4, 17, 3\); pass pred\[\.\.\., :2\]"),
    ("pred", np.ones((4, 34)), r"pred must be \(N, K, 2\) x, y, got shape \(4, 34\)$"),
    ("visible", np.ones((4, 16)), r"visible must be \(4, 17\) \(one value per keypoint of pred.*got shape \(4, 16\)"),
    ("bboxes", np.ones((2, 4)), r"bboxes must be \(4, 4\) \(one xyxy box per pose of pred\), got shape \(2, 4\)"),
])
def test_pck_wrong_shapes_name_the_argument(arg, value, message):
    assert pck(**_pck_args())[0] == pytest.approx(1.0)
    with pytest.raises(DataError, match=message):
        pck(**{**_pck_args(), arg: value})


def test_keypoint_pck_accuracy_and_pckh_wrong_shapes_name_the_argument():
    a = _pck_args()
    with pytest.raises(DataError, match=r"gt must be \(4, 17, 2\).*pass gt\[\.\.\., :2\] .* as mask"):
        keypoint_pck_accuracy(a["pred"], np.ones((4, 17, 3)), np.ones((4, 17), bool), 0.05, np.ones((4, 2)))
    with pytest.raises(DataError, match=r"mask must be \(4, 17\) \(one flag per keypoint of pred\), got shape \(17,\)"):
        keypoint_pck_accuracy(a["pred"], a["gt"], np.ones(17, bool), 0.05, np.ones((4, 2)))
    with pytest.raises(DataError, match=r"norm must be \(4, 2\) .*got shape \(4,\)"):
        keypoint_pck_accuracy(a["pred"], a["gt"], np.ones((4, 17), bool), 0.05, np.ones(4))
    mpii = np.zeros((2, 16, 2))
    assert pckh(mpii, mpii, np.ones((2, 16)), np.ones(2))["PCKh"] == pytest.approx(1.0)
    with pytest.raises(DataError, match=r"pred must be \(2, 16, 2\) \(the 16 MPII joints\), got shape \(2, 17, 2\)"):
        pckh(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)), np.ones((2, 17)), np.ones(2))  # COCO K scored wrong joints
    with pytest.raises(DataError, match=r"gt must be \(2, 16, 2\).*as visible"):
        pckh(mpii, np.zeros((2, 16, 3)), np.ones((2, 16)), np.ones(2))
    with pytest.raises(DataError, match=r"visible must be \(2, 16\) .*got shape \(2, 15\)"):
        pckh(mpii, mpii, np.ones((2, 15)), np.ones(2))
    with pytest.raises(DataError, match=r"head_sizes must be \(2,\) .*got shape \(3,\)"):
        pckh(mpii, mpii, np.ones((2, 16)), np.ones(3))
