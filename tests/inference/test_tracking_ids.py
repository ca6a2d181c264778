"""Track ids stay with their people (issue 24: 21 ids for 3-4 people over 30 frames with steady boxes): optimal
assignment, two-stage matching, track buffer, skip-frame continuity, and a rendered synthetic clip run through the
whole video pipeline with a real (weak, jittery) shipped model."""
import itertools

import cv2
import numpy as np
import pytest

from kdpose.inference.tracking import PoseTracker, box_iou, linear_assignment, make_oks_fn, match_pairs
from kdpose.skeletons import get_skeleton

OKS = make_oks_fn(get_skeleton("coco").sigmas_array)


def _brute_force_min(cost: np.ndarray) -> float:
    r, c = cost.shape
    if r <= c:
        return min(cost[np.arange(r), list(p)].sum() for p in itertools.permutations(range(c), r))
    return _brute_force_min(cost.T)


def test_linear_assignment_is_optimal():
    rng = np.random.default_rng(0)
    for trial in range(200):
        r, c = rng.integers(1, 6, 2)
        cost = rng.normal(size=(r, c)) if trial % 2 else rng.integers(0, 3, (r, c)).astype(float)  # ties too
        rows, cols = linear_assignment(cost)
        assert len(rows) == min(r, c) and len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
        assert cost[rows, cols].sum() == pytest.approx(_brute_force_min(cost))
    assert [a.tolist() for a in linear_assignment(np.zeros((0, 3)))] == [[], []]


def test_match_pairs_is_global_not_greedy_and_respects_the_threshold():
    # greedy takes (0, 0) = 0.9 first and leaves track 1 unmatched; the optimum pairs both
    sim = np.array([[0.9, 0.8], [0.7, 0.1]])
    assert sorted(match_pairs(sim, 0.3)) == [(0, 1), (1, 0)]
    assert match_pairs(np.array([[0.2, 0.25]]), 0.3) == []
    assert match_pairs(np.array([[0.9, 0.2], [0.29, 0.1]]), 0.3) == [(0, 0)]


def _people(frame: int, n: int = 3, jitter: float = 0.0, rng=None):
    """n people side by side walking right; keypoints inside their box, optionally jittered (a weak model)."""
    rng = rng or np.random.default_rng(frame)
    boxes = np.array([[40 + 60 * i + 2 * frame, 50, 80 + 60 * i + 2 * frame, 170] for i in range(n)], np.float64)
    unit = np.random.default_rng(7).uniform(0.1, 0.9, (17, 2))
    kpts = boxes[:, None, :2] + unit[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
    kpts = kpts + rng.normal(0, jitter, kpts.shape)
    return kpts.astype(np.float32), boxes


def test_steady_boxes_keep_ids_while_keypoints_jitter():
    tracker = PoseTracker(oks_fn=OKS, smoothing=None)
    rng = np.random.default_rng(1)
    first = None
    for f in range(30):
        kpts, boxes = _people(f, jitter=25.0, rng=rng)   # keypoints all over the box: OKS near 0 frame to frame
        perm = rng.permutation(3)
        ids, _ = tracker.update(kpts[perm], np.ones((3, 17)), boxes[perm], f, f / 30)
        by_person = np.empty(3, np.int64)
        by_person[perm] = ids
        first = by_person if first is None else first
        assert by_person.tolist() == first.tolist() and sorted(first.tolist()) == [0, 1, 2], f


def test_confident_detections_are_matched_first():
    tracker = PoseTracker(oks_fn=None, smoothing=None, high_thr=0.5)
    kpts, boxes = _people(0, n=1)
    tracker.update(kpts, np.ones((1, 17)), boxes, 0, 0.0)
    # two candidates overlap the track; the low-confidence one overlaps more but the confident one wins
    near = boxes + [[1, 0, 1, 0]]
    nearer = boxes.copy()
    ids, _ = tracker.update(np.concatenate([kpts, kpts]), np.ones((2, 17)), np.concatenate([nearer, near]), 1,
                            1 / 30, det_scores=np.array([0.2, 0.9]))
    assert ids.tolist() == [1, 0]


def test_lost_track_is_found_again_within_the_buffer_and_expires_after():
    tracker = PoseTracker(oks_fn=OKS, smoothing=None, max_age=5)
    for f in range(4):
        kpts, boxes = _people(f)
        tracker.update(kpts, np.ones((3, 17)), boxes, f, f / 30)
    for f in range(4, 8):   # person 1 is occluded for 4 frames
        kpts, boxes = _people(f)
        ids, _ = tracker.update(kpts[[0, 2]], np.ones((2, 17)), boxes[[0, 2]], f, f / 30)
        assert ids.tolist() == [0, 2]
    kpts, boxes = _people(8)   # back, 8 px further on: its predicted box still overlaps
    ids, _ = tracker.update(kpts, np.ones((3, 17)), boxes, 8, 8 / 30)
    assert ids.tolist() == [0, 1, 2]
    for f in range(9, 16):
        kpts, boxes = _people(f)
        tracker.update(kpts[:1], np.ones((1, 17)), boxes[:1], f, f / 30)
    kpts, boxes = _people(16)
    ids, _ = tracker.update(kpts, np.ones((3, 17)), boxes, 16, 16 / 30)
    assert ids.tolist() == [0, 3, 4]   # gone longer than max_age: new ids, never reused ones


def test_prior_ids_keep_skip_frame_crops_on_their_track():
    tracker = PoseTracker(oks_fn=OKS, smoothing=None)
    kpts, boxes = _people(0)
    tracker.update(kpts, np.ones((3, 17)), boxes, 0, 0.0)
    # between detector runs a weak pose drifts its box towards the neighbour; the crop still belongs to track 1
    drifted = boxes.copy()
    drifted[1] += [45, 0, 45, 0]
    ids, _ = tracker.update(kpts, np.ones((3, 17)), drifted, 1, 1 / 30, prior_ids=np.array([0, 1, 2]))
    assert ids.tolist() == [0, 1, 2]
    kpts, boxes = _people(3)   # next detector run: the anchor (last detector box) finds person 1 again
    ids, _ = tracker.update(kpts, np.ones((3, 17)), boxes, 3, 3 / 30)
    assert ids.tolist() == [0, 1, 2]


# ------------------------------------------------------------------------------ a rendered clip, end to end
def _rendered_clip(seed: int, frames: int = 30, shift=(1.0, 0.5)):
    """One synthetic scene, moved by ``shift`` pixels per frame (with pixel noise); the people's boxes move with
    it (plus +-1 px detector jitter) and come back in a different order every frame."""
    from kdpose.data.synth import SynthConfig, render_scene

    scene = render_scene(SynthConfig(width=320, height=240, max_people=4), seed=(0, 0, seed))
    boxes = np.stack([p.bbox for p in scene.instances]).astype(np.float32)
    rng = np.random.default_rng(seed)
    for f in range(frames):
        d = np.asarray(shift) * f
        image = cv2.warpAffine(scene.image, np.float32([[1, 0, d[0]], [0, 1, d[1]]]), (320, 240),
                               borderMode=cv2.BORDER_REPLICATE)
        image = np.clip(image.astype(np.int16) + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
        moved = boxes + np.tile(d, 2) + rng.uniform(-1, 1, boxes.shape)
        perm = rng.permutation(len(boxes))
        yield image, moved[perm].astype(np.float32), moved.astype(np.float32)


@pytest.mark.parametrize("seed,det_every,people", [(1, 1, 4), (0, 3, 3)])
def test_rendered_clip_keeps_one_id_per_person(seed, det_every, people):
    from kdpose.inference.estimator import PoseEstimator
    from kdpose.inference.video import VideoPoseEstimator

    est = PoseEstimator("rtmpose-s", weights="rtmpose-s.synth-demo_96x64", threads=1)
    current = {}
    est.detector = lambda image: (current["boxes"], np.full(len(current["boxes"]), 0.9, np.float32))
    video = VideoPoseEstimator(est, det_every=det_every)
    seen, per_person = set(), {}
    for f, (image, det_boxes, gt_boxes) in enumerate(_rendered_clip(seed)):
        current["boxes"] = det_boxes
        res = video.step(image, f)
        seen |= set(res.track_ids.tolist())
        if f % det_every == 0:   # detector frames: every person is there; find each by its box
            assert len(gt_boxes) == people and len(res.track_ids) == people
            overlap = box_iou(gt_boxes, res.bboxes)
            assert (overlap.max(1) > 0.9).all()
            for person, row in enumerate(overlap):
                per_person.setdefault(person, set()).add(int(res.track_ids[row.argmax()]))
    assert {p: len(ids) for p, ids in per_person.items()} == {p: 1 for p in range(people)}
    assert len(seen) == people   # 30 frames, `people` ids (69 and 54 before the fix on these clips)
