"""SimCC codec: MMPose label values, weights, round trip, decode rules, DARK refinement and un-flipping."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kdpose.codecs import SimCCCodec, SimCCOutput, SimCCTarget, default_sigma
from kdpose.data.sample import stack_dataclasses


def _as_output(target: SimCCTarget) -> SimCCOutput:
    return SimCCOutput(torch.from_numpy(target.x_labels)[None], torch.from_numpy(target.y_labels)[None])


@pytest.mark.parametrize("size,sigma", [((192, 256), (4.9, 5.66)), ((288, 384), (6.0, 6.93)),
                                        ((256, 256), (5.66, 5.66))])
def test_default_sigma_matches_rtmpose_configs(size, sigma):
    assert default_sigma(size) == sigma
    assert SimCCCodec(size).sigma == sigma


def test_encode_gaussian_values_and_shapes():
    codec = SimCCCodec((192, 256))
    t = codec.encode(np.array([[10.3, 20.7]], np.float32), np.array([1.0]))
    assert t.x_labels.shape == (1, 384) and t.y_labels.shape == (1, 512) and t.weights.shape == (1,)
    assert t.x_labels.dtype == np.float32
    # mu = round(2 * kpt): 20.6 -> 21, 41.4 -> 41; peak 1, not normalised, not truncated
    assert t.x_labels[0].argmax() == 21 and t.y_labels[0].argmax() == 41
    assert t.x_labels[0, 21] == pytest.approx(1.0)
    assert t.x_labels[0, 25] == pytest.approx(np.exp(-16 / (2 * 4.9 ** 2)), rel=1e-6)
    assert t.x_labels[0, 60] > 0  # not truncated at 3 sigma


def test_encode_weights_follow_visibility_and_bounds():
    codec = SimCCCodec((192, 256))
    kpts = np.array([[50, 50], [50, 50], [-30, 50], [50, 300], [50, 50]], np.float32)
    vis = np.array([1.0, 0.0, 1.0, 1.0, 0.3], np.float32)
    t = codec.encode(kpts, vis)
    # labelled inside; unlabelled; far left; far below; v < 0.5 keeps its weight but gets no label (MMPose)
    np.testing.assert_allclose(t.weights, [1.0, 0.0, 0.0, 0.0, 0.3])
    assert t.x_labels[0].max() == 1.0
    assert np.all(t.x_labels[1:] == 0) and np.all(t.y_labels[1:] == 0)


def test_slightly_outside_keypoints_keep_a_truncated_label():
    # within 3 sigma of the border the label is kept (its peak is outside the bins)
    t = SimCCCodec((192, 256)).encode(np.array([[-2.0, 10.0]], np.float32), np.array([1.0]))
    assert t.weights[0] == 1.0 and t.x_labels[0, 0] == pytest.approx(np.exp(-16 / (2 * 4.9 ** 2)), rel=1e-6)


def test_round_trip_within_one_bin():
    rng = np.random.default_rng(0)
    codec = SimCCCodec((192, 256))
    kpts = rng.uniform([0, 0], [191.7, 255.7], size=(50, 2)).astype(np.float32)
    t = codec.encode(kpts, np.ones(50, np.float32))
    decoded, scores = codec.decode(_as_output(t))
    err = np.abs(decoded[0].numpy() - kpts)
    assert err.max() <= 1.0 / codec.split_ratio  # rounding to the nearest bin: <= 0.25 px
    assert err.max() <= 0.25 + 1e-6
    np.testing.assert_allclose(scores.numpy(), 1.0)


def test_round_trip_batched_through_collation():
    codec = SimCCCodec((64, 48))
    rng = np.random.default_rng(1)
    kpts = rng.uniform(0, 47, size=(3, 5, 2)).astype(np.float32)
    batch = stack_dataclasses([codec.encode(k, np.ones(5, np.float32)) for k in kpts])
    assert batch.x_labels.shape == (3, 5, 128) and batch.weights.shape == (3, 5)
    decoded, _ = codec.decode(SimCCOutput(batch.x_labels, batch.y_labels))
    assert np.abs(decoded.numpy() - kpts).max() <= 0.25 + 1e-6


def test_decode_score_is_min_of_maxima_and_invalid_is_minus_half():
    codec = SimCCCodec((4, 3))  # 8 x bins, 6 y bins
    x = torch.full((1, 2, 8), -1.0)
    y = torch.full((1, 2, 6), -1.0)
    x[0, 0, 5], y[0, 0, 2] = 0.9, 0.4      # keypoint 0: bins (5, 2), score min(0.9, 0.4)
    x[0, 1, 3], y[0, 1, 1] = 0.7, -0.2     # keypoint 1: score -0.2 <= 0 -> invalid
    kpts, scores = codec.decode(SimCCOutput(x, y))
    np.testing.assert_allclose(scores.numpy(), [[0.4, -0.2]], rtol=1e-6)
    np.testing.assert_allclose(kpts[0, 0].numpy(), [2.5, 1.0])
    # MMPose's get_simcc_maximum marks the bin as -1, SimCCLabel.decode then divides by the split ratio (2)
    np.testing.assert_allclose(kpts[0, 1].numpy(), [-0.5, -0.5])
    kpts3, _ = SimCCCodec((4, 3), split_ratio=3.0).decode(SimCCOutput(torch.full((1, 1, 12), -1.0),
                                                                     torch.full((1, 1, 9), -1.0)))
    np.testing.assert_allclose(kpts3[0, 0].numpy(), [-1 / 3, -1 / 3], rtol=1e-6)


def test_dark_refines_sub_bin_peaks():
    codec = SimCCCodec((192, 256), use_dark=True)
    bins = torch.arange(384, dtype=torch.float32)
    centers = torch.tensor([100.3, 200.7, 50.5])
    x = torch.exp(-(bins[None] - centers[:, None]) ** 2 / (2 * 4.9 ** 2))[None]  # (1, 3, 384)
    y = torch.exp(-(torch.arange(512.0)[None] - 300.0) ** 2 / (2 * 5.66 ** 2)).expand(3, 512)[None]
    kpts, _ = codec.decode(SimCCOutput(x, y))
    plain, _ = SimCCCodec((192, 256)).decode(SimCCOutput(x, y))
    dark_err = (kpts[0, :, 0] * 2 - centers).abs()
    plain_err = (plain[0, :, 0] * 2 - centers).abs()
    assert dark_err.max() < 0.1 and plain_err.max() >= 0.3
    assert torch.allclose(kpts[0, :, 1], torch.tensor(150.0), atol=0.05)


def test_unflip_swaps_channels_and_reverses_x_bins():
    codec = SimCCCodec((4, 3))
    x = torch.arange(2 * 3 * 8, dtype=torch.float32).view(2, 3, 8)
    y = torch.arange(2 * 3 * 6, dtype=torch.float32).view(2, 3, 6)
    flip = [0, 2, 1]
    out = codec.unflip(SimCCOutput(x, y), flip)
    assert torch.equal(out.x[:, 1], x[:, 2].flip(-1)) and torch.equal(out.x[:, 0], x[:, 0].flip(-1))
    assert torch.equal(out.y[:, 1], y[:, 2]) and torch.equal(out.y[:, 2], y[:, 1])
    twice = codec.unflip(out, flip)
    assert torch.equal(twice.x, x) and torch.equal(twice.y, y)


def test_unflip_of_mirrored_keypoints_decodes_to_original():
    # a keypoint at bin b in the flipped image sits at bin Wx-1-b in the original (x' = w - 0.5 - x in pixels)
    codec = SimCCCodec((32, 32))
    kpts = np.array([[5.0, 7.0], [20.0, 9.0]], np.float32)
    mirrored = np.stack([32 - 0.5 - kpts[::-1, 0], kpts[::-1, 1]], axis=1)  # left/right swapped too
    t = codec.encode(mirrored, np.ones(2, np.float32))
    back, _ = codec.decode(codec.unflip(_as_output(t), [1, 0]))
    np.testing.assert_allclose(back[0].numpy(), kpts, atol=0.25)
