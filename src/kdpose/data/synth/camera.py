"""Pinhole camera: random intrinsics/height/pitch, world -> camera -> pixel, and per-pixel viewing rays.

World frame: right-handed, metres, y up, ground plane y = 0, the camera stands at (0, height, 0) and looks along
+z (tilted down by ``pitch``). Camera frame: OpenCV (x right, y down, z forward); depth means camera z.
Pixel (column u, row v) has its centre at coordinates (u, v)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEAR_CLIP = 0.1  # metres; geometry closer than this to the camera is not drawn


@dataclass(frozen=True)
class Camera:
    """Intrinsics (fx = fy = ``focal``, principal point ``cx``, ``cy``) and pose (``rotation`` world -> camera,
    camera centre ``position`` in world coordinates) of an image ``width`` x ``height``."""

    width: int
    height: int
    focal: float
    cx: float
    cy: float
    rotation: np.ndarray  # (3, 3)
    position: np.ndarray  # (3,)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera coordinates."""
        return (points - self.position) @ self.rotation.T

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera points -> (..., 2) pixel coordinates (z is clamped to the near plane)."""
        z = np.maximum(points_cam[..., 2:3], NEAR_CLIP)
        return points_cam[..., :2] / z * self.focal + np.array([self.cx, self.cy])

    def rays(self) -> np.ndarray:
        """(H, W, 3) camera-frame ray directions with z = 1, one per pixel centre."""
        u = (np.arange(self.width, dtype=np.float32) - self.cx) / self.focal
        v = (np.arange(self.height, dtype=np.float32) - self.cy) / self.focal
        rays = np.empty((self.height, self.width, 3), np.float32)
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = 1.0
        return rays

    def forward_distance_to_world(self, distance: float, lateral: float, height: float = 0.9) -> np.ndarray:
        """World ground point (x, 0, z) whose point at ``height`` above the ground lies ``distance`` metres in front
        of the camera (camera z) and ``lateral`` metres to its right (camera x)."""
        # camera z of a world point p: rotation[2] . (p - position); solve for world z with x from camera x
        r = self.rotation
        target = np.array([lateral, 0.0, distance])
        # the point p = position + r.T @ c for some camera-frame c whose world height is ``height``
        # pick c = (lateral, y_c, distance) and solve y_c so that p[1] == height
        y_c = (height - self.position[1] - r[0, 1] * lateral - r[2, 1] * distance) / r[1, 1]
        target[1] = y_c
        p = self.position + r.T @ target
        return np.array([p[0], 0.0, p[2]])


def camera_rotation(pitch: float, roll: float) -> np.ndarray:
    """World -> camera rotation for a camera looking along world +z, tilted down by ``pitch`` and rolled.

    Rows are the camera axes in world coordinates: right = -x_world (keeps the frame right-handed, so images are
    never mirrored), down, forward."""
    c, s = math.cos(pitch), math.sin(pitch)
    right = np.array([-1.0, 0.0, 0.0])
    down = np.array([0.0, -c, -s])
    forward = np.array([0.0, -s, c])
    base = np.stack([right, down, forward])
    cr, sr = math.cos(roll), math.sin(roll)
    roll_m = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return roll_m @ base


def sample_camera(rng: np.random.Generator, width: int, height: int) -> Camera:
    """Random camera: horizontal field of view 45-80 degrees, height 0.4-3.2 m, pitch -8..30 degrees down, roll
    +-5 degrees, principal point near the centre."""
    fov = math.radians(rng.uniform(45.0, 80.0))
    focal = 0.5 * width / math.tan(0.5 * fov)
    cam_height = rng.uniform(0.4, 3.2)
    pitch = math.radians(rng.uniform(-8.0, 12.0) + 6.0 * max(cam_height - 1.6, 0.0))
    roll = math.radians(rng.normal(0.0, 2.5))
    cx = (width - 1) / 2 + rng.normal(0.0, 0.01 * width)
    cy = (height - 1) / 2 + rng.normal(0.0, 0.01 * height)
    return Camera(width, height, focal, cx, cy, camera_rotation(pitch, roll), np.array([0.0, cam_height, 0.0]))
