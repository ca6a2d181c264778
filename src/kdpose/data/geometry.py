"""Top-down crop geometry, with MMPose's exact conventions (the only implementation: data, inference and export
all use it).

* A crop is described by ``center`` (x, y) and ``scale`` = (w, h) of the image region in pixels (no 200-px unit).
* ``bbox_xyxy_to_center_scale`` pads the box by 1.25; ``fix_aspect_ratio`` grows the shorter side so that
  ``w / h`` equals the model input's aspect ratio.
* ``get_warp_matrix`` is MMPose's standard (non-UDP) affine: the crop centre maps to ``(W/2, H/2)`` and the
  factor is ``W / scale_w`` on both axes; rotation by ``rot`` degrees about the centre.
  ``get_udp_warp_matrix`` is the UDP variant: centre -> ``((W-1)/2, (H-1)/2)``, factors ``(W-1)/scale_w`` and
  ``(H-1)/scale_h``. (As in MMPose, the two rotate in opposite senses for the same ``rot``; augmentation angles
  are symmetric so it does not matter, but it is reproduced for checkpoint compatibility.)
* Horizontal flip in image space maps ``x -> img_w - 1 - x`` (pixel-centre convention).

All functions are vectorised over a leading batch axis where noted.
"""
from __future__ import annotations

import cv2
import numpy as np


# ----------------------------------------------------------------------------------------------- boxes
def bbox_xywh_to_xyxy(bbox: np.ndarray) -> np.ndarray:
    """(..., 4) xywh -> (..., 4) xyxy."""
    bbox = np.asarray(bbox, dtype=np.float32)
    return np.concatenate([bbox[..., :2], bbox[..., :2] + bbox[..., 2:4]], axis=-1)


def bbox_xyxy_to_xywh(bbox: np.ndarray) -> np.ndarray:
    """(..., 4) xyxy -> (..., 4) xywh."""
    bbox = np.asarray(bbox, dtype=np.float32)
    return np.concatenate([bbox[..., :2], bbox[..., 2:4] - bbox[..., :2]], axis=-1)


def clip_bbox_xywh_to_xyxy(bbox_xywh: np.ndarray, img_w: int, img_h: int) -> np.ndarray:
    """MMPose's COCO parsing: xywh -> xyxy clipped to ``[0, W-1] x [0, H-1]``. (..., 4) -> (..., 4)."""
    xyxy = bbox_xywh_to_xyxy(bbox_xywh)
    xyxy[..., 0::2] = np.clip(xyxy[..., 0::2], 0, img_w - 1)
    xyxy[..., 1::2] = np.clip(xyxy[..., 1::2], 0, img_h - 1)
    return xyxy


def bbox_xyxy_to_center_scale(bbox: np.ndarray, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) xyxy -> centre (..., 2) and padded scale (..., 2) = (w, h) * padding."""
    bbox = np.asarray(bbox, dtype=np.float32)
    center = (bbox[..., :2] + bbox[..., 2:4]) * 0.5
    scale = (bbox[..., 2:4] - bbox[..., :2]) * padding
    return center.astype(np.float32), scale.astype(np.float32)


def center_scale_to_bbox_xyxy(center: np.ndarray, scale: np.ndarray, padding: float = 1.0) -> np.ndarray:
    """Inverse of :func:`bbox_xyxy_to_center_scale`: (..., 2), (..., 2) -> (..., 4) xyxy."""
    wh = np.asarray(scale, dtype=np.float32) / padding
    xy = np.asarray(center, dtype=np.float32) - 0.5 * wh
    return np.concatenate([xy, xy + wh], axis=-1)


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow (w, h) to ``w / h == aspect_ratio`` (MMPose ``TopdownAffine._fix_aspect_ratio``). (..., 2) -> (..., 2)."""
    scale = np.asarray(scale, dtype=np.float32)
    w, h = scale[..., 0], scale[..., 1]
    wide = w > h * aspect_ratio
    return np.stack([np.where(wide, w, h * aspect_ratio), np.where(wide, w / aspect_ratio, h)], axis=-1).astype(
        np.float32
    )


def flip_bbox_xyxy(bbox: np.ndarray, img_w: int) -> np.ndarray:
    """Horizontal flip of (..., 4) xyxy boxes: (x1, x2) -> (W-1-x2, W-1-x1)."""
    out = np.array(bbox, dtype=np.float32, copy=True)
    out[..., 0] = img_w - 1 - bbox[..., 2]
    out[..., 2] = img_w - 1 - bbox[..., 0]
    return out


def flip_keypoints(
    keypoints: np.ndarray, visible: np.ndarray, img_w: int, flip_indices
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror keypoints (..., K, 2) horizontally (x -> W-1-x) and swap left/right with ``flip_indices``."""
    idx = np.asarray(flip_indices)
    kpts = np.array(keypoints, dtype=np.float32, copy=True)[..., idx, :]
    kpts[..., 0] = img_w - 1 - kpts[..., 0]
    return kpts, np.asarray(visible)[..., idx].copy()


# ---------------------------------------------------------------------------------------------- affine
def _rotation(rot_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rad = np.deg2rad(np.asarray(rot_deg, dtype=np.float64))
    return np.cos(rad), np.sin(rad)


def get_warp_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rot: float | np.ndarray,
    output_size: tuple[int, int],
    shift: tuple[float, float] = (0.0, 0.0),
    inv: bool = False,
) -> np.ndarray:
    """MMPose's standard crop affine, vectorised.

    Maps ``center + scale * shift`` to ``(W/2, H/2)`` with the similarity ``(W / scale_w) * R(-rot)``
    (the closed form of MMPose's three-point ``cv2.getAffineTransform`` construction).

    Args:
        center: (..., 2) crop centre in image pixels.
        scale: (..., 2) crop size (w, h) in image pixels (only w sets the factor, as in MMPose).
        rot: (...) rotation in degrees.
        output_size: (W, H) of the crop.
        shift: fraction of the scale to shift the centre by.
        inv: return the crop -> image matrix instead.
    Returns:
        (..., 2, 3) float32 matrix (image -> crop, or crop -> image with ``inv``).
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    out_w, out_h = output_size
    cos, sin = _rotation(rot)
    cos, sin = np.broadcast_to(cos, center.shape[:-1]), np.broadcast_to(sin, center.shape[:-1])
    src = center + scale * np.asarray(shift, dtype=np.float64)
    dst = np.array([out_w * 0.5, out_h * 0.5])
    f = out_w / scale[..., 0]
    if not inv:
        a = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2) * f[..., None, None]
        t = dst - np.einsum("...ij,...j->...i", a, src)
    else:  # crop -> image: x = R(rot) (x' - dst) / f + src
        a = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2) / f[..., None, None]
        t = src - np.einsum("...ij,...j->...i", a, np.broadcast_to(dst, src.shape))
    return np.concatenate([a, t[..., None]], axis=-1).astype(np.float32)


def get_udp_warp_matrix(
    center: np.ndarray, scale: np.ndarray, rot: float | np.ndarray, output_size: tuple[int, int]
) -> np.ndarray:
    """MMPose's UDP crop affine (unbiased data processing), vectorised: (..., 2), (..., 2), (...) -> (..., 2, 3).

    ``x' = diag((W-1)/scale_w, (H-1)/scale_h) @ R(rot) @ (x - center) + ((W-1)/2, (H-1)/2)``.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    out_w, out_h = output_size
    cos, sin = _rotation(rot)
    cos, sin = np.broadcast_to(cos, center.shape[:-1]), np.broadcast_to(sin, center.shape[:-1])
    sx = (out_w - 1) / scale[..., 0]
    sy = (out_h - 1) / scale[..., 1]
    a = np.stack([np.stack([cos * sx, -sin * sx], -1), np.stack([sin * sy, cos * sy], -1)], -2)
    t = np.stack([(out_w - 1) * 0.5 * np.ones_like(sx), (out_h - 1) * 0.5 * np.ones_like(sy)], -1)
    t = t - np.einsum("...ij,...j->...i", a, center)
    return np.concatenate([a, t[..., None]], axis=-1).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of (..., 2, 3) affine matrices."""
    m = np.asarray(matrix, dtype=np.float64)
    a_inv = np.linalg.inv(m[..., :2, :2])
    t = -np.einsum("...ij,...j->...i", a_inv, m[..., :2, 2])
    return np.concatenate([a_inv, t[..., None]], axis=-1).astype(np.float32)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` for (..., 2, 3) matrices (apply ``inner`` first)."""
    o = np.asarray(outer, dtype=np.float64)
    i = np.asarray(inner, dtype=np.float64)
    a = o[..., :2, :2] @ i[..., :2, :2]
    t = np.einsum("...ij,...j->...i", o[..., :2, :2], i[..., :2, 2]) + o[..., :2, 2]
    return np.concatenate([a, t[..., None]], axis=-1).astype(np.float32)


def hflip_matrix(img_w: int) -> np.ndarray:
    """(2, 3) affine of the horizontal image flip ``x -> W-1-x``."""
    return np.array([[-1.0, 0.0, img_w - 1.0], [0.0, 1.0, 0.0]], dtype=np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply (2, 3) or (N, 2, 3) affine(s) to points (..., 2) / (N, ..., 2). Returns float32."""
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2:
        out = p @ m[:, :2].T + m[:, 2]
    else:  # one matrix per leading index
        extra = (1,) * (p.ndim - 2)
        a = m[:, :2, :2].reshape(m.shape[0], *extra, 2, 2)
        t = m[:, :2, 2].reshape(m.shape[0], *extra, 2)
        out = np.einsum("n...ij,n...j->n...i", np.broadcast_to(a, p.shape[:-1] + (2, 2)), p) + t
    return out.astype(np.float32)


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    output_size: tuple[int, int],
    border_value: float = 0,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """``cv2.warpAffine`` with MMPose's flags (bilinear, constant 0 border). Works for HxWx3 uint8 and HxW uint16."""
    return cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float32),
        (int(output_size[0]), int(output_size[1])),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


_WARP_BLOCK = 16  # output columns per vector block of OpenCV 5.0's nearest warp (uint16, AVX2 dispatch)


def _fma32(a: np.ndarray, x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """float32(a * x + p) with one rounding (a fused multiply-add) for float32 ``a``, ``p`` and small integer ``x``.

    ``a * x`` is exact in float64 (24 + 24 bits); the float64 sum is made round-to-odd from its exact error (two-sum),
    so that rounding it again to float32 gives the correctly rounded fused result (no double rounding)."""
    prod = a.astype(np.float64) * x.astype(np.float64)
    q = p.astype(np.float64)
    s = prod + q
    t = s - prod
    err = (prod - (s - t)) + (q - t)
    even = (s.view(np.int64) & 1) == 0
    s = np.where((err != 0) & even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def warp_nearest(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int],
                 border_value: float = 0) -> np.ndarray:
    """Nearest-neighbour affine warp (depth images), computed by kdpose itself so that it does not depend on the
    OpenCV build. (H, W) or (H, W, C) of any dtype -> (h, w[, C]) of the same dtype; ``matrix`` (2, 3) maps image to
    output pixels, as for :func:`warp_image`; constant ``border_value`` outside the image.

    Output pixel (x, y) takes the source pixel nearest to ``inv(matrix) @ (x, y, 1)`` (per coordinate
    ``a * x + b * y + c``, the inverse's row rounded to float32), a position exactly half-way between two pixels
    going to the even index. The position is computed in single precision as OpenCV 5.0's
    ``warpAffine(INTER_NEAREST)`` computes it for one-channel images on an AVX2 CPU, the build and machine that the
    shipped depth teacher and the depth tables' students were trained and measured with:

    - columns in whole blocks of 16 from the left (x < 16 * floor(w / 16)): ``b * y + c`` rounded to float32, then
      ``a * x`` added with one rounding;
    - the remaining ``w mod 16`` columns (the 184-wide training crops' and the 248-wide letterbox's last 8):
      ``a * x + b * y`` with one rounding (``b * y`` rounded first), then ``c`` added.

    Both orders agree except where the position is within float32 rounding of half-way. Other builds break those
    ties another way (4.14 and 5.1: on 8 of the 248 columns and 2 of the 184 rows of the 320x240 -> 248x184
    letterbox, where source positions fall exactly half-way), which alone moved the teacher's held-out F by 0.007.
    In the rotated training crops the two orders differ on one pixel (in a last-8 column) of 85 of the 14,400 crops
    of Table V at CPU scale; warping those columns the blocks' way changed its students' training from the 4th step
    on (``tests/data/test_warp_nearest.py``). OpenCV 5.0 without AVX2 orders the arithmetic differently again.
    """
    w, h = int(output_size[0]), int(output_size[1])
    m = np.asarray(matrix, dtype=np.float32).astype(np.float64).reshape(2, 3)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if det == 0:
        raise ValueError(f"singular affine matrix {m.tolist()}")
    a = np.array([[m[1, 1], -m[0, 1]], [-m[1, 0], m[0, 0]]]) * (1.0 / det)
    inverse = np.concatenate([a, (-a @ m[:, 2])[:, None]], axis=1).astype(np.float32)
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    blocked = np.arange(w)[None, :] < (w // _WARP_BLOCK) * _WARP_BLOCK
    index = []
    for ax, by, c in inverse:
        row = y * by  # float32
        position = np.where(blocked, _fma32(ax, x, row + c), _fma32(ax, x, row) + c)
        index.append(np.rint(position).astype(np.int64))
    ix, iy = index
    inside = (ix >= 0) & (ix < image.shape[1]) & (iy >= 0) & (iy < image.shape[0])
    out = np.full((h, w) + image.shape[2:], border_value, dtype=image.dtype)
    out[inside] = image[iy[inside], ix[inside]]
    return out


def invert_crop_points(
    points: np.ndarray, center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]
) -> np.ndarray:
    """Map predictions from crop pixels back to the image (MMPose's ``add_pred_to_datasample``, no rotation).

    ``x = x_crop / (W, H) * scale + center - 0.5 * scale``.

    Args:
        points: (N, K, 2) in crop pixels.
        center: (N, 2); scale: (N, 2) = the aspect-fixed crop size in image pixels.
        input_size: (W, H) of the crop.
    Returns:
        (N, K, 2) float32 in image pixels. Exact inverse of :func:`get_warp_matrix` with ``rot=0``.
    """
    points = np.asarray(points, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)[..., None, :]
    scale = np.asarray(scale, dtype=np.float64)[..., None, :]
    size = np.asarray(input_size, dtype=np.float64)
    return (points / size * scale + center - 0.5 * scale).astype(np.float32)
