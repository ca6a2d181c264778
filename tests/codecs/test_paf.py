"""PAF codec: targets of synthetic stick people decode back to the same people (precision = recall = 1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kdpose.codecs.paf import COCO_PAF_LIMBS, DIH_LIMBS, PafCodec, PafOutput, check_limb_order

# COCO-17 stick figure (x, y) relative to the body centre, about 150 px tall at scale 1
TEMPLATE = np.array([
    [0, -62], [5, -67], [-5, -67], [11, -63], [-11, -63],      # nose, eyes, ears (left = image right)
    [22, -42], [-22, -42], [27, -15], [-27, -15], [29, 12], [-29, 12],  # shoulders, elbows, wrists
    [13, 10], [-13, 10], [14, 45], [-14, 45], [14, 80], [-14, 80],      # hips, knees, ankles
], np.float32)
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def make_people(centres, scales=None, rng=None):
    scales = scales or [1.0] * len(centres)
    kpts = np.stack([TEMPLATE * s + np.asarray(c, np.float32) for c, s in zip(centres, scales)])
    if rng is not None:  # small pose jitter so that people differ
        kpts = kpts + rng.normal(0, 2.0, kpts.shape).astype(np.float32)
    return kpts, np.ones(kpts.shape[:2], np.float32)


def as_output(target) -> PafOutput:
    """A fake 2-stage network output made of the ground-truth maps (B=1)."""
    heat = torch.from_numpy(target.heatmaps)[None, None].repeat(1, 2, 1, 1, 1)
    paf = torch.from_numpy(target.pafs)[None, None].repeat(1, 2, 1, 1, 1)
    return PafOutput(heat, paf)


def match_people(pred, gt, tol):
    """Hungarian-free check: each GT person has exactly one predicted person with every keypoint within tol."""
    assert len(pred) == len(gt)
    used = set()
    for person in gt:
        err = np.linalg.norm(pred - person[None], axis=-1).max(-1)  # (Npred,) worst keypoint error
        best = int(np.argmin(err))
        assert err[best] <= tol, f"worst keypoint error {err[best]:.2f} px"
        assert best not in used
        used.add(best)


SCENES = {
    "single": ([(184, 190)], None),
    "three_apart": ([(80, 170), (184, 200), (290, 180)], [0.9, 1.0, 1.1]),
    # overlapping boxes: 60 px apart horizontally, 40 px vertically; arms interleave
    "close_pair": ([(150, 170), (210, 210)], None),
    "small_and_large": ([(100, 200), (250, 160)], [0.6, 1.3]),
}


@pytest.mark.parametrize("name", sorted(SCENES))
def test_ground_truth_maps_decode_to_the_same_people(name):
    centres, scales = SCENES[name]
    kpts, vis = make_people(centres, scales, rng=np.random.default_rng(1))
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(368, 368))
    people = codec.decode(as_output(codec.encode(kpts, vis)))
    assert len(people) == 1
    res = people[0]
    assert (res.scores > 0.5).all()  # every keypoint of every person found
    match_people(res.keypoints, kpts, tol=3.0)
    # precision and recall 1.0 by the paper's metric at its strictest kappa
    from kdpose.evaluation.pck_pr import pck_precision_recall
    heights = kpts[..., 1].max(1) - kpts[..., 1].min(1)
    pr = pck_precision_recall([res.keypoints], [res.scores], [kpts], [vis], [heights], kappas=[0.05])
    assert pr.precision == pytest.approx(1.0) and pr.recall == pytest.approx(1.0)


def test_target_values_follow_equations():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(64, 48), stride=8, sigma=7.0)
    kpts, vis = make_people([(30, 100)], [0.2])  # scaled-down person, feet at y=116 leave the image
    kpts[0, 5] = [3.5, 11.5]   # left shoulder exactly on cell centre (0, 1)
    kpts[0, 7] = [27.5, 11.5]  # left elbow on cell (3, 1): horizontal limb 1 of length 3 cells
    t = codec.encode(kpts, vis)
    assert t.heatmaps.shape == (18, 6, 8) and t.pafs.shape == (34, 6, 8) and t.weight.shape == (1, 6, 8)
    assert t.heatmaps[5, 1, 0] == pytest.approx(1.0)
    # one cell away: exp(-64 / (2 * 49))
    assert t.heatmaps[5, 1, 1] == pytest.approx(np.exp(-64 / 98), rel=1e-5)
    np.testing.assert_allclose(t.heatmaps[17], 1 - t.heatmaps[:17].max(0), atol=1e-6)
    # limb 6 = (5, 7): unit vector (1, 0) on the cells within 1 cell of the segment, bbox enlarged by 1 cell
    paf_x, paf_y = t.pafs[12], t.pafs[13]
    assert paf_x[1, 0:5].tolist() == [1, 1, 1, 1, 1] and paf_x[0, 2] == 1 and paf_x[2, 2] == 1
    assert paf_x[3, 2] == 0 and paf_x[1, 5] == 0 and np.all(paf_y == 0)
    # ankles lie outside the 48 px high input: no peak and no PAF for them
    assert t.heatmaps[15].max() < 1e-2 and np.all(t.pafs[2 * 12:2 * 12 + 2] == 0)


def test_overlapping_limbs_average_their_vectors():
    codec = PafCodec(2, [(0, 1)], input_size=(80, 80), stride=8)
    kpts = np.array([[[7.5, 35.5], [71.5, 35.5]], [[39.5, 3.5], [39.5, 67.5]]], np.float32)  # -> and down
    t = codec.encode(kpts, np.ones((2, 2)))
    # crossing cell (4, 4): both limbs pass it -> mean of (1, 0) and (0, 1)
    assert t.pafs[0, 4, 4] == pytest.approx(0.5) and t.pafs[1, 4, 4] == pytest.approx(0.5)
    assert t.pafs[0, 4, 1] == pytest.approx(1.0) and t.pafs[1, 1, 4] == pytest.approx(1.0)


def test_unflip_of_mirrored_targets_equals_original_targets():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(368, 368))
    kpts, vis = make_people([(120, 180), (260, 200)], rng=np.random.default_rng(0))
    mirrored = kpts.copy()
    mirrored[..., 0] = 368 - 1 - mirrored[..., 0]
    mirrored = mirrored[:, COCO_FLIP]
    out = codec.unflip(as_output(codec.encode(mirrored, vis)), COCO_FLIP)
    ref = as_output(codec.encode(kpts, vis))
    torch.testing.assert_close(out.heatmaps, ref.heatmaps, atol=1e-5, rtol=0)
    # PAF cells are chosen by thresholds, so a mirrored drawing may differ on a few boundary cells
    agree = (out.pafs - ref.pafs).abs().lt(1e-4).float().mean()
    assert agree > 0.995


def test_redundant_limb_joins_a_person_split_at_a_missing_nose():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(368, 368))
    kpts, vis = make_people([(184, 190)])
    vis[0, 0] = 0  # no nose: the tree falls apart into a left and a right half
    people = codec.decode(as_output(codec.encode(kpts, vis)))[0]
    # the body (5..16) is one person; eye-ear fragments have 2 parts and are pruned (min_parts = 3)
    assert len(people.keypoints) == 1 and (people.scores[0, 5:] > 0.5).all() and (people.scores[0, :5] == 0).all()
    match_people(people.keypoints[:, 5:], kpts[:, 5:], tol=3.0)
    without_bridge = PafCodec(17, COCO_PAF_LIMBS[:-1], input_size=(368, 368))
    assert len(without_bridge.decode(as_output(without_bridge.encode(kpts, vis)))[0].keypoints) == 2


def test_empty_image_and_mask():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(64, 64))
    mask = np.zeros((64, 64), np.float32)
    mask[:, :32] = 1
    t = codec.encode(np.zeros((0, 17, 2)), np.zeros((0, 17)), mask=mask)
    assert t.heatmaps[:17].max() == 0 and t.heatmaps[17].min() == 1 and t.pafs.max() == 0
    assert t.weight[0, :, :4].min() == 1 and t.weight[0, :, 4:].max() == 0
    people = codec.decode(as_output(t))[0]
    assert people.keypoints.shape == (0, 17, 2)


def test_limb_order_is_checked():
    assert not any(check_limb_order(DIH_LIMBS, 17))
    assert check_limb_order(COCO_PAF_LIMBS, 17) == [False] * 16 + [True]  # the shoulder bridge closes a cycle
    with pytest.raises(ValueError, match="not reached"):
        check_limb_order([(0, 1), (2, 3)], 4)
    with pytest.raises(ValueError, match="distinct"):
        PafCodec(3, [(0, 0)])


def test_noisy_maps_decode_with_bounded_candidates():
    codec = PafCodec(17, COCO_PAF_LIMBS, input_size=(96, 96), max_peaks=5)
    gen = torch.Generator().manual_seed(0)
    out = PafOutput(torch.rand(1, 1, 18, 12, 12, generator=gen), torch.randn(1, 1, 34, 12, 12, generator=gen))
    heat = torch.nn.functional.interpolate(out.heatmaps[0, :, :17], scale_factor=8, mode="bicubic")[0]
    peaks = codec.find_peaks(heat, 0.1)
    counts = torch.bincount(peaks[:, 3].long(), minlength=17)
    assert counts.max() <= 5 and counts.sum() > 17  # capped per keypoint type, not empty
    # every kept peak is the strongest within the NMS radius among the kept peaks of its type
    for k in range(17):
        p = peaks[peaks[:, 3] == k]
        d = (p[:, None, :2] - p[None, :, :2]).norm(dim=-1) + torch.eye(len(p)) * 1e9
        assert (d > codec.nms_radius).all()
    people = codec.decode(out)[0]
    assert people.keypoints.shape[1:] == (17, 2) and np.isfinite(people.keypoints).all()
