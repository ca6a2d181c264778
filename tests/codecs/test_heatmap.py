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
    # DARK's blur reflects at the map border, which biases peaks within ~4 heatmap px of it (as in MMPose)
    kpts = rng.uniform([24, 24], [168, 232], size=(17, 2)).astype(np.float32)
    t = codec.encode(kpts, np.ones(17))
    decoded, scores = codec.decode(HeatmapOutput(torch.from_numpy(t.heatmaps)[None]))
    err = (decoded[0].numpy() - kpts)
    assert np.abs(err).max() < tol
    assert scores.shape == (1, 17) and float(scores.min()) > 0.8


def test_dark_recovers_subpixel_peak():
    hm = _gaussian_map(48, 64, 20.37, 31.71, 2.0).float()[None, None]
    coords, score = argmax_2d(hm)
    assert coords[0, 0].tolist() == [20.0, 32.0]
    refined = refine_dark(hm, coords, blur_kernel=11)[0, 0]
    assert abs(refined[0].item() - 20.37) < 0.05
    assert abs(refined[1].item() - 31.71) < 0.05


def test_gaussian_blur_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    hm = rng.random((64, 48)).astype(np.float32)
    ref = cv2.GaussianBlur(hm, (11, 11), 0)
    ref = ref * hm.max() / ref.max()
    ours = gaussian_blur(torch.from_numpy(hm)[None, None], 11)[0, 0].numpy()
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
