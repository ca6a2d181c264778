"""A 68-landmark 3D face template (iBUG / 300-W order, as COCO-WholeBody's face-0..face-67) on the head volume.

The template is written in the head frame (metres; x = the person's left, y = up, origin at eye level on the head
axis, z = forward). Landmarks are pushed onto the surface of the head capsule (see ``body.HEAD_AXIS``) so that the
rendered face and the annotation agree; the nose protrudes a little beyond it, as a real nose does.

iBUG numbering (subject's right = -x, which appears on the image left for a frontal face):
jaw 0-16 (right ear level -> chin (8) -> left), right brow 17-21 (outer -> inner), left brow 22-26 (inner -> outer),
nose bridge 27-30 (top -> tip), nostrils 31-35 (right -> left), right eye 36-41 (outer corner, 2 upper, inner
corner, 2 lower), left eye 42-47 (inner corner, 2 upper, outer corner, 2 lower), outer lips 48-59 (right corner,
upper lip to the left corner (54), lower lip back), inner lips 60-67 (right corner, upper, left corner (64), lower).
"""
from __future__ import annotations

import numpy as np


def _template_xy() -> np.ndarray:
    """(68, 2) mean face in the head frame (x, y), metres, for a head of radius 0.085 m."""
    pts = np.zeros((68, 2), np.float64)
    t = np.linspace(0.0, 1.0, 17)
    # jaw: from the right ear (-x) down round the chin and up to the left ear; wider at the top
    pts[0:17, 0] = -0.074 * np.cos(np.pi * t) * (1.0 - 0.12 * np.sin(np.pi * t))
    pts[0:17, 1] = 0.005 - 0.118 * np.sin(np.pi * t) ** 1.25
    s = np.linspace(0.0, 1.0, 5)
    pts[17:22, 0] = -0.060 + 0.048 * s  # right brow, outer -> inner
    pts[17:22, 1] = 0.024 + 0.008 * np.sin(np.pi * (0.2 + 0.8 * s))
    pts[22:27] = pts[21:16:-1] * (-1.0, 1.0)  # left brow mirrored, inner -> outer
    pts[27:31, 0] = 0.0
    pts[27:31, 1] = np.linspace(0.012, -0.038, 4)  # bridge top -> tip
    pts[31:36, 0] = np.linspace(-0.016, 0.016, 5)
    pts[31:36, 1] = -0.046 - 0.004 * np.cos(np.linspace(-np.pi / 2, np.pi / 2, 5))
    eye_angles = np.array([np.pi, 2 * np.pi / 3, np.pi / 3, 0.0, -np.pi / 3, -2 * np.pi / 3])  # outer, up, inner, down
    pts[36:42, 0] = -0.032 + 0.015 * np.cos(eye_angles)  # right eye: outer corner at -x
    pts[36:42, 1] = 0.004 * np.sin(eye_angles)
    pts[42:48, 0] = -pts[[39, 38, 37, 36, 41, 40], 0]  # left eye: inner corner first
    pts[42:48, 1] = pts[[39, 38, 37, 36, 41, 40], 1]
    outer = np.pi - np.arange(12) * (np.pi / 6)  # right corner, over the top, left corner, under the bottom
    pts[48:60, 0] = 0.026 * np.cos(outer)
    pts[48:60, 1] = -0.074 + 0.009 * np.sin(outer)
    inner = np.pi - np.arange(8) * (np.pi / 4)
    pts[60:68, 0] = 0.019 * np.cos(inner)
    pts[60:68, 1] = -0.074 + 0.003 * np.sin(inner)
    return pts


FACE_TEMPLATE_XY = _template_xy()
# how far each landmark stands out of the head capsule surface (the nose), metres
_PROTRUSION = np.zeros(68)
_PROTRUSION[27:31] = np.linspace(0.004, 0.02, 4)
_PROTRUSION[31:36] = (0.004, 0.007, 0.009, 0.007, 0.004)


def sample_face(rng: np.random.Generator, head_scale: float) -> np.ndarray:
    """(68, 2) face landmarks (x, y) in the head frame with random shape and expression.

    Shape: face width/height and feature positions jitter by a few percent. Expression: mouth opening, smile
    (corners up), brow raise and eye closure."""
    pts = FACE_TEMPLATE_XY.copy()
    pts[:, 0] *= rng.uniform(0.9, 1.1)
    pts[:, 1] *= rng.uniform(0.92, 1.08)
    pts += rng.normal(0.0, 0.0015, pts.shape)
    mouth_open = rng.uniform(0.0, 0.018) if rng.random() < 0.4 else 0.0
    pts[[58, 57, 56, 65, 66, 67], 1] -= mouth_open * np.array([0.8, 1.0, 0.8, 0.8, 1.0, 0.8])
    smile = rng.uniform(-0.003, 0.007)
    pts[[48, 54, 60, 64], 1] += smile
    pts[17:27, 1] += rng.uniform(-0.002, 0.006)  # brow raise
    closure = rng.uniform(0.0, 1.0) if rng.random() < 0.15 else 0.0
    for eye in (slice(36, 42), slice(42, 48)):
        centre_y = pts[eye, 1].mean()
        pts[eye, 1] = centre_y + (pts[eye, 1] - centre_y) * (1.0 - closure)
    return pts * head_scale


def place_on_head(face_xy: np.ndarray, head_radius: float, axis_lo: float, axis_hi: float) -> np.ndarray:
    """(68, 2) head-frame (x, y) -> (68, 3) points on the head capsule's front surface (+ nose protrusion).

    The head capsule's axis runs along y from ``axis_lo`` to ``axis_hi`` (at x = z = 0) with radius
    ``head_radius``; a point's surface z is the capsule's front at that (x, y)."""
    x, y = face_xy[:, 0], face_xy[:, 1]
    dy = y - np.clip(y, axis_lo, axis_hi)
    z = np.sqrt(np.maximum(head_radius**2 - x**2 - dy**2, 0.0)) + _PROTRUSION * (head_radius / 0.085)
    return np.stack([x, y, z], axis=1)
