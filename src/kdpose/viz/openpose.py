"""OpenPose / ControlNet-style pose images, as drawn by the DWPose preprocessor of ControlNet.

A black canvas; the 18-point OpenPose body with limb ``i`` drawn as a filled ellipse (stick width 4) in 60 % of
colour ``i`` and keypoint ``i`` as a radius-4 disc in colour ``i``; hands with rainbow (HSV) links and blue
points; face landmarks as white dots. The result drops into ControlNet "openpose" workflows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kdpose.skeletons import Skeleton, coco_to_openpose

STICK_WIDTH = 4
BODY_RADIUS = 4
HAND_RADIUS = 4
FACE_RADIUS = 3
HAND_POINT_COLOR = (255, 0, 0)  # BGR blue: ControlNet draws hand points in RGB (0, 0, 255)
FACE_COLOR = (255, 255, 255)


@dataclass
class OpenPoseParts:
    """Predictions split the OpenPose way (N people). Hands and face are None for body-only layouts.

    Attributes:
        body: (N, 18, 2) OpenPose-18 order (neck at 1); body_scores (N, 18).
        left_hand / right_hand: (N, 21, 2) and their scores (N, 21).
        face: (N, 70, 2): the 68 landmarks, then the right and left eye from the body (OpenPose's two pupils).
    """

    body: np.ndarray
    body_scores: np.ndarray
    left_hand: np.ndarray | None = None
    left_hand_scores: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    right_hand_scores: np.ndarray | None = None
    face: np.ndarray | None = None
    face_scores: np.ndarray | None = None


def split_openpose(keypoints: np.ndarray, scores: np.ndarray, skeleton: Skeleton) -> OpenPoseParts:
    """COCO-17 / COCO-WholeBody-133 predictions (N, K, 2), (N, K) -> :class:`OpenPoseParts`."""
    if skeleton.name not in ("coco", "coco_wholebody"):
        raise ValueError(f"OpenPose output needs the 'coco' or 'coco_wholebody' layout, not '{skeleton.name}'")
    kpts = np.asarray(keypoints, np.float32).reshape(-1, skeleton.num_keypoints, 2)
    conf = np.asarray(scores, np.float32).reshape(len(kpts), skeleton.num_keypoints)
    op_k, op_s = coco_to_openpose(kpts, conf)
    parts = OpenPoseParts(op_k[:, :18], op_s[:, :18])
    if skeleton.name == "coco_wholebody":
        lh, rh, fc = (skeleton.part_slice(p) for p in ("lefthand", "righthand", "face"))
        eyes = [skeleton.index("right_eye"), skeleton.index("left_eye")]
        parts.left_hand, parts.left_hand_scores = kpts[:, lh], conf[:, lh]
        parts.right_hand, parts.right_hand_scores = kpts[:, rh], conf[:, rh]
        parts.face = np.concatenate([kpts[:, fc], kpts[:, eyes]], 1)
        parts.face_scores = np.concatenate([conf[:, fc], conf[:, eyes]], 1)
    return parts


def _hsv_rainbow(n: int) -> list[tuple[int, int, int]]:
    """``n`` BGR colours with hue i/n at full saturation and value (ControlNet's hand-link colours)."""
    import cv2

    hue = (np.arange(n) / max(n, 1) * 180).astype(np.uint8)
    hsv = np.stack([hue, np.full(n, 255, np.uint8), np.full(n, 255, np.uint8)], -1)[None]
    return [tuple(int(v) for v in c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]]


def draw_openpose_body(canvas: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, skeleton: Skeleton,
                       kpt_thr: float = 0.3) -> np.ndarray:
    """Draw OpenPose-18 bodies in place. keypoints (N, 18, 2) image pixels; scores (N, 18)."""
    import cv2

    kpts = np.asarray(keypoints, np.float64).reshape(-1, skeleton.num_keypoints, 2)
    ok = np.asarray(scores).reshape(len(kpts), -1) > kpt_thr
    for n in range(len(kpts)):
        for li, (a, b) in enumerate(skeleton.links):
            if not (ok[n, a] and ok[n, b]):
                continue
            (x0, y0), (x1, y1) = kpts[n, a], kpts[n, b]
            length = math.hypot(x1 - x0, y1 - y0)
            angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
            poly = cv2.ellipse2Poly((int((x0 + x1) / 2), int((y0 + y1) / 2)), (int(length / 2), STICK_WIDTH),
                                    int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, poly, [int(c * 0.6) for c in skeleton.link_colors[li]])
        for k in np.flatnonzero(ok[n]):
            cv2.circle(canvas, (int(kpts[n, k, 0]), int(kpts[n, k, 1])), BODY_RADIUS, skeleton.keypoint_colors[k],
                       thickness=-1)
    return canvas


def draw_openpose_hands(canvas: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, skeleton: Skeleton,
                        kpt_thr: float = 0.3) -> np.ndarray:
    """Draw 21-point hands in place. keypoints (M, 21, 2); scores (M, 21); ``skeleton`` = the hand layout."""
    import cv2

    kpts = np.asarray(keypoints, np.float64).reshape(-1, skeleton.num_keypoints, 2)
    ok = np.asarray(scores).reshape(len(kpts), -1) > kpt_thr
    colors = _hsv_rainbow(len(skeleton.links))
    pts = kpts.astype(np.int32)
    for n in range(len(kpts)):
        for li, (a, b) in enumerate(skeleton.links):
            if ok[n, a] and ok[n, b]:
                cv2.line(canvas, tuple(pts[n, a]), tuple(pts[n, b]), colors[li], thickness=2)
        for k in np.flatnonzero(ok[n]):
            cv2.circle(canvas, tuple(pts[n, k]), HAND_RADIUS, HAND_POINT_COLOR, thickness=-1)
    return canvas


def draw_openpose_faces(canvas: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                        kpt_thr: float = 0.3) -> np.ndarray:
    """Draw face landmarks (N, F, 2) as white dots in place."""
    import cv2

    kpts = np.asarray(keypoints, np.float64).reshape(-1, 2)
    ok = np.asarray(scores).reshape(-1) > kpt_thr
    for x, y in kpts[ok].astype(np.int32):
        cv2.circle(canvas, (int(x), int(y)), FACE_RADIUS, FACE_COLOR, thickness=-1)
    return canvas


def draw_openpose(canvas_size: tuple[int, int], keypoints: np.ndarray, scores: np.ndarray, skeleton: Skeleton,
                  body_skeleton: Skeleton, hand_skeleton: Skeleton | None = None, kpt_thr: float = 0.3,
                  draw_hands: bool = True, draw_face: bool = True) -> np.ndarray:
    """ControlNet pose image of COCO-17 or COCO-WholeBody-133 predictions.

    Args:
        canvas_size: (w, h) of the black canvas (the source image size).
        keypoints: (N, K, 2) image pixels in ``skeleton``'s order; scores (N, K).
        skeleton: the layout of the predictions (``coco`` or ``coco_wholebody``).
        body_skeleton: the OpenPose-18 layout (``get_skeleton("openpose")``).
        hand_skeleton: the 21-point hand layout (``get_skeleton("hand")``); needed to draw whole-body hands.
        kpt_thr: points at or below it are not drawn (ControlNet uses 0.3).
    Returns:
        (h, w, 3) uint8 BGR image.
    """
    w, h = canvas_size
    canvas = np.zeros((h, w, 3), np.uint8)
    parts = split_openpose(keypoints, scores, skeleton)
    draw_openpose_body(canvas, parts.body, parts.body_scores, body_skeleton, kpt_thr)
    if draw_hands and parts.left_hand is not None and hand_skeleton is not None:
        hands = np.concatenate([parts.left_hand, parts.right_hand])
        hand_scores = np.concatenate([parts.left_hand_scores, parts.right_hand_scores])
        draw_openpose_hands(canvas, hands, hand_scores, hand_skeleton, kpt_thr)
    if draw_face and parts.face is not None:
        draw_openpose_faces(canvas, parts.face[:, :68], parts.face_scores[:, :68], kpt_thr)
    return canvas
