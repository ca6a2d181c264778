"""RGB appearance: procedural (or user) backgrounds, clothing/skin/hair colours with procedural textures, Lambert
shading under a random light, painted facial features, and camera effects (blur, noise, colour shifts; the JPEG
artefacts come from the JPEG encoding itself)."""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...errors import ConfigError
from .body import HAIR, SHOES, SKIN
from .camera import Camera

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# skin tones (BGR) from dark to light; a tone is interpolated between two neighbours
_SKIN = np.array([[45, 60, 95], [60, 85, 130], [85, 120, 175], [110, 150, 205], [150, 185, 230], [175, 205, 240]],
                 np.float32)
_HAIR = np.array([[20, 20, 25], [25, 40, 70], [40, 70, 120], [90, 150, 200], [150, 150, 155], [30, 50, 140]],
                 np.float32)


@dataclass
class Appearance:
    """Look of one surface class (a person's garment / skin / hair, or an object).

    ``pattern``: 0 plain, 1 stripes, 2 checks, 3 noise, 4 dots; ``period`` in metres (scaled to pixels by depth)."""

    color: np.ndarray  # (3,) BGR float
    color2: np.ndarray
    pattern: int = 0
    period: float = 0.1
    angle: float = 0.0
    depth: float = 3.0  # typical depth of the surface (m), to scale the pattern


def _random_color(rng: np.random.Generator, saturation: float = 1.0) -> np.ndarray:
    """A random BGR colour (float32, 0-255): uniform hue, random saturation (scaled) and value."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 1) * saturation, rng.uniform(30, 250) / 255)
    return np.array([b, g, r], np.float32) * 255.0


def person_appearance(rng: np.random.Generator, depth: float) -> list[Appearance]:
    """Appearances for the materials SKIN, HAIR, TOP, BOTTOM, SHOES of one person."""
    i = rng.uniform(0, len(_SKIN) - 1)
    lo = int(i)
    skin = _SKIN[lo] * (1 - (i - lo)) + _SKIN[min(lo + 1, len(_SKIN) - 1)] * (i - lo)
    hair = _HAIR[int(rng.integers(len(_HAIR)))] * rng.uniform(0.7, 1.2)
    out = [Appearance(skin, skin * 0.85, 3, 0.05, 0.0, depth), Appearance(hair, hair * 0.6, 3, 0.02, 0.0, depth)]
    for _garment in range(2):
        c1 = _random_color(rng)
        c2 = _random_color(rng) if rng.random() < 0.6 else c1 * rng.uniform(0.4, 0.8)
        pattern = int(rng.choice(5, p=[0.35, 0.25, 0.15, 0.15, 0.1]))
        out.append(Appearance(c1, c2, pattern, rng.uniform(0.02, 0.15), rng.uniform(0, np.pi), depth))
    shoes = _random_color(rng, 0.4) * rng.uniform(0.3, 1.0)
    out.append(Appearance(shoes, shoes * 0.7, 0, 0.1, 0.0, depth))
    assert len(out) == 5 and out[SKIN] is out[0] and out[HAIR] is out[1] and out[SHOES] is out[4]
    return out


def object_appearance(rng: np.random.Generator, depth: float) -> Appearance:
    c1 = _random_color(rng, 0.8)
    return Appearance(c1, c1 * rng.uniform(0.5, 0.9), int(rng.choice([0, 1, 2, 3])), rng.uniform(0.05, 0.4),
                      rng.uniform(0, np.pi), depth)


def _noise_field(rng: np.random.Generator, width: int, height: int, cell: int) -> np.ndarray:
    small = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(small, (width + 2 * cell, height + 2 * cell), interpolation=cv2.INTER_CUBIC)[
        cell:cell + height, cell:cell + width]


def _pattern(kind: int, u: np.ndarray, v: np.ndarray, period_px: float, angle: float, noise: np.ndarray
             ) -> np.ndarray:
    """Mix weight in [0, 1] of the second colour at pixel coordinates (u, v)."""
    period_px = max(period_px, 1.5)
    if kind == 0:
        return np.zeros(u.shape, np.float32)
    ca, sa = math.cos(angle), math.sin(angle)
    a = (u * ca + v * sa) / period_px
    b = (v * ca - u * sa) / period_px
    if kind == 1:
        return (np.floor(a) % 2).astype(np.float32)
    if kind == 2:
        return ((np.floor(a) + np.floor(b)) % 2).astype(np.float32)
    if kind == 3:
        h, w = noise.shape
        scale = 8.0 / period_px
        return noise[(v * scale).astype(np.int64) % h, (u * scale).astype(np.int64) % w]
    fa, fb = a - np.floor(a) - 0.5, b - np.floor(b) - 0.5
    return (fa * fa + fb * fb < 0.09).astype(np.float32)


def procedural_background(rng: np.random.Generator, camera: Camera, downscale: int = 4) -> np.ndarray:
    """(H, W, 3) uint8 BGR: a textured floor and back wall (or sky) in perspective, with painted clutter.

    The perspective textures are evaluated on a grid ``downscale`` times coarser and upsampled (a background is
    never in sharp focus anyway); the painted clutter is drawn at full resolution."""
    H, W = camera.height, camera.width
    h, w = max(8, H // downscale), max(8, W // downscale)
    small_cam = Camera(w, h, camera.focal * w / W, (camera.cx + 0.5) * w / W - 0.5, (camera.cy + 0.5) * h / H - 0.5,
                       camera.rotation, camera.position)
    rays = small_cam.rays() @ camera.rotation.astype(np.float32)  # world directions per pixel (camera z = 1)
    pos = camera.position.astype(np.float32)
    dy, dz = rays[..., 1], rays[..., 2]
    t_floor = np.where(dy < -1e-4, -pos[1] / np.minimum(dy, -1e-4), np.inf)
    indoor = rng.random() < 0.7
    wall_z = rng.uniform(6.0, 40.0)
    t_wall = np.full_like(dy, np.inf)
    if indoor:
        t_wall = np.where(dz > 1e-4, (wall_z - pos[2]) / np.maximum(dz, 1e-4), np.inf)
    on_floor = t_floor < t_wall
    t = np.minimum(t_floor, t_wall)
    finite = np.isfinite(t)
    t = np.where(finite, t, 1e3).astype(np.float32)
    px = pos[0] + t * rays[..., 0]
    py = pos[1] + t * dy
    pz = pos[2] + t * dz
    noise = _noise_field(rng, w, h, int(rng.integers(2, 12)))
    # floor: tiles, planks, or rough ground, in world units
    fa, fb = _random_color(rng, 0.5), _random_color(rng, 0.5)
    tile = rng.uniform(0.25, 1.2)
    kind = int(rng.integers(3))
    if kind == 0:
        m = ((np.floor(px / tile) + np.floor(pz / tile)) % 2).astype(np.float32)
        grout = ((px / tile) % 1 < 0.04) | ((pz / tile) % 1 < 0.04)
        m = np.where(grout, 0.5, m)
    elif kind == 1:
        plank = np.floor(px / (0.3 * tile))
        m = (np.sin(plank * 12.9898) * 43758.5453) % 1.0 * 0.6 + 0.2 * np.sin(pz * 9.0 + plank)
    else:
        m = noise
    # wall: plain / stripes / bricks in wall units
    wa, wb = _random_color(rng, 0.4), _random_color(rng, 0.4)
    wk = int(rng.integers(3))
    if wk == 0:
        wm = 0.3 * noise
    elif wk == 1:
        wm = (np.floor(px / rng.uniform(0.1, 0.6)) % 2).astype(np.float32) * 0.7
    else:
        row = np.floor(py / 0.08)
        wm = (((px / 0.2 + 0.5 * (row % 2)) % 1 < 0.06) | (py / 0.08 % 1 < 0.1)).astype(np.float32)
    mix = np.where(on_floor, m, wm).astype(np.float32)[..., None]
    c1 = np.where(on_floor[..., None], fa, wa).astype(np.float32)
    c2 = np.where(on_floor[..., None], fb, wb).astype(np.float32)
    small = c1 + (c2 - c1) * mix
    if not indoor:
        sky = np.stack([np.full((h, w), 235.0), 200.0 - 60 * noise, 150.0 - 40 * noise], -1) * rng.uniform(0.6, 1.1)
        small = np.where(finite[..., None], small, sky.astype(np.float32))
    # distance fog and a light gradient
    fog = np.clip(t / rng.uniform(30.0, 120.0), 0.0, 0.6)[..., None]
    small = small * (1 - fog) + 170.0 * fog
    small *= (0.75 + 0.5 * _noise_field(rng, w, h, max(w, h) // 3))[..., None]
    image = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_LINEAR)
    # painted clutter on the background: posters, windows, shelves, blobs (semi-transparent)
    overlay = image.copy()
    for _ in range(int(rng.integers(0, 7))):
        color = tuple(float(c) for c in _random_color(rng))
        cx, cy = rng.uniform(0, W), rng.uniform(0, H * 0.8)
        size = rng.uniform(0.02, 0.12) * W
        if rng.random() < 0.6:
            corner = (int(cx + size), int(cy + size * rng.uniform(0.3, 2)))
            cv2.rectangle(overlay, (int(cx), int(cy)), corner, color, -1)
        else:
            cv2.circle(overlay, (int(cx), int(cy)), int(size / 2), color, -1)
    alpha = rng.uniform(0.4, 1.0)
    image = cv2.addWeighted(overlay, alpha, image, 1.0 - alpha, 0.0)
    return image


def user_background(rng: np.random.Generator, files: list[Path], width: int, height: int) -> np.ndarray | None:
    """A random crop of a random user image, resized to (width, height); ``None`` if the file cannot be read."""
    path = files[int(rng.integers(len(files)))]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    h, w = image.shape[:2]
    scale = rng.uniform(0.5, 1.0)
    cw, ch = max(8, int(w * scale)), max(8, int(h * scale))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = image[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)


def list_backgrounds(folder: str | None) -> list[Path]:
    if folder is None:
        return []
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def check_backgrounds(files: list[Path]) -> None:
    """Refuse background files OpenCV cannot read (empty, not an image: only their first bytes are read). Scenes
    that drew one got a procedural background instead, without a word.

    Raises:
        ConfigError: naming the first such file and how many there are.
    """
    bad = [p for p in files if not p.is_file() or p.stat().st_size == 0 or not cv2.haveImageReader(str(p))]
    if bad:
        more = f" ({len(bad) - 1} more such files in the folder)" if len(bad) > 1 else ""
        raise ConfigError(f"{bad[0]}: not a background image OpenCV can read (empty or not an image){more}; "
                          "remove it or fix it")


def shade(image: np.ndarray, prim_of_pixel: np.ndarray, normal: np.ndarray, prim_slot: np.ndarray,
          slots: list[Appearance], rng: np.random.Generator, focal: float) -> None:
    """Paint the rendered surfaces into ``image`` (H, W, 3) uint8 in place.

    ``prim_of_pixel`` (H, W) is the z-buffer's primitive id (-1 = background), ``prim_slot`` maps a primitive id to
    an index into ``slots``."""
    H, W = prim_of_pixel.shape
    flat = prim_of_pixel.reshape(-1)
    covered = np.flatnonzero(flat >= 0)
    if covered.size == 0:
        return
    slot = prim_slot.astype(np.int32)[flat[covered]]
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1.3, 0.1), -rng.uniform(0.3, 1.5)], np.float32)
    light /= np.linalg.norm(light)
    ambient = np.float32(rng.uniform(0.25, 0.6))
    lum = normal.reshape(-1, 3)[covered] @ light
    np.clip(lum, 0.0, 1.0, out=lum)
    lum = ambient + (1 - ambient) * lum
    noise = _noise_field(rng, 256, 256, 8)
    colors = np.empty((covered.size, 3), np.float32)
    counts = np.bincount(slot, minlength=len(slots))
    order = np.argsort(slot.astype(np.int16), kind="stable")  # radix sort: pixels grouped by slot
    ends = np.cumsum(counts)
    for s in np.flatnonzero(counts):
        sel = order[ends[s] - counts[s]:ends[s]]
        app = slots[int(s)]
        if app.pattern == 0:
            colors[sel] = app.color
            continue
        pix = covered[sel]
        u = (pix % W).astype(np.float32)
        v = (pix // W).astype(np.float32)
        m = _pattern(app.pattern, u, v, app.period * focal / max(app.depth, 0.3), app.angle, noise)[:, None]
        colors[sel] = app.color + (app.color2 - app.color) * m
    colors *= lum[:, None]
    image.reshape(-1, 3)[covered] = np.clip(colors, 0, 255).astype(np.uint8)


def paint_face(image: np.ndarray, face_px: np.ndarray, face_flags: np.ndarray, skin: np.ndarray) -> None:
    """Draw eyes, brows, nose and lips through the 68 landmarks (only features whose landmarks are all visible),
    so that the face has the cues a real face has. ``face_px`` (68, 2) pixels, ``face_flags`` (68,)."""
    size = float(np.ptp(face_px[:, 0]) + np.ptp(face_px[:, 1]))
    if size < 12:
        return
    thick = max(1, int(round(size / 60)))
    dark = tuple(float(c) for c in skin * 0.25)
    lips = tuple(float(c) for c in (skin * 0.6 + np.array([20, 10, 60], np.float32)))
    pts = np.round(face_px * 16).astype(np.int32)

    def poly(idx, color, closed, fill=False):
        if (face_flags[idx] == 2).all():
            if fill:
                cv2.fillPoly(image, [pts[idx]], color, lineType=cv2.LINE_AA, shift=4)
            else:
                cv2.polylines(image, [pts[idx]], closed, color, thick, lineType=cv2.LINE_AA, shift=4)

    poly(list(range(17, 22)), dark, False)
    poly(list(range(22, 27)), dark, False)
    poly(list(range(27, 31)), tuple(float(c) for c in skin * 0.7), False)
    poly(list(range(31, 36)), dark, False)
    poly(list(range(36, 42)), dark, True, fill=True)
    poly(list(range(42, 48)), dark, True, fill=True)
    poly(list(range(48, 60)), lips, True, fill=True)
    poly(list(range(60, 68)), dark, True)


def camera_effects(image: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Defocus / motion blur, per-channel gain, offset and gamma (one lookup table), sensor noise; uint8 BGR."""
    if rng.random() < 0.7 * blur:
        sigma = rng.uniform(0.3, 1.6) * (0.5 + blur)
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if rng.random() < 0.2 * blur:
        length = int(rng.integers(3, 10))
        kernel = np.zeros((length, length), np.float32)
        angle = rng.uniform(0, np.pi)
        c = (length - 1) / 2
        cv2.line(kernel, (int(c - c * math.cos(angle)), int(c - c * math.sin(angle))),
                 (int(c + c * math.cos(angle)), int(c + c * math.sin(angle))), 1.0, 1)
        image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1.0))
    gain = rng.uniform(0.8, 1.2, 3)
    bias = rng.uniform(-25, 25)
    gamma = rng.uniform(0.8, 1.25)
    levels = np.clip(np.arange(256)[:, None] * gain[None, :] + bias, 0, 255) / 255.0
    lut = np.clip(255.0 * levels**gamma + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3)
    image = cv2.LUT(image, lut)
    sigma = rng.uniform(0, 10.0 * noise)
    if sigma > 0.5:  # grain drawn at half resolution (2x2 correlated, like demosaiced sensor noise)
        h, w = image.shape[:2]
        grain = rng.standard_normal(((h + 1) // 2, (w + 1) // 2), dtype=np.float32) * np.float32(sigma)
        grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST)
        image = cv2.add(image, cv2.cvtColor(grain, cv2.COLOR_GRAY2BGR), dtype=cv2.CV_8U)
    return image
