"""Keypoint labels from the z-buffer: 2 visible, 1 occluded but inside the image, 0 outside the image.

A keypoint is visible when the nearest rendered surface at its pixel is not in front of the keypoint's own body
surface (keypoint depth minus the radius of its body volume) by more than a tolerance of a few centimetres plus
the footprint of 1.5 pixels at that depth (sloped surfaces and pixel rounding). This is the test the depth paper
describes: threshold the distance between the landmark and the surface point that projects onto its pixel."""
from __future__ import annotations

import numpy as np

from .camera import NEAR_CLIP

VISIBILITY_TOLERANCE_M = 0.03


def keypoint_flags(points_px: np.ndarray, depth: np.ndarray, depth_offset: np.ndarray, zbuffer: np.ndarray,
                   focal: float, points_cam: np.ndarray | None = None, normals_cam: np.ndarray | None = None,
                   facing_margin: float = 0.0) -> np.ndarray:
    """COCO visibility flags.

    Args:
        points_px: (K, 2) projected keypoints (pixels).
        depth: (K,) keypoint camera z (metres).
        depth_offset: (K,) radius of the body volume around each keypoint (metres).
        zbuffer: (H, W) nearest-surface depth of everything that can occlude (``inf`` = nothing).
        focal: focal length in pixels.
        points_cam, normals_cam: (K, 3) camera-frame keypoints and outward surface normals (zeros for joint
            centres); a surface keypoint facing away from the camera is self-occluded whatever the z-buffer says
            (its pixel may round onto the background at the silhouette of a small head).
        facing_margin: a surface keypoint counts as facing away only when the cosine between its normal and the
            viewing ray exceeds this (0: any turn past grazing; larger values keep keypoints at the silhouette
            edge, such as the ears of a frontal face, visible, as an annotator would).

    Returns:
        (K,) uint8 flags in {0, 1, 2}.
    """
    h, w = zbuffer.shape
    x, y = points_px[:, 0], points_px[:, 1]
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (depth > NEAR_CLIP)
    u = np.clip(np.round(x), 0, w - 1).astype(np.int64)
    v = np.clip(np.round(y), 0, h - 1).astype(np.int64)
    flags = np.zeros(len(depth), np.uint8)
    if not inside.any():
        return flags
    surface = depth - depth_offset
    seen = zbuffer[v[inside], u[inside]]
    tolerance = VISIBILITY_TOLERANCE_M + 1.5 * depth[inside] / focal
    visible = seen >= surface[inside] - tolerance
    if normals_cam is not None and points_cam is not None:
        cosine = (normals_cam * points_cam).sum(1) / np.maximum(np.linalg.norm(points_cam, axis=1), 1e-9)
        back_facing = cosine > facing_margin
        visible &= ~back_facing[inside]
    flags[inside] = np.where(visible, 2, 1)
    return flags


def box_from_mask_and_points(mask: np.ndarray, points_px: np.ndarray, flags: np.ndarray) -> np.ndarray | None:
    """(4,) float32 xyxy box around the silhouette ``mask`` (as ``pycocotools.mask.toBbox`` measures it) grown to
    include the visible keypoints, clipped to [0, W] x [0, H]; ``None`` when the silhouette is empty."""
    rows = np.nonzero(mask.any(1))[0]
    if rows.size == 0:
        return None
    cols = np.nonzero(mask.any(0))[0]
    # pycocotools' convention (``mask.toBbox``): column c spans [c, c + 1)
    x0, x1 = float(cols[0]), float(cols[-1] + 1)
    y0, y1 = float(rows[0]), float(rows[-1] + 1)
    vis = flags == 2
    if vis.any():
        x0 = min(x0, float(points_px[vis, 0].min()))
        y0 = min(y0, float(points_px[vis, 1].min()))
        x1 = max(x1, float(points_px[vis, 0].max()))
        y1 = max(y1, float(points_px[vis, 1].max()))
    h, w = mask.shape
    box = np.array([max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))], np.float32)
    return box
