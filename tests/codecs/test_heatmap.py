"""Heatmap codec: encoding formulas, round trips, DARK sub-pixel accuracy, flip-back."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kdpose.codecs.heatmap import HeatmapCodec, HeatmapOutput, argmax_2d, gaussian_blur, refine_dark


def _gaussian_map(w: int, h: int, cx: float, cy: float, sigma: float) -> torch.Tensor:
    xs = torch.arange(w, dtype=torch.float64)
    ys = torch.arange(h, dtype=torch.float64)
    return torch.exp(-((xs[None] - cx) ** 2 + (ys[:, None] - cy) ** 2) / (2 * sigma ** 2))


def test_unbiased_encoding_is_subpixel_gaussian():
    codec = HeatmapCodec((192, 256), sigma=2.0, encoding="unbiased")
    kpts = np.array([[50.0, 70.0], [10.0, 10.0]], np.float32)
    t = codec.encode(kpts, np.array([1.0, 0.0]))
    assert t.heatmaps.shape == (2, 64, 48) and t.heatmaps.dtype == np.float32
    np.testing.assert_array_equal(t.weight, [1.0, 0.0])
    expected = _gaussian_map(48, 64, 12.5, 17.5, 2.0).numpy()
    np.testing.assert_allclose(t.heatmaps[0], expected, atol=1e-6)
    assert np.all(t.heatmaps[1] == 0)


def test_msra_encoding_rounds_centre_and_cuts_window():
    codec = HeatmapCodec((192, 256), sigma=2.0, encoding="msra")
    t = codec.encode(np.array([[50.0, 70.0]]), np.array([1.0]))
    hm = t.heatmaps[0]
    # centre int(12.5 + 0.5) = 13, int(17.5 + 0.5) = 18; value 1 there, 0 beyond 3 sigma
    assert hm[18, 13] == pytest.approx(1.0)
    assert hm[18, 13 + 6] == pytest.approx(np.exp(-36 / 8), rel=1e-5)
    assert hm[18, 13 + 7] == 0.0 and hm[18 + 7, 13] == 0.0


def test_keypoint_far_outside_gets_zero_weight():
    codec = HeatmapCodec((192, 256), encoding="msra")
    t = codec.encode(np.array([[-100.0, 20.0], [191.0, 255.0]]), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(t.weight, [0.0, 1.0])


@pytest.mark.parametrize("encoding,decoding,tol", [("unbiased", "dark", 0.2), ("udp", "dark", 0.2),
                                                    ("msra", "argmax", 2.5)])
def test_round_trip(encoding, decoding, tol):
    rng = np.random.default_rng(0)
    codec = HeatmapCodec((192, 256), encoding=encoding, decoding=decoding)
    kpts = rng.uniform([24, 24], [168, 232], size=(17, 2)).astype(np.float32)
    t = codec.encode(kpts, np.ones(17))
    decoded, scores = codec.decode(HeatmapOutput(torch.from_numpy(t.heatmaps)[None]))
    err = (decoded[0].numpy() - kpts)
    assert np.abs(err).max() < tol
    assert scores.shape == (1, 17) and float(scores.min()) > 0.8


def _border_errors(encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """Round-trip error (input px) of 2000 keypoints over the whole 192x256 crop, and their distance (heatmap px)
    to the nearest map border."""
    rng = np.random.default_rng(3)
    codec = HeatmapCodec((192, 256), encoding=encoding, decoding="dark")
    kpts = rng.uniform([0, 0], [191, 255], size=(2000, 2)).astype(np.float32)
    decoded, _ = codec.decode(HeatmapOutput(torch.from_numpy(codec.encode(kpts, np.ones(2000)).heatmaps)[None]))
    sx, sy = codec.stride
    dist = np.minimum.reduce([kpts[:, 0] / sx, kpts[:, 1] / sy, (191 - kpts[:, 0]) / sx, (255 - kpts[:, 1]) / sy])
    return np.abs(decoded[0].numpy() - kpts).max(1), dist


def test_dark_stays_accurate_near_the_border():
    # MMPose blurs the zero-padded map and refines only peaks with 1 < x < W - 2, 1 < y < H - 2; a mirrored
    # (reflect-padded) blur made a second peak there and put wrists / ankles near the crop edge up to 5.8 px off
    err, dist = _border_errors("unbiased")
    for lo, hi, mean, worst in [(0, 1, 1.5, 3.0), (1, 3, 1.2, 2.0), (3, 4, 0.25, 0.7), (4, 99, 0.03, 0.2)]:
        band = err[(dist >= lo) & (dist < hi)]
        assert band.size > 20 and band.mean() < mean and band.max() <= worst, (lo, hi, band.mean(), band.max())
    err, dist = _border_errors("udp")     # UDP's DARK refines every peak, as MMPose's refine_keypoints_dark_udp
    for lo, hi, mean in [(1, 2, 1.6), (2, 3, 0.6), (3, 99, 0.1)]:
        assert err[(dist >= lo) & (dist < hi)].mean() < mean


@pytest.mark.parametrize("peak_x,moved", [(0, False), (1, False), (2, True), (45, True), (46, False), (47, False)])
def test_dark_skips_peaks_at_the_border_like_mmpose(peak_x, moved):
    hm = _gaussian_map(48, 64, peak_x + 0.3, 30.2, 2.0).float()[None, None]
    coords, _ = argmax_2d(hm)
    assert coords[0, 0].tolist() == [float(peak_x), 30.0]
    refined = refine_dark(hm, coords, blur_kernel=11)[0, 0]
    if moved:   # the Newton step is taken (in y it lands on the true centre)
        assert refined[0].item() != peak_x and abs(refined[1].item() - 30.2) < 0.05
    else:       # left at the arg-max
        assert refined.tolist() == [float(peak_x), 30.0]


def test_quarter_offset_follows_mmpose_border_rule():
    from kdpose.codecs.heatmap import refine_quarter_offset

    hm = torch.zeros(1, 4, 8, 8)
    for k, (x, y) in enumerate([(1, 4), (2, 4), (4, 0), (6, 4)]):
        hm[0, k, y, x], hm[0, k, y, x + 1] = 1.0, 0.5     # the higher neighbour is on the right
    coords, _ = argmax_2d(hm)
    out = refine_quarter_offset(hm, coords)[0]
    # x moves only when 1 < x < W - 1 and the peak is below row 0 (MMPose refine_keypoints)
    assert out[:, 0].tolist() == [1.0, 2.25, 4.0, 6.25]


def test_msra_targets_round_towards_zero_like_mmpose():
    codec = HeatmapCodec((192, 256), sigma=2.0, encoding="msra")
    # x = -3 px is -0.75 heatmap px: int(-0.75 + 0.5) = 0, so the peak of 1 is on column 0
    t = codec.encode(np.array([[-3.0, 70.0]]), np.array([1.0]))
    assert t.heatmaps[0, 18, 0] == pytest.approx(1.0)
    # the window [int(mu + .5) - 6, int(mu + .5) + 7) must reach column 0 or beyond: -32.5 px keeps, -34.5 drops
    t = codec.encode(np.array([[-32.5, 70.0], [-34.5, 70.0], [-28.4, 70.0]]), np.ones(3))
    np.testing.assert_array_equal(t.weight, [1.0, 0.0, 1.0])
    # unbiased targets test the window around the exact centre: -28.4 px = -7.1 heatmap px, right edge -0.1
    unbiased = HeatmapCodec((192, 256), sigma=2.0, encoding="unbiased")
    np.testing.assert_array_equal(unbiased.encode(np.array([[-28.4, 70.0], [-27.6, 70.0]]), np.ones(2)).weight,
                                  [0.0, 1.0])


def test_dark_recovers_subpixel_peak():
    hm = _gaussian_map(48, 64, 20.37, 31.71, 2.0).float()[None, None]
    coords, score = argmax_2d(hm)
    assert coords[0, 0].tolist() == [20.0, 32.0]
    refined = refine_dark(hm, coords, blur_kernel=11)[0, 0]
    assert abs(refined[0].item() - 20.37) < 0.05
    assert abs(refined[1].item() - 31.71) < 0.05


@pytest.mark.parametrize("kernel", [5, 11])
def test_gaussian_blur_matches_opencv_on_the_zero_padded_map(kernel):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    hm = rng.random((64, 48)).astype(np.float32)
    r = kernel // 2
    padded = np.zeros((64 + 2 * r, 48 + 2 * r), np.float32)
    padded[r:-r, r:-r] = hm
    ref = cv2.GaussianBlur(padded, (kernel, kernel), 0)[r:-r, r:-r]
    ref = ref * hm.max() / ref.max()
    ours = gaussian_blur(torch.from_numpy(hm)[None, None], kernel)[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_unflip_swaps_mirrors_and_shifts():
    codec = HeatmapCodec((16, 16), heatmap_size=(4, 4), encoding="msra")
    hm = torch.arange(2 * 16, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = codec.unflip(HeatmapOutput(hm), flip_indices=[1, 0]).heatmaps
    mirrored = hm[:, [1, 0]].flip(-1)
    torch.testing.assert_close(out[..., 1:], mirrored[..., :-1])
    torch.testing.assert_close(out[..., 0], mirrored[..., 0])
    # UDP: no shift, unflip twice is the identity
    udp = HeatmapCodec((16, 16), heatmap_size=(4, 4), encoding="udp")
    twice = udp.unflip(udp.unflip(HeatmapOutput(hm), [1, 0]), [1, 0]).heatmaps
    torch.testing.assert_close(twice, hm)


def test_udp_flip_is_pixel_exact():
    # a keypoint at x and its mirror at (w - 1 - x) decode to mirrored positions after unflip
    codec = HeatmapCodec((192, 256), encoding="udp", decoding="dark")
    kpt = np.array([[57.3, 101.6]], np.float32)
    mirrored = np.array([[191 - 57.3, 101.6]], np.float32)
    hm_flipped = torch.from_numpy(codec.encode(mirrored, np.ones(1)).heatmaps)[None]
    back = codec.unflip(HeatmapOutput(hm_flipped), [0])
    decoded, _ = codec.decode(back)
    np.testing.assert_allclose(decoded[0].numpy(), kpt, atol=0.15)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="encoding"):
        HeatmapCodec(encoding="gauss")
    with pytest.raises(ValueError, match="odd"):
        HeatmapCodec(blur_kernel=4)


def test_flip_test_with_an_equivariant_model_recovers_the_peak():
    """kdpose.inference.flip.flip_test + HeatmapCodec.unflip: a 'model' whose heatmaps are its (mirrored) input
    must give back the un-mirrored map; with MMPose's shift the peak moves by at most one pixel."""
    from kdpose.inference.flip import flip_test

    hm = torch.from_numpy(HeatmapCodec((48, 64), heatmap_size=(48, 64), encoding="unbiased")
                          .encode(np.array([[20.0, 30.0], [27.0, 30.0]]), np.ones(2)).heatmaps)[None]
    udp = HeatmapCodec((48, 64), heatmap_size=(48, 64), encoding="udp")
    out = flip_test(HeatmapOutput, hm, udp, flip_indices=[0, 1])
    torch.testing.assert_close(out.heatmaps, hm)
    msra = HeatmapCodec((48, 64), heatmap_size=(48, 64), encoding="msra", decoding="argmax")
    shifted = flip_test(HeatmapOutput, hm, msra, flip_indices=[0, 1])
    expected = 0.5 * (hm + torch.cat([hm[..., :1], hm[..., :-1]], -1))
    torch.testing.assert_close(shifted.heatmaps, expected)
