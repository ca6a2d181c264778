"""Image decoding and conversion: one :func:`read_image` (files and URLs) with documented handling of odd files,
and :func:`to_bgr_uint8` for arrays and PIL images. Training data, inference and the person detector all read
images here.

Modes of :func:`read_image` / :func:`decode_image`:
  * ``"color"``: OpenCV ``IMREAD_COLOR`` -> HxWx3 uint8 BGR, like MMPose's ``LoadImage``. Grayscale is
    replicated to 3 channels, an alpha channel is dropped, 16-bit colour is reduced to 8 bits by OpenCV, and the
    EXIF orientation is applied.
  * ``"depth"``: ``IMREAD_UNCHANGED`` -> HxW uint16 millimetres (a single-channel 16-bit PNG/TIFF); anything
    else is a :class:`DataError` (``IMREAD_ANYDEPTH`` would turn a 16-bit colour PNG into grey "depth").
  * ``"auto"`` (default): a single-channel 16-bit PNG is read as depth, everything else as colour.
  * ``"unchanged"``: whatever is stored (``IMREAD_UNCHANGED``).

Empty files and JPEGs cut short (which OpenCV would silently fill with grey) are refused. URLs (http, https, ftp,
file) are downloaded into memory.

:func:`to_bgr_uint8`, float images: when every value lies in [0, 1] the image is read as [0, 1] (x 255), otherwise
as 0-255; values below 0 or above 255 are refused. (The one case this rule reads differently from the caller's
intent is a 0-255 image whose pixels are all <= 1, i.e. black.)
"""
from __future__ import annotations

import os
import struct
import urllib.parse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..checks import check_path
from ..errors import DataError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STREAM_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtp", "udp", "tcp", "srt"}  # always videos (OpenCV / FFmpeg open them)
DOWNLOAD_SCHEMES = {"http", "https", "ftp", "file"}
URL_TIMEOUT_S = 30.0
_FLOAT_TOL = 1e-3  # float rounding slack at the ends of [0, 1]


def _is_16bit_gray_png(data: np.ndarray) -> bool:
    """PNG IHDR: bytes 24 = bit depth, 25 = colour type (0 = grayscale)."""
    head = data[:26].tobytes()
    return len(head) == 26 and head[:8] == _PNG_MAGIC and struct.unpack("BB", head[24:26]) == (16, 0)


def decode_image(data: bytes | np.ndarray, mode: str = "auto", name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes (JPEG/PNG/...); see the module docstring for ``mode``."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data, np.uint8)
    if buf.size == 0:
        raise DataError(f"{name}: empty image file")
    if mode == "auto":
        mode = "depth" if _is_16bit_gray_png(buf) else "color"
    flags = {
        "color": cv2.IMREAD_COLOR,
        "depth": cv2.IMREAD_UNCHANGED,
        "unchanged": cv2.IMREAD_UNCHANGED,
    }.get(mode)
    if flags is None:
        raise ValueError(f"unknown image mode '{mode}' (use auto, color, depth or unchanged)")
    image = cv2.imdecode(buf, flags)
    if image is None:
        raise DataError(f"{name}: cannot decode image: not a readable image (corrupt, truncated or unsupported format)")
    if mode == "depth" and (image.dtype != np.uint16 or image.ndim != 2):
        raise DataError(f"{name}: expected a single-channel 16-bit depth image, got {image.dtype} {image.shape}")
    return image


def _jpeg_cut_short(raw: bytes) -> bool:
    """True when a JPEG has no end-of-image marker (FFD9) after the start of its first scan: the file was cut short
    (OpenCV would fill the missing part with grey). The marker segments before the scan are skipped by their
    lengths, so an EXIF thumbnail's own end marker does not count; bytes after the end marker (Samsung trailers,
    the mp4 of a Google motion photo) are allowed. A marker structure this walk cannot follow falls back to
    looking for the end marker in the last 64 bytes."""
    i, n = 2, len(raw)
    while i + 4 <= n:
        if raw[i] != 0xFF:
            break  # not a marker where one must be: unusual file, use the fallback below
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker == 0xD9:  # end of image before any scan: nothing to decode (imdecode says so)
            return False
        elif marker == 0xDA:  # start of scan: the entropy-coded data never holds FFD9 (FF is stuffed as FF00)
            return raw.find(b"\xff\xd9", i + 2) < 0
        else:
            i += 2 + int.from_bytes(raw[i + 2:i + 4], "big")
    else:
        return True  # cut before the first scan
    return b"\xff\xd9" not in raw[-64:]


def read_image(path: str | os.PathLike, mode: str = "auto") -> np.ndarray:
    """Read an image file or URL: HxWx3 uint8 BGR (colour) or HxW uint16 (depth, millimetres); see ``mode`` in the
    module docstring (the pose pipeline reads ``"color"``, depth models ``"depth"``).

    Raises:
        DataError: the file is missing/unreadable/empty/cut short or cannot be decoded (message starts with it).
    """
    check_path(path, "read_image")  # arrays and PIL images are not read: to_bgr_uint8 converts those
    if is_url(path):
        name = str(path)  # never through Path(): it would turn "http://" into "http:/"
        data = fetch_url(name)
    else:
        name = os.fspath(path)
        try:
            data = np.fromfile(name, dtype=np.uint8)  # fromfile + imdecode handles non-ASCII paths on every OS
        except FileNotFoundError:
            raise DataError(f"{name}: image file not found (no such file)") from None
        except OSError as exc:
            raise DataError(f"{name}: cannot read image ({exc.strerror or exc})") from None
    if data[:2].tobytes() == b"\xff\xd8" and _jpeg_cut_short(data.tobytes()):
        raise DataError(f"{name}: cannot decode image: truncated JPEG (no end-of-image marker after its image data)")
    return decode_image(data, mode=mode, name=name)


def is_url(source: Any) -> bool:
    """True for ``scheme://...`` strings kdpose reads over the network (http(s), ftp, file, rtsp, rtmp, ...)."""
    if not isinstance(source, str) or "://" not in source:
        return False
    return urllib.parse.urlsplit(source).scheme.lower() in STREAM_SCHEMES | DOWNLOAD_SCHEMES


def url_name(url: str) -> str:
    """The file name a URL points at (``https://x/y/photo.jpg?s=1`` -> ``photo.jpg``; ``image`` when none)."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name or "image"


def _from_pil(image: Any, name: str) -> tuple[np.ndarray, bool]:
    """A PIL image -> (array, is_rgb), upright by its EXIF orientation. Colour modes become RGB uint8; 16-bit and
    float grayscale keep their range."""
    from PIL import ImageOps

    # Image.open() keeps a phone photo's stored, sideways pixels; the same file given by path is read upright
    # (OpenCV's imread applies the orientation), and both must give the same poses
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16), False
    if mode == "F":
        return np.asarray(image, np.float32), False
    if mode in ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "La", "RGBa"):
        return np.asarray(image.convert("RGB")), True
    raise DataError(f"{name}: unsupported PIL image mode '{mode}' (convert it to 'RGB' first)")


def _float_to_uint8(image: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(image).all():
        raise DataError(f"{name}: float image has NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo >= -_FLOAT_TOL and hi <= 1.0 + _FLOAT_TOL:
        scale = 255.0
    elif lo >= -0.5 and hi <= 255.5:
        scale = 1.0
    else:
        raise DataError(f"{name}: float image values span [{lo:.4g}, {hi:.4g}]; expected [0, 1] or [0, 255]")
    return np.clip(image * scale + 0.5, 0, 255).astype(np.uint8)


def to_bgr_uint8(image: Any, rgb: bool = False, name: str = "image") -> np.ndarray:
    """Any common image -> contiguous (H, W, 3) uint8 BGR.

    Args:
        image: a numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of uint8, uint16 or float ([0, 1] or
            0-255: see the module docstring), never channel-first: a (3 or 4, H, 3 or 4) array, which could be
            either, is a ``DataError``; or a PIL image (always taken as RGB, turned upright by its EXIF
            orientation as files are).
        rgb: the colour channels of an array are in RGB order (diffusers, matplotlib) rather than OpenCV's BGR.
        name: what to call the image in error messages.
    """
    import cv2

    from_pil = type(image).__module__.startswith("PIL.")
    if from_pil:
        image, rgb = _from_pil(image, name)
    if not isinstance(image, np.ndarray):
        raise DataError(f"{name}: expected a numpy array or a PIL image, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[2] in (3, 4) and not from_pil:
        # (3, H, 4) is a channel-first image or a 3-pixel-tall RGBA one; guessing would give garbage poses silently
        raise DataError(f"{name}: shape {image.shape} is ambiguous: a channel-first (C, H, W) image or a "
                        f"{image.shape[0]}-pixel-tall (H, W, C) one; arrays are read as (H, W, C): pass a "
                        "channel-first image as image.transpose(1, 2, 0)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        chw = image.ndim == 3 and image.shape[0] in (1, 3, 4)
        hint = "; a channel-first (C, H, W) image needs image.transpose(1, 2, 0)" if chw else ""
        raise DataError(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}{hint}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise DataError(f"{name}: image is empty (shape {image.shape})")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = _float_to_uint8(image, name)
    elif image.dtype != np.uint8:
        raise DataError(f"{name}: unsupported image dtype {image.dtype} (use uint8, uint16 or float)")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        image = image[..., :3]
    if rgb:
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def fetch_url(url: str) -> np.ndarray:
    """The bytes at ``url`` (http(s), ftp, file) as a uint8 array; ``DataError`` naming the URL on failure."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:
            return np.frombuffer(response.read(), np.uint8)
    except OSError as exc:  # URLError, HTTPError, timeouts, missing file:// paths
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise DataError(f"{url}: cannot download ({reason})") from None


__all__ = ["decode_image", "fetch_url", "is_url", "read_image", "to_bgr_uint8", "url_name"]
