"""PersonDetector as users and the pose pipeline see it: batches, named detectors, weights files, bad images,
``kdpose infer --det FILE.onnx``."""
import json

import numpy as np
import pytest
import torch

import kdpose
from kdpose.detection import PersonDetector
from kdpose.models.person_detector import PersonDetectorModel
from kdpose.errors import CheckpointError, DataError
from kdpose.inference.detectors import DETECTORS, resolve_detector
from kdpose.data.image import read_image

from .conftest import constant_graph


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return PersonDetectorModel("nano", (64, 64)).eval()


def test_public_name_and_batch_equals_single_calls(tiny_model):
    assert kdpose.PersonDetector is PersonDetector
    det = PersonDetector(tiny_model, score_thr=0.0, max_det=10)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48 + 16 * i, 80, 3), dtype=np.uint8) for i in range(3)]
    batch = det(images)
    assert len(batch) == 3
    for image, (boxes, scores) in zip(images, batch):
        single_boxes, single_scores = det(image)
        assert boxes.shape == (10, 4) and boxes.dtype == np.float32 and scores.shape == (10,)
        np.testing.assert_allclose(boxes, single_boxes, atol=1e-3)
        np.testing.assert_allclose(scores, single_scores, atol=1e-5)
        assert (np.diff(scores) <= 0).all()  # best first
        assert (boxes[:, 2] <= image.shape[1]).all() and (boxes[:, 3] <= image.shape[0]).all()  # clipped
    assert det([]) == []


def test_weights_file_round_trip_and_named_detectors(tmp_path, tiny_model, monkeypatch):
    from kdpose.models import save_weights

    path = save_weights(tiny_model, tmp_path / "det.safetensors")
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    a = PersonDetector(str(path), score_thr=0.0)(image)
    b = PersonDetector(tiny_model, score_thr=0.0)(image)
    np.testing.assert_allclose(a[0], b[0], atol=1e-4)
    assert PersonDetector(str(path)).input_size == (64, 64)  # the input size comes from the file's metadata
    assert {"kdpose-det-nano", "kdpose-det-tiny"} <= set(DETECTORS.names())
    monkeypatch.setenv("KDPOSE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CheckpointError, match="no trained weights for 'kdpose-det-tiny'"):
        resolve_detector("kdpose-det-tiny")
    named = PersonDetector("kdpose-det-nano", weights=path, input_size=(64, 64), score_thr=0.0)
    np.testing.assert_allclose(named(image)[0][:3], a[0][:3], atol=1e-4)
    assert isinstance(resolve_detector(str(path)), PersonDetector)


def test_bad_images_get_the_pose_pipelines_errors(tmp_path, tiny_model):
    det = PersonDetector(tiny_model)
    missing = tmp_path / "missing.jpg"
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    truncated = tmp_path / "cut.jpg"
    import cv2

    ok, buf = cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))
    truncated.write_bytes(buf.tobytes()[:-40])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for path in (missing, corrupt, truncated, empty):
        with pytest.raises(DataError) as pose_error:
            read_image(path)  # what PoseEstimator raises for the same file
        with pytest.raises(DataError) as det_error:
            det(str(path))
        assert str(det_error.value) == str(pose_error.value) and str(path) in str(det_error.value)
    with pytest.raises(DataError, match="expected an HxW, HxWx3 or HxWx4 image"):
        det(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(DataError, match="unsupported image dtype"):
        det(np.zeros((8, 8, 3), np.int32))
    with pytest.raises(DataError, match="pass a list of images"):
        det(np.zeros((2, 8, 8, 3), np.uint8))
    # a batch with a bad item: the error names it
    with pytest.raises(DataError, match="missing.jpg"):
        det([np.zeros((8, 8, 3), np.uint8), str(missing)])


def test_cli_infer_uses_an_official_detector_onnx(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    from kdpose.cli.main import main

    # an RTMDet-style end2end file at input 64x64; the 256x128 image has letterbox ratio 0.25
    dets = np.array([[[4, 4, 20, 28, 0.9], [36, 2, 56, 30, 0.8], [0, 0, 3, 3, 0.1]]], np.float32)
    det_path = constant_graph(tmp_path / "rtmdet-person.onnx", {"dets": dets, "labels": np.zeros((1, 3), np.int64)})
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), np.random.default_rng(0).integers(0, 255, (128, 256, 3), dtype=np.uint8))
    # rtmpose-t with random weights: the poses do not matter here, the boxes that reach the pose stage do
    code = main(["infer", str(image_path), "--model", "rtmpose-t", "--det", det_path, "--json",
                 "--out", str(tmp_path / "out"), "--bbox-thr", "0.3"])
    assert code == 0, capsys.readouterr().err
    records = json.loads((tmp_path / "out" / "predictions.json").read_text())  # one file per job
    boxes = sorted(r["bbox"] for r in records)
    assert boxes == [[16, 16, 64, 96], [144, 8, 80, 112]]  # xywh in image pixels = dets / 0.25
    assert sorted(r["bbox_score"] for r in records) == [0.8, 0.9]
