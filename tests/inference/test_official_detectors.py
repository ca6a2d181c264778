"""``--det TAG``: official RTMDet / YOLOX person detectors by tag, fetched once into the cache and checked against their
sha256. Nothing is downloaded from the network here: a local zip stands in for the published archive."""
import hashlib
import re
import zipfile

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from kdpose.cli.main import main  # noqa: E402
from kdpose.errors import CheckpointError  # noqa: E402
from kdpose.inference.detectors import OFFICIAL_DETECTORS, OfficialDetector, resolve_detector  # noqa: E402

from ..detection.conftest import constant_graph  # noqa: E402

DETS = np.array([[[10, 4, 30, 30, 0.9], [40, 10, 60, 25, 0.2]]], np.float32)  # (x1, y1, x2, y2, score), input px


def test_the_registry_names_published_files_with_digests():
    assert {"yolox-m.humanart", "yolox-tiny.humanart", "rtmdet-nano.person"} <= set(OFFICIAL_DETECTORS)
    for tag, spec in OFFICIAL_DETECTORS.items():
        assert spec.tag == tag and spec.family in ("yolox", "rtmdet")
        assert spec.url.startswith("https://download.openmmlab.com/mmpose/") and spec.url.endswith(".zip")
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), tag
        assert spec.input_size in ((320, 320), (416, 416), (640, 640))
    assert len({s.sha256 for s in OFFICIAL_DETECTORS.values()}) == len(OFFICIAL_DETECTORS)


@pytest.fixture
def local_tag(tmp_path, monkeypatch):
    """A tag whose 'published' archive is a local zip holding an end2end.onnx that outputs ``DETS``."""
    onnx_path = constant_graph(tmp_path / "end2end.onnx", {"dets": DETS, "labels": np.zeros((1, 2), np.int64)})
    data = open(onnx_path, "rb").read()
    archive = tmp_path / "served" / "rtmdet_test-person-0000.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("rtmdet_test/end2end.onnx", data)
        zf.writestr("rtmdet_test/pipeline.json", "{}")
    spec = OfficialDetector("rtmdet-test.person", archive.as_uri(), hashlib.sha256(data).hexdigest(), "rtmdet",
                            (64, 64))
    monkeypatch.setitem(OFFICIAL_DETECTORS, spec.tag, spec)
    monkeypatch.setenv("KDPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KDPOSE_OFFLINE", raising=False)
    return spec


def test_a_tag_is_fetched_once_checked_and_run(local_tag, tmp_path, monkeypatch):
    det = resolve_detector(local_tag.tag, score_thr=0.1)
    cached = tmp_path / "cache" / "detectors" / f"{local_tag.tag}.onnx"
    assert cached.is_file() and not list((tmp_path / "cache" / "detectors").glob("*.zip"))
    boxes, scores = det(np.zeros((64, 128, 3), np.uint8))  # letterbox ratio 0.5: boxes map back x2
    np.testing.assert_allclose(boxes, [[20, 8, 60, 60], [80, 20, 120, 50]])
    np.testing.assert_allclose(scores, [0.9, 0.2])  # score_thr (PoseEstimator's bbox_thr) reaches the detector
    assert len(resolve_detector(local_tag.tag)(np.zeros((64, 64, 3), np.uint8))[0]) == 1  # default cut 0.3

    def no_network(*args, **kwargs):
        raise AssertionError("a cached detector must not be downloaded again")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    resolve_detector(local_tag.tag)
    cached.write_bytes(cached.read_bytes() + b"x")  # a changed file is refused, not run
    with pytest.raises(CheckpointError, match="sha256 .* is not the published"):
        resolve_detector(local_tag.tag)


def test_offline_wrong_digest_and_failed_downloads_are_one_line_errors(local_tag, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KDPOSE_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="not in the cache .* KDPOSE_OFFLINE is set: download file://"):
        resolve_detector(local_tag.tag)
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((20, 20, 3), np.uint8))
    assert main(["infer", str(tmp_path / "p.png"), "--model", "rtmpose-t", "--det", local_tag.tag, "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kdpose: error: detector 'rtmdet-test.person' is not in the cache") and "\n" not in err
    monkeypatch.delenv("KDPOSE_OFFLINE")
    wrong = OfficialDetector(local_tag.tag, local_tag.url, "0" * 64, "rtmdet", (64, 64))
    monkeypatch.setitem(OFFICIAL_DETECTORS, local_tag.tag, wrong)
    with pytest.raises(CheckpointError, match="not the published 0000"):
        resolve_detector(local_tag.tag)
    assert not list((tmp_path / "cache" / "detectors").glob("*.onnx"))  # nothing unverified is kept
    gone = OfficialDetector(local_tag.tag, "http://127.0.0.1:9/nothing-here.zip", "0" * 64, "rtmdet", (64, 64))
    monkeypatch.setitem(OFFICIAL_DETECTORS, local_tag.tag, gone)
    with pytest.raises(CheckpointError, match=r"http://127\.0\.0\.1:9/nothing-here\.zip: download failed .*; "
                                              r"download it .* and put its end2end\.onnx at .*detectors/.*\.onnx$"):
        resolve_detector(local_tag.tag)


def test_tags_reach_the_pose_estimator_and_its_threshold(local_tag, tiny_model):
    from kdpose.inference.estimator import PoseEstimator

    est = PoseEstimator(tiny_model, detector=local_tag.tag, bbox_thr=0.1)
    res = est.predict_arrays(np.zeros((64, 128, 3), np.uint8))
    assert len(res.keypoints) == 2  # bbox_thr 0.1 is the detector's own cut: the 0.2 box is kept
