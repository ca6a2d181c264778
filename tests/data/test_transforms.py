import numpy as np
import pytest

from kdpose.data import transforms as T
from kdpose.data.geometry import invert_affine, transform_points
from kdpose.skeletons import get_skeleton

SK = get_skeleton("coco")


def person_state(rng, depth=False, w=160, h=120):
    kpts = np.stack([rng.uniform(50, 110, 17), rng.uniform(20, 100, 17)], -1).astype(np.float32)
    if depth:
        img = np.full((h, w), 2000, np.uint16)
    else:
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return T.TopDownState(image=img, bbox=np.array([45, 15, 115, 105], np.float32), keypoints=kpts,
                          visible=np.ones(17, np.float32))


def run(pipeline, seed, depth=False):
    state = person_state(np.random.default_rng(123), depth=depth)
    return pipeline(state, np.random.default_rng(seed))


def test_truncated_normal_bounds_and_variance():
    v = T.truncated_normal(np.random.default_rng(0), 200_000)
    assert v.min() >= -1 and v.max() <= 1
    assert abs(v.mean()) < 0.01
    assert abs(v.var() - 0.2911) < 0.005  # variance of N(0,1) truncated to [-1, 1]


def test_pipeline_is_deterministic_for_a_seed():
    p = T.build_train_pipeline(SK, (48, 64))
    a, b, c = run(p, 7), run(p, 7), run(p, 8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert a.image.shape == (64, 48, 3)
    assert not (np.array_equal(a.keypoints, c.keypoints) and np.array_equal(a.image, c.image))


def test_keypoints_follow_the_image_content_through_flip_and_rotation():
    """Draw a bright dot at every keypoint, run the geometric part of the strong pipeline many times: the crop
    must be bright where the transformed keypoints are."""
    geometric = T.Compose(T.build_train_pipeline(SK, (96, 128)).stages["strong"].transforms[:5])
    rng = np.random.default_rng(0)
    flips = 0
    for seed in range(20):
        img = np.zeros((200, 200, 3), np.uint8)
        kpts = np.stack([rng.uniform(60, 140, 17), rng.uniform(40, 160, 17)], -1).astype(np.float32)
        xi, yi = np.round(kpts).astype(int).T
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                img[yi + dy, xi + dx] = 255
        kpts = np.round(kpts)
        state = T.TopDownState(image=img, bbox=np.array([50, 30, 150, 170], np.float32), keypoints=kpts.copy(),
                               visible=np.ones(17, np.float32))
        out = geometric(state, np.random.default_rng(seed))
        flips += out.flipped
        inside = (out.keypoints >= 1).all(1) & (out.keypoints[:, 0] < 95) & (out.keypoints[:, 1] < 127)
        px = np.round(out.keypoints[inside]).astype(int)
        assert (out.image[px[:, 1], px[:, 0]] > 100).all()
        # the recorded matrix maps source-image keypoints (flip applied through flip_indices) to the crop
        src = kpts[list(SK.flip_indices)] if out.flipped else kpts
        np.testing.assert_allclose(transform_points(src, out.matrix), out.keypoints, atol=1e-3)
        np.testing.assert_allclose(transform_points(out.keypoints, invert_affine(out.matrix)), src, atol=1e-3)
    assert 0 < flips < 20


def test_flip_swaps_left_and_right():
    state = person_state(np.random.default_rng(0))
    orig = state.keypoints.copy()
    out = T.RandomFlip(SK.flip_indices, prob=1.0)(state, np.random.default_rng(0))
    assert out.flipped
    np.testing.assert_allclose(out.keypoints[5], [159 - orig[6, 0], orig[6, 1]])
    twice = T.RandomFlip(SK.flip_indices, prob=1.0)(out, np.random.default_rng(0))
    np.testing.assert_allclose(twice.keypoints, orig)
    assert not twice.flipped


def test_half_body_picks_upper_or_lower_extent():
    hb = T.RandomHalfBody(SK.upper_ids, SK.lower_ids, prob=1.0, upper_prioritized_prob=1.0)
    state = person_state(np.random.default_rng(0))
    out = hb(state, np.random.default_rng(0))
    up = state.keypoints[list(SK.upper_ids)]
    np.testing.assert_allclose(out.center, up.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out.scale, (up.max(0) - up.min(0)) * 1.5, rtol=1e-5)
    few = person_state(np.random.default_rng(0))
    few.visible[:] = 0
    few.visible[:8] = 1  # fewer than 9 labelled: unchanged
    few.center[:] = 7
    assert (hb(few, np.random.default_rng(0)).center == 7).all()


def test_bbox_transform_ranges():
    t = T.RandomBBoxTransform(shift_factor=0.16, shift_prob=1.0, scale_factor=(0.6, 1.4), rotate_factor=80,
                              rotate_prob=1.0)
    rng = np.random.default_rng(0)
    ratios, rots, shifts = [], [], []
    for _ in range(300):
        s = T.TopDownState(np.zeros((4, 4, 3), np.uint8), np.zeros(4), np.zeros((17, 2)), np.ones(17),
                           center=np.array([50.0, 50.0]), scale=np.array([100.0, 100.0]))
        out = t(s, rng)
        ratios.append(out.scale[0] / 100)
        rots.append(out.rotation)
        shifts.append(np.abs(out.center - 50).max() / 100)
    assert 0.6 <= min(ratios) and max(ratios) <= 1.4 and max(np.abs(rots)) <= 80 and max(shifts) <= 0.16
    assert max(ratios) > 1.3 and min(ratios) < 0.7


def test_photometric_skipped_for_depth_and_pipeline_runs_on_depth():
    state = person_state(np.random.default_rng(0), depth=True)
    state.image = state.image[:64, :48].copy()
    before = state.image.copy()
    for t in (T.YOLOXHSVRandomAug(), T.RandomBlur(prob=1.0), T.RandomMedianBlur(prob=1.0)):
        state = t(state, np.random.default_rng(1))
    np.testing.assert_array_equal(state.image, before)
    out = run(T.build_train_pipeline(SK, (48, 64)), 3, depth=True)
    assert out.image.dtype == np.uint16 and out.image.shape == (64, 48)


def test_a_rotated_depth_crop_holds_only_measured_depths():
    """Top-down depth crops were bilinear: a rotated crop of a wall, a person and a sensor hole held hundreds of
    depths that exist nowhere in the source (flying pixels, holes smeared into near surfaces)."""
    depth = np.full((120, 160), 6000, np.uint16)
    depth[30:100, 60:100] = 2500  # a person in front of the wall
    depth[40:60, 20:40] = 0  # no reading
    state = T.TopDownState(depth, np.array([20.0, 20.0, 140.0, 110.0]), np.zeros((17, 2)), np.ones(17),
                           center=np.array([80.0, 65.0]), scale=np.array([150.0, 120.0]), rotation=17.0)
    out = T.TopdownAffine((48, 64))(state, np.random.default_rng(0))
    assert set(np.unique(out.image).tolist()) == {0, 2500, 6000}


def test_hsv_changes_colour_and_dropout_makes_a_hole():
    img = np.random.default_rng(0).integers(30, 220, (64, 48, 3), dtype=np.uint8)
    n_changed = 0
    for i in range(8):
        st = T.TopDownState(img.copy(), np.zeros(4), np.zeros((17, 2)), np.ones(17))
        n_changed += not np.array_equal(T.YOLOXHSVRandomAug()(st, np.random.default_rng(i)).image, img)
    assert n_changed >= 4
    st = T.CoarseDropout(prob=1.0)(T.TopDownState(img.copy(), np.zeros(4), np.zeros((17, 2)), np.ones(17)),
                                   np.random.default_rng(0))
    hole = (st.image == 0).all(-1)
    frac = hole.sum() / hole.size
    assert 0.2 * 0.2 * 0.9 <= frac <= 0.4 * 0.4 * 1.1
    ys, xs = np.nonzero(hole)
    assert hole[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].all()  # one rectangle


def test_staged_pipeline_switch():
    p = T.build_train_pipeline(SK, (48, 64))
    assert p.stage == "strong"
    p.set_stage("weak")
    assert p.stages["weak"].transforms[3].shift_factor == 0.0
    assert p.stages["weak"].transforms[3].scale_factor == (0.75, 1.25)
    assert p.stages["weak"].transforms[-1].prob == 0.5
    p.set_stage(1)
    assert p.stage == "strong"
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        p.set_stage("medium")
    wide = T.build_train_pipeline(get_skeleton("wholebody"), (288, 384), recipe="rtmpose-wide")
    assert wide.stages["weak"].transforms[3].rotate_factor == 90


def test_val_pipeline_is_plain_crop():
    out = run(T.build_val_pipeline((48, 64)), 0)
    assert out.rotation == 0 and not out.flipped
    np.testing.assert_allclose(out.center, [80, 60])
    np.testing.assert_allclose(out.scale, [87.5, 87.5 * 64 / 48], rtol=1e-5)


def test_hsv_lut_equals_the_int16_formula():
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (32, 24, 3), dtype=np.uint8)
    for seed in range(10):
        out = T.YOLOXHSVRandomAug()(T.TopDownState(img.copy(), np.zeros(4), np.zeros((17, 2)), np.ones(17)),
                                    np.random.default_rng(seed)).image
        r = np.random.default_rng(seed)
        g = (r.uniform(-1, 1, 3) * np.array([5, 30, 30]) * r.integers(0, 2, 3)).astype(np.int16)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + g[0]) % 180
        hsv[..., 1:] = np.clip(hsv[..., 1:] + g[1:], 0, 255)
        np.testing.assert_array_equal(out, cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR))


def test_mmpose_topdown_recipe_is_one_stage_without_photometric_transforms():
    p = T.build_train_pipeline(SK, (48, 64), recipe="mmpose-topdown")
    assert p.stages["strong"] is p.stages["weak"]
    kinds = [type(t) for t in p.stages["strong"].transforms]
    assert kinds == [T.GetBBoxCenterScale, T.FixAspectRatio, T.RandomShiftBBoxCenter, T.RandomFlip,
                     T.RandomHalfBodyV0, T.RandomScaleRotation, T.TopdownAffine]
    scale_rot = p.stages["strong"].transforms[5]
    assert (scale_rot.scale_factor, scale_rot.rotate_factor, scale_rot.rotate_prob) == (0.35, 45.0, 0.6)
    img = run(T.build_train_pipeline(SK, (48, 64), recipe="mmpose-topdown"), 5)
    assert img.image.shape == (64, 48, 3)
    a, b = run(p, 11), run(p, 11)
    np.testing.assert_array_equal(a.image, b.image)


def test_mmpose_topdown_keypoints_follow_the_image_content():
    geometric = T.build_train_pipeline(SK, (96, 128), recipe="mmpose-topdown").stages["strong"]
    rng = np.random.default_rng(1)
    for seed in range(10):
        img = np.zeros((200, 200, 3), np.uint8)
        kpts = np.round(np.stack([rng.uniform(60, 140, 17), rng.uniform(40, 160, 17)], -1)).astype(np.float32)
        xi, yi = kpts.astype(int).T
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                img[yi + dy, xi + dx] = 255
        state = T.TopDownState(image=img, bbox=np.array([50, 30, 150, 170], np.float32), keypoints=kpts.copy(),
                               visible=np.ones(17, np.float32))
        out = geometric(state, np.random.default_rng(seed))
        inside = (out.keypoints >= 1).all(1) & (out.keypoints[:, 0] < 95) & (out.keypoints[:, 1] < 127)
        px = np.round(out.keypoints[inside]).astype(int)
        assert (out.image[px[:, 1], px[:, 0]] > 100).all()


def test_mmpose0_scale_rotation_ranges():
    t = T.RandomScaleRotation(scale_factor=0.35, rotate_factor=45, rotate_prob=0.6)
    rng = np.random.default_rng(0)
    ratios, rots = [], []
    for _ in range(2000):
        s = T.TopDownState(np.zeros((4, 4, 3), np.uint8), np.zeros(4), np.zeros((17, 2)), np.ones(17),
                           center=np.array([50.0, 50.0]), scale=np.array([100.0, 100.0]))
        out = t(s, rng)
        ratios.append(out.scale[0] / 100)
        rots.append(out.rotation)
    ratios, rots = np.array(ratios), np.array(rots)
    assert ratios.min() >= 0.65 - 1e-6 and ratios.max() <= 1.35 + 1e-6
    # N(1, 0.35) clipped to [0.65, 1.35] = at +-1 sigma: 15.9 % of the draws sit on each bound
    assert abs((ratios == np.float32(1.35)).mean() - 0.159) < 0.025
    assert abs((ratios == np.float32(0.65)).mean() - 0.159) < 0.025
    assert np.abs(rots).max() <= 90 and np.abs(rots).max() > 60
    assert abs((rots != 0).mean() - 0.6) < 0.05


def test_mmpose0_shift_is_uniform_and_half_body_prefers_upper():
    shift = T.RandomShiftBBoxCenter(shift_factor=0.16, prob=1.0)
    rng = np.random.default_rng(0)
    moves = []
    for _ in range(2000):
        s = T.TopDownState(np.zeros((4, 4, 3), np.uint8), np.zeros(4), np.zeros((17, 2)), np.ones(17),
                           center=np.array([50.0, 50.0]), scale=np.array([100.0, 200.0]))
        moves.append((shift(s, rng).center - 50) / np.array([100.0, 200.0]))
    moves = np.abs(np.array(moves))
    assert moves.max() <= 0.16 + 1e-6 and abs(moves.mean() - 0.08) < 0.005   # U(-1, 1) * 0.16: mean |.| 0.08
    hb = T.RandomHalfBodyV0(SK.upper_ids, (48, 64), prob=1.0)
    upper = 0
    for seed in range(1000):
        state = person_state(np.random.default_rng(0))
        out = hb(state, np.random.default_rng(seed))
        np.testing.assert_allclose(out.scale[0] / out.scale[1], 48 / 64, rtol=1e-5)
        upper += np.allclose(out.center, state.keypoints[list(SK.upper_ids)].mean(0), rtol=1e-5)
    assert abs(upper / 1000 - 0.691) < 0.04  # P(N(0, 1) < 0.5)
    few = person_state(np.random.default_rng(0))
    few.visible[:] = 0
    few.visible[:8] = 1  # 8 labelled: not more than 8, unchanged
    few.center[:] = 7
    assert (hb(few, np.random.default_rng(0)).center == 7).all()
