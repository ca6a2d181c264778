"""The depth paper's augmentations: background fusion with the margin check and 20 % silhouette dropout."""
from __future__ import annotations

import numpy as np

from kdpose.data.synth import fuse_background, silhouette_dropout, simulate_sensor


def _person():
    depth = np.zeros((40, 50), np.float32)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 20:30] = True
    depth[mask] = 2000.0
    return depth, mask


def test_fusion_pushes_the_background_behind_the_person_by_the_margin():
    person, mask = _person()
    background = np.full((40, 50), 2100, np.uint16)  # only 100 mm behind
    background[0, 0] = 0  # a sensor hole
    fused = fuse_background(person, mask, background, margin_mm=300)
    assert fused.dtype == np.uint16
    assert np.all(fused[mask] == 2000)
    assert fused[0, 0] == 0  # holes stay holes
    assert np.all(fused[~mask & (background > 0)] == 2300)  # shifted by 200 mm: 300 mm margin now


def test_fusion_leaves_a_far_enough_background_unchanged():
    person, mask = _person()
    background = np.full((40, 50), 4000, np.uint16)
    fused = fuse_background(person, mask, background, margin_mm=300)
    assert np.all(fused[~mask] == 4000) and np.all(fused[mask] == 2000)


def test_silhouette_dropout_drops_exactly_the_rate():
    person, mask = _person()
    depth = np.where(mask, 2000, 3000).astype(np.uint16)
    out = silhouette_dropout(depth, mask, np.random.default_rng(0), rate=0.2)
    dropped = (out == 0)
    assert dropped.sum() == round(0.2 * mask.sum()) and not dropped[~mask].any()
    assert np.array_equal(out[~dropped], depth[~dropped]) and depth.min() > 0  # input untouched
    band = silhouette_dropout(depth, mask, np.random.default_rng(0), rate=0.5, band_px=2)
    inner = np.zeros_like(mask)
    inner[13:27, 23:27] = True  # farther than 2 px from the border
    assert (band == 0).sum() > 0 and not (band[inner] == 0).any()


def test_sensor_noise_grows_with_depth_and_holes_appear_at_edges():
    rng = np.random.default_rng(0)
    near = simulate_sensor(np.full((64, 64), 1.0, np.float32), rng, noise=0.5).astype(float)
    far = simulate_sensor(np.full((64, 64), 6.0, np.float32), rng, noise=0.5).astype(float)
    assert near[near > 0].std() < far[far > 0].std()
    assert abs(np.median(near[near > 0]) - 1000) < 5 and abs(np.median(far[far > 0]) - 6000) < 30
    step = np.full((64, 64), 4.0, np.float32)
    step[:, :32] = 1.5
    sensed = simulate_sensor(step, np.random.default_rng(1), noise=0.0)
    assert (sensed[:, 30:34] == 0).mean() > 0.3 and (sensed[:, 5:25] == 0).mean() < 0.05
    assert (simulate_sensor(np.full((8, 8), 9.0, np.float32), rng) == 0).all()  # beyond the 8 m range


def test_refusing_a_scene_onto_a_synthetic_background():
    from kdpose.data.synth import SynthConfig, render_scene, synthetic_background

    rng = np.random.default_rng(3)
    background = synthetic_background(rng, 96, 72)
    assert background.dtype == np.uint16 and background.shape == (72, 96) and (background > 0).mean() > 0.3
    scene = render_scene(SynthConfig(width=96, height=72, modality="depth", distance_range=(1.5, 4.0)), (0, 0, 2))
    z = scene.zbuffer
    layer = np.isfinite(z)
    fused = fuse_background(np.where(layer, z * 1000, 0), layer, background, margin_mm=200)
    assert np.array_equal(fused[layer], np.round(z[layer] * 1000).astype(np.uint16))
    support = layer & (background > 0)
    behind = fused[~layer].astype(int)
    assert (behind[background[~layer] > 0] >= background[~layer][background[~layer] > 0]).all()
    if support.any():  # the background now lies at least the margin behind the people wherever it is valid
        shift = int(fused[~layer & (background > 0)][0]) - int(background[~layer & (background > 0)][0])
        assert (background[support].astype(int) + shift - np.round(z[support] * 1000)).min() >= 199
