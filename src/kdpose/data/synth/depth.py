"""Depth mode: procedural rooms, a Kinect-2-like sensor model, and the depth paper's two training augmentations.

Public augmentation API (all numpy, all take an explicit ``np.random.Generator`` where they are random):

``fuse_background(person_depth, person_mask, background, margin_mm=150.0) -> np.ndarray``
    The paper's real-background fusion: people rendered alone are pasted onto a background depth image; if the
    background is not at least ``margin_mm`` behind the people on their silhouette, a constant is added to the
    *entire* background first. Background holes (0) stay holes. uint16 millimetres in and out.
``silhouette_dropout(depth, mask, rng, rate=0.2, band_px=None) -> np.ndarray``
    The paper's pixel noise: ``rate`` (20 %) of the silhouette pixels are set to 0 (invalid); with ``band_px`` only
    a boundary band of that width is used.
``simulate_sensor(depth_m, rng, noise=0.5) -> np.ndarray``
    Metres (0 = nothing) -> uint16 millimetres with depth-dependent noise, holes and flying pixels at
    discontinuities, missing patches and the 0.5-8 m range of a Kinect 2.
``synthetic_background(rng, width, height, noise=0.5) -> np.ndarray``
    A sensor-like background frame (uint16 mm) of a random empty room, to fuse people onto on the fly when no
    real background recordings are at hand.
"""
from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera, sample_camera
from .raster import composite, polygon_fragments

SENSOR_RANGE_M = (0.5, 8.0)


def fuse_background(person_depth: np.ndarray, person_mask: np.ndarray, background: np.ndarray,
                    margin_mm: float = 150.0) -> np.ndarray:
    """Composite ``person_depth`` (H, W) over ``background`` (H, W) where ``person_mask`` (H, W) bool is set.

    Before compositing, the smallest gap ``background - person`` over the valid silhouette pixels is measured; if it
    is below ``margin_mm`` the whole background is pushed back by the missing amount (paper: "adding if necessary
    an adequate depth constant to the entire background image"). Returns uint16 millimetres."""
    out = fuse_depth(person_depth, person_mask, background, margin_mm)
    return np.clip(np.round(out), 0, 65535).astype(np.uint16)


def fuse_depth(person_depth: np.ndarray, person_mask: np.ndarray, background: np.ndarray, margin: float
               ) -> np.ndarray:
    """:func:`fuse_background` on float32 depth in any unit (``margin`` in the same unit); 0 = no measurement."""
    if person_depth.shape != background.shape or person_mask.shape != background.shape:
        raise ValueError(f"fuse_background: shapes differ: {person_depth.shape}, {person_mask.shape}, "
                         f"{background.shape}")
    person = person_depth.astype(np.float32, copy=False)
    bg = background.astype(np.float32, copy=False)
    support = person_mask & (bg > 0) & (person > 0)
    if support.any():
        gap = float((bg[support] - person[support]).min())
        if gap < margin:
            bg = np.where(bg > 0, bg + np.float32(margin - gap), np.float32(0.0))
    return np.where(person_mask, person, bg)


def silhouette_dropout(depth: np.ndarray, mask: np.ndarray, rng: np.random.Generator, rate: float = 0.2,
                       band_px: int | None = None) -> np.ndarray:
    """Set ``rate`` of the silhouette pixels of ``depth`` (H, W) to 0 (a copy is returned).

    ``mask`` (H, W) bool is the people's silhouette; with ``band_px`` only the pixels within ``band_px`` of the
    silhouette's border are candidates. Exactly ``round(rate * candidates)`` pixels are dropped."""
    region = mask.astype(bool)
    if band_px:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
        region = region & ~cv2.erode(region.astype(np.uint8), kernel).astype(bool)
    candidates = np.flatnonzero(region)
    out = depth.copy()
    count = int(round(rate * candidates.size))
    if count:
        out.reshape(-1)[rng.choice(candidates, count, replace=False)] = 0
    return out


def simulate_sensor(depth_m: np.ndarray, rng: np.random.Generator, noise: float = 0.5) -> np.ndarray:
    """Kinect-2-like measurement of a clean depth map (metres, 0 = no surface) -> uint16 millimetres."""
    clean = np.ascontiguousarray(depth_m, dtype=np.float32)
    h, w = clean.shape
    valid = clean > 0
    # discontinuities of the clean surface: a band of holes and flying pixels (mixtures of near and far)
    kernel = np.ones((3, 3), np.uint8)
    zmax = cv2.dilate(clean, kernel).reshape(-1)
    zmin = cv2.erode(np.where(valid, clean, np.float32(1e4)), kernel).reshape(-1)
    edge = np.flatnonzero(valid.reshape(-1) & (zmax - zmin > 0.05 + 0.03 * clean.reshape(-1)))
    # axial noise grows with the square of the distance (Nguyen et al. 2012 model, scaled by ``noise``); drawn on
    # a half-resolution grid (the sensor's depth is spatially smoothed, so neighbouring errors correlate)
    sigma = (0.0012 + 0.0019 * np.square(np.maximum(clean - 0.4, 0.0))) * np.float32(0.4 + 1.2 * noise)
    grain = rng.standard_normal(((h + 1) // 2, (w + 1) // 2), dtype=np.float32)
    z = clean + cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST) * sigma
    flat = z.reshape(-1)
    draw = rng.random(edge.size, dtype=np.float32)
    flying = edge[(draw >= 0.55) & (draw < 0.8)]
    flat[flying] = 0.5 * (zmax[flying] + zmin[flying])
    holes = np.zeros(h * w, bool)
    holes[edge[draw < 0.55]] = True
    if rng.random() < 0.5:  # thicken the hole band
        holes = cv2.dilate(holes.reshape(h, w).astype(np.uint8), np.ones((2, 2), np.uint8)).reshape(-1) > 0
    # missing patches (dark / specular materials) and sparse speckle
    patches = cv2.resize(rng.random((h // 24 + 1, w // 24 + 1), dtype=np.float32), (w, h),
                         interpolation=cv2.INTER_LINEAR).reshape(-1) < 0.04 * (0.5 + noise)
    holes |= patches
    holes[rng.integers(0, h * w, rng.binomial(h * w, 0.004 * (0.5 + noise)))] = True
    lo, hi = SENSOR_RANGE_M
    flat[holes | ~valid.reshape(-1) | (flat < lo) | (flat > hi)] = 0.0
    return np.round(z * 1000.0).astype(np.uint16)


def room_depth(rng: np.random.Generator, camera: Camera, extent: tuple[float, float]) -> np.ndarray:
    """(H, W) float32 camera-z depth (metres) of a procedural room: floor, back and side walls, ceiling, and
    furniture boxes along the walls. ``extent`` = (max |x|, max z) of the people, so that the room contains them."""
    max_x, max_z = extent
    back = max_z + rng.uniform(0.3, 2.0)
    left, right = max_x + rng.uniform(0.4, 3.0), max_x + rng.uniform(0.4, 3.0)
    free = min(left, right) - max_x - 0.2  # furniture on a side wall must leave the people's space free
    ceiling = max(rng.uniform(2.4, 3.6), float(camera.position[1]) + rng.uniform(0.3, 1.0))
    # the room's planes are evaluated on a grid 4x coarser and upsampled: plane depth is smooth (only the room's
    # corners are kinks), the furniture boxes are drawn at full resolution
    W, H = camera.width, camera.height
    w, h = max(8, W // 4), max(8, H // 4)
    coarse = Camera(w, h, camera.focal * w / W, (camera.cx + 0.5) * w / W - 0.5, (camera.cy + 0.5) * h / H - 0.5,
                  camera.rotation, camera.position)
    rays = coarse.rays() @ camera.rotation.astype(np.float32)  # world direction per pixel, camera z = 1
    pos = camera.position.astype(np.float32)
    best = np.full(rays.shape[:2], np.inf, np.float32)
    # planes as (axis, value): the exit point of a ray from inside a convex room is its nearest positive hit
    for axis, value in ((1, 0.0), (1, ceiling), (2, back), (0, left), (0, -right)):
        d = rays[..., axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - pos[axis]) / d
        best = np.where((t > 0) & (t < best), t, best)
    polygons = []
    for _ in range(int(rng.integers(1, 6))):
        w, h, dd = rng.uniform(0.4, 2.0), rng.uniform(0.4, 2.0), rng.uniform(0.3, 0.8)
        if rng.random() < 0.5 or free < 0.3:  # against the back wall
            cx, cz = rng.uniform(-right + w / 2, left - w / 2), back - dd / 2
        else:  # against a side wall
            side = rng.choice([-1.0, 1.0])
            cx, cz = side * ((left if side > 0 else right) - dd / 2), rng.uniform(1.0, back)
            w, dd = min(dd, free), w
        x = np.array([-w, w, w, -w]) / 2 + cx
        zc = np.array([-dd, -dd, dd, dd]) / 2 + cz
        bottom = np.stack([x, np.zeros(4), zc], 1)
        top = bottom + [0.0, h, 0.0]
        for face in ((4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (3, 0, 4, 7), (2, 3, 7, 6)):
            polygons.append(camera.to_camera(np.concatenate([bottom, top])[list(face)]))
    best = cv2.resize(np.minimum(best, 1e4), (W, H), interpolation=cv2.INTER_LINEAR)
    zb = composite(polygon_fragments(camera, polygons), W, H, normals=False).depth
    depth = np.minimum(best, zb)
    depth[depth >= 1e4] = np.inf
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def synthetic_background(rng: np.random.Generator, width: int, height: int, noise: float = 0.5) -> np.ndarray:
    """(H, W) uint16 millimetres: a random empty procedural room seen by a random camera, through the sensor
    model (a stand-in for recorded background frames in :func:`fuse_background`)."""
    camera = sample_camera(rng, width, height)
    extent = (rng.uniform(1.0, 4.0), rng.uniform(2.5, 7.0))
    return simulate_sensor(room_depth(rng, camera, extent), rng, noise)
