import cv2
import numpy as np
import pytest

from kdpose.data.image import decode_image, read_image
from kdpose.errors import DataError


def test_color_gray_rgba_16bit(tmp_path):
    bgr = np.random.default_rng(0).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), bgr)
    gray = bgr[..., 0].copy()
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (10, 12, 3) and (g[..., 0] == gray).all() and (g[..., 2] == gray).all()
    rgba = np.dstack([bgr, np.full((10, 12), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), bgr)
    depth = np.arange(120, dtype=np.uint16).reshape(10, 12) * 500
    cv2.imwrite(str(tmp_path / "d.png"), depth)
    d = read_image(tmp_path / "d.png")
    assert d.dtype == np.uint16 and d.shape == (10, 12)
    np.testing.assert_array_equal(d, depth)
    assert read_image(tmp_path / "d.png", mode="color").dtype == np.uint8
    with pytest.raises(DataError, match="c.png: expected a single-channel 16-bit depth image"):
        read_image(tmp_path / "c.png", mode="depth")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.jpg: image file not found"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match=r"bad\.jpg: cannot decode image"):
        read_image(tmp_path / "bad.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png: empty image file"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(DataError, match="<bytes>"):
        decode_image(b"xx")


def test_real_jpeg(fixtures):
    img = read_image(fixtures / "coco" / "000000000785.jpg")
    assert img.shape == (425, 640, 3) and img.dtype == np.uint8
