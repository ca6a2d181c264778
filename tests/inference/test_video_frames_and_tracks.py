"""Video jobs: what the smoothing takes as a measurement, how tracks are matched, and what the rendered videos and
the frame times hold. Each test failed on the code before the fix it names."""
import json
import os
import stat

import cv2
import numpy as np
import pytest

from kdpose.cli.main import main
from kdpose.inference.estimator import PoseEstimator
from kdpose.inference.smoothing import OneEuroFilter, OneEuroParams
from kdpose.inference.sources import FrameSource, frame_time
from kdpose.inference.tracking import PoseTracker, match_pairs
from kdpose.inference.video import VideoPoseEstimator

from .conftest import make_oracle_model, synthetic_scene


def test_the_filter_skips_non_measurements_and_restarts_a_keypoint_seen_again():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    x = np.array([[10.0, 10.0], [50.0, 50.0]])
    f(x, 0.0)
    placeholder = np.array([[10.0, 10.0], [-1.0, -1.0]])  # keypoint 1 unseen: parked at the crop's corner
    out = f(placeholder, 1 / 30, valid=np.array([[True], [False]]))
    np.testing.assert_array_equal(out[1], [-1.0, -1.0])   # passed through raw, the filter not fed
    back = np.array([[10.0, 10.0], [52.0, 50.0]])
    out = f(back, 2 / 30, valid=np.array([[True], [True]]))
    np.testing.assert_array_equal(out[1], [52.0, 50.0])   # seen again: starts afresh, like a first sample
    out = f(np.array([[10.0, 10.0], [60.0, 50.0]]), 3 / 30)
    assert 52.0 < out[1, 0] < 60.0                          # and is smoothed from there on


def test_a_keypoint_seen_again_after_occlusion_is_where_it_is_measured():
    """The filter followed the decoder's placeholder of a hidden wrist (score 0, at the crop's corner): seen again
    with score 1.0, the wrist came out ~30 px from where the model put it."""
    image, gt, boxes = synthetic_scene(people=1, size=(320, 240), seed=3)
    x, y = np.round(gt[0, 9]).astype(int)
    hidden = image.copy()
    hidden[y - 5:y + 6, x - 5:x + 6] = 0   # the oracle model finds no dot of keypoint 9's colour
    est = PoseEstimator(make_oracle_model(), detector=lambda im: (boxes, np.full(len(boxes), 0.9, np.float32)),
                        nms_thr=None)
    raw, smooth = VideoPoseEstimator(est, smoothing=None), VideoPoseEstimator(est)
    for f, im in enumerate([image] * 5 + [hidden] * 5 + [image]):
        r, s = raw.step(im, f), smooth.step(im, f)
        if 5 <= f < 10:
            assert r.scores[0, 9] <= 0.3
    assert r.scores[0, 9] > 0.9
    assert np.linalg.norm(s.keypoints[0, 9] - r.keypoints[0, 9]) < 1e-3
    assert np.linalg.norm(s.keypoints[0, 9] - gt[0, 9]) < 4


def test_a_strong_match_is_never_traded_for_two_weak_ones():
    """ByteTrack's rule (lapjv with a cost limit) maximises the similarity above the threshold; the old rule made as
    many pairs as it could, and gave person A's id to someone else."""
    assert match_pairs(np.array([[0.9, 0.31], [0.31, 0.0]]), 0.3) == [(0, 0)]
    assert match_pairs(np.array([[0.9, 0.8], [0.8, 0.0]]), 0.3) == [(0, 1), (1, 0)]   # 1.0 above 0.3 vs 0.6
    assert match_pairs(np.array([[0.2, 0.1]]), 0.3) == []
    unit = np.random.default_rng(7).uniform(0.1, 0.9, (17, 2))

    def pose(b):
        b = np.asarray(b, float)
        return b[:2] + unit * (b[2:] - b[:2])

    a, b, c = [100, 50, 160, 200], [130, 50, 190, 200], [70, 50, 130, 200]   # IoU(a, b) = IoU(a, c) = 1/3
    tracker = PoseTracker(smoothing=None)
    for f in range(5):
        tracker.update(np.stack([pose(a), pose(b)]), np.ones((2, 17)), np.array([a, b], float), f, f / 30)
    # B steps behind A (not seen), newcomer C arrives on A's other side; A has not moved
    ids, _ = tracker.update(np.stack([pose(a), pose(c)]), np.ones((2, 17)), np.array([a, c], float), 5, 5 / 30)
    assert ids.tolist() == [0, 2]   # was [1, 0]: A took B's id and C took A's


def _marked_clip(path, frames=6):
    """A clip of one dot person sliding right; frame f lights a white marker at x = 8 + 12 f (to tell the frames of an
    output video apart). Returns the person's box per frame."""
    image, _, boxes = synthetic_scene(people=1, size=(320, 240), seed=3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    out = []
    for f in range(frames):
        im = np.roll(image, 2 * f, axis=1).copy()
        im[2:6, 8 + 12 * f: 12 + 12 * f] = 255
        writer.write(im)
        out.append(boxes[0] + [2 * f, 0, 2 * f, 0])
    writer.release()
    return np.array(out)


def _markers(video):
    cap = cv2.VideoCapture(str(video))
    found = []
    while True:
        ok, im = cap.read()
        if not ok:
            return found
        lit = [f for f in range(20) if im[3:5, 9 + 12 * f: 11 + 12 * f].mean() > 150]
        found.append(lit[-1] if lit else None)


def _boxes_file(path, boxes):
    dets = [{"image_id": f, "category_id": 1, "score": 0.9,
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]} for f, b in enumerate(boxes)]
    path.write_text(json.dumps(dets))
    return dets


def test_a_frame_skipped_for_its_box_keeps_its_place_in_the_rendered_videos(tmp_path, oracle_onnx, capsys):
    """A frame refused for its --bboxes entry was left out of vis/clip.mp4 and openpose/clip_pose.mp4: every later
    frame came one step early, out of step with the source and with predictions.json's frame_id."""
    dets = _boxes_file(tmp_path / "dets.json", _marked_clip(tmp_path / "clip.avi"))
    dets[2]["bbox"] = [5000.0, 5000.0, 50.0, 100.0]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out"
    assert main(["infer", str(tmp_path / "clip.avi"), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"),
                 "--openpose", "--json", "--out", str(out)]) == 0
    assert "1 frames skipped for their --bboxes boxes" in capsys.readouterr().out
    assert _markers(out / "vis" / "clip.mp4") == [0, 1, 2, 3, 4, 5]
    assert len(_markers(out / "openpose" / "clip_pose.mp4")) == 6
    assert [r["frame_id"] for r in json.loads((out / "predictions.json").read_text())] == [0, 1, 3, 4, 5]


def test_a_video_with_a_boxes_file_looks_each_frame_up_once(tmp_path, oracle_onnx, monkeypatch, capsys):
    """Each frame's boxes were looked up twice (the check, then the tracker), and the summary's detector time was
    twice what was spent."""
    from kdpose.inference import detectors

    _boxes_file(tmp_path / "dets.json", _marked_clip(tmp_path / "clip.avi", frames=3))
    calls, lookup = [], detectors.DetectionFile.lookup
    monkeypatch.setattr(detectors.DetectionFile, "lookup",
                        lambda self, name, image_id: calls.append(image_id) or lookup(self, name, image_id))
    assert main(["infer", str(tmp_path / "clip.avi"), "--model", oracle_onnx, "--bboxes", str(tmp_path / "dets.json"),
                 "--json", "--no-vis", "--out", str(tmp_path / "out")]) == 0
    assert calls == [0, 1, 2]


def test_rendered_videos_get_the_permissions_of_every_other_output(tmp_path):
    from kdpose.inference.outputs import AtomicVideoWriter, write_image

    umask = os.umask(0o022)
    try:
        for _ in range(2):   # new, then replacing an existing file of another mode
            writer = AtomicVideoWriter(tmp_path / "vis" / "clip.mp4", 10)
            writer.write(np.zeros((64, 64, 3), np.uint8))
            writer.close()
            if _ == 0:
                assert stat.S_IMODE((tmp_path / "vis" / "clip.mp4").stat().st_mode) == 0o644   # was 0o600
                os.chmod(tmp_path / "vis" / "clip.mp4", 0o664)
        write_image(tmp_path / "vis" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "vis" / "clip.mp4").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "vis" / "a.jpg").stat().st_mode) == 0o644


def test_frame_times_are_the_containers_when_it_gives_them():
    times, start, t = [], None, None
    for ms in [40.0, 73.3, 106.7, 173.3, 240.0]:   # a variable-rate file starting at 40 ms: 30 fps, then 15 fps
        t, start = frame_time(ms, start, t, fps=30.0)
        times.append(t)
    np.testing.assert_allclose(times, [0, 0.0333, 0.0667, 0.1333, 0.2], atol=1e-4)
    times, start, t = [], None, None
    for ms in [0.0, 0.0, float("nan"), -1.0]:   # a backend without times: index / fps
        t, start = frame_time(ms, start, t, fps=25.0)
        times.append(t)
    np.testing.assert_allclose(times, [0, 0.04, 0.08, 0.12])


class _VariableRateCapture:
    """What OpenCV gives for a complete variable-frame-rate Matroska file: no frame count in the container, so
    CAP_PROP_FRAME_COUNT is duration x nominal fps (45), more than the 30 frames it holds."""

    def __init__(self):
        self.times = [i * 1000 / 30 for i in range(15)] + [14 * 1000 / 30 + (i + 1) * 1000 / 15 for i in range(15)]
        self.i = -1

    def read(self):
        self.i += 1
        return (True, np.zeros((8, 8, 3), np.uint8)) if self.i < len(self.times) else (False, None)

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: 45.0, cv2.CAP_PROP_FPS: 30.0,
                cv2.CAP_PROP_POS_MSEC: self.times[min(self.i, len(self.times) - 1)]}.get(prop, 0.0)

    def release(self):
        pass


def test_a_complete_variable_rate_video_is_not_called_truncated(tmp_path):
    """A complete variable-frame-rate file was reported as "ended before its announced frame count", and its frames
    were timed index / fps (0.97 s for the last instead of the file's 1.47 s)."""
    path = tmp_path / "clip.avi"
    _marked_clip(path, frames=2)
    src = FrameSource(path)
    src._cap.release()
    src._cap, src.fps = _VariableRateCapture(), 30.0
    times = [f.timestamp for f in src]
    assert len(times) == 30 and not src.truncated
    assert times[-1] == pytest.approx(1.4667, abs=1e-3)


def test_video_estimator_uses_the_frame_times_it_is_given():
    image, _, boxes = synthetic_scene(people=1, size=(320, 240), seed=3)
    est = PoseEstimator(make_oracle_model(), detector=lambda im: (boxes, np.full(len(boxes), 0.9, np.float32)),
                        nms_thr=None)
    frames = [np.roll(image, 6 * f, axis=1) for f in range(3)]
    slow, fast = VideoPoseEstimator(est, fps=30.0), VideoPoseEstimator(est, fps=30.0)
    a = slow.process(frames, timestamps=[0.0, 1.0, 2.0])   # a second between frames: hardly any smoothing lag
    b = fast.process(frames)                               # index / fps
    raw = VideoPoseEstimator(est, smoothing=None).process(frames)
    lag = lambda res: np.abs(res[-1].keypoints - raw[-1].keypoints).mean()
    assert lag(a) < lag(b) / 3


def test_a_damaged_avi_gives_kdposes_line_only(tmp_path):
    """After FFmpeg, OpenCV's own MJPEG reader tried a damaged .avi and printed "Unexpected element. Expected: LIST"
    above kdpose's one-line error (a fresh process: OpenCV reads the setting when it first lists its backends)."""
    import subprocess
    import sys

    _marked_clip(tmp_path / "good.avi", frames=8)
    (tmp_path / "bad.avi").write_bytes((tmp_path / "good.avi").read_bytes()[:4096])
    code = ("from kdpose.errors import DataError\nfrom kdpose.inference.sources import FrameSource\n"
            "print(len(list(FrameSource('good.avi'))))\n"
            "try:\n    list(FrameSource('bad.avi'))\nexcept DataError as exc:\n    print(exc)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=120, errors="replace")
    assert run.stdout.split("\n")[:2] == ["8", "bad.avi: cannot open video (unreadable file or unsupported codec)"]
    assert run.stderr == ""


def test_a_stream_url_is_opened_as_given():
    """A function-level ``import urllib.request`` made ``urllib`` local to ``_capture_target``: every http / rtsp
    video URL ended in UnboundLocalError (a traceback) before OpenCV saw it."""
    from kdpose.inference.sources import _capture_target

    assert _capture_target("rtsp://camera.local/stream") == "rtsp://camera.local/stream"
    assert _capture_target("https://example.com/clip.mp4") == "https://example.com/clip.mp4"
    assert _capture_target("file:///tmp/a%20b.mp4") == "/tmp/a b.mp4"
    assert _capture_target("clip.mp4") == "clip.mp4"
