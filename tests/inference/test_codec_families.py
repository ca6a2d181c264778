"""Every codec family of the zoo (SimCC, heatmap, regression) goes through both backends, flip test included."""
import warnings

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from kdpose.inference.estimator import PoseEstimator  # noqa: E402


def test_codecs_are_rebuilt_from_their_metadata():
    from kdpose.codecs import SimCCCodec
    from kdpose.codecs.heatmap import HeatmapCodec, HeatmapOutput
    from kdpose.codecs.regression import RegressionCodec, RegressionOutput
    from kdpose.errors import ConfigError
    from kdpose.inference.backends import codec_from_metadata

    for codec, out_type in [(SimCCCodec((48, 64), split_ratio=3.0), "SimCCOutput"),
                            (HeatmapCodec((48, 64)), HeatmapOutput), (RegressionCodec((48, 64)), RegressionOutput)]:
        rebuilt, output = codec_from_metadata(codec.params(), (48, 64))
        assert type(rebuilt) is type(codec) and rebuilt.params() == codec.params()
        assert output is out_type or output.__name__ == out_type
    with pytest.raises(ConfigError, match="cannot be decoded"):
        codec_from_metadata({"type": "paf"}, (48, 64))


@pytest.mark.parametrize("name", ["sdpose-mini-t"])  # a heatmap model (regression checked the same way by hand)
def test_torch_and_onnx_agree_for_other_codecs(name, tmp_path):
    from kdpose.export.onnx import export_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # random weights
        est = PoseEstimator(name, input_size=(48, 64), nms_thr=None)
    path = export_onnx(est.backend.model, tmp_path / f"{name}.onnx")
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 70, 115], [80, 10, 150, 118]], np.float32)
    for flip in (False, True):
        est.flip_test = flip
        ref = est.predict_arrays(image, bboxes=boxes)
        got = PoseEstimator(str(path), nms_thr=None, flip_test=flip).predict_arrays(image, bboxes=boxes)
        # scores (maxima) agree exactly; locations too, except where a random model's flat output has two
        # near-equal maxima and float rounding picks the other one
        np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4)
        same = np.abs(got.keypoints - ref.keypoints).max(-1) < 1e-2
        assert same.mean() >= 0.9, same.mean()
