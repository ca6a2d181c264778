"""Track ids across video frames by pose (OKS) or box (IoU) similarity, with One-Euro smoothing per track.

This is the RTMPose paper's video pipeline (after BlazePose): between detector runs the person boxes come
from the previous frame's poses (:func:`boxes_from_keypoints`), and each pose is matched to the track it
overlaps most, greedily, highest similarity first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kdpose.inference.smoothing import OneEuroFilter, OneEuroParams


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4), (M, 4) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def boxes_from_keypoints(keypoints: np.ndarray, scores: np.ndarray, score_thr: float = 0.3,
                         expand: float = 1.25, image_size: tuple[int, int] | None = None,
                         min_points: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes for the next frame from this frame's poses (skip-frame detection).

    Args:
        keypoints: (N, K, 2) image pixels. scores: (N, K).
        score_thr: keypoints at or below it are ignored.
        expand: the tight keypoint box is scaled about its centre by this factor (rtmlib uses 1.25).
        image_size: (w, h) to clip to, or None.
        min_points: people with fewer confident keypoints get no box.
    Returns:
        boxes (M, 4) xyxy and ``kept`` (M,) indices of the people they come from.
    """
    if len(scores) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    keypoints = np.asarray(keypoints, np.float32).reshape(len(scores), -1, 2)
    ok = np.asarray(scores) > score_thr  # (N, K)
    kept = np.flatnonzero(ok.sum(1) >= min_points)
    if kept.size == 0:
        return np.zeros((0, 4), np.float32), kept
    pts, m = keypoints[kept], ok[kept][..., None]
    lo = np.where(m, pts, np.inf).min(1)
    hi = np.where(m, pts, -np.inf).max(1)
    center, half = (lo + hi) / 2, (hi - lo) / 2 * expand
    boxes = np.concatenate([center - half, center + half], 1)
    if image_size is not None:
        w, h = image_size
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1])
    good = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    return boxes[good].astype(np.float32), kept[good]


def keypoint_boxes(keypoints: np.ndarray, scores: np.ndarray, score_thr: float = 0.3) -> np.ndarray:
    """(N, K, 2), (N, K) -> (N, 4) tight xyxy box of each person's confident keypoints (all keypoints when
    none is confident). Tracking compares these rather than the crop boxes, which change with their source
    (detector or previous pose)."""
    if len(scores) == 0:
        return np.zeros((0, 4), np.float32)
    kpts = np.asarray(keypoints, np.float32).reshape(len(scores), -1, 2)
    ok = np.asarray(scores) > score_thr
    ok = np.where(ok.any(1, keepdims=True), ok, True)[..., None]
    lo = np.where(ok, kpts, np.inf).min(1)
    hi = np.where(ok, kpts, -np.inf).max(1)
    return np.concatenate([lo, hi], 1)


@dataclass
class Track:
    """One tracked person: its id, last (smoothed) pose and box, and its filter state."""

    track_id: int
    keypoints: np.ndarray  # (K, 2)
    scores: np.ndarray  # (K,)
    bbox: np.ndarray  # (4,) xyxy
    last_frame: int
    smoother: OneEuroFilter | None = field(default=None, repr=False)


# (track keypoints (T,K,2), track areas (T,), new keypoints (N,K,2)) -> (T, N) OKS
OksFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def make_oks_fn(sigmas: np.ndarray) -> OksFn:
    """Pairwise OKS between tracks and new poses, from the OKS of ``kdpose.evaluation`` (COCO's formula)."""
    from kdpose.evaluation import oks_matrix

    sigmas = np.asarray(sigmas, np.float32)

    def fn(track_kpts: np.ndarray, track_areas: np.ndarray, new_kpts: np.ndarray) -> np.ndarray:
        return oks_matrix(track_kpts, new_kpts, track_areas, sigmas)

    return fn


class PoseTracker:
    """Greedy OKS/IoU tracker with per-track One-Euro smoothing.

    Args:
        oks_fn: pairwise OKS function (see :func:`make_oks_fn`); None matches by box IoU only.
        match_thr: the least similarity (OKS, or IoU when ``oks_fn`` is None) for a pose to continue a track.
        max_age: a track not seen for more than this many frames is dropped (its id is never reused).
        smoothing: One-Euro settings, or None for no smoothing.
    """

    def __init__(self, oks_fn: OksFn | None = None, match_thr: float = 0.3, max_age: int = 10,
                 smoothing: OneEuroParams | None = OneEuroParams()):
        self.oks_fn = oks_fn
        self.match_thr = match_thr
        self.max_age = max_age
        self.smoothing = smoothing
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks, self._next_id = [], 0

    def similarity(self, keypoints: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
        """(T, N) similarity of the live tracks to new poses."""
        if not self.tracks or len(keypoints) == 0:
            return np.zeros((len(self.tracks), len(keypoints)))
        t_boxes = np.stack([t.bbox for t in self.tracks])
        if self.oks_fn is None:
            return box_iou(t_boxes, bboxes)
        t_kpts = np.stack([t.keypoints for t in self.tracks])
        areas = np.clip(t_boxes[:, 2:] - t_boxes[:, :2], 1, None).prod(1)
        return np.asarray(self.oks_fn(t_kpts, areas, keypoints), np.float64)

    def update(self, keypoints: np.ndarray, scores: np.ndarray, bboxes: np.ndarray, frame_index: int,
               timestamp: float) -> tuple[np.ndarray, np.ndarray]:
        """Assign track ids to this frame's poses and smooth them.

        Args:
            keypoints: (N, K, 2) image pixels; scores: (N, K); bboxes: (N, 4) xyxy.
            frame_index: index of the frame (for ageing tracks); timestamp: seconds (for the filter).
        Returns:
            track_ids (N,) int64 and smoothed keypoints (N, K, 2) float32.
        """
        n = len(keypoints)
        sim = self.similarity(keypoints, bboxes)
        track_of = np.full(n, -1, np.int64)
        if sim.size:
            # greedy: the most similar (track, pose) pair first
            order = np.argsort(-sim, axis=None, kind="stable")
            used_t, used_p = set(), set()
            for flat in order:
                ti, pi = divmod(int(flat), n)
                if sim[ti, pi] < self.match_thr:
                    break
                if ti in used_t or pi in used_p:
                    continue
                used_t.add(ti)
                used_p.add(pi)
                track_of[pi] = ti
        ids = np.empty(n, np.int64)
        out = np.asarray(keypoints, np.float32).copy()
        for pi in range(n):
            if track_of[pi] >= 0:
                track = self.tracks[track_of[pi]]
            else:
                smoother = OneEuroFilter(self.smoothing) if self.smoothing is not None else None
                track = Track(self._next_id, out[pi], scores[pi], bboxes[pi], frame_index, smoother)
                self._next_id += 1
                self.tracks.append(track)
            if track.smoother is not None:
                out[pi] = track.smoother(keypoints[pi], timestamp)
            track.keypoints, track.scores, track.bbox = out[pi], np.asarray(scores[pi]), np.asarray(bboxes[pi])
            track.last_frame = frame_index
            ids[pi] = track.track_id
        self.tracks = [t for t in self.tracks if frame_index - t.last_frame <= self.max_age]
        return ids, out
