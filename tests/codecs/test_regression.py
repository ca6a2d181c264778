"""Regression codec: exact encode/decode, back-projection to the image, flip-back, instance score."""
from __future__ import annotations

import numpy as np
import torch

from kdpose.codecs.regression import RegressionCodec, RegressionOutput, instance_score


def test_encode_normalises_and_filters_outside():
    codec = RegressionCodec((192, 256))
    kpts = np.array([[96.0, 128.0], [200.0, 10.0], [5.0, 5.0]], np.float32)
    t = codec.encode(kpts, np.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(t.keypoints[0], [0.5, 0.5])
    np.testing.assert_array_equal(t.weight, [1.0, 0.0, 0.0])


def test_decode_back_projects_exactly():
    from kdpose.data.geometry import get_warp_matrix, invert_crop_points, transform_points

    rng = np.random.default_rng(0)
    codec = RegressionCodec((192, 256))
    center, scale = np.array([400.0, 300.0]), np.array([300.0, 400.0])  # crop size in image pixels
    image_kpts = rng.uniform([260, 110], [540, 490], size=(17, 2))
    warp = get_warp_matrix(center, scale, 0.0, (192, 256))
    crop_kpts = transform_points(image_kpts, warp)
    t = codec.encode(crop_kpts, np.ones(17))
    out = RegressionOutput(torch.from_numpy(t.keypoints).double()[None], torch.ones(1, 17), torch.ones(1, 17, 2))
    decoded, scores = codec.decode(out)
    np.testing.assert_allclose(decoded[0].numpy(), crop_kpts, atol=1e-4)  # float32 normalised target
    back = invert_crop_points(decoded.numpy(), center[None], scale[None], codec.input_size)
    np.testing.assert_allclose(back[0], image_kpts, atol=1e-3)
    assert scores.shape == (1, 17)


def test_unflip_is_pixel_exact_and_swaps_everything():
    codec = RegressionCodec((192, 256))
    x = 57.0
    mirrored_x = 191.0 - x  # pixel x maps to w - 1 - x in the flipped image
    coords = torch.tensor([[[mirrored_x / 192, 0.3], [0.9, 0.4]]])
    out = RegressionOutput(coords, torch.tensor([[0.1, 0.9]]), torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
    back = codec.unflip(out, [1, 0])
    assert abs(back.coords[0, 1, 0].item() * 192 - x) < 1e-4
    torch.testing.assert_close(back.scores, torch.tensor([[0.9, 0.1]]))
    assert back.sigma[0, 0].tolist() == [3.0, 4.0]
    unshifted = RegressionCodec((192, 256), flip_shift=False).unflip(out, [1, 0])
    assert abs(unshifted.coords[0, 1, 0].item() - (1 - mirrored_x / 192)) < 1e-6


def test_scores_without_confidence_are_one():
    codec = RegressionCodec((192, 256), use_confidence=False)
    out = RegressionOutput(torch.rand(2, 3, 2), torch.randn(2, 3), torch.ones(2, 3, 2))
    _, scores = codec.decode(out)
    assert torch.equal(scores, torch.ones(2, 3))


def test_instance_score_eq3_and_evaluator_rule():
    s = np.array([[0.9, 0.1, 0.5, 0.7]])
    np.testing.assert_allclose(instance_score(np.array([0.8]), s), [0.8 * 0.55])
    np.testing.assert_allclose(instance_score(np.array([0.8]), s, vis_thr=0.2), [0.8 * 0.7])
    np.testing.assert_allclose(instance_score(np.array([0.8]), np.zeros((1, 4)), vis_thr=0.2), [0.0])
