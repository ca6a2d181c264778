"""COCO/MMPose-style drawing: keypoints and links coloured per the skeleton, boxes, track ids.

All functions take BGR uint8 images and an explicit :class:`kdpose.skeletons.Skeleton`; nothing is guessed
from the number of keypoints.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kdpose.skeletons import Skeleton

BOX_COLOR = (0, 255, 0)  # BGR


def _id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per track id (golden-ratio hue walk)."""
    import cv2

    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def auto_thickness(image: np.ndarray) -> tuple[int, int]:
    """(radius, line thickness) that stay visible from 240p to 4K."""
    s = max(image.shape[:2])
    return max(2, round(s / 240)), max(1, round(s / 400))


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, skeleton: Skeleton,
                  kpt_thr: float = 0.3, radius: int | None = None, thickness: int | None = None,
                  copy: bool = True) -> np.ndarray:
    """Draw people's keypoints and limbs.

    Args:
        image: (H, W, 3) uint8 BGR.
        keypoints: (N, K, 2) or (K, 2) image pixels.
        scores: (N, K) or (K,) keypoint scores; points at or below ``kpt_thr`` and links touching them are skipped.
        skeleton: the layout (links, link and keypoint colours).
        radius, thickness: point radius / line width in pixels (None = from the image size). Whole-body
            layouts draw the face and hand points at half radius so they stay readable.
        copy: draw on a copy (True) or in place.
    Returns:
        the drawn image.
    """
    import cv2

    canvas = image.copy() if copy else image
    kpts = np.asarray(keypoints, np.float32).reshape(-1, skeleton.num_keypoints, 2)
    conf = np.asarray(scores, np.float32).reshape(len(kpts), skeleton.num_keypoints)
    if len(kpts) == 0:
        return canvas
    r_auto, t_auto = auto_thickness(canvas)
    radius = r_auto if radius is None else radius
    thickness = t_auto if thickness is None else thickness
    body_end = skeleton.parts.get("body", (0, skeleton.num_keypoints))[1]
    radii = np.full(skeleton.num_keypoints, radius, np.int32)
    radii[body_end:] = max(1, radius // 2)
    visible = (conf > kpt_thr) & np.isfinite(kpts).all(-1)  # (N, K)
    pts = np.round(np.nan_to_num(kpts)).astype(np.int32)
    links = np.asarray(skeleton.links, np.int64).reshape(-1, 2)
    link_ok = visible[:, links[:, 0]] & visible[:, links[:, 1]]  # (N, L)
    for n in range(len(pts)):
        for li in np.flatnonzero(link_ok[n]):
            a, b = links[li]
            lw = thickness if a < body_end and b < body_end else max(1, thickness // 2)
            cv2.line(canvas, tuple(pts[n, a]), tuple(pts[n, b]), skeleton.link_colors[li], lw, cv2.LINE_AA)
        for k in np.flatnonzero(visible[n]):
            cv2.circle(canvas, tuple(pts[n, k]), int(radii[k]), skeleton.keypoint_colors[k], -1, cv2.LINE_AA)
    return canvas


def draw_boxes(image: np.ndarray, bboxes: np.ndarray, scores: np.ndarray | None = None,
               track_ids: Sequence[int] | None = None, thickness: int | None = None,
               copy: bool = True) -> np.ndarray:
    """Draw xyxy boxes (N, 4) with optional scores and track ids (boxes of a track share its colour)."""
    import cv2

    canvas = image.copy() if copy else image
    boxes = np.asarray(bboxes, np.float32).reshape(-1, 4)
    thickness = auto_thickness(canvas)[1] if thickness is None else thickness
    font_scale = max(0.4, max(canvas.shape[:2]) / 1400)
    for i, box in enumerate(np.round(boxes).astype(np.int32)):
        tid = None if track_ids is None else int(track_ids[i])
        color = BOX_COLOR if tid is None or tid < 0 else _id_color(tid)
        cv2.rectangle(canvas, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), color, thickness)
        label = []
        if tid is not None and tid >= 0:
            label.append(f"id {tid}")
        if scores is not None:
            label.append(f"{float(scores[i]):.2f}")
        if label:
            text = " ".join(label)
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            y0 = max(int(box[1]), th + base)
            cv2.rectangle(canvas, (int(box[0]), y0 - th - base), (int(box[0]) + tw, y0), color, -1)
            cv2.putText(canvas, text, (int(box[0]), y0 - base), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return canvas


def draw_people(image: np.ndarray, people: Sequence, skeleton: Skeleton, kpt_thr: float = 0.3,
                draw_bbox: bool = True, copy: bool = True) -> np.ndarray:
    """Draw a list of :class:`kdpose.inference.Person` results (boxes, track ids, skeletons)."""
    canvas = image.copy() if copy else image
    if not people:
        return canvas
    kpts = np.stack([p.keypoints for p in people])
    scores = np.stack([p.scores for p in people])
    if draw_bbox:
        ids = [p.track_id if p.track_id is not None else -1 for p in people]
        draw_boxes(canvas, np.stack([p.bbox for p in people]), [p.bbox_score for p in people], ids, copy=False)
    return draw_skeleton(canvas, kpts, scores, skeleton, kpt_thr=kpt_thr, copy=False)
