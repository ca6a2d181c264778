"""Image decoding: one function, :func:`read_image`, with documented handling of odd files.

Modes:
  * ``"color"``: OpenCV ``IMREAD_COLOR`` -> HxWx3 uint8 BGR, like MMPose's ``LoadImage``. Grayscale is
    replicated to 3 channels, an alpha channel is dropped, 16-bit colour is reduced to 8 bits by OpenCV, and the
    EXIF orientation is applied.
  * ``"depth"``: ``IMREAD_ANYDEPTH`` -> HxW uint16 millimetres (a single-channel 16-bit PNG/TIFF); anything
    else is a :class:`DataError`.
  * ``"auto"`` (default): a single-channel 16-bit PNG is read as depth, everything else as colour.
  * ``"unchanged"``: whatever is stored (``IMREAD_UNCHANGED``).
"""
from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from ..errors import DataError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
        "depth": cv2.IMREAD_ANYDEPTH,
        "unchanged": cv2.IMREAD_UNCHANGED,
    }.get(mode)
    if flags is None:
        raise ValueError(f"unknown image mode '{mode}' (use auto, color, depth or unchanged)")
    image = cv2.imdecode(buf, flags)
    if image is None:
        raise DataError(f"{name}: cannot decode image (corrupt or unsupported format)")
    if mode == "depth" and (image.dtype != np.uint16 or image.ndim != 2):
        raise DataError(f"{name}: expected a single-channel 16-bit depth image, got {image.dtype} {image.shape}")
    return image


def read_image(path: str | os.PathLike, mode: str = "auto") -> np.ndarray:
    """Read an image file: HxWx3 uint8 BGR (colour) or HxW uint16 (depth, millimetres).

    Raises:
        DataError: the file is missing/unreadable or cannot be decoded (message starts with the path).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    return decode_image(data, mode=mode, name=path)
