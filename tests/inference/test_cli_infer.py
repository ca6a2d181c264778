import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

from kdpose.cli.infer import check_arguments  # noqa: E402
from kdpose.cli.main import build_parser, main  # noqa: E402
from kdpose.tasks.depth_setting import TEACHER_TAG  # noqa: E402

from .conftest import synthetic_scene  # noqa: E402


def test_folder_job_writes_every_output_and_skips_bad_files(tmp_path, oracle_onnx, capsys):
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    dets = []
    for i, rel in enumerate(["a.png", "sub/b.png"]):
        image, _, boxes = synthetic_scene(people=2, seed=10 + i)
        cv2.imwrite(str(src / rel), image)
        for b in boxes:
            dets.append({"file_name": rel.split("/")[-1], "image_id": i, "category_id": 1, "score": 0.95,
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    code = main(["infer", str(src), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"), "--json",
                 "--json-per-image", "--openpose-json", "--openpose", "--batch", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert "broken.jpg" in captured.err
    assert "2 frames, 4 people" in captured.out and "1 unreadable files skipped" in captured.out
    records = json.loads((out / "predictions" / "sub" / "b.json").read_text())
    assert len(records) == 2 and len(records[0]["keypoints"]) == 17 * 3 and records[0]["category_id"] == 1
    job = json.loads((out / "predictions.json").read_text())  # one COCO results file for the whole folder
    assert [r["image_id"] for r in job] == [0, 0, 1, 1] and job[2:] == records  # ids from the detection file
    assert records[0]["score"] > 0.5 and len(records[0]["bbox"]) == 4
    op = json.loads((out / "openpose" / "a_keypoints.json").read_text())
    assert op["canvas_width"] == 640 and op["canvas_height"] == 480
    assert len(op["people"]) == 2 and len(op["people"][0]["pose_keypoints_2d"]) == 18 * 3
    vis = cv2.imread(str(out / "vis" / "a.jpg"))
    assert vis.shape == (480, 640, 3)
    pose = cv2.imread(str(out / "openpose" / "sub" / "b_pose.png"))
    assert pose[0, 0].sum() == 0 and (pose.sum(-1) > 0).mean() > 0.002  # black canvas with a drawn skeleton
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temp files


def test_folder_job_reports_files_of_formats_opencv_cannot_read(tmp_path, oracle_onnx, capsys):
    """A HEIC photo in the folder is one stderr line naming it and the reason; the other images are inferred, the
    summary counts it, text files are not mentioned."""
    src = tmp_path / "imgs"
    src.mkdir()
    image, _, _ = synthetic_scene(people=1, seed=4)
    cv2.imwrite(str(src / "a.png"), image)
    (src / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    code = main(["infer", str(src), "--model", oracle_onnx, "--json", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert skipped == ["kdpose: skipped photo.heic: OpenCV cannot read this HEIC file; convert it to JPEG or PNG"]
    assert "notes.txt" not in captured.err + captured.out
    assert "1 frames" in captured.out and "1 unreadable files skipped" in captured.out
    assert sorted(p.name for p in (out / "vis").glob("[!.]*")) == ["a.jpg"]


def test_folder_job_skips_an_image_whose_bboxes_box_lies_outside_it(tmp_path, oracle_onnx, capsys):
    """A --bboxes box outside its image stopped the whole folder job at that image; now that image is one stderr
    line naming the file, the image and the box, the others are inferred and the summary counts it. A job where
    every image is skipped exits 1."""
    src = tmp_path / "imgs"
    src.mkdir()
    dets = []
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        image, _, boxes = synthetic_scene(people=1, seed=20 + i)
        cv2.imwrite(str(src / name), image)
        x, y, w, h = (float(v) for v in (*boxes[0][:2], *(boxes[0][2:] - boxes[0][:2])))
        dets.append({"file_name": name, "image_id": i + 1, "category_id": 1, "score": 0.9,
                     "bbox": [2000.0, y, w, h] if name == "b.png" else [x, y, w, h]})
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    code = main(["infer", str(src), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"), "--json",
                 "--batch", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and skipped[0].startswith(f"kdpose: skipped {tmp_path / 'dets.json'}: image b.png: "
                                                      "box 0 ")
    assert "no area inside the 640x480 image" in skipped[0]
    assert "2 frames, 2 people" in captured.out and "1 images skipped for their --bboxes boxes" in captured.out
    assert sorted(p.name for p in (out / "vis").glob("[!.]*")) == ["a.jpg", "c.jpg"]
    assert [r["image_id"] for r in json.loads((out / "predictions.json").read_text())] == [1, 3]
    bad = [dict(d, bbox=[2000.0, *d["bbox"][1:]]) for d in dets]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code = main(["infer", str(src), "--model", oracle_onnx, "--bboxes", str(tmp_path / "bad.json"), "--json",
                 "--out", str(tmp_path / "out2")])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.count("kdpose: skipped") == 3
    assert "0 frames" in captured.out and "3 images skipped for their --bboxes boxes" in captured.out


def test_video_job_writes_mp4_and_frame_json_with_track_ids(tmp_path, oracle_onnx, capsys):
    path = tmp_path / "clip.avi"
    image, _, boxes = synthetic_scene(people=1, size=(320, 240), seed=3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for f in range(6):
        writer.write(np.roll(image, 2 * f, axis=1))
    writer.release()
    out = tmp_path / "out"
    code = main(["infer", str(path), "--model", oracle_onnx, "--json", "--det-every", "3", "--det", "none",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = json.loads((out / "predictions.json").read_text())  # COCO results, one per person and frame
    assert [r["frame_id"] for r in records] == [r["image_id"] for r in records] == list(range(6))
    assert all(r["track_id"] == 0 and len(r["keypoints"]) == 17 * 3 for r in records)
    cap = cv2.VideoCapture(str(out / "vis" / "clip.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert "detector on 2 frames" in capsys.readouterr().out
    # --json-per-image was ignored for a video: with --no-vis the job wrote nothing and said "outputs in ..."
    empty = tmp_path / "empty"
    assert main(["infer", str(path), "--model", oracle_onnx, "--json-per-image", "--no-vis", "--out", str(empty)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "kdpose: error: --json-per-image writes one file per image; for a video use --json (predictions.json, each "
        "result with its frame_id) or --openpose-json (one file per frame)")
    assert not empty.exists()


def test_bad_inputs_give_one_line_errors(tmp_path, oracle_onnx, capsys):
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((40, 30, 3), np.uint8))
    (tmp_path / "afile").write_text("x")
    imgs = str(tmp_path / "imgs")
    for argv, expected in [
        ([str(tmp_path / "missing.jpg"), "--model", oracle_onnx], "no such file"),
        ([str(tmp_path / "bad.mp4"), "--model", oracle_onnx], "cannot open video"),
        ([imgs, "--model", str(tmp_path / "nope.onnx")], "nope.onnx"),
        ([imgs, "--model", oracle_onnx, "--det", "yolo-x"], "unknown detector 'yolo-x'"),
        ([imgs, "--model", oracle_onnx, "--det", "yolox-m"], "did you mean yolox-m.humanart"),
        ([str(tmp_path / "empty"), "--model", oracle_onnx], "no image files in this folder"),
        ([imgs, "--model", oracle_onnx, "--no-vis"], "would write nothing"),
        ([imgs, "--model", oracle_onnx, "--weights", "w.safetensors"], "carries its own weights"),
        ([imgs, "--model", oracle_onnx, "--out", str(tmp_path / "afile")], "--out names a file"),
        ([imgs, "--model", oracle_onnx, "--out", str(tmp_path / "afile" / "o")], "lies under a file"),
        ([imgs, str(tmp_path / "bad.mp4"), "--model", oracle_onnx], "must be the only source"),
        ([imgs, "--model", oracle_onnx, "--threads", "0"], "--threads must be >= 1"),
        # -2 was an IndexError traceback for one image (all but the last two of a folder); 0 read every image
        ([imgs, "--model", oracle_onnx, "--max-frames", "-2"], "--max-frames must be >= 1, got -2"),
        ([imgs, "--model", oracle_onnx, "--max-frames", "0"], "--max-frames must be >= 1, got 0"),
        # a --bboxes file not ending in .json was looked up as a detector name: "unknown detector '.../a.png'"
        ([imgs, "--model", oracle_onnx, "--bboxes", f"{imgs}/a.png"], "a.png: not a text file, so not a detection"),
        # thresholds out of their range were taken silently: -1 / nan kept everything, 1.5 kept nothing
        ([imgs, "--model", TEACHER_TAG, "--peak-thr", "-1"], "--peak-thr must be in [0, 1], got -1.0"),
        ([imgs, "--model", TEACHER_TAG, "--peak-thr", "nan"], "--peak-thr must be in [0, 1], got nan"),
        ([imgs, "--model", oracle_onnx, "--bbox-thr", "1.5"], "--bbox-thr must be in [0, 1], got 1.5"),
        ([imgs, "--model", oracle_onnx, "--bbox-thr", "-0.1"], "--bbox-thr must be in [0, 1], got -0.1"),
        ([imgs, "--model", oracle_onnx, "--kpt-thr", "-1"], "--kpt-thr must be >= 0, got -1.0"),
        ([imgs, "--model", oracle_onnx, "--min-cutoff", "0"], "--min-cutoff must be > 0 and --beta >= 0"),
        ([imgs, "--model", oracle_onnx, "--beta", "-1"], "--min-cutoff must be > 0 and --beta >= 0"),
    ]:
        out = [] if "--out" in argv else ["--out", str(tmp_path / "o")]
        assert main(["infer", *argv, *out]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("kdpose: error:") and expected in err and "\n" not in err, err
    assert not (tmp_path / "o").exists()  # every one of them is refused before anything is written
    # the ends of the ranges are fine, and keypoint scores (raw SimCC maxima) can exceed 1
    check_arguments(build_parser().parse_args(["infer", imgs, "--model", oracle_onnx, "--bbox-thr", "1", "--peak-thr",
                                               "0", "--kpt-thr", "1.5", "--beta", "0"]))


def test_ctrl_c_keeps_the_frames_done_so_far(tmp_path, oracle_onnx, monkeypatch, capsys):
    from kdpose.inference.video import VideoPoseEstimator

    path = tmp_path / "cam.avi"
    image, _, _ = synthetic_scene(people=1, size=(320, 240), seed=8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(5):
        writer.write(image)
    writer.release()
    original = VideoPoseEstimator.process
    calls = {"n": 0}

    def interrupt_on_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VideoPoseEstimator, "process", interrupt_on_third)
    out = tmp_path / "out"
    assert main(["infer", str(path), "--model", oracle_onnx, "--json", "--det", "none", "--out", str(out)]) == 130
    assert "2 frames" in capsys.readouterr().out
    assert [r["frame_id"] for r in json.loads((out / "predictions.json").read_text())] == [0, 1]
    assert (out / "vis" / "cam.mp4").is_file()


def test_wholebody_model_writes_hands_and_face_in_openpose_json(tmp_path, capsys):
    from kdpose.export.onnx import export_onnx

    from .conftest import make_oracle_model

    onnx = export_onnx(make_oracle_model("coco_wholebody"), tmp_path / "wb.onnx")
    image, _, _ = synthetic_scene(people=1, size=(320, 240), seed=9)
    cv2.imwrite(str(tmp_path / "p.png"), image)
    out = tmp_path / "out"
    assert main(["infer", str(tmp_path / "p.png"), "--model", str(onnx), "--openpose-json", "--openpose",
                 "--kpt-thr", "0", "--det", "none", "--out", str(out), "--json"]) == 0
    person = json.loads((out / "openpose" / "p_keypoints.json").read_text())["people"][0]
    assert len(person["pose_keypoints_2d"]) == 54 and len(person["face_keypoints_2d"]) == 210
    assert len(person["hand_left_keypoints_2d"]) == 63 and len(person["hand_right_keypoints_2d"]) == 63
    assert (out / "openpose" / "p_pose.png").is_file()
    # predictions.json in the split COCO-WholeBody fields (MMPose's / xtcocotools' results format)
    record = json.loads((out / "predictions.json").read_text())[0]
    assert [len(record[f]) for f in ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")] == \
        [51, 18, 204, 63, 63]


def test_synthetic_weights_note_names_shipped_synthetic_tags_only():
    from kdpose.cli.infer import synthetic_weights_note

    note = synthetic_weights_note("rtmpose-m.synth-standard", photos_tag="rtmpose-m.body7_256x192")  # a tag's stem
    assert note.startswith("rtmpose-m.synth-standard_128x96 was trained on kdpose's synthetic scenes only")
    assert note.endswith("e.g. --model rtmpose-m.body7_256x192")
    depth = synthetic_weights_note("mpm-2s.synth-depth-demo_184x184", photos_tag=None)
    assert "synthetic scenes only" in depth and "official" not in depth
    for other in ("rtmpose-m.body7_256x192", "rtmpose-t", "model.onnx", "weights.safetensors"):
        assert synthetic_weights_note(other, photos_tag="x") is None, other


def test_the_photo_advice_keeps_the_keypoint_layout():
    """A whole-body user pointed to a body-only checkpoint would lose 116 of the 133 keypoints."""
    from kdpose.cli.infer import PHOTO_MODELS, synthetic_weights_note
    from kdpose.models import PRETRAINED

    body = synthetic_weights_note("rtmpose-m.synth-standard_128x96", photos_tag=PHOTO_MODELS)
    assert body.endswith("e.g. --model rtmpose-m.body7_256x192")
    whole = synthetic_weights_note("rtmpose-m.synth-standard-wholebody_128x96", photos_tag=PHOTO_MODELS)
    assert whole.endswith("e.g. --model dwpose-m.ucoco_256x192")
    for layout, tag in PHOTO_MODELS.items():  # each suggestion is an official checkpoint of that layout
        assert PRETRAINED[tag].layout == layout and not PRETRAINED[tag].synthetic


def test_an_image_job_refuses_the_video_only_flags(tmp_path, oracle_onnx, capsys):
    """--det-every, --no-track, --no-smooth, --min-cutoff and --beta were read only by video jobs: an image job took
    them and ran without the tracking / smoothing / schedule asked for, saying nothing."""
    image, _, _ = synthetic_scene(people=1, size=(320, 240), seed=4)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    for flags in (["--det-every", "3"], ["--no-track"], ["--no-smooth"], ["--min-cutoff", "2"], ["--beta", "0.5"],
                  ["--no-track", "--beta", "0"]):
        out = tmp_path / "out"
        assert main(["infer", str(tmp_path / "a.png"), "--model", oracle_onnx, "--det", "none", *flags,
                     "--out", str(out)]) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()[-1]  # after the one-line --det none warning
        named = [f for f in flags if f.startswith("--")]
        assert err.startswith("kdpose: error: " + ", ".join(named) + ": for a video or webcam"), err
        assert not out.exists()
    # their defaults, spelt out, are no change
    assert main(["infer", str(tmp_path / "a.png"), "--model", oracle_onnx, "--det", "none", "--det-every", "1",
                 "--beta", "0.05", "--no-vis", "--json", "--out", str(tmp_path / "ok")]) == 0
