"""The official RTMDet / YOLOX ONNX layouts, decoded from hand-built graphs that output fixed tensors."""
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from kdpose.detection import PersonDetector  # noqa: E402
from kdpose.detection.letterbox import boxes_to_image, letterbox, prepare_batch  # noqa: E402
from kdpose.detection.postprocess import PostprocessCfg, decode_dets, decode_yolox_raw  # noqa: E402
from kdpose.detection.runners import RTMDET_BGR_MEAN, RTMDET_BGR_STD, family_preprocess  # noqa: E402

from .conftest import constant_graph  # noqa: E402


def test_end2end_dets_labels_layout(tmp_path):
    # input 64x64; the image is 128 wide x 64 high -> letterbox ratio 0.5, boxes map back x2
    dets = np.array([[[10, 4, 30, 30, 0.9], [12, 5, 31, 31, 0.2], [40, 10, 60, 25, 0.8], [0, 0, 5, 5, 0.95],
                      [0, 0, 0, 0, 0.0]]], np.float32)
    labels = np.array([[0, 0, 0, 2, -1]], np.int64)  # row 3 is not a person, row 4 padding
    path = constant_graph(tmp_path / "rtmdet-nano.onnx", {"dets": dets, "labels": labels})
    det = PersonDetector(path, score_thr=0.3)
    assert det.backend.layout == "end2end" and det.backend.family == "rtmdet"
    image = np.zeros((64, 128, 3), np.uint8)
    boxes, scores = det(image)
    np.testing.assert_allclose(boxes, [[20, 8, 60, 60], [80, 20, 120, 50]])
    np.testing.assert_allclose(scores, [0.9, 0.8])
    # the file name selects YOLOX pre-processing for end2end files
    yolox = PersonDetector(constant_graph(tmp_path / "yolox_s_person.onnx", {"dets": dets, "labels": labels}))
    assert yolox.backend.family == "yolox"


def test_raw_yolox_grid_layout(tmp_path):
    # input 64x64 -> levels 8x8 (stride 8), 4x4 (16), 2x2 (32): A = 84 cells; C = 2 classes
    raw = np.zeros((1, 84, 7), np.float32)
    cell = 64 + 2 * 4 + 1  # stride-16 level starts at 64; row 2, column 1
    raw[0, cell] = [0.5, 0.25, np.log(2.0), np.log(3.0), 0.9, 0.8, 0.1]       # centre (24, 36), size 32 x 48
    raw[0, cell + 1] = [-0.6, 0.25, np.log(2.0), np.log(3.0), 0.9, 0.7, 0.0]   # a near-duplicate: suppressed
    raw[0, 5] = [0.0, 0.0, 0.0, 0.0, 0.95, 0.1, 0.9]                          # another class: dropped
    last = 64 + 16 + 3                                                          # stride 32, row 1, column 1
    raw[0, last] = [0.5, 0.5, 0.0, 0.0, 0.6, 0.9, 0.0]                           # centre (48, 48), 32 x 32
    path = constant_graph(tmp_path / "anything.onnx", {"output": raw})
    det = PersonDetector(path, score_thr=0.3, iou_thr=0.5)
    assert det.backend.layout == "yolox_raw" and det.backend.family == "yolox"
    boxes, scores = det(np.zeros((64, 64, 3), np.uint8))
    np.testing.assert_allclose(boxes, [[8, 12, 40, 60], [32, 32, 64, 64]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.72, 0.54], rtol=1e-5)


def test_decoders_on_arrays_directly():
    out = decode_dets(np.array([[1, 2, 3, 4, 0.5]], np.float32), None, score_thr=0.3)
    assert out[0][0].tolist() == [[1, 2, 3, 4]] and out[0][1].tolist() == [0.5]
    with pytest.raises(ValueError, match="B, N, 5"):
        decode_dets(np.zeros((1, 3, 4), np.float32), None, 0.3)
    with pytest.raises(ValueError, match="raw YOLOX output"):
        decode_yolox_raw(np.zeros((1, 10, 6), np.float32), (64, 64), PostprocessCfg())


def test_family_preprocessing_conventions():
    image = np.zeros((32, 64, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 20, 30  # BGR
    x, ratios = prepare_batch([image], family_preprocess("yolox", (64, 64)))
    assert ratios.tolist() == [1.0] and x.shape == (1, 3, 64, 64)
    assert x[0, :, 0, 0].tolist() == [10, 20, 30] and x[0, :, 40, 0].tolist() == [114, 114, 114]  # BGR, raw, pad
    x, _ = prepare_batch([image], family_preprocess("rtmdet", (64, 64)))
    expected = (np.array([10, 20, 30]) - np.array(RTMDET_BGR_MEAN)) / np.array(RTMDET_BGR_STD)
    np.testing.assert_allclose(x[0, :, 0, 0], expected, rtol=1e-5)


def test_letterbox_is_top_left_and_inverts():
    image = np.full((100, 200, 3), 50, np.uint8)
    canvas, ratio = letterbox(image, (64, 64))
    assert ratio == pytest.approx(0.32) and canvas.shape == (64, 64, 3)
    assert (canvas[:32] == 50).all() and (canvas[32:] == 114).all()
    back = boxes_to_image(np.array([[3.2, 6.4, 32, 40]]), ratio, (200, 100))
    np.testing.assert_allclose(back, [[10, 20, 100, 100]], rtol=1e-5)  # clipped to the image height


def test_builtin_export_runs_like_pytorch(tmp_path):
    import torch

    from kdpose.models.person_detector import PersonDetectorModel
    from kdpose.export import check_parity, export_onnx, read_metadata

    torch.manual_seed(0)
    model = PersonDetectorModel("nano", (64, 64)).eval()
    path = export_onnx(model, tmp_path / "det.onnx")
    meta = read_metadata(path)
    assert meta.output_type == "DetOutput" and meta.codec["strides"] == [8, 16, 32] and meta.model == "kdpose-det-nano"
    assert check_parity(model, path).ok
    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    a = PersonDetector(str(path), score_thr=0.0, max_det=20)(image)
    b = PersonDetector(model, score_thr=0.0, max_det=20)(image)
    assert a[0].shape == (20, 4)
    np.testing.assert_allclose(a[0], b[0], atol=1e-3)
    np.testing.assert_allclose(a[1], b[1], atol=1e-5)
