import json

import numpy as np
import pytest

from kdpose.errors import ConfigError, DataError
from kdpose.inference.detectors import DetectionFile, resolve_detector
from kdpose.inference.estimator import PoseEstimator, stem_image_id

from .conftest import make_tiny_model


def test_real_coco_detection_file_matches_images_by_stem(fixtures):
    dets = DetectionFile(fixtures / "coco" / "test_coco_det_AP_H_56.json")
    boxes, scores = dets.lookup("some/dir/000000000785.jpg")
    assert boxes.shape == (22, 4) and scores.shape == (22,)
    raw = [e for e in json.loads((fixtures / "coco" / "test_coco_det_AP_H_56.json").read_text())
           if e["image_id"] == 785]
    x, y, w, h = raw[0]["bbox"]
    np.testing.assert_allclose(boxes[0], [x, y, x + w, y + h], rtol=1e-6)
    assert dets.lookup("unknown.jpg")[0].shape == (0, 4)
    # through the estimator: every box of the file by default (validation's bbox_score_thr 0); bbox_thr=0.3 cuts
    assert len(PoseEstimator(make_tiny_model(), detector=dets).predict_arrays(
        fixtures / "coco" / "000000000785.jpg").keypoints) == 22
    est = PoseEstimator(make_tiny_model(), detector=dets, nms_thr=None, bbox_thr=0.3)
    res = est.predict_arrays(fixtures / "coco" / "000000000785.jpg")
    assert len(res.keypoints) == int((scores >= 0.3).sum()) == 2
    assert (res.bbox_scores >= 0.3).all()


def test_detection_file_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "dict.json").write_text('{"a": 1}')
    (tmp_path / "entry.json").write_text('[{"image_id": 1, "bbox": [1, 2]}]')
    (tmp_path / "shot.jpg").write_bytes(b"\xff\xd8\xff\xe0 a JPEG, not boxes")
    (tmp_path / "folder.json").mkdir()
    for name, problem in [("bad.json", "not valid JSON"), ("dict.json", "expected a JSON list"),
                          ("entry.json", "malformed bbox"), ("missing.json", "no such"),
                          ("shot.jpg", "shot.jpg: not a text file, so not a detection-results or COCO annotation"),
                          ("folder.json", "folder.json: a folder, not a detection-results")]:
        with pytest.raises(DataError, match=problem):
            DetectionFile(tmp_path / name)
    with pytest.raises(ConfigError, match="unknown detector"):
        resolve_detector("yolox-s")
    assert resolve_detector("none") is None


def test_callable_detector_output_is_checked():
    est = PoseEstimator(make_tiny_model(), detector=lambda im: np.zeros((0, 4)), nms_thr=None)
    with pytest.raises(ConfigError, match="must return"):
        est.predict_arrays(np.zeros((20, 20, 3), np.uint8))
    est.detector = lambda im: (np.zeros((2, 4)), np.ones(3))
    with pytest.raises(ConfigError, match="2 boxes but 3 scores"):
        est.predict_arrays(np.zeros((20, 20, 3), np.uint8))
    est.detector = lambda im: (np.zeros((0, 4)), np.zeros(0))  # zero detections: empty result
    assert est(np.zeros((20, 20, 3), np.uint8)) == []


def test_named_detectors_come_from_the_registry():
    from kdpose.inference.detectors import DETECTORS

    def factory(device):
        assert device == "cpu"
        return lambda image: (np.array([[1, 1, 15, 15]], np.float32), np.array([0.8], np.float32))

    DETECTORS.register(factory, name="test-fixed-box")
    try:
        est = PoseEstimator(make_tiny_model(), detector="test-fixed-box", nms_thr=None)
        res = est.predict_arrays(np.zeros((20, 20, 3), np.uint8))
        np.testing.assert_allclose(res.bboxes, [[1, 1, 15, 15]])
    finally:
        DETECTORS._items.pop("test-fixed-box", None)  # keep the registry clean for other tests


def test_builtin_detector_names_and_files_reach_kdpose_detection(tmp_path):
    pytest.importorskip("kdpose.detection")
    from kdpose.errors import CheckpointError, KdposeError

    # the name is known (registered by kdpose.detection on first use): without trained weights the error says so
    with pytest.raises(CheckpointError, match="no trained weights"):
        resolve_detector("kdpose-det-nano")
    with pytest.raises(KdposeError, match="missing.onnx"):
        resolve_detector(str(tmp_path / "missing.onnx"))


def test_dataset_file_sizes_must_match_the_images_read_exif_rotation_is_named(tmp_path):
    """A dataset file's boxes are in the frame of the image it describes (width x height). A phone photo whose
    EXIF orientation turns it upright when read (kdpose reads like OpenCV's imread and PIL's exif_transpose) has
    its width and height swapped against a file labelled on the stored pixels: its boxes would fall elsewhere in
    the upright image, so this is a one-line error naming the file, the image and both sizes, not silent poses."""
    from PIL import Image

    cv2 = pytest.importorskip("cv2")
    stored = np.zeros((40, 24, 3), np.uint8)  # stored 24 wide x 40 high; orientation 6 reads it 40 x 24
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif.tobytes())
    cv2.imwrite(str(tmp_path / "plain.jpg"), stored)
    kpts = [2, 2, 2] * 17
    ann = {"images": [{"id": 1, "file_name": "phone.jpg", "width": 24, "height": 40},
                      {"id": 2, "file_name": "plain.jpg", "width": 24, "height": 40}],
           "annotations": [{"id": 1, "image_id": 1, "bbox": [1, 1, 20, 36], "keypoints": kpts, "num_keypoints": 17,
                            "category_id": 1},
                           {"id": 2, "image_id": 2, "bbox": [1, 1, 20, 36], "keypoints": kpts, "num_keypoints": 17,
                            "category_id": 1}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    est = PoseEstimator(make_tiny_model(), detector=str(tmp_path / "ann.json"))
    assert len(est(str(tmp_path / "plain.jpg"))) == 1
    with pytest.raises(DataError, match=r"phone\.jpg.* 40x24 .* 24x40.*EXIF orientation") as info:
        est(str(tmp_path / "phone.jpg"))
    assert "ann.json" in str(info.value) and "\n" not in str(info.value)
    other = np.zeros((30, 30, 3), np.uint8)
    with pytest.raises(DataError, match=r"30x30 .* 24x40"):
        est.predict_arrays(other, image_id=2)


def test_an_array_with_a_boxes_file_is_refused_unless_its_id_is_given(tmp_path):
    """An array has no file name to look up in a detection file: est(img) returned nobody, silently, while the same
    image given by its path had its people."""
    image = np.zeros((120, 100, 3), np.uint8)
    (tmp_path / "dets.json").write_text(json.dumps([
        {"image_id": 7, "category_id": 1, "score": 0.9, "bbox": [10, 10, 40, 80]},
        {"image_id": 8, "category_id": 1, "score": 0.8, "bbox": [5, 5, 30, 30]},
        {"image_id": 8, "category_id": 1, "score": 0.7, "bbox": [50, 40, 30, 60]}]))
    est = PoseEstimator(make_tiny_model(), detector=str(tmp_path / "dets.json"), nms_thr=None)
    for call in (lambda: est(image), lambda: est.predict_arrays(image), lambda: est([image, image])):
        with pytest.raises(DataError, match=r"dets\.json: boxes from a file are matched to images by file name or "
                                            r"image_id, and this image is an array with neither"):
            call()
    assert len(est(image, image_id=7)) == 1 and len(est.predict_arrays(image, image_id=8).keypoints) == 2
    assert [len(people) for people in est([image, image], image_id=[8, 7])] == [2, 1]
    np.testing.assert_allclose(est.predict_arrays(image, image_id=7).bboxes, [[10, 10, 50, 90]])
    with pytest.raises(DataError, match="a list of 2 images takes a list of 2 ids"):
        est([image, image], image_id=7)
    with pytest.raises(DataError, match="image_id must be an integer, got '7'"):
        est(image, image_id="7")
    # the caller's own boxes need no id
    assert len(est(image, bboxes=np.array([[0, 0, 50, 60]], np.float32))) == 1


def test_a_name_two_folders_share_is_refused_not_matched_to_the_first(tmp_path):
    # cam1/000001.jpg and cam2/000001.jpg in the file; a job on the folder cam2 asks for "000001.jpg"
    ann = {"images": [{"id": 1, "file_name": "cam1/000001.jpg", "width": 64, "height": 48},
                      {"id": 2, "file_name": "cam2/000001.jpg", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100,
                            "iscrowd": 0, "num_keypoints": 1, "keypoints": [5, 5, 2] + [0] * 48},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [30, 20, 10, 10], "area": 100,
                            "iscrowd": 0, "num_keypoints": 1, "keypoints": [35, 25, 2] + [0] * 48}],
           "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    dets = DetectionFile(tmp_path / "ann.json")
    with pytest.raises(DataError, match=r"000001.jpg could be any of cam1/000001.jpg \(id 1\), cam2/000001.jpg"):
        dets.image_id_for("000001.jpg")
    assert dets.image_id_for("cam2/000001.jpg") == 2 and dets.image_id_for("data/cam1/000001.jpg") == 1
    np.testing.assert_allclose(dets.lookup("cam2/000001.jpg")[0], [[30, 20, 40, 30]])


@pytest.mark.parametrize("name,image_id", [("\u00b2\u00b3.jpg", None), ("0042.jpg", 42), ("x7.jpg", None)])
def test_digit_like_stems_that_are_not_numbers_give_no_id(name, image_id):
    # "²³".isdigit() is True but int("²³") raises: one such file used to abort a whole folder job
    assert stem_image_id(name) == image_id
