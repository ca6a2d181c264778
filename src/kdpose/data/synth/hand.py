"""A 21-point articulated hand (COCO-WholeBody order: root (wrist), thumb1-4, forefinger1-4, middle1-4, ring1-4,
pinky1-4; finger joints 1-4 = MCP, PIP, DIP, tip; thumb 1-4 = CMC, MCP, IP, tip).

Everything is in the hand frame (metres): the fingers point along -y (continuing the forearm), +z is the thumb
side and the palm faces ``palm_sign * x`` (-x for the left hand, +x for the right hand in the rest pose, palms
towards the thighs). Flexion curls a finger towards the palm."""
from __future__ import annotations

import numpy as np

from .rotations import rot_x, rot_z

# per finger (index, middle, ring, pinky): metacarpal length, z offset across the palm, phalanx lengths (m, 1.7 m adult)
_METACARPAL = np.array([0.090, 0.088, 0.082, 0.076])
_ACROSS = np.array([0.024, 0.008, -0.008, -0.023])
_PHALANX = np.array([[0.040, 0.023, 0.019], [0.045, 0.028, 0.020], [0.042, 0.027, 0.019], [0.033, 0.019, 0.018]])
_SPREAD = np.array([-0.10, 0.0, 0.08, 0.18])  # rest spread (rad), positive fans towards the pinky side
_THUMB = np.array([0.044, 0.032, 0.027])  # CMC->MCP, MCP->IP, IP->tip
FINGER_RADII = np.array([0.010, 0.0085, 0.008, 0.0075, 0.0068])  # thumb, index, middle, ring, pinky


def sample_hand_pose(rng: np.random.Generator, extremity: float) -> dict[str, np.ndarray | float]:
    """Random finger articulation within anatomical limits: a shared grip level plus per-joint noise.

    Returns ``flex`` (4, 3) finger joint flexions (rad), ``spread`` (4,), ``thumb_flex`` (3,), ``thumb_abd``."""
    grip = rng.beta(0.8, 1.4)  # 0 open hand ... 1 fist
    if rng.random() < 0.15 * extremity:  # pointing / counting gestures: some fingers straight
        grip = 0.9
    flex = np.clip(grip * np.array([1.4, 1.6, 1.1]) + rng.normal(0, 0.2, (4, 3)), -0.15, [1.6, 1.9, 1.3])
    if grip > 0.7 and rng.random() < 0.3:
        flex[rng.random(4) < 0.4] = rng.uniform(-0.1, 0.2)
    spread = _SPREAD * rng.uniform(0.3, 1.8) * (1.0 - 0.7 * grip)
    thumb_flex = np.clip(grip * np.array([0.4, 0.6, 0.8]) + rng.normal(0, 0.15, 3), -0.2, 1.2)
    thumb_abd = rng.uniform(0.3, 1.1)
    return {"flex": flex, "spread": spread, "thumb_flex": thumb_flex, "thumb_abd": float(thumb_abd)}


def hand_points(pose: dict, scale: float, palm_sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forward kinematics of one hand.

    Args:
        pose: output of :func:`sample_hand_pose`.
        scale: body-size factor (1 for a 1.7 m adult).
        palm_sign: -1 for the left hand (palm towards -x), +1 for the right hand.

    Returns:
        points (21, 3) in the hand frame; segments (20, 2) index pairs of bones drawn as capsules;
        segment_radii (20, 2) capsule radius at both ends; radii (21,) body radius at each keypoint.
    """
    pts = np.zeros((21, 3))
    radii = np.zeros(21)
    curl = lambda a: rot_z(-palm_sign * a)  # noqa: E731 - flexion towards the palm side
    # thumb: CMC sits on the palm's thumb side, the thumb points down and out towards +z
    cmc = np.array([0.008 * palm_sign, -0.028, 0.018]) * scale
    rot = rot_x(-pose["thumb_abd"]) @ curl(0.35 + pose["thumb_flex"][0])
    pts[1] = cmc
    for j in range(3):
        if j > 0:
            rot = rot @ curl(pose["thumb_flex"][j])
        pts[2 + j] = pts[1 + j] + rot @ np.array([0.0, -_THUMB[j] * scale, 0.0])
    radii[1:5] = FINGER_RADII[0] * scale
    for f in range(4):
        base = 5 + 4 * f
        pts[base] = np.array([0.0, -_METACARPAL[f], _ACROSS[f]]) * scale
        rot = rot_x(pose["spread"][f])
        for j in range(3):
            rot = rot @ curl(pose["flex"][f, j])
            pts[base + 1 + j] = pts[base + j] + rot @ np.array([0.0, -_PHALANX[f, j] * scale, 0.0])
        radii[base:base + 4] = FINGER_RADII[1 + f] * scale
    radii[0] = 0.026 * scale
    segments = [(1, 2), (2, 3), (3, 4)]
    for f in range(4):
        base = 5 + 4 * f
        segments += [(base, base + 1), (base + 1, base + 2), (base + 2, base + 3)]
    segments += [(0, 1), (0, 5), (0, 17), (5, 17), (0, 9)]  # palm: wrist-thumb base, wrist-index, wrist-pinky, ...
    segments = np.asarray(segments, np.int64)
    seg_radii = radii[segments]
    seg_radii[-5:] = np.array([[0.024, 0.014], [0.024, 0.016], [0.022, 0.015], [0.016, 0.015], [0.025, 0.017]]) * scale
    return pts, segments, seg_radii, radii
