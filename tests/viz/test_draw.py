import numpy as np
import pytest

from kdpose.skeletons import get_skeleton
from kdpose.viz import draw_boxes, draw_openpose, draw_skeleton, split_openpose


def test_draw_skeleton_colours_points_and_links_and_respects_threshold():
    sk = get_skeleton("coco")
    img = np.zeros((200, 200, 3), np.uint8)
    kpts = np.zeros((1, 17, 2), np.float32)
    scores = np.zeros((1, 17), np.float32)
    a, b = sk.links[0]
    kpts[0, a], kpts[0, b] = (40, 100), (160, 100)
    scores[0, [a, b]] = 0.9
    out = draw_skeleton(img, kpts, scores, sk, kpt_thr=0.3, radius=4, thickness=3)
    assert img.sum() == 0  # drawn on a copy
    assert tuple(out[100, 100]) == sk.link_colors[0]  # middle of the link
    assert tuple(out[100, 40]) == sk.keypoint_colors[a]
    assert tuple(out[100, 160]) == sk.keypoint_colors[b]
    scores[0, b] = 0.2  # below threshold: point b and the link vanish
    out = draw_skeleton(img, kpts, scores, sk, kpt_thr=0.3, radius=4, thickness=3)
    assert out[100, 100].sum() == 0 and out[100, 160].sum() == 0
    assert tuple(out[100, 40]) == sk.keypoint_colors[a]


def test_draw_skeleton_handles_no_people_and_wholebody():
    wb = get_skeleton("coco_wholebody")
    img = np.full((64, 64, 3), 7, np.uint8)
    np.testing.assert_array_equal(draw_skeleton(img, np.zeros((0, 133, 2)), np.zeros((0, 133)), wb), img)
    rng = np.random.default_rng(0)
    out = draw_skeleton(img, rng.uniform(5, 59, (2, 133, 2)), np.ones((2, 133)), wb)
    assert (out != 7).any()


def test_draw_boxes_with_ids_have_distinct_colours():
    img = np.zeros((100, 200, 3), np.uint8)
    out = draw_boxes(img, np.array([[10, 30, 90, 90], [110, 30, 190, 90]]), track_ids=[0, 1], thickness=2)
    left, right = tuple(out[60, 10].tolist()), tuple(out[60, 110].tolist())
    assert sum(left) > 0 and sum(right) > 0 and left != right


def test_split_openpose_wholebody_parts_and_neck():
    wb = get_skeleton("coco_wholebody")
    kpts = np.arange(2 * 133 * 2, dtype=np.float32).reshape(2, 133, 2)
    scores = np.linspace(0.1, 1, 2 * 133).reshape(2, 133)
    parts = split_openpose(kpts, scores, wb)
    assert parts.body.shape == (2, 18, 2) and parts.face.shape == (2, 70, 2)
    np.testing.assert_allclose(parts.body[:, 1], kpts[:, [5, 6]].mean(1))  # neck = shoulder midpoint
    np.testing.assert_array_equal(parts.body[:, 2], kpts[:, 6])  # OpenPose 2 = right shoulder = COCO 6
    np.testing.assert_array_equal(parts.left_hand, kpts[:, 91:112])
    np.testing.assert_array_equal(parts.right_hand, kpts[:, 112:133])
    np.testing.assert_array_equal(parts.face[:, 68], kpts[:, 2])  # right eye = OpenPose right pupil
    with pytest.raises(ValueError):
        split_openpose(kpts[:, :14], scores[:, :14], get_skeleton("crowdpose"))


def test_openpose_image_is_controlnet_style():
    coco = get_skeleton("coco")
    kpts = np.zeros((1, 17, 2), np.float32)
    kpts[0, 5], kpts[0, 6] = (140, 60), (60, 60)  # left / right shoulder
    kpts[0, 0] = (100, 20)
    scores = np.zeros((1, 17))
    scores[0, [0, 5, 6]] = 0.9
    op = get_skeleton("openpose")
    canvas = draw_openpose((200, 120), kpts, scores, coco, op, get_skeleton("hand"))
    assert canvas.shape == (120, 200, 3) and canvas[110, 190].sum() == 0  # black background
    # neck (OpenPose 1) at the shoulder midpoint in its own colour; right shoulder in colour 2
    assert tuple(canvas[60, 100]) == op.keypoint_colors[1]
    assert tuple(canvas[60, 60]) == op.keypoint_colors[2]
    # limb neck -> right shoulder drawn at 60 % of its colour
    li = op.links.index((1, 2))
    expected = np.array([int(c * 0.6) for c in op.link_colors[li]])
    np.testing.assert_array_equal(canvas[60, 80], expected)


def test_openpose_image_draws_hands_and_white_face_dots():
    wb = get_skeleton("coco_wholebody")
    kpts = np.zeros((1, 133, 2), np.float32)
    scores = np.zeros((1, 133))
    kpts[0, 23] = (30, 30)  # first face landmark
    scores[0, 23] = 0.9
    kpts[0, 91], kpts[0, 92] = (100, 100), (150, 100)  # left-hand root and first joint
    scores[0, [91, 92]] = 0.9
    canvas = draw_openpose((200, 200), kpts, scores, wb, get_skeleton("openpose"), get_skeleton("hand"))
    assert tuple(canvas[30, 30]) == (255, 255, 255)
    assert tuple(canvas[100, 100]) == (255, 0, 0)  # hand points are blue (BGR)
    assert canvas[100, 125].sum() > 0  # the link between them
