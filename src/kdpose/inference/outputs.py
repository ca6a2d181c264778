"""Result files: COCO results JSON (+ track ids), per-video ``[{frame_id, instances}]`` JSON, OpenPose JSON
(``--write_json`` style), rendered images, ControlNet pose images and mp4 videos. Every file is written
atomically (a temp file in the same folder, then renamed).

Layout under the output folder, for a source named ``S`` (image ``S.jpg``, folder images ``sub/S.png``, or
video ``S.mp4``)::

    vis/S.jpg | vis/S.mp4             rendered skeletons, boxes and track ids
    predictions/S.json                images: COCO results list; videos: [{"frame_id", "instances"}]
    openpose/S_keypoints.json         OpenPose JSON (videos: S_000000000012_keypoints.json per frame)
    openpose/S_pose.png               ControlNet pose image (videos: S_pose.mp4)
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from kdpose.inference.estimator import PoseArrays
from kdpose.skeletons import Skeleton
from kdpose.utils.io import atomic_write, write_json


def coco_records(result: PoseArrays, image_id: int, category_id: int = 1) -> list[dict]:
    """COCO keypoint-results entries (``image_id``, ``category_id``, flat ``keypoints`` x,y,score, ``score``)
    plus ``bbox`` (xywh), ``bbox_score`` and, in videos, ``track_id``."""
    out = []
    ids = result.track_ids
    for i in range(len(result.keypoints)):
        kpt = np.concatenate([result.keypoints[i], result.scores[i][:, None]], 1)
        x1, y1, x2, y2 = (float(v) for v in result.bboxes[i])
        rec = {"image_id": int(image_id), "category_id": category_id,
               "keypoints": [round(float(v), 3) for v in kpt.reshape(-1)],
               "score": round(float(result.instance_scores[i]), 5),
               "bbox": [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)],
               "bbox_score": round(float(result.bbox_scores[i]), 5)}
        if ids is not None:
            rec["track_id"] = int(ids[i])
        out.append(rec)
    return out


def _flat(points: np.ndarray, scores: np.ndarray, kpt_thr: float) -> list[float]:
    """OpenPose's flat x, y, c list; points at or below ``kpt_thr`` are written as 0, 0, 0 (not detected)."""
    ok = scores > kpt_thr
    tri = np.concatenate([points, scores[:, None]], 1) * ok[:, None]
    return [round(float(v), 3) for v in tri.reshape(-1)]


def openpose_document(result: PoseArrays, skeleton: Skeleton, canvas_size: tuple[int, int],
                      kpt_thr: float = 0.3) -> dict[str, Any]:
    """One frame in OpenPose's ``--write_json`` format (18-point COCO body with neck, hands, 70-point face),
    with ``canvas_width``/``canvas_height`` as the ControlNet tools write them. Coordinates are image pixels;
    ``person_id`` is the track id (or -1)."""
    from kdpose.viz.openpose import split_openpose

    people = []
    if len(result.keypoints):
        parts = split_openpose(result.keypoints, result.scores, skeleton)
        for i in range(len(result.keypoints)):
            tid = -1 if result.track_ids is None else int(result.track_ids[i])
            person = {"person_id": [tid], "pose_keypoints_2d": _flat(parts.body[i], parts.body_scores[i], kpt_thr),
                      "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                      "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                      "hand_right_keypoints_3d": []}
            if parts.face is not None:
                person["face_keypoints_2d"] = _flat(parts.face[i], parts.face_scores[i], kpt_thr)
                person["hand_left_keypoints_2d"] = _flat(parts.left_hand[i], parts.left_hand_scores[i], kpt_thr)
                person["hand_right_keypoints_2d"] = _flat(parts.right_hand[i], parts.right_hand_scores[i], kpt_thr)
            people.append(person)
    return {"version": 1.3, "people": people, "canvas_width": int(canvas_size[0]),
            "canvas_height": int(canvas_size[1])}


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode by extension (jpg/png) and write atomically."""
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise OSError(f"{path}: OpenCV cannot encode this image format")
    with atomic_write(path) as f:
        f.write(buf.tobytes())


class AtomicVideoWriter:
    """``cv2.VideoWriter`` to a temp file in the destination folder, renamed into place by :meth:`close`
    (so an interrupted job never leaves a half-written video under the final name)."""

    def __init__(self, path: str | os.PathLike, fps: float, fourcc: str = "mp4v"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self.fps, self.fourcc = fps, fourcc
        self._writer = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot open a '{self.fourcc}' video writer")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


class ResultWriter:
    """Writes what the ``kdpose infer`` options ask for, frame by frame (see the module docstring).

    Args:
        out_dir: output folder.
        skeleton: the results' layout; body_skeleton / hand_skeleton: OpenPose-18 and hand-21 (for OpenPose
            outputs).
        is_video: one video (or webcam) source rather than images.
        video_name: stem used for video outputs.
        fps: video frame rate.
        render / json / openpose_json / openpose_image: which outputs to write.
        kpt_thr: keypoint threshold for drawing and OpenPose JSON.
    """

    def __init__(self, out_dir: str | os.PathLike, skeleton: Skeleton, body_skeleton: Skeleton,
                 hand_skeleton: Skeleton, is_video: bool, video_name: str = "video", fps: float = 30.0,
                 render: bool = True, json: bool = False, openpose_json: bool = False,
                 openpose_image: bool = False, kpt_thr: float = 0.3):
        self.out = Path(out_dir)
        self.skeleton, self.body_skeleton, self.hand_skeleton = skeleton, body_skeleton, hand_skeleton
        self.is_video, self.video_name, self.fps = is_video, video_name, fps
        self.render, self.json, self.openpose_json, self.openpose_image = render, json, openpose_json, openpose_image
        self.kpt_thr = kpt_thr
        self._frames: list[dict] = []
        self._vis = AtomicVideoWriter(self.out / "vis" / f"{video_name}.mp4", fps) if is_video and render else None
        self._pose = (AtomicVideoWriter(self.out / "openpose" / f"{video_name}_pose.mp4", fps)
                      if is_video and openpose_image else None)
        self.written: list[Path] = []

    def add(self, image: np.ndarray, result: PoseArrays, name: str, index: int, image_id: int) -> None:
        """Write the outputs of one frame (``name``: relative image path, or the video stem)."""
        from kdpose.viz.draw import draw_boxes, draw_skeleton
        from kdpose.viz.openpose import draw_openpose

        stem = Path(name).with_suffix("").as_posix() if not self.is_video else f"{self.video_name}_{index:012d}"
        h, w = image.shape[:2]
        if self.render:
            vis = draw_boxes(image, result.bboxes, result.bbox_scores, result.track_ids)
            vis = draw_skeleton(vis, result.keypoints, result.scores, self.skeleton, self.kpt_thr, copy=False)
            if self._vis is not None:
                self._vis.write(vis)
            else:
                self._save_image(self.out / "vis" / f"{stem}.jpg", vis)
        if self.openpose_image:
            pose = draw_openpose((w, h), result.keypoints, result.scores, self.skeleton, self.body_skeleton,
                                 self.hand_skeleton, self.kpt_thr)
            if self._pose is not None:
                self._pose.write(pose)
            else:
                self._save_image(self.out / "openpose" / f"{stem}_pose.png", pose)
        if self.openpose_json:
            path = self.out / "openpose" / f"{stem}_keypoints.json"
            write_json(path, openpose_document(result, self.skeleton, (w, h), self.kpt_thr))
            self.written.append(path)
        if self.json:
            records = coco_records(result, image_id)
            if self.is_video:
                for r in records:
                    r.pop("image_id")
                self._frames.append({"frame_id": index, "instances": records})
            else:
                path = self.out / "predictions" / f"{stem}.json"
                write_json(path, records)
                self.written.append(path)

    def _save_image(self, path: Path, image: np.ndarray) -> None:
        write_image(path, image)
        self.written.append(path)

    def close(self) -> None:
        """Finish videos and the per-video JSON."""
        for writer in (self._vis, self._pose):
            if writer is not None and writer.frames:
                writer.close()
                self.written.append(writer.path)
        if self.is_video and self.json:
            path = self.out / "predictions" / f"{self.video_name}.json"
            write_json(path, self._frames)
            self.written.append(path)

    def abort(self) -> None:
        for writer in (self._vis, self._pose):
            if writer is not None:
                writer.abort()
