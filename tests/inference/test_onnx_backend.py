import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from kdpose.errors import ConfigError  # noqa: E402
from kdpose.inference.estimator import PoseEstimator  # noqa: E402

from .conftest import INPUT_SIZE, make_tiny_model, synthetic_scene  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from kdpose.export.onnx import export_onnx

    d = tmp_path_factory.mktemp("onnx")
    tiny = make_tiny_model()
    export_onnx(tiny, d / "tiny.onnx")
    # an "official" RTMPose-style file: no kdpose metadata, fixed batch 1, input 'input', outputs simcc_x/y
    w, h = INPUT_SIZE

    class Flat(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            out = self.m(x)
            return out.x, out.y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Flat(tiny), (torch.zeros(1, 3, h, w),), str(d / "official.onnx"), dynamo=False,
                          input_names=["input"], output_names=["simcc_x", "simcc_y"], opset_version=17)
    return tiny, d


def test_onnx_and_torch_backends_agree_with_and_without_flip(exported):
    tiny, d = exported
    image, _, boxes = synthetic_scene(people=4, seed=5)
    image = image + np.random.default_rng(1).integers(0, 50, image.shape, dtype=np.uint8)
    for flip in (False, True):
        ref = PoseEstimator(tiny, nms_thr=None, flip_test=flip).predict_arrays(image, bboxes=boxes)
        ort = PoseEstimator(str(d / "tiny.onnx"), nms_thr=None, flip_test=flip).predict_arrays(image, bboxes=boxes)
        np.testing.assert_allclose(ort.scores, ref.scores, atol=1e-4)
        np.testing.assert_allclose(ort.keypoints, ref.keypoints, atol=1e-3)


def test_official_style_file_needs_a_layout_and_runs_batch_one(exported):
    tiny, d = exported
    with pytest.raises(ConfigError, match="layout"):
        PoseEstimator(str(d / "official.onnx"))
    est = PoseEstimator(str(d / "official.onnx"), layout="coco", nms_thr=None)
    assert est.input_size == INPUT_SIZE and est.skeleton.name == "coco"
    image, _, boxes = synthetic_scene(people=3, seed=6)
    ref = PoseEstimator(tiny, nms_thr=None).predict_arrays(image, bboxes=boxes)
    got = est.predict_arrays(image, bboxes=boxes)  # 3 crops through a batch-1 file
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-3)
    with pytest.raises(ConfigError, match="17 keypoints"):
        PoseEstimator(str(d / "official.onnx"), layout="coco_wholebody")


def test_oracle_through_onnx_finds_the_dots(oracle_onnx):
    image, gt, boxes = synthetic_scene(people=2, seed=7)
    res = PoseEstimator(oracle_onnx, nms_thr=None).predict_arrays(image, bboxes=boxes)
    order = np.argsort(res.bboxes[:, 0])
    assert np.median(np.linalg.norm(res.keypoints[order] - gt, axis=-1)) < 5


def test_cuda_request_without_gpu_warns_loudly():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.warns(RuntimeWarning, match="cuda"):
        est = PoseEstimator(make_tiny_model(), device="cuda")
    assert est.device == "cpu"


def test_input_size_reaches_the_onnx_runner(oracle_onnx):
    """PoseEstimator(file.onnx, input_size=...) was ignored (the file's size was used, silently); it now reaches the
    runner, which needs it for foreign files with a symbolic size and checks it against a file that states one."""
    from kdpose.errors import ConfigError

    size = PoseEstimator(oracle_onnx).input_size
    assert PoseEstimator(oracle_onnx, input_size=size).input_size == size
    with pytest.raises(ConfigError, match=r"oracle.onnx: input size 11x22 was given but the file was exported for"):
        PoseEstimator(oracle_onnx, input_size=(11, 22))


def test_a_kdpose_file_refuses_another_layout(exported):
    # the file names its layout; a 17-point layout with other flip pairs would pass the keypoint-count check and
    # swap the wrong points under --flip (up to 91 px on the shipped teacher)
    _, d = exported
    with pytest.raises(ConfigError, match="for layout 'coco', not 'dih'"):
        PoseEstimator(str(d / "tiny.onnx"), layout="dih")
    assert PoseEstimator(str(d / "tiny.onnx"), layout="coco").skeleton.name == "coco"
