"""Inputs users expect and answers that are never silently wrong: float and PIL images, caller boxes (one pose per
box, bad boxes refused), same-stem files, several sources and URLs, --bbox-thr below the detector's cut, the
whole-image fallback said loudly, missing extras, --show, the torch thread default."""
import functools
import http.server
import json
import sys
import threading

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from kdpose.cli.main import main  # noqa: E402
from kdpose.errors import DataError, MissingExtraError  # noqa: E402
from kdpose.inference.estimator import PoseEstimator  # noqa: E402
from kdpose.inference.outputs import output_stems  # noqa: E402
from kdpose.inference.sources import to_bgr_uint8  # noqa: E402

from .conftest import synthetic_scene  # noqa: E402


def test_float_images_0_255_and_0_1_give_the_uint8_answer(oracle_model):
    image, gt, boxes = synthetic_scene(people=2, seed=1)
    est = PoseEstimator(oracle_model)
    ref = est.predict_arrays(image, bboxes=boxes)
    for arr in (image.astype(np.float32), image.astype(np.float64) / 255.0):
        got = est.predict_arrays(arr, bboxes=boxes)  # 0-255 floats were clipped as if 0-1: keypoints moved 48 px
        np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
        np.testing.assert_allclose(got.scores, ref.scores, atol=1e-5)
    assert (to_bgr_uint8(np.full((2, 2, 3), 0.5)) == 128).all()
    assert (to_bgr_uint8(np.full((2, 2, 3), 100.0)) == 100).all()
    for bad in (np.full((2, 2, 3), 300.0), np.full((2, 2, 3), -4.0)):
        with pytest.raises(DataError, match=r"expected \[0, 1\] or \[0, 255\]"):
            to_bgr_uint8(bad)


def test_pil_images_are_read_as_rgb(oracle_model):
    Image = pytest.importorskip("PIL.Image")
    image, _, boxes = synthetic_scene(people=2, seed=2)
    est = PoseEstimator(oracle_model)
    ref = est.predict_arrays(image, bboxes=boxes)
    pil = Image.fromarray(np.ascontiguousarray(image[..., ::-1]))  # PIL holds RGB
    got = est.predict_arrays(pil, bboxes=boxes)
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
    assert len(est([pil, image], bboxes=[boxes, boxes[:1]])[1]) == 1
    assert to_bgr_uint8(Image.fromarray(np.full((3, 4), 9, np.uint8))).shape == (3, 4, 3)  # mode L


def test_caller_boxes_give_one_pose_each_in_order_and_bad_boxes_are_errors(oracle_model):
    image, gt, boxes = synthetic_scene(people=3, seed=3)
    order = [2, 0, 1]
    # near-equal scores used to reorder people (sorting by score), and OKS-NMS dropped overlapping ones
    dup = np.concatenate([boxes[order], boxes[:1] + 1.0])
    res = PoseEstimator(oracle_model).predict_arrays(image, bboxes=dup)
    assert len(res.keypoints) == 4
    np.testing.assert_allclose(res.bboxes, dup, atol=1e-4)
    err = np.linalg.norm(res.keypoints[:3] - gt[order], axis=-1).mean(1)
    assert (err < 8).all(), err  # person i is box i (other people are > 100 px away)
    est = PoseEstimator(oracle_model)
    for bad, problem in [([[np.nan, 0, 50, 50]], "box 0 .* is not a finite number"),
                         ([[10, 10, 50, 50], [700, 10, 800, 90]], "box 1 .* no area inside the 640x480 image"),
                         ([[10, 10, 10, 90]], "box 0 .* no area"),
                         # a COCO x, y, w, h box: swapping its corners made another box and a wrong pose, silently
                         ([[211, 20, 86, 130]], r"box 0 \[211, 20, 86, 130\] .* has x2 < x1 or y2 < y1.*not COCO's "
                                                r"x, y, w, h")]:
        with pytest.raises(DataError, match=problem):
            est.predict_arrays(image, bboxes=np.array(bad, np.float32))


def test_detection_file_with_a_bad_box_fails_naming_file_image_and_box(tmp_path, oracle_onnx, capsys):
    """The box is shown as the COCO file writes it, [x, y, w, h] and named so: the message showed the converted
    x1, y1, x2, y2 values and, for a negative width, the hint 'takes x1, y1, x2, y2, not COCO's x, y, w, h', which
    is the opposite of what a COCO file holds."""
    image, _, boxes = synthetic_scene(people=1, seed=4)
    cv2.imwrite(str(tmp_path / "000007.png"), image)
    for bbox, problem in [([2000, 10, 50, 80], "[2000, 10, 50, 80] (x, y, w, h) has no area inside the 640x480 image"),
                          ([100, 10, -50, 80], "[100, 10, -50, 80] (x, y, w, h) has a negative width or height")]:
        dets = [{"image_id": 7, "category_id": 1, "score": 0.9, "bbox": bbox}]
        (tmp_path / "dets.json").write_text(json.dumps(dets))
        code = main(["infer", str(tmp_path / "000007.png"), "--model", oracle_onnx, "--bboxes",
                     str(tmp_path / "dets.json"), "--json", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err
        assert f"dets.json: image 000007.png: box 0 {problem}" in err, err
        assert "x1, y1, x2, y2" not in err
    # not numbers at all: refused when the file is read, naming the entry and the field (these were tracebacks), and
    # a NaN is named as the file writes it (the xywh -> xyxy round trip turned [nan, 10, 50, 80] into
    # [nan, 10, nan, 80])
    for change, problem in [({"score": "high"}, "entry 0 field 'score' is 'high', expected a finite number"),
                            ({"score": None}, "entry 0 field 'score' is None, expected a finite number"),
                            ({"bbox": ["a", 10, 50, 80]}, "entry 0 field 'bbox' holds 'a': expected a list of numbers"),
                            ({"bbox": [float("nan"), 10, 50, 80]}, "entry 0 field 'bbox' holds a value that is not a "
                                                                   "finite number"),
                            ({"image_id": "7"}, "entry 0 field 'image_id' is '7', expected an integer")]:
        dets = [dict({"image_id": 7, "category_id": 1, "score": 0.9, "bbox": [10, 10, 50, 80]}, **change)]
        (tmp_path / "dets.json").write_text(json.dumps(dets))
        code = main(["infer", str(tmp_path / "000007.png"), "--model", oracle_onnx, "--bboxes",
                     str(tmp_path / "dets.json"), "--json", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err and "Traceback" not in err, err
        assert f"dets.json: {problem}" in err, err


def test_same_stem_files_keep_their_own_outputs(tmp_path, oracle_onnx, capsys):
    src = tmp_path / "imgs"
    src.mkdir()
    one, _, _ = synthetic_scene(people=1, seed=5)
    two, _, _ = synthetic_scene(people=2, seed=6)
    cv2.imwrite(str(src / "a.jpg"), one)
    cv2.imwrite(str(src / "a.png"), two)
    cv2.imwrite(str(src / "b.png"), one)
    out = tmp_path / "out"
    assert main(["infer", str(src), "--model", oracle_onnx, "--json-per-image", "--out", str(out)]) == 0
    assert "3 frames" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "vis").glob("[!.]*")) == ["a_jpg.jpg", "a_png.jpg", "b.jpg"]
    assert sorted(p.name for p in (out / "predictions").iterdir()) == ["a_jpg.json", "a_png.json", "b.json"]
    assert output_stems(["x/a.jpg", "y/a.jpg", "a.JPG", "c.png"]) == ["x/a", "y/a", "a", "c"]
    assert output_stems(["a.jpg", "a.jpg", "a.png"]) == ["a_jpg", "a_jpg_2", "a_png"]
    # one name from two folders: no extension to tell them apart (it gave a_jpg and a_jpg_2), a number does
    assert output_stems(["a.jpg", "a.jpg", "b.JPG", "b.jpg"]) == ["a", "a_2", "b", "b_2"]


def test_several_sources_and_shell_globs_make_one_job(tmp_path, oracle_onnx, capsys):
    for i, name in enumerate(["x.png", "y.png"]):
        cv2.imwrite(str(tmp_path / name), synthetic_scene(people=1, seed=7 + i)[0])
    (tmp_path / "d").mkdir()
    cv2.imwrite(str(tmp_path / "d" / "z.png"), synthetic_scene(people=1, seed=9)[0])
    out = tmp_path / "out"
    assert main(["infer", str(tmp_path / "x.png"), str(tmp_path / "y.png"), str(tmp_path / "d"), "--model",
                 oracle_onnx, "--json", "--det", "none", "--out", str(out)]) == 0
    assert "3 frames, 3 people" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "vis").glob("[!.]*")) == ["x.jpg", "y.jpg", "z.jpg"]
    assert [r["image_id"] for r in json.loads((out / "predictions.json").read_text())] == [0, 1, 2]


def test_an_earlier_jobs_drawings_inside_the_source_folder_are_not_photos(tmp_path, oracle_onnx, capsys):
    """`kdpose infer photos --out photos/run1` then `--out photos/run2`: the second job read run1/vis/x.jpg, the
    first job's drawing, as a photo (2 frames, poses for the drawing, a drawing of a drawing in run2/vis/run1/)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "x.jpg"), synthetic_scene(people=1, seed=7)[0])
    for run in ("run1", "run2"):
        assert main(["infer", str(photos), "--model", oracle_onnx, "--json", "--det", "none", "--openpose",
                     "--out", str(photos / run)]) == 0
        printed = capsys.readouterr()
        assert "1 frames" in printed.out, printed.out
    notes = printed.out + printed.err
    for drawn in ("vis", "openpose"):
        assert f"left out {photos / 'run1' / drawn}, pictures drawn by an earlier kdpose infer" in notes, notes
    assert sorted(p.relative_to(photos / "run2").as_posix() for p in (photos / "run2").rglob("[!.]*.*")) == [
        "openpose/x_pose.png", "predictions.json", "vis/x.jpg"]
    # a folder of the user's own that happens to be called vis/ is still read
    (photos / "mine" / "vis").mkdir(parents=True)
    cv2.imwrite(str(photos / "mine" / "vis" / "y.jpg"), synthetic_scene(people=1, seed=8)[0])
    assert main(["infer", str(photos / "mine"), "--model", oracle_onnx, "--det", "none", "--json",
                 "--out", str(tmp_path / "o")]) == 0
    assert len(json.loads((tmp_path / "o" / "predictions.json").read_text())) == 1


@pytest.fixture
def http_folder(tmp_path):
    """A loopback HTTP server for ``tmp_path / 'www'``; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urls_are_read_and_named_without_mangling(http_folder, oracle_onnx, oracle_model, tmp_path, capsys):
    root, base = http_folder
    image, _, boxes = synthetic_scene(people=1, seed=10)
    cv2.imwrite(str(root / "pic.png"), image)
    est = PoseEstimator(oracle_model)
    np.testing.assert_allclose(est.predict_arrays(f"{base}/pic.png", bboxes=boxes).keypoints,
                               est.predict_arrays(image, bboxes=boxes).keypoints, atol=1e-4)
    out = tmp_path / "out"
    assert main(["infer", f"{base}/pic.png", "--model", oracle_onnx, "--out", str(out)]) == 0
    assert (out / "vis" / "pic.jpg").is_file()
    capsys.readouterr()
    assert main(["infer", f"{base}/missing.png", "--model", oracle_onnx, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"kdpose: error: {base}/missing.png: cannot download" in err and "http:/1" not in err


def test_whole_image_fallback_is_said_loudly(tmp_path, oracle_onnx, capsys):
    cv2.imwrite(str(tmp_path / "p.png"), synthetic_scene(people=2, seed=11)[0])
    assert main(["infer", str(tmp_path / "p.png"), "--model", oracle_onnx, "--det", "none",
                 "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "warning: no person detector: each image is treated as ONE person" in err and "--det" in err


def test_bbox_thr_below_the_detectors_own_cut_keeps_low_boxes(tmp_path, tiny_model):
    import torch

    from kdpose.models.person_detector import PersonDetectorModel
    from kdpose.models import save_weights

    torch.manual_seed(0)
    det = save_weights(PersonDetectorModel("nano", (64, 64)).eval(), tmp_path / "det.safetensors")
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    # an untrained detector scores about 0.01 everywhere (focal-loss prior): the 0.3 default keeps nothing
    assert len(PoseEstimator(tiny_model, detector=str(det)).detect(image)[0]) == 0
    low = PoseEstimator(tiny_model, detector=str(det), bbox_thr=0.001)
    boxes, scores = low.detect(image)
    assert len(boxes) > 0 and scores.min() >= 0.001 and scores.max() < 0.3


def test_missing_onnxruntime_is_one_line_with_the_pip_hint(tmp_path, monkeypatch, capsys):
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "m.onnx").write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r'pip install "kdpose\[onnx\]"'):
        PoseEstimator(str(tmp_path / "m.onnx"))
    for extra in ([], ["--det", "yolox-m.humanart"]):
        model = str(tmp_path / "m.onnx") if not extra else "rtmpose-t"
        assert main(["infer", str(tmp_path / "p.png"), "--model", model, *extra, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("kdpose: error:") and 'pip install "kdpose[onnx]"' in err and "\n" not in err


def test_show_needs_a_display_and_shows_every_frame(tmp_path, oracle_onnx, monkeypatch, capsys):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), synthetic_scene(people=1, seed=12 + i)[0])
    argv = ["infer", str(tmp_path), "--model", oracle_onnx, "--show", "--no-vis", "--out", str(tmp_path / "o")]
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert main(argv) == 2
        assert "--show needs a display" in capsys.readouterr().err
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: (_ for _ in ()).throw(cv2.error("no GUI")))
    assert main(argv) == 2
    assert "OpenCV build with a GUI" in capsys.readouterr().err
    shown, keys = [], iter([ord(" "), ord("q")])
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, frame: shown.append(frame.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    assert main(argv) == 130  # the second frame was shown, then q stopped the job
    assert shown == [(480, 640, 3), (480, 640, 3)]
    assert not (tmp_path / "o" / "vis").exists()


def _record_threads(model, monkeypatch) -> list[int]:
    """The torch thread count of each forward of ``model`` from now on."""
    import torch

    seen: list[int] = []
    original = model.forward

    def forward(x):
        seen.append(torch.get_num_threads())
        return original(x)

    monkeypatch.setattr(model, "forward", forward)
    return seen


def test_torch_threads_default_to_a_few_and_leave_the_global_setting_alone(tiny_model, monkeypatch):
    import torch

    from kdpose.utils.threads import default_threads

    seen = _record_threads(tiny_model, monkeypatch)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    image = np.zeros((64, 48, 3), np.uint8)
    PoseEstimator(tiny_model).predict_arrays(image, bboxes=[[0, 0, 48, 64]])
    PoseEstimator(tiny_model, threads=1).predict_arrays(image, bboxes=[[0, 0, 48, 64]])
    assert seen == [default_threads(), 1] and 1 <= default_threads() <= 4
    assert torch.get_num_threads() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting is obeyed
    assert PoseEstimator(tiny_model).backend.threads is None



def test_the_torch_detector_runs_on_the_pose_models_threads(monkeypatch):
    """The built-in detector ran on every core while the pose model took half: on a busy 2-core machine it took 50 s
    a frame against 0.84 s on one thread. Same rule as the pose model now, and torch's setting is restored."""
    import torch

    from kdpose.detection import PersonDetector
    from kdpose.errors import ConfigError
    from kdpose.inference.detectors import resolve_detector
    from kdpose.models.person_detector import PersonDetectorModel
    from kdpose.utils.threads import default_threads

    torch.manual_seed(0)
    detector = PersonDetectorModel("nano", (64, 64)).eval()
    seen = _record_threads(detector, monkeypatch)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    image = np.zeros((64, 64, 3), np.uint8)
    PersonDetector(detector)(image)
    PersonDetector(detector, threads=1)(image)
    assert seen == [default_threads(), 1] and torch.get_num_threads() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting is obeyed
    assert PersonDetector(detector).backend.threads is None
    with pytest.raises(ConfigError, match="PersonDetector: threads must be >= 1, got 0"):
        PersonDetector(detector, threads=0)
    # the pipeline hands its threads to the detectors it builds (named and shipped ones)
    assert resolve_detector("kdpose-det-tiny.synth-standard_320", threads=1).backend.threads == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve_detector("kdpose-det-tiny.synth-standard_320").backend.threads == default_threads()

def test_images_that_would_share_an_image_id_are_refused(tmp_path, oracle_onnx, capsys):
    """000001.png and sub/000001.png both became image_id 1: with --bboxes the second took the first's boxes, and
    --json merged their people in kdpose eval, silently. Now a one-line error before anything is written."""
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    one, _, boxes = synthetic_scene(people=1, seed=5)
    two, _, _ = synthetic_scene(people=2, seed=6)
    cv2.imwrite(str(src / "000001.png"), one)
    cv2.imwrite(str(src / "sub" / "000001.png"), two)
    b = boxes[0]
    dets = [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                                                     float(b[3] - b[1])]}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    for extra, harm in ([["--bboxes", str(tmp_path / "dets.json")], "both would take the boxes of image 1 in"],
                        [["--json"], "predictions.json could not tell their people apart"]):
        out = tmp_path / "out"
        assert main(["infer", str(src), "--model", oracle_onnx, "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"kdpose: error: {src}/sub/000001.png would be image_id 1")
        assert f"like {src}/000001.png" in err
        assert harm in err and not out.exists()
    # the ids unused (no --json, no --bboxes): the outputs are per file and distinct, so the job runs
    assert main(["infer", str(src), "--model", oracle_onnx, "--out", str(tmp_path / "vis_only")]) == 0
    assert "2 frames" in capsys.readouterr().out
    # a name without a number took its place in the job as id (1), which 000001.png's stem gives: an ordinary photo
    # folder (1.jpg ... 10.jpg, holiday.jpg) was refused half-way through the job; it takes the next free id now
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "000001.png"), one)
    cv2.imwrite(str(mixed / "zz.png"), two)
    cv2.imwrite(str(mixed / "aa.png"), two)
    o2 = tmp_path / "o2"
    assert main(["infer", str(mixed), "--model", oracle_onnx, "--det", "none", "--json", "--json-per-image",
                 "--no-vis", "--out", str(o2)]) == 0
    capsys.readouterr()
    assert sorted(r["image_id"] for r in json.loads((o2 / "predictions.json").read_text())) == [1, 2, 3]
    per_image = {p.stem: [r["image_id"] for r in json.loads(p.read_text())] for p in (o2 / "predictions").glob("*")}
    assert per_image == {"000001": [1], "aa": [2], "zz": [3]}  # the stem's id, then the others' in job order
    # two folders' 000001.png: the message said "000001.png would be image_id 1 ..., like 000001.png"; it names
    # both paths now
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "000001.png"), two)
    assert main(["infer", str(mixed), str(other), "--model", oracle_onnx, "--json", "--out", str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{other}/000001.png would be image_id 1 (its integer file stem), like {mixed}/000001.png" in err


def test_a_bboxes_file_of_other_images_is_refused(tmp_path, oracle_onnx, capsys):
    """A --bboxes file that names none of the job's images (the boxes of another image set) gave every image no
    pose, an empty predictions.json and exit 0. Refused in one line before anything is written; a file naming one of
    them runs."""
    src = tmp_path / "imgs"
    src.mkdir()
    image, _, boxes = synthetic_scene(people=1, seed=5)
    for name in ("000001.png", "000002.png"):
        cv2.imwrite(str(src / name), image)
    b = boxes[0]
    box = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 785, "category_id": 1, "score": 0.9, "bbox": box}]))
    out = tmp_path / "out"
    assert main(["infer", str(src), "--model", oracle_onnx, "--bboxes", str(dets), "--json", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"kdpose: error: {dets}: names none of the 2 images of this job") and not out.exists()
    dets.write_text(json.dumps([{"image_id": 2, "category_id": 1, "score": 0.9, "bbox": box}]))
    assert main(["infer", str(src), "--model", oracle_onnx, "--bboxes", str(dets), "--json", "--out", str(out)]) == 0
    assert "2 frames, 1 people" in capsys.readouterr().out


def test_job_image_ids_never_give_a_fallback_id_a_name_gives():
    from kdpose.inference.estimator import job_image_ids

    assert job_image_ids(["a.jpg", "b.jpg"]) == [0, 1]  # no number anywhere: the place in the job, as before
    assert job_image_ids(["1.jpg", "a.jpg", "10.jpg", "holiday.png"]) == [1, 11, 10, 12]
    assert job_image_ids(["000001.png", "sub/000001.png"]) == [1, 1]  # names that clash: the caller refuses them
    assert job_image_ids(["a", "b"], named_id=lambda name: {"b": 5}.get(name)) == [6, 5]  # a --bboxes file's ids
