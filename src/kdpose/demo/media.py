"""Pictures and video of the demo: poses drawn on held-out images (COCO style and OpenPose/ControlNet style) and
a short synthetic clip run through the inference video pipeline (tracking + One-Euro smoothing).

Person boxes are those a person detector finds (``kdpose demo --detector``, by default the shipped
``DEFAULT_DETECTOR``), as ``kdpose infer --det`` would; or, with ``--detector none``, the ground-truth boxes of the
synthetic data (given to the pipeline as a COCO detection-results file, the same route as ``kdpose infer --bboxes``),
so the pictures show the pose networks alone."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import atomic_write


def gt_boxes_by_image(ann_file: str | Path, layout: str) -> dict[str, tuple[int, np.ndarray]]:
    """image path -> (image id, (N, 4) xyxy ground-truth person boxes) of a COCO-format annotation file."""
    from ..layouts import get_layout

    samples = get_layout(layout).read_annotations(ann_file, mode="eval")
    grouped: dict[str, list] = {}
    for s in samples:
        grouped.setdefault(s.image_path, []).append(s)
    return {path: (items[0].image_id, np.stack([s.bbox for s in items]).astype(np.float32))
            for path, items in sorted(grouped.items(), key=lambda kv: kv[1][0].image_id)}


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with a title bar on top."""
    import cv2

    bar = np.full((22, image.shape[1], 3), 32, np.uint8)
    cv2.putText(bar, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (240, 240, 240), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], 0)


def _write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    with atomic_write(path) as f:
        f.write(data.tobytes())
    return path


def sample_grid(estimators: dict[str, Any], ann_file: str | Path, layout: str, out_dir: Path,
                num_images: int = 4, detector: Any = None, bbox_thr: float = 0.3) -> dict[str, Path]:
    """Draw each estimator's poses on the first ``num_images`` held-out images.

    Args:
        estimators: column title -> ``PoseEstimator`` (same layout).
        ann_file: the val annotation file (images + ground-truth boxes).
        detector: None (the ground-truth boxes) or a detector callable ``image -> (boxes, scores)``: its boxes
            scoring ``bbox_thr`` or more, the same for every column.
    The images shown are the ``num_images`` whose tallest ground-truth person is tallest (legible drawings).

    Returns:
        ``{"coco": grid PNG (one row per image, one column per estimator), "openpose": grid PNG of the last
        estimator in ControlNet style next to the image}``.
    """
    from ..data import read_image
    from ..skeletons import get_skeleton
    from ..viz import draw_openpose, draw_skeleton

    skeleton = get_skeleton(layout)
    body18, hand = get_skeleton("openpose"), get_skeleton("hand")
    rows, pose_rows = [], []
    images = gt_boxes_by_image(ann_file, layout)
    # the images whose people are largest (the most legible drawings); ties keep the file order
    tallest = sorted(images, key=lambda p: -float((images[p][1][:, 3] - images[p][1][:, 1]).max()))
    for path in tallest[:num_images]:
        boxes = images[path][1]
        image = read_image(path)
        if detector is not None:
            from ..inference.detectors import run_detector

            found, scores = run_detector(detector, image)
            boxes = found[scores >= bbox_thr]
        cells, last = [], None
        for title, est in estimators.items():
            kpts, scores = last = est.predict_arrays(image, bboxes=boxes)
            cells.append(_label(draw_skeleton(image, kpts, scores, skeleton), title))
        rows.append(np.concatenate(cells, 1))
        h, w = image.shape[:2]
        canvas = draw_openpose((w, h), last[0], last[1], skeleton, body18, hand)
        pose_rows.append(np.concatenate([_label(image, "input"), _label(canvas, "OpenPose style")], 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"coco": _write_png(out_dir / "samples_coco.png", np.concatenate(rows, 0)),
            "openpose": _write_png(out_dir / "samples_openpose.png", np.concatenate(pose_rows, 0))}


def render_clip(out_dir: Path, layout: str, seed: int, frames: int, size: tuple[int, int] = (320, 240),
                fps: float = 12.0, preset: str | None = None) -> tuple[Path, Path]:
    """A short synthetic clip: a camera panning and zooming over one rendered scene (of the synthetic ``preset``;
    None: the generator's defaults).

    Returns:
        (clip .mp4, COCO detection-results JSON with the ground-truth boxes of every frame, image_id = frame index)
    """
    import cv2

    from ..data.synth import SynthConfig, render_scene
    from ..inference.outputs import AtomicVideoWriter

    w, h = size
    big_w, big_h = int(w * 1.5), int(h * 1.5)
    from ..layouts import get_layout

    scene_cfg = dict(width=big_w, height=big_h, layout=get_layout(layout).synthetic_name(), max_people=2)
    cfg = SynthConfig.from_preset(preset, **scene_cfg) if preset else SynthConfig(**scene_cfg)
    scene = render_scene(cfg, seed=(seed, 0, 0))
    t = np.linspace(0.0, 1.0, max(2, frames))
    zoom = 1.0 + 0.25 * np.sin(np.pi * t)  # window = 1.5x .. 1.2x the output size
    win_w, win_h = big_w / zoom, big_h / zoom
    x0 = (big_w - win_w) * t
    y0 = (big_h - win_h) * (0.5 + 0.5 * np.sin(2 * np.pi * t)) * 0.8
    boxes = np.stack([inst.bbox for inst in scene.instances]).astype(np.float64) if scene.instances else \
        np.zeros((0, 4))
    clip = out_dir / "clip.mp4"
    writer = AtomicVideoWriter(clip, fps)
    detections = []
    try:
        for i in range(len(t)):
            sx, sy = w / win_w[i], h / win_h[i]
            matrix = np.array([[sx, 0, -x0[i] * sx], [0, sy, -y0[i] * sy]], np.float64)
            writer.write(cv2.warpAffine(scene.image, matrix, (w, h), flags=cv2.INTER_LINEAR))
            for box in boxes:
                x1, y1 = np.clip((box[[0, 2]] - x0[i]) * sx, 0, w), np.clip((box[[1, 3]] - y0[i]) * sy, 0, h)
                if x1[1] - x1[0] > 4 and y1[1] - y1[0] > 4:
                    detections.append({"image_id": i, "category_id": 1, "score": 1.0,
                                       "bbox": [float(x1[0]), float(y1[0]), float(x1[1] - x1[0]),
                                                float(y1[1] - y1[0])]})
    except BaseException:
        writer.abort()
        raise
    writer.close()
    det_file = out_dir / "clip_boxes.json"
    with atomic_write(det_file, "w") as f:
        json.dump(detections, f)
    return clip, det_file


def run_video(weights_onnx: Path, clip: Path, det_file: Path, layout: str, out_dir: Path, threads: int,
              detector: Any = None) -> dict:
    """Run the video pipeline (onnxruntime backend) on ``clip``; writes the annotated mp4 and a strip of frames.
    Person boxes: ``det_file`` (the clip's ground-truth boxes), or ``detector``'s (a callable) when given.

    Returns:
        ``{"video": annotated mp4, "strip": PNG of 4 frames, "frames": n, "tracks": distinct track ids,
        "fps": frames per second of the pipeline}``.
    """
    import time

    from ..inference import FrameSource, PoseEstimator, VideoPoseEstimator
    from ..inference.outputs import AtomicVideoWriter
    from ..skeletons import get_skeleton
    from ..viz import draw_people

    skeleton = get_skeleton(layout)
    est = PoseEstimator(str(weights_onnx), detector=str(det_file) if detector is None else detector,
                        backend="onnxruntime", threads=threads)
    video = VideoPoseEstimator(est, det_every=1, tracking=True)
    source = FrameSource(str(clip))
    out = out_dir / "video_poses.mp4"
    writer = AtomicVideoWriter(out, source.fps or 12.0)
    drawn, tracks = [], set()
    start = time.perf_counter()
    try:
        for frame in source:
            if frame.image is None:
                continue
            result = video.step(frame.image, frame.index)
            people = result.people()
            tracks.update(p.track_id for p in people if p.track_id is not None)
            canvas = draw_people(frame.image, people, skeleton)
            writer.write(canvas)
            drawn.append(canvas)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    seconds = time.perf_counter() - start
    picks = [drawn[i] for i in np.linspace(0, len(drawn) - 1, min(4, len(drawn))).round().astype(int)]
    strip = _write_png(out_dir / "video_strip.png", np.concatenate(picks, 1)) if picks else None
    return {"video": out, "strip": strip, "frames": len(drawn), "tracks": len(tracks),
            "fps": len(drawn) / seconds if seconds > 0 else 0.0}


__all__ = ["gt_boxes_by_image", "render_clip", "run_video", "sample_grid"]
