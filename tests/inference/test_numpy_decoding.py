"""The numpy decoders of the ONNX path equal the torch codecs (kdpose.codecs) on the same outputs: keypoints,
scores, flip-back and flip averaging, for every codec family and option; rtmlib's score rule is the mean."""
import numpy as np
import pytest
import torch

from kdpose.codecs import HeatmapCodec, HeatmapOutput, RegressionCodec, SimCCCodec, SimCCOutput
from kdpose.codecs.regression import RegressionOutput
from kdpose.errors import ConfigError
from kdpose.inference.decoding import decoder_from_params, flip_average
from kdpose.inference.flip import flip_test
from kdpose.skeletons import get_skeleton

FLIP = get_skeleton("coco").flip_indices
RNG = np.random.default_rng(0)


def _peaky(shape, rng=RNG) -> np.ndarray:
    """Smooth maps with one clear peak per row/map (what trained heads output), plus a few all-negative rows."""
    out = rng.normal(0, 0.05, shape).astype(np.float32)
    *lead, last = shape
    grid = np.arange(last, dtype=np.float32)
    centres = rng.uniform(2, last - 3, lead).astype(np.float32)[..., None]
    out += np.exp(-((grid - centres) ** 2) / 18.0) * rng.uniform(0.3, 1.2, lead).astype(np.float32)[..., None]
    out[0, :2] -= 5.0   # invalid keypoints (score <= 0)
    return out


def _heatmaps(b, k, h, w) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = RNG.uniform(0, w - 1, (b, k, 1, 1)), RNG.uniform(0, h - 1, (b, k, 1, 1))
    maps = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 8.0) * RNG.uniform(0.2, 1.0, (b, k, 1, 1))
    maps = (maps + RNG.normal(0, 0.01, maps.shape)).astype(np.float32)
    maps[0, 0] = -0.1   # an invalid peak
    maps[0, 1, 0, 0] = 5.0   # a peak on the border
    return maps


CASES = {
    "simcc": (SimCCCodec((48, 64)), lambda: (_peaky((3, 17, 96)), _peaky((3, 17, 128))), SimCCOutput),
    "simcc-dark": (SimCCCodec((48, 64), use_dark=True), lambda: (_peaky((3, 17, 96)), _peaky((3, 17, 128))),
                   SimCCOutput),
    "heatmap-dark": (HeatmapCodec((48, 64), encoding="unbiased", decoding="dark"),
                     lambda: (_heatmaps(3, 17, 16, 12),), HeatmapOutput),
    "heatmap-udp-dark": (HeatmapCodec((48, 64), encoding="udp", decoding="dark", blur_kernel=5),
                         lambda: (_heatmaps(3, 17, 16, 12),), HeatmapOutput),
    "heatmap-argmax": (HeatmapCodec((48, 64), encoding="msra", decoding="argmax"),
                       lambda: (_heatmaps(3, 17, 16, 12),), HeatmapOutput),
    "regression": (RegressionCodec((48, 64)), lambda: (RNG.uniform(0, 1, (3, 17, 2)).astype(np.float32),
                                                       RNG.normal(0, 1, (3, 17)).astype(np.float32),
                                                       RNG.uniform(0.5, 2, (3, 17, 2)).astype(np.float32)),
                   RegressionOutput),
    "regression-noconf": (RegressionCodec((48, 64), use_confidence=False, flip_shift=False),
                          lambda: (RNG.uniform(0, 1, (3, 17, 2)).astype(np.float32),
                                   RNG.normal(0, 1, (3, 17)).astype(np.float32),
                                   RNG.uniform(0.5, 2, (3, 17, 2)).astype(np.float32)), RegressionOutput),
}


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_decode_equals_torch_decode(name):
    codec, make, out_type = CASES[name]
    outputs = make()
    decoder = decoder_from_params(codec.params(), codec.input_size)
    kpts_t, scores_t = codec.decode(out_type(*(torch.from_numpy(o) for o in outputs)))
    kpts_n, scores_n = decoder.decode(outputs)
    assert kpts_n.dtype == np.float32 and kpts_n.shape == tuple(kpts_t.shape)
    np.testing.assert_allclose(kpts_n, kpts_t.numpy(), atol=2e-4, rtol=0)
    np.testing.assert_array_equal(scores_n, scores_t.numpy())
    # flip-back equals the codec's unflip, and the numpy flip test equals kdpose.inference.flip.flip_test
    back_t = codec.unflip(out_type(*(torch.from_numpy(o) for o in outputs)), FLIP)
    for a, b in zip(decoder.unflip(outputs, FLIP), back_t):
        np.testing.assert_array_equal(np.asarray(a), b.numpy())
    mirrored = make()   # what the "network" returns for the mirrored half of the batch
    both = tuple(np.concatenate([o, m], 0) for o, m in zip(outputs, mirrored))
    inputs = np.zeros((3, 3, 8, 8), np.float32)
    avg_n = flip_average(lambda x: both, inputs, decoder, FLIP)
    avg_t = flip_test(lambda x: out_type(*(torch.from_numpy(o) for o in both)), torch.from_numpy(inputs), codec, FLIP)
    for a, b in zip(avg_n, avg_t):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-7)


def test_rtmlib_scores_are_the_mean_of_the_two_maxima():
    x = np.full((1, 2, 8), -1.0, np.float32)
    y = np.full((1, 2, 10), -1.0, np.float32)
    x[0, 0, 3], y[0, 0, 7] = 0.9, 0.5      # min 0.5, mean 0.7
    x[0, 1, 2], y[0, 1, 4] = 0.6, -0.2     # min -0.2 (invalid for MMPose), mean 0.2 (valid for rtmlib)
    params = SimCCCodec((4, 5)).params()
    k_mm, s_mm = decoder_from_params(params, (4, 5)).decode((x, y))
    k_rt, s_rt = decoder_from_params(params, (4, 5), score_mode="rtmlib").decode((x, y))
    np.testing.assert_allclose(s_mm[0], [0.5, -0.2])
    np.testing.assert_allclose(s_rt[0], [0.7, 0.2])
    np.testing.assert_allclose(k_mm[0], [[1.5, 3.5], [-0.5, -0.5]])
    np.testing.assert_allclose(k_rt[0], [[1.5, 3.5], [1.0, 2.0]])


def test_score_mode_is_checked():
    with pytest.raises(ConfigError, match="score_mode must be one of mmpose, rtmlib"):
        decoder_from_params(SimCCCodec((4, 5)).params(), (4, 5), score_mode="mean")
    with pytest.raises(ConfigError, match="codec is 'heatmap'"):
        decoder_from_params(HeatmapCodec((48, 64)).params(), (48, 64), score_mode="rtmlib")
