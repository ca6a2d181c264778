"""Track ids across video frames by box (IoU) and pose (OKS) similarity, with One-Euro smoothing per track.

This is the RTMPose paper's video pipeline (after BlazePose): between detector runs the person boxes come
from the previous frame's poses (:func:`boxes_from_keypoints`). Poses are assigned to tracks ByteTrack-style
(Zhang et al., ECCV 2022, https://arxiv.org/abs/2110.06864):

* the similarity of a track and a pose is the IoU of their person boxes (the track's box moved by its velocity),
  raised towards the OKS of their keypoints when those agree better (:meth:`PoseTracker.similarity`), so a stable
  box keeps its id even when a weak model's keypoints jitter, and a good pose helps when the box changes source;
* between detector runs the person boxes are made from each track's previous pose, so those poses continue
  their track (``prior_ids``), and the last detector box of a track (its anchor) is kept for the next run;
* confident detections are matched first, then the rest, each stage by an optimal one-to-one assignment
  (:func:`linear_assignment`, the Hungarian method) rather than greedily, maximising the similarity above
  ``match_thr`` (:func:`match_pairs`); pairs below ``match_thr`` never match;
* a track that finds no pose is kept for ``max_age`` frames (the track buffer) and can be matched again; ids are
  never reused.
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


def linear_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one assignment of a rectangular (R, C) cost matrix (the Hungarian method, shortest
    augmenting paths with dual potentials, O(min^2 * max)); same result as ``scipy.optimize.linear_sum_assignment``,
    which is not a dependency of kdpose.

    Returns:
        rows, cols: (min(R, C),) int64 indices of the assigned pairs, sorted by row.
    """
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {cost.shape}")
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.isfinite(cost).all():
        raise ValueError("cost must be finite")
    flip = cost.shape[0] > cost.shape[1]
    c = cost.T if flip else cost
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, np.int64)    # owner[j]: 1-based row holding column j (column 0 is the virtual start)
    came_from = np.zeros(m + 1, np.int64)
    for row in range(1, n + 1):
        owner[0], col = row, 0
        dist = np.full(m + 1, np.inf)
        done = np.zeros(m + 1, bool)
        while True:   # grow a shortest-path tree from ``row`` until it reaches a free column
            done[col] = True
            r = owner[col]
            free = ~done
            reduced = c[r - 1] - u[r] - v[1:]
            better = free[1:] & (reduced < dist[1:])
            dist[1:][better], came_from[1:][better] = reduced[better], col
            step_col = int(np.argmin(np.where(free, dist, np.inf)))
            step = dist[step_col]
            u[owner[done]] += step
            v[done] -= step
            dist[free] -= step
            col = step_col
            if owner[col] == 0:
                break
        while col:   # flip the assignments along the path
            prev = came_from[col]
            owner[col] = owner[prev]
            col = prev
    cols = np.flatnonzero(owner[1:]) + 1
    rows, cols = owner[cols] - 1, cols - 1
    if flip:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def match_pairs(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The one-to-one (row, col) pairs of similarity >= threshold that maximise the sum of (similarity - threshold)
    over the matched pairs; rows and columns may stay unmatched.

    This is ByteTrack's rule (``lap.lapjv(1 - sim, extend_cost=True, cost_limit=1 - threshold)``: leaving a row and a
    column unmatched costs the limit), not "as many pairs as possible": an exact match (0.9) is never traded for two
    pairs barely above the threshold (0.31 + 0.31), which swapped two people's ids."""
    sim = np.asarray(similarity, np.float64)
    if sim.size == 0:
        return []
    allowed = sim >= threshold
    # a forbidden pair gains nothing (cost 0), like leaving both ends unmatched: it is dropped after the assignment
    rows, cols = linear_assignment(np.where(allowed, threshold - sim, 0.0))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


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
    """One tracked person: its id, last (smoothed) pose and box, anchor box, box velocity and filter state.

    The anchor is the last box that did not come from the track's own pose (a detector's or the caller's box):
    between detector runs the boxes are made from the previous poses and can drift with a weak model, while
    detector boxes of the same person stay alike from run to run."""

    track_id: int
    keypoints: np.ndarray  # (K, 2)
    scores: np.ndarray  # (K,)
    bbox: np.ndarray  # (4,) xyxy
    last_frame: int
    smoother: OneEuroFilter | None = field(default=None, repr=False)
    anchor: np.ndarray | None = None  # (4,) xyxy
    anchor_frame: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # anchor box corners, pixels per frame
    moves: int = 0  # anchor motions measured so far

    def predicted(self, frame_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(box (4,), anchor box (4,), keypoints (K, 2)) moved to ``frame_index`` at the track's velocity."""
        step = self.velocity * max(0, frame_index - self.last_frame)
        anchor = self.bbox if self.anchor is None else self.anchor
        anchor_step = self.velocity * max(0, frame_index - self.anchor_frame)
        return self.bbox + step, anchor + anchor_step, self.keypoints + (step[:2] + step[2:]) / 2

    def set_anchor(self, box: np.ndarray, frame_index: int) -> None:
        """A new anchor box; the velocity is the anchors' motion per frame, averaged over time (the first motion
        is taken as it is)."""
        if self.anchor is not None and frame_index > self.anchor_frame:
            motion = (box - self.anchor) / (frame_index - self.anchor_frame)
            self.velocity = motion if self.moves == 0 else 0.5 * self.velocity + 0.5 * motion
            self.moves += 1
        self.anchor, self.anchor_frame = box.copy(), frame_index


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
    """Two-stage (ByteTrack-style) tracker on box IoU and pose OKS, with per-track One-Euro smoothing.

    Args:
        oks_fn: pairwise OKS function (see :func:`make_oks_fn`); None matches by box IoU only.
        match_thr: the least similarity (max of IoU and OKS) for a pose to continue a track.
        max_age: the track buffer: a track not seen for more than this many frames is dropped (ids are never
            reused); until then it can be matched again.
        smoothing: One-Euro settings, or None for no smoothing.
        high_thr: detections whose score (``det_scores`` of :meth:`update`) is at least this are matched first;
            the others get the tracks left over.
        keypoint_thr: keypoints scored at or below it are not measurements for the smoothing: a decoder parks an
            unseen keypoint anywhere (SimCC's score <= 0 at the crop's corner), and filtering it dragged the
            keypoint, seen again, from there (30 px off at score 1.0 on its first frame back). They pass through
            raw, and a keypoint seen again restarts its filter.
    """

    def __init__(self, oks_fn: OksFn | None = None, match_thr: float = 0.3, max_age: int = 10,
                 smoothing: OneEuroParams | None = OneEuroParams(), high_thr: float = 0.5, keypoint_thr: float = 0.0):
        self.oks_fn = oks_fn
        self.keypoint_thr = keypoint_thr
        self.match_thr = match_thr
        self.max_age = max_age
        self.smoothing = smoothing
        self.high_thr = high_thr
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self.tracks, self._next_id = [], 0

    def similarity(self, keypoints: np.ndarray, bboxes: np.ndarray, frame_index: int | None = None) -> np.ndarray:
        """(T, N) similarity of the live tracks (moved to ``frame_index``) to new poses: the box IoU (the better of
        the track's last box and its anchor box), raised to the mean of IoU and pose OKS where the poses agree
        better than the boxes (when an OKS function is set). A weak model's jittery keypoints thus never lower the
        similarity of a steady box, and a pose alone (no box overlap) reaches at most half its OKS."""
        if not self.tracks or len(keypoints) == 0:
            return np.zeros((len(self.tracks), len(keypoints)))
        moved = [t.predicted(t.last_frame if frame_index is None else frame_index) for t in self.tracks]
        t_boxes = np.stack([m[0] for m in moved])
        iou = np.maximum(box_iou(t_boxes, bboxes), box_iou(np.stack([m[1] for m in moved]), bboxes))
        if self.oks_fn is None:
            return iou
        t_kpts = np.stack([m[2] for m in moved])
        areas = np.clip(t_boxes[:, 2:] - t_boxes[:, :2], 1, None).prod(1)
        oks = np.asarray(self.oks_fn(t_kpts, areas, keypoints), np.float64)
        return np.maximum(iou, 0.5 * (iou + oks))

    def assign(self, sim: np.ndarray, det_scores: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """(N,) index of the track each pose continues (-1: none): poses whose ``prior`` track index (-1: none) is
        free keep it, then confident detections are matched, then the others."""
        t, n = sim.shape
        track_of = np.full(n, -1, np.int64)
        taken = np.zeros(t, bool)
        if prior is not None:
            for pi in np.argsort(-det_scores, kind="stable"):
                ti = int(prior[pi])
                if 0 <= ti < t and not taken[ti]:
                    track_of[pi], taken[ti] = ti, True
        high = det_scores >= self.high_thr
        for stage in (np.flatnonzero(high & (track_of < 0)), np.flatnonzero(~high & (track_of < 0))):
            free_tracks = np.flatnonzero(~taken)
            if not len(stage) or not len(free_tracks):
                continue
            for ti, pi in match_pairs(sim[np.ix_(free_tracks, stage)], self.match_thr):
                track_of[stage[pi]], taken[free_tracks[ti]] = free_tracks[ti], True
        return track_of

    def update(self, keypoints: np.ndarray, scores: np.ndarray, bboxes: np.ndarray, frame_index: int,
               timestamp: float, det_scores: np.ndarray | None = None,
               prior_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Assign track ids to this frame's poses and smooth them.

        Args:
            keypoints: (N, K, 2) image pixels; scores: (N, K); bboxes: (N, 4) xyxy person boxes.
            frame_index: index of the frame (for ageing tracks and their motion); timestamp: seconds (for the filter).
            det_scores: (N,) detection confidences for the two matching stages; None: all confident.
            prior_ids: (N,) track id each pose is known to continue, -1 where unknown (a crop made from a track's
                previous pose between detector runs belongs to that track).
        Returns:
            track_ids (N,) int64 and smoothed keypoints (N, K, 2) float32.
        """
        n = len(keypoints)
        bboxes = np.asarray(bboxes, np.float64).reshape(n, 4)
        det = np.ones(n) if det_scores is None else np.asarray(det_scores, np.float64).reshape(n)
        prior = None
        if prior_ids is not None:
            index_of = {t.track_id: i for i, t in enumerate(self.tracks)}
            prior = np.array([index_of.get(int(tid), -1) for tid in np.asarray(prior_ids).reshape(n)], np.int64)
        track_of = self.assign(self.similarity(keypoints, bboxes, frame_index), det, prior)
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
            if track.smoother is not None:   # a keypoint at or below keypoint_thr is no measurement (see __init__)
                out[pi] = track.smoother(keypoints[pi], timestamp, valid=np.asarray(scores[pi])[:, None] >
                                         self.keypoint_thr)
            if prior is None or prior[pi] < 0:   # a detector's / the caller's box, not one made from the pose
                track.set_anchor(bboxes[pi], frame_index)
            track.keypoints, track.scores, track.bbox = out[pi], np.asarray(scores[pi]), bboxes[pi].copy()
            track.last_frame = frame_index
            ids[pi] = track.track_id
        self.tracks = [t for t in self.tracks if frame_index - t.last_frame <= self.max_age]
        return ids, out
