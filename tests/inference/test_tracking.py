import numpy as np

from kdpose.inference.smoothing import OneEuroParams
from kdpose.inference.tracking import PoseTracker, box_iou, boxes_from_keypoints


def synthetic_clip(frames=30, people=3, k=17, seed=0):
    """People as clouds of K dots moving on straight lines (some crossing paths horizontally)."""
    rng = np.random.default_rng(seed)
    start = rng.uniform([50, 50], [500, 350], (people, 2))
    velocity = rng.uniform(-6, 6, (people, 2))
    shape = rng.uniform(-40, 40, (people, k, 2))
    clip = []
    for f in range(frames):
        centers = start + velocity * f
        kpts = centers[:, None, :] + shape + rng.normal(0, 1.0, (people, k, 2))
        clip.append(kpts.astype(np.float32))
    return clip


def boxes_of(kpts):
    return np.concatenate([kpts.min(1), kpts.max(1)], 1)


def test_box_iou_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 8]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0, 0.0]])


def test_ids_survive_shuffled_order_through_a_clip():
    clip = synthetic_clip()
    tracker = PoseTracker(oks_fn=None, match_thr=0.3, smoothing=None)
    rng = np.random.default_rng(3)
    first_ids = None
    for f, kpts in enumerate(clip):
        perm = rng.permutation(len(kpts))  # detectors return people in any order
        ids, _ = tracker.update(kpts[perm], np.ones(kpts.shape[:2]), boxes_of(kpts[perm]), f, f / 30)
        by_person = np.empty_like(ids)
        by_person[perm] = ids
        if first_ids is None:
            first_ids = by_person
            assert sorted(first_ids.tolist()) == [0, 1, 2]
        np.testing.assert_array_equal(by_person, first_ids)


def test_new_person_gets_new_id_and_lost_track_expires():
    clip = synthetic_clip(frames=20, people=2)
    tracker = PoseTracker(oks_fn=None, max_age=2, smoothing=None)
    for f in range(5):
        ids, _ = tracker.update(clip[f], np.ones((2, 17)), boxes_of(clip[f]), f, f / 30)
    assert ids.tolist() == [0, 1]
    # person 1 leaves; a stranger far away enters
    stranger = clip[5][1:] + 2000
    both = np.concatenate([clip[5][:1], stranger])
    ids, _ = tracker.update(both, np.ones((2, 17)), boxes_of(both), 5, 5 / 30)
    assert ids.tolist() == [0, 2]
    for f in range(6, 10):
        tracker.update(clip[f][:1], np.ones((1, 17)), boxes_of(clip[f][:1]), f, f / 30)
    assert sorted(t.track_id for t in tracker.tracks) == [0]  # tracks 1 and 2 aged out, never reused


def test_smoothing_is_applied_per_track():
    clip = synthetic_clip(frames=15, people=2)
    noisy = PoseTracker(oks_fn=None, smoothing=None)
    smooth = PoseTracker(oks_fn=None, smoothing=OneEuroParams(min_cutoff=0.5, beta=0.0))
    raw, filt = [], []
    for f, kpts in enumerate(clip):
        raw.append(noisy.update(kpts, np.ones((2, 17)), boxes_of(kpts), f, f / 30)[1])
        filt.append(smooth.update(kpts, np.ones((2, 17)), boxes_of(kpts), f, f / 30)[1])
    np.testing.assert_array_equal(raw[0], clip[0])
    np.testing.assert_allclose(filt[0], clip[0], atol=1e-4)  # first frame passes through
    jitter = lambda seq: np.abs(np.diff(np.diff(np.stack(seq), axis=0), axis=0)).mean()  # noqa: E731
    assert jitter(filt) < 0.5 * jitter(raw)


def test_boxes_from_keypoints_expands_filters_and_clips():
    kpts = np.array([[[10, 20], [30, 60], [500, 500]], [[0, 0], [1, 1], [2, 2]]], np.float32)
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.9]])
    boxes, kept = boxes_from_keypoints(kpts, scores, score_thr=0.3, expand=1.5, image_size=(100, 100))
    assert kept.tolist() == [0]  # person 1 has one confident point only
    np.testing.assert_allclose(boxes[0], [5, 10, 35, 70])
    boxes, _ = boxes_from_keypoints(kpts[:1] * 3, scores[:1], expand=1.0, image_size=(50, 50))
    assert boxes.shape == (0, 4)  # clipped to a degenerate box (below the image), so dropped


def test_oks_tracking_survives_boxes_that_change_source():
    from kdpose.inference.tracking import make_oks_fn
    from kdpose.skeletons import get_skeleton

    clip = synthetic_clip(frames=10, people=3, seed=4)
    tracker = PoseTracker(oks_fn=make_oks_fn(get_skeleton("coco").sigmas_array), smoothing=None)
    ids0 = None
    for f, kpts in enumerate(clip):
        ids, _ = tracker.update(kpts, np.ones(kpts.shape[:2]), boxes_of(kpts), f, f / 30)
        ids0 = ids if ids0 is None else ids0
        np.testing.assert_array_equal(ids, ids0)
    sim = tracker.similarity(clip[-1], boxes_of(clip[-1]))
    assert np.allclose(np.diag(sim), 1.0, atol=1e-6) and (sim[~np.eye(3, dtype=bool)] < 0.1).all()
