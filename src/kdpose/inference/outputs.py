"""Result files: one COCO results JSON per job (+ boxes, track ids), optional per-image JSON, OpenPose JSON
(``--write_json`` style), rendered images, ControlNet pose images and mp4 videos. Every file is written atomically
(a temp file in the same folder, then renamed).

Layout under the output folder, for an image named ``S`` (``S.jpg``, or ``sub/S.png`` in a folder) or a video
``S.mp4``::

    predictions.json                  COCO results of every image / frame of the job (``kdpose eval --pred``)
    predictions/S.json                per image, with --json-per-image
    vis/S.jpg | vis/S.mp4             rendered skeletons, boxes and track ids
    openpose/S_keypoints.json         OpenPose JSON (videos: S_000000000012_keypoints.json per frame)
    openpose/S_pose.png               ControlNet pose image (videos: S_pose.mp4)

Images whose names differ only in the extension (``a.jpg``, ``a.png``) get ``a_jpg`` / ``a_png`` as ``S``, so no
output overwrites another (:func:`output_stems`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kdpose.inference.estimator import PoseArrays
from kdpose.inference.sources import DRAWN_MARKER
from kdpose.skeletons import Skeleton
from kdpose.utils.io import atomic_write, replace_keeping_mode, write_json


def output_stems(names: Sequence[str]) -> list[str]:
    """Output file stems for image names, one per name, never two alike (case-insensitively): ``sub/a.jpg`` ->
    ``sub/a``; names that share a stem but not an extension keep their extension (``a.jpg``, ``a.png`` -> ``a_jpg``,
    ``a_png``); names that are still alike (the same name in two source folders) get ``_2``, ``_3``, ... in order
    (``a.jpg``, ``a.jpg`` -> ``a``, ``a_2``)."""
    stems = [Path(n).with_suffix("").as_posix() for n in names]
    extensions: dict[str, set[str]] = {}
    for name, stem in zip(names, stems):
        extensions.setdefault(stem.lower(), set()).add(Path(name).suffix.lower())
    out: list[str] = []
    used: set[str] = set()
    for name, stem in zip(names, stems):
        if len(extensions[stem.lower()]) > 1 and Path(name).suffix:
            stem = f"{stem}_{Path(name).suffix.lstrip('.')}"
        base, k = stem, 1
        while stem.lower() in used:
            k += 1
            stem = f"{base}_{k}"
        used.add(stem.lower())
        out.append(stem)
    return out


def coco_records(result: PoseArrays, image_id: int, category_id: int = 1) -> list[dict]:
    """COCO keypoint-results entries (``image_id``, ``category_id``, flat ``keypoints`` x,y,score, ``score``)
    plus ``bbox`` (xywh), ``bbox_score`` and, in videos, ``track_id``. 133-point whole-body poses are written in
    the split COCO-WholeBody fields (``keypoints`` = body 17, ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``,
    ``righthand_kpts``), the results format of MMPose and xtcocotools; ``kdpose eval`` reads both forms."""
    from kdpose.evaluation.results import wholebody_fields

    out = []
    ids = result.track_ids
    for i in range(len(result.keypoints)):
        kpt = np.concatenate([result.keypoints[i], result.scores[i][:, None]], 1)
        x1, y1, x2, y2 = (float(v) for v in result.bboxes[i])
        flat = [round(float(v), 3) for v in kpt.reshape(-1)]
        rec = {"image_id": int(image_id), "category_id": category_id,
               **(wholebody_fields(flat) if len(flat) == 133 * 3 else {"keypoints": flat}),
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


def mark_drawn(folder: Path) -> None:
    """Leave :data:`~kdpose.inference.sources.DRAWN_MARKER` in ``folder`` (once): a later job over a folder holding
    this one does not take its pictures for photos."""
    marker = folder / DRAWN_MARKER
    if not marker.exists():
        with atomic_write(marker) as f:
            f.write(b"pictures drawn by kdpose infer: a later kdpose infer of a folder holding them skips them\n")


class AtomicVideoWriter:
    """``cv2.VideoWriter`` to a temp file in the destination folder, renamed into place by :meth:`close`
    (so an interrupted job never leaves a half-written video under the final name). The temp name is unique
    (``mkstemp``): two jobs drawing the same clip into one folder at once never write into each other's file."""

    def __init__(self, path: str | os.PathLike, fps: float, fourcc: str = "mp4v"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp: Path | None = None  # made with the first frame: a clip without frames leaves nothing behind
        self.fps, self.fourcc = fps, fourcc
        self._writer = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            h, w = frame.shape[:2]
            # the extension stays last: OpenCV picks the container from it
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                       dir=self.path.parent)
            os.close(fd)
            self.tmp = Path(tmp)
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot open a '{self.fourcc}' video writer")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            replace_keeping_mode(self.tmp, self.path)  # mkstemp's 0600 made videos unreadable beside 0644 JSON

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)


# Sub-folders of --out that hold the pictures a job draws: never inputs of a later job whose source folder holds
# them (kdpose infer . writes ./infer_out/vis/)
IMAGE_OUTPUT_FOLDERS = ("vis", "openpose")


def image_output_folders(out_dir: str | os.PathLike) -> list[Path]:
    """The folders under ``out_dir`` a job draws pictures into (:data:`IMAGE_OUTPUT_FOLDERS`)."""
    return [Path(out_dir) / name for name in IMAGE_OUTPUT_FOLDERS]


class ResultWriter:
    """Writes what the ``kdpose infer`` options ask for, frame by frame (see the module docstring).

    Args:
        out_dir: output folder.
        skeleton: the results' layout; body_skeleton / hand_skeleton: OpenPose-18 and hand-21 (for OpenPose
            outputs).
        is_video: one video (or webcam) source rather than images.
        video_name: stem used for video outputs.
        fps: video frame rate.
        render / json / openpose_json / openpose_image: which outputs to write (``json``: ``predictions.json``).
        json_per_image: also one COCO results file per image (``predictions/S.json``; images only).
        kpt_thr: keypoint threshold for drawing and OpenPose JSON.
        names: the names of all the job's images, in frame order, when known up front (output stems are then
            chosen for the whole job: :func:`output_stems`).
        show: called with every rendered frame (a display window), whether or not ``render`` saves it.
    """

    def __init__(self, out_dir: str | os.PathLike, skeleton: Skeleton, body_skeleton: Skeleton,
                 hand_skeleton: Skeleton, is_video: bool, video_name: str = "video", fps: float = 30.0,
                 render: bool = True, json: bool = False, openpose_json: bool = False,
                 openpose_image: bool = False, kpt_thr: float = 0.3, json_per_image: bool = False,
                 names: Sequence[str] | None = None, show: Callable[[np.ndarray], None] | None = None):
        self.out = Path(out_dir)
        self.skeleton, self.body_skeleton, self.hand_skeleton = skeleton, body_skeleton, hand_skeleton
        self.is_video, self.video_name, self.fps = is_video, video_name, fps
        self.render, self.json, self.openpose_json, self.openpose_image = render, json, openpose_json, openpose_image
        self.json_per_image = json_per_image and not is_video
        self.kpt_thr = kpt_thr
        self.show = show
        self.records: list[dict] = []  # COCO results of the whole job
        self._stems = dict(enumerate(output_stems(names))) if names else {}
        self._used = {s.lower() for s in self._stems.values()}
        self._vis = AtomicVideoWriter(self.out / "vis" / f"{video_name}.mp4", fps) if is_video and render else None
        self._pose = (AtomicVideoWriter(self.out / "openpose" / f"{video_name}_pose.mp4", fps)
                      if is_video and openpose_image else None)
        self.written: list[Path] = []
        self._marked: set[Path] = set()  # folders already holding DRAWN_MARKER (one check per folder, not per frame)

    def _stem(self, name: str, index: int) -> str:
        if self.is_video:
            return f"{self.video_name}_{index:012d}"
        if index not in self._stems:  # names not announced up front: keep them apart as they come
            stem = output_stems([name])[0]
            base, k = stem, 1
            while stem.lower() in self._used:
                k += 1
                stem = f"{base}_{k}"
            self._stems[index] = stem
            self._used.add(stem.lower())
        return self._stems[index]

    def add(self, image: np.ndarray, result: PoseArrays, name: str, index: int, image_id: int) -> None:
        """Write the outputs of one frame (``name``: relative image path, or the video stem; ``image_id``: the
        COCO id its results carry; videos also record ``frame_id`` = ``index``)."""
        from kdpose.viz.draw import draw_boxes, draw_skeleton
        from kdpose.viz.openpose import draw_openpose

        stem = self._stem(name, index)
        h, w = image.shape[:2]
        if self.render or self.show is not None:
            vis = draw_boxes(image, result.bboxes, result.bbox_scores, result.track_ids)
            vis = draw_skeleton(vis, result.keypoints, result.scores, self.skeleton, self.kpt_thr, copy=False)
            if self.show is not None:
                self.show(vis)
            if self._vis is not None:
                self._vis.write(vis)
            elif self.render:
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
        if self.json or self.json_per_image:
            records = coco_records(result, image_id)
            if self.is_video:
                for r in records:
                    r["frame_id"] = int(index)
            if self.json:
                self.records += records
            if self.json_per_image:
                path = self.out / "predictions" / f"{stem}.json"
                write_json(path, records)
                self.written.append(path)

    def add_unposed(self, image: np.ndarray) -> None:
        """A video frame that gives no poses (its --bboxes entry was refused): the rendered videos still get it, drawn
        without people, so that their frame i stays the source's frame i (and predictions.json's ``frame_id`` i)."""
        if not self.is_video:
            return
        if self.show is not None:
            self.show(image)
        if self._vis is not None:
            self._vis.write(image)
        if self._pose is not None:
            self._pose.write(np.zeros_like(image))

    def _save_image(self, path: Path, image: np.ndarray) -> None:
        write_image(path, image)
        self.written.append(path)
        if path.parent not in self._marked:
            mark_drawn(path.parent)
            self._marked.add(path.parent)

    def close(self) -> None:
        """Finish the videos and write ``predictions.json``."""
        for writer in (self._vis, self._pose):
            if writer is not None and writer.frames:
                writer.close()
                self.written.append(writer.path)
        if self.json:
            path = self.out / "predictions.json"
            write_json(path, self.records)
            self.written.append(path)

    def abort(self) -> None:
        for writer in (self._vis, self._pose):
            if writer is not None:
                writer.abort()
