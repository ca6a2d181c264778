"""Vectorised z-buffer rasteriser for capsules and convex polygons (no per-pixel Python loops).

Each primitive becomes a small depth "sprite" over its screen bounding box. Sprites of similar size are evaluated
together as one (P, Sy, Sx) array (sizes rounded up to powers of two), every covered pixel becomes a fragment
(flat pixel index, depth, primitive id, normal), and fragments are composited with ``np.minimum.at``: the nearest
surface wins, exactly as a z-buffer does.

Capsule model: a sphere-swept segment from a to b whose radius varies linearly. In the image it covers the pixels
within the interpolated projected radius of the projected axis; the surface depth there is the axis depth minus the
metric radius times sqrt(1 - (d / rho)^2) (the front of the sphere centred on the nearest axis point).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import NEAR_CLIP, Camera


@dataclass
class ZBuffer:
    """Result of a rasterisation.

    Attributes:
        depth: (H, W) float32 camera z of the nearest surface (``inf`` where nothing was drawn).
        prim: (H, W) int32 id of the primitive seen at each pixel (-1 where nothing was drawn).
        normal: (H, W, 3) float32 unit surface normal in the camera frame (pointing towards the camera), or None
            when not computed.
    """

    depth: np.ndarray
    prim: np.ndarray
    normal: np.ndarray | None


def _size_class(x: np.ndarray) -> np.ndarray:
    """Sprite size classes: 4, 8, 16, then multiples of 16 (few classes for the many small primitives, little
    padding for the large ones)."""
    small = np.maximum(4, 2 ** np.ceil(np.log2(np.maximum(x, 1))).astype(np.int64))
    return np.where(x <= 16, small, (x + 15) // 16 * 16)


def _split_long(camera: Camera, a, b, ra, rb, ids, max_pieces: int = 4):
    """Cut capsules that are long and thin on screen into up to ``max_pieces`` consecutive pieces.

    The union of the pieces is the same sphere-swept volume, but their screen boxes cover far fewer pixels than
    the box of a long diagonal limb, so fewer pixels are evaluated."""
    pa, pb = camera.project(a), camera.project(b)
    length = np.linalg.norm(pb - pa, axis=1)
    rho = camera.focal * np.maximum(ra / a[:, 2], rb / b[:, 2])
    pieces = np.clip(np.floor(length / np.maximum(3.0 * rho, 16.0)), 1, max_pieces).astype(np.int64)
    if pieces.max() == 1:
        return a, b, ra, rb, ids
    owner = np.repeat(np.arange(len(a)), pieces)
    first = np.cumsum(pieces) - pieces
    k = np.arange(owner.size) - np.repeat(first, pieces)  # piece number within its capsule
    n = pieces[owner].astype(np.float64)
    t0, t1 = (k / n)[:, None], ((k + 1) / n)[:, None]
    e, dr = (b - a)[owner], (rb - ra)[owner]
    return (a[owner] + t0 * e, a[owner] + t1 * e, ra[owner] + t0[:, 0] * dr, ra[owner] + t1[:, 0] * dr,
            ids[owner])


def capsule_fragments(camera: Camera, a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray,
                      first_id: int = 0, normals: bool = True) -> list[tuple[np.ndarray, ...]]:
    """Fragments of capsules given in camera coordinates.

    Args:
        a, b: (P, 3) end points (camera frame); ra, rb: (P,) radii in metres.
        first_id: id of the first capsule (ids are ``first_id + arange(P)``).
        normals: compute the surface normals (only shading needs them).

    Returns:
        a list of (index (F,), depth (F,), prim (F,), normal (F, 3) or None) chunks.
    """
    W, H, f = camera.width, camera.height, camera.focal
    keep = (a[:, 2] - ra > NEAR_CLIP) & (b[:, 2] - rb > NEAR_CLIP)
    ids = np.nonzero(keep)[0]
    if ids.size == 0:
        return []
    a, b, ra, rb = a[ids], b[ids], ra[ids], rb[ids]
    a, b, ra, rb, ids = _split_long(camera, a, b, ra, rb, ids)
    pa, pb = camera.project(a), camera.project(b)
    rho_a, rho_b = f * ra / a[:, 2], f * rb / b[:, 2]
    x0 = np.floor(np.minimum(pa[:, 0] - rho_a, pb[:, 0] - rho_b)).astype(np.int64)
    x1 = np.ceil(np.maximum(pa[:, 0] + rho_a, pb[:, 0] + rho_b)).astype(np.int64)
    y0 = np.floor(np.minimum(pa[:, 1] - rho_a, pb[:, 1] - rho_b)).astype(np.int64)
    y1 = np.ceil(np.maximum(pa[:, 1] + rho_a, pb[:, 1] + rho_b)).astype(np.int64)
    x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
    x1, y1 = np.minimum(x1, W - 1), np.minimum(y1, H - 1)
    visible = (x1 >= x0) & (y1 >= y0)
    sx, sy = _size_class(x1 - x0 + 1), _size_class(y1 - y0 + 1)
    chunks = []
    keys = sx * 100000 + sy
    for key in np.unique(keys[visible]):
        sel = np.nonzero(visible & (keys == key))[0]
        bx, by = int(sx[sel[0]]), int(sy[sel[0]])
        # pixel offsets from the projected start point a, per sprite: rx (P, 1, Sx), ry (P, Sy, 1)
        rx = ((x0[sel] - pa[sel, 0])[:, None] + np.arange(bx)[None, :]).astype(np.float32)[:, None, :]
        ry = ((y0[sel] - pa[sel, 1])[:, None] + np.arange(by)[None, :]).astype(np.float32)[:, :, None]
        ex = (pb[sel, 0] - pa[sel, 0]).astype(np.float32)[:, None, None]
        ey = (pb[sel, 1] - pa[sel, 1]).astype(np.float32)[:, None, None]
        inv_len2 = 1.0 / np.maximum(ex * ex + ey * ey, 1e-6)
        t = rx * (ex * inv_len2) + ry * (ey * inv_len2)  # (P, Sy, Sx) position along the axis
        np.clip(t, 0.0, 1.0, out=t)
        dx = rx - t * ex
        dy = ry - t * ey
        rho = t * (rho_b - rho_a)[sel, None, None].astype(np.float32)
        rho += rho_a[sel, None, None].astype(np.float32)
        inside = dx * dx + dy * dy < rho * rho
        if (x0[sel] + bx > W).any() or (y0[sel] + by > H).any():  # padding that runs off the image
            inside &= ((x0[sel, None] + np.arange(bx)) < W)[:, None, :]
            inside &= ((y0[sel, None] + np.arange(by)) < H)[:, :, None]
        flat = np.flatnonzero(inside)
        if flat.size == 0:
            continue
        t_f = t.reshape(-1)[flat]
        rho_f = rho.reshape(-1)[flat]
        nx = dx.reshape(-1)[flat] / rho_f
        ny = dy.reshape(-1)[flat] / rho_f
        nz = -np.sqrt(np.maximum(1.0 - nx * nx - ny * ny, 0.0))
        p_i, rem = np.divmod(flat, bx * by)
        v_i, u_i = np.divmod(rem, bx)
        s = sel[p_i]
        za, zb = a[s, 2].astype(np.float32), b[s, 2].astype(np.float32)
        radius = ra[s].astype(np.float32) + t_f * (rb[s] - ra[s]).astype(np.float32)
        depth = za + t_f * (zb - za) + radius * nz
        index = (y0[s] + v_i) * W + (x0[s] + u_i)
        normal = np.stack([nx, ny, nz], 1) if normals else None
        chunks.append((index, depth, (ids[s] + first_id).astype(np.int32), normal))
    return chunks


def polygon_fragments(camera: Camera, polygons: list[np.ndarray], first_id: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Fragments of planar convex polygons, each (n, 3) in camera coordinates (any winding); polygons that cross
    the near plane or face away from the camera are skipped."""
    W, H, f = camera.width, camera.height, camera.focal
    chunks = []
    for k, poly in enumerate(polygons):
        if poly[:, 2].min() <= NEAR_CLIP:
            continue
        normal = np.cross(poly[1] - poly[0], poly[2] - poly[0])
        normal /= max(np.linalg.norm(normal), 1e-12)
        offset = float(normal @ poly[0])
        if offset > 0:  # make the normal face the camera (origin)
            normal, offset = -normal, -offset
        if abs(offset) < 1e-6:
            continue  # seen edge-on
        pix = camera.project(poly)
        x0, y0 = np.floor(pix.min(0)).astype(int)
        x1, y1 = np.ceil(pix.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
        if x1 < x0 or y1 < y0:
            continue
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        shift = 4  # sub-pixel vertex precision for fillConvexPoly
        pts = np.round((pix - [x0, y0]) * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=shift)
        v_i, u_i = np.nonzero(mask)
        if v_i.size == 0:
            continue
        rx = (u_i + x0 - camera.cx) / f
        ry = (v_i + y0 - camera.cy) / f
        denom = normal[0] * rx + normal[1] * ry + normal[2]
        depth = (offset / np.where(np.abs(denom) < 1e-9, 1e-9, denom)).astype(np.float32)
        good = depth > NEAR_CLIP
        index = ((v_i + y0).astype(np.int64) * W + (u_i + x0))[good]
        n = np.broadcast_to(normal.astype(np.float32), (int(good.sum()), 3))
        chunks.append((index, depth[good], np.full(index.size, first_id + k, np.int32), n))
    return chunks


def composite(chunks: list[tuple[np.ndarray, ...]], width: int, height: int, normals: bool = True) -> ZBuffer:
    """Z-buffer the fragments: per pixel the nearest fragment wins (ties: the later one, deterministically).
    With ``normals=False`` the normal buffer is left empty (``ZBuffer.normal`` is None)."""
    depth = np.full(width * height, np.inf, np.float32)
    prim = np.full(width * height, -1, np.int32)
    normal = None
    if normals:
        normal = np.zeros((width * height, 3), np.float32)
        normal[:, 2] = -1.0
    if chunks:
        index = np.concatenate([c[0] for c in chunks])
        z = np.concatenate([c[1] for c in chunks]).astype(np.float32)
        np.minimum.at(depth, index, z)
        win = z <= depth[index]
        winners = index[win]
        prim[winners] = np.concatenate([c[2] for c in chunks])[win]
        if normal is not None:
            normal[winners] = np.concatenate([c[3] for c in chunks])[win]
    return ZBuffer(depth.reshape(height, width), prim.reshape(height, width),
                   None if normal is None else normal.reshape(height, width, 3))
