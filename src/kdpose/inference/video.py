"""The RTMPose paper's video pipeline: skip-frame detection, OKS-NMS, tracking and One-Euro smoothing.

* The detector runs every ``det_every`` frames (BlazePose's skip-frame detection); in between, each person's box
  is the box of their previous pose, expanded by ``pose_box_expand`` (1.25, as rtmlib's PoseTracker). When no
  person was found on the previous frame the detector runs anyway.
* Duplicate poses are removed by OKS-NMS (in :class:`PoseEstimator`), ids are assigned by ByteTrack-style
  two-stage optimal matching on box IoU and pose OKS (:class:`kdpose.inference.tracking.PoseTracker`), and every
  keypoint of every track goes through a One-Euro filter (time = the frame's timestamp when given, e.g. a video's
  presentation times, else frame index / fps; the filter settings are in Hz).
* Boxes from a detection / annotation file are looked up by image id = ``first_frame_id`` + frame index
  (:func:`check_frame_ids` refuses a file whose ids do not fit the video's frames).
* With ``det_every == 1`` several frames are batched into one forward (:meth:`process`); with skip-frame
  detection each frame's boxes depend on the previous frame's poses, so frames go one at a time (the crops of
  a frame are still batched).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from kdpose.checks import check_number
from kdpose.errors import ConfigError
from kdpose.inference.detectors import DetectionFile
from kdpose.inference.estimator import PoseArrays, PoseEstimator
from kdpose.inference.smoothing import OneEuroParams
from kdpose.inference.tracking import PoseTracker, box_iou, boxes_from_keypoints

log = logging.getLogger("kdpose")


def default_oks_fn(sigmas: np.ndarray):
    """Pairwise OKS from ``kdpose.evaluation`` when available, else None (the tracker then matches by IoU)."""
    try:
        from kdpose.inference.tracking import make_oks_fn

        return make_oks_fn(sigmas)
    except ImportError:
        log.debug("kdpose.evaluation.oks_matrix unavailable: tracking by box IoU")
        return None


def check_frame_ids(boxes: DetectionFile, frame_count: int, first_frame_id: int | None, video: str = "the video"
                    ) -> None:
    """Refuse (one-line ``ConfigError``) a detection / annotation file whose image ids cannot be the frames of a video
    whose frame i is image ``first + i``, where a wrong numbering would silently give each frame another frame's
    boxes.

    Args:
        frame_count: the frames the video announces (0: unknown, e.g. a webcam; then only the first id is checked).
        first_frame_id: the id of frame 0 the caller states; None: 0, and the file must then also start at 0 (a file
            starting at 1 is as likely numbered from 1 as missing frame 0's people, so the caller must say which).
    """
    first = 0 if first_frame_id is None else first_frame_id
    ids = boxes.image_ids()
    frames = f"{first}..{first + frame_count - 1}" if frame_count > 0 else f"{first}, {first + 1}, ..."
    said = "" if first_frame_id is None else f" (--first-frame-id {first})"
    if not ids:
        raise ConfigError(f"{boxes.path}: no box has an integer image_id, and the frames of {video} are matched by "
                          f"image id (frames are numbered {frames}{said})")
    where = f"{boxes.path} has image ids {ids[0]}..{ids[-1]}; the frames of {video} are numbered {frames}{said}"
    if ids[0] < first or (frame_count > 0 and ids[-1] > first + frame_count - 1):
        raise ConfigError(f"{where}: give --first-frame-id N, the image id of the first frame in the file "
                          f"(e.g. {ids[0]} for a file numbered from {ids[0]})")
    if first_frame_id is None and ids[0] != first:
        raise ConfigError(f"{where}: give --first-frame-id {ids[0]} if the file counts frames from {ids[0]}, or "
                          "--first-frame-id 0 if the first frames have no boxes")


class VideoPoseEstimator:
    """Stateful per-video wrapper around a :class:`PoseEstimator`.

    Args:
        estimator: the image pipeline (model, detector, thresholds).
        det_every: run the detector every K frames (1 = every frame).
        tracking: assign track ids (and smooth per track).
        smoothing: One-Euro settings, or None for raw keypoints.
        match_thr: least similarity (box IoU, raised towards pose OKS: PoseTracker.similarity) for a pose to
            continue a track.
        max_age: frames a lost track is kept (and can be matched again) before it is dropped.
        pose_box_expand: expansion of the keypoint box used as the next frame's person box.
        kpt_thr: keypoints above this score define that box, and only they are smoothed (the others are no
            measurement: they pass through raw, and the filter of a keypoint seen again starts afresh).
        fps: frames per second (the filter's time when a frame comes without its timestamp).
        first_frame_id: the image id of frame 0 in the estimator's detection file (frame i has id
            ``first_frame_id + i``).
    """

    def __init__(self, estimator: PoseEstimator, det_every: int = 1, tracking: bool = True,
                 smoothing: OneEuroParams | None = OneEuroParams(), match_thr: float = 0.3, max_age: int = 10,
                 pose_box_expand: float = 1.25, kpt_thr: float = 0.3, fps: float = 30.0,
                 first_frame_id: int = 0):
        where = "VideoPoseEstimator"
        if not isinstance(estimator, PoseEstimator):
            raise TypeError(f"{where}: estimator must be a kdpose PoseEstimator, got {type(estimator).__name__}")
        check_number(det_every, where, "det_every", low=1, integer=True)
        check_number(fps, where, "fps", low=0, low_open=True)  # OpenCV reports 0 for many streams: say so here
        check_number(max_age, where, "max_age", low=0, integer=True)
        check_number(pose_box_expand, where, "pose_box_expand", low=0, low_open=True)
        check_number(match_thr, where, "match_thr", low=0, high=1)
        check_number(kpt_thr, where, "kpt_thr", low=0)  # raw SimCC maxima: keypoint scores can exceed 1
        check_number(first_frame_id, where, "first_frame_id", integer=True)
        self.est = estimator
        self.det_every = det_every
        self.pose_box_expand = pose_box_expand
        self.kpt_thr = kpt_thr
        self.fps = fps
        self.first_frame_id = first_frame_id
        self.tracker = None
        if tracking:
            self.tracker = PoseTracker(default_oks_fn(estimator.skeleton.sigmas_array), match_thr=match_thr,
                                       max_age=max_age, smoothing=smoothing, keypoint_thr=kpt_thr)
        self.detector_runs = 0
        self._prev: PoseArrays | None = None  # raw (unsmoothed) poses of the last frame
        self._last_index = -1
        self._box_ids = None  # between detector runs: (track ids, boxes) of the boxes made from previous poses

    def reset(self) -> None:
        self._prev, self._last_index, self.detector_runs = None, -1, 0
        if self.tracker is not None:
            self.tracker.reset()

    def _boxes(self, image: np.ndarray, index: int, name: str | None, detection=None
               ) -> tuple[np.ndarray, np.ndarray]:
        """This frame's person boxes and scores; between detector runs, the boxes of the previous poses (whose
        track ids are kept in ``self._box_ids``, -1 when untracked). ``detection``: this frame's (boxes, scores)
        already looked up by the caller, used where the detector would run."""
        self._box_ids = None
        skip = self.det_every > 1 and index % self.det_every != 0 and self._prev is not None and len(self._prev[0])
        if skip:
            h, w = image.shape[:2]
            boxes, kept = boxes_from_keypoints(self._prev.keypoints, self._prev.scores, self.kpt_thr,
                                               self.pose_box_expand, (w, h))
            if len(boxes):
                ids = self._prev.track_ids
                self._box_ids = (ids[kept] if ids is not None else np.full(len(kept), -1), boxes)
                return boxes, self._prev.bbox_scores[kept]
        self.detector_runs += 1
        if detection is not None:
            return detection
        # by id alone: the video's name (e.g. 7.mp4) must not pick one image's boxes for every frame
        return self.est.detect(image, None, image_id=self.first_frame_id + index)

    def _finish(self, result: PoseArrays, index: int, timestamp: float | None = None) -> PoseArrays:
        self._last_index = index
        if self.tracker is None:
            self._prev = result
            return result
        prior = None
        if self._box_ids is not None and len(result.bboxes):   # each pose continues the track its crop came from
            ids, boxes = self._box_ids
            overlap = box_iou(result.bboxes, boxes)
            best = overlap.argmax(1)
            prior = np.where(overlap[np.arange(len(best)), best] > 0.99, ids[best], -1)
        # the person boxes (detector, or the previous poses) are steadier than the keypoints of a weak model
        seconds = index / self.fps if timestamp is None else timestamp
        ids, smooth = self.tracker.update(result.keypoints, result.scores, result.bboxes, index, seconds,
                                          det_scores=result.bbox_scores, prior_ids=prior)
        self._prev = PoseArrays(result.keypoints, result.scores, result.bboxes, result.bbox_scores,
                                result.instance_scores, ids)   # raw poses, with their track ids
        return PoseArrays(smooth, result.scores, result.bboxes, result.bbox_scores, result.instance_scores, ids)

    def step(self, image, index: int | None = None, name: str | None = None, rgb: bool = False,
             detection: tuple[np.ndarray, np.ndarray] | None = None, timestamp: float | None = None) -> PoseArrays:
        """Poses of the next frame, with ``track_ids`` and smoothed keypoints. The frame is whatever
        :meth:`PoseEstimator.load_image` reads (BGR array unless ``rgb``, float in [0, 1], gray, BGRA, PIL, path):
        a frame that skipped that conversion used to give poses far off, silently. ``detection``: the frame's
        (boxes, scores) when the caller has already looked them up (``kdpose infer`` checks a --bboxes file's boxes
        first), used instead of a second lookup on a detector frame. ``timestamp``: the frame's time in seconds
        (a variable-frame-rate video's presentation time); None: index / fps."""
        image = self.est.load_image(image, rgb)[0]
        index = self._last_index + 1 if index is None else index
        boxes, scores = self._boxes(image, index, name, detection)
        return self._finish(self.est.predict_boxes([image], [boxes], [scores])[0], index, timestamp)

    def process(self, images: Sequence, indices: Sequence[int] | None = None,
                name: str | None = None, rgb: bool = False,
                detections: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                timestamps: Sequence[float] | None = None) -> list[PoseArrays]:
        """Several consecutive frames (as :meth:`step` reads them, ``detections`` and ``timestamps`` one per frame);
        one batched forward for all their crops when ``det_every == 1``."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise ConfigError("VideoPoseEstimator.process: images is one frame; pass a list of frames (or use step)")
        images = [self.est.load_image(im, rgb)[0] for im in images]
        if indices is None:
            indices = list(range(self._last_index + 1, self._last_index + 1 + len(images)))
        elif len(indices) != len(images):
            raise ConfigError(f"VideoPoseEstimator.process: {len(images)} frames but {len(indices)} indices")
        if detections is None:
            detections = [None] * len(images)
        elif len(detections) != len(images):
            raise ConfigError(f"VideoPoseEstimator.process: {len(images)} frames but {len(detections)} detections")
        if timestamps is None:
            timestamps = [None] * len(images)
        elif len(timestamps) != len(images):
            raise ConfigError(f"VideoPoseEstimator.process: {len(images)} frames but {len(timestamps)} timestamps")
        if self.det_every > 1 or len(images) == 1:
            return [self.step(im, i, name, detection=d, timestamp=s)
                    for im, i, d, s in zip(images, indices, detections, timestamps)]
        dets = [self._boxes(im, i, name, d) for im, i, d in zip(images, indices, detections)]
        raw = self.est.predict_boxes(list(images), [d[0] for d in dets], [d[1] for d in dets])
        return [self._finish(r, i, s) for r, i, s in zip(raw, indices, timestamps)]
