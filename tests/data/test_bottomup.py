"""Bottom-up depth dataset: geometry of the paper's augmentations, normalisation, collate, synth integration."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kdpose.codecs.paf import COCO_PAF_LIMBS, PafCodec
from kdpose.data.bottomup import BottomUpDepthDataset, DepthScene, collate_bottomup, sample_affine, scene_from_synth


def toy_scene(n_people=2, seed=0):
    rng = np.random.default_rng(seed)
    depth = np.zeros((120, 160), np.uint16)
    depth[20:100, 30:130] = 2000
    kpts = rng.uniform(35, 95, (n_people, 17, 2)).astype(np.float32)
    kpts[..., 0] += 10
    vis = np.ones((n_people, 17), np.float32)
    # mark each keypoint's pixel with a unique depth value so that the warp can be checked
    for i, p in enumerate(kpts.reshape(-1, 2)):
        depth[int(round(p[1])), int(round(p[0]))] = 3000 + i
    return DepthScene(depth=depth, keypoints=kpts, visible=vis, image_id=7)


def test_eval_letterbox_maps_pixels_and_keypoints_together():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(64, 48))
    item = BottomUpDepthDataset([toy_scene()], codec, train=False)[0]
    assert item.inputs.shape == (1, 48, 64) and item.inputs.dtype == np.float32
    # 160x120 -> 64x48 on pixel centres: x' = 0.4 (x + 0.5) - 0.5
    np.testing.assert_allclose(item.matrix, [[0.4, 0, -0.3], [0, 0.4, -0.3]], atol=1e-5)
    assert item.inputs.min() == pytest.approx(-0.5)  # 0 mm (invalid / padding) -> -0.5
    assert np.isclose(item.inputs, 2.0 / 8 - 0.5).any()  # 2 m -> -0.25
    assert item.target.heatmaps.shape == (18, 6, 8) and item.image_id == 7


def test_training_augmentation_frequencies_and_ranges():
    size, inp = (640, 480), (368, 368)
    rotated = cropped = 0
    n = 400
    for i in range(n):
        m = sample_affine(size, inp, np.random.default_rng(i))
        scale = math.hypot(m[0, 0], m[1, 0])
        angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
        assert abs(angle) <= 20.0 + 1e-4
        rotated += abs(angle) > 1e-6
        if scale == pytest.approx(368 / 480):  # crop at the inference scale
            cropped += 1
        else:
            assert scale == pytest.approx(368 / 640)  # whole image letterboxed
    assert abs(rotated / n - 0.8) < 0.06 and abs(cropped / n - 0.9) < 0.05


def test_training_items_are_deterministic_and_keypoints_follow_pixels():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(96, 96))
    scene = toy_scene()
    yy, xx = np.mgrid[0:120, 0:160]
    scene.depth = (1000 + 10 * xx + 3 * yy).astype(np.uint16)  # a ramp: depth tells where a pixel came from
    ds = BottomUpDepthDataset([scene], codec, train=True, seed=3)
    a, b = ds[0], ds[0]
    np.testing.assert_array_equal(a.inputs, b.inputs)
    ds.set_epoch(1)
    assert not np.array_equal(ds[0].matrix, a.matrix)
    depth_mm = (a.inputs[0] + 0.5) * 8000
    kp_in, kp_img = a.keypoints.reshape(-1, 2), scene.keypoints.reshape(-1, 2)
    inside = np.flatnonzero(a.visible.reshape(-1) > 0)
    assert inside.size > 0
    for i in inside:
        x, y = np.round(kp_in[i]).astype(int)
        expected = 1000 + 10 * kp_img[i, 0] + 3 * kp_img[i, 1]
        assert abs(depth_mm[y, x] - expected) < 10 * 1.5 + 3 * 1.5  # within ~1 source pixel
    outside = a.visible.reshape(-1) == 0
    assert ((kp_in[outside] < 0) | (kp_in[outside] > 95)).any(-1).all()


def test_collate_pads_people():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(64, 48))
    ds = BottomUpDepthDataset([toy_scene(1), toy_scene(3, seed=1)], codec, train=False)
    batch = collate_bottomup([ds[0], ds[1]])
    assert batch.inputs.shape == (2, 1, 48, 64) and batch.keypoints.shape == (2, 3, 17, 2)
    assert batch.visible[0, 1:].sum() == 0 and batch.visible[1].sum() == 51
    assert batch.target.heatmaps.shape == (2, 18, 6, 8) and len(batch) == 2


def test_synthetic_depth_scene_with_and_without_background():
    from kdpose.data.synth import SynthConfig, render_scene

    scene = render_scene(SynthConfig(width=96, height=72, modality="depth", max_people=2, min_people=1), seed=5)
    fused = scene_from_synth(scene, image_id=1)
    clean = scene_from_synth(scene, image_id=1, background=False)
    people = scene.instance_map >= 0
    assert fused.keypoints.shape[1:] == (17, 2) and fused.depth.dtype == np.uint16
    assert (clean.depth[~people & ~np.isfinite(scene.zbuffer)] == 0).all()  # no room behind the people
    assert (fused.depth[~people] > 0).mean() > 0.3  # the fused room fills most of the background
    dropped = scene_from_synth(scene, background=False, dropout_rate=0.2, rng=np.random.default_rng(0))
    lost = (clean.depth[people] > 0).sum() - (dropped.depth[people] > 0).sum()
    assert lost == pytest.approx(0.2 * people.sum(), abs=2)
