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
    # a 16-bit colour PNG was turned into grey by IMREAD_ANYDEPTH and taken as millimetres (a depth model then
    # found nobody, silently)
    cv2.imwrite(str(tmp_path / "c16.png"), np.dstack([depth, depth // 2, depth // 3]))
    with pytest.raises(DataError, match=r"c16.png: expected a single-channel 16-bit depth image, got uint16 \(10, 12"):
        read_image(tmp_path / "c16.png", mode="depth")


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


def _phone_photo(path):
    """A JPEG stored sideways (24 wide, 40 tall) with EXIF orientation 6 (rotate 90 degrees clockwise to view):
    upright it is 40 wide and 24 tall. Its top-left stored block is red, which upright lands top-right."""
    from PIL import Image

    stored = np.zeros((40, 24, 3), np.uint8)  # RGB
    stored[:12, :12] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, quality=100, exif=exif.tobytes())


def test_pil_images_are_turned_upright_like_files(tmp_path):
    from PIL import Image

    from kdpose.data.image import to_bgr_uint8
    from kdpose.inference.estimator import PoseEstimator

    path = tmp_path / "phone.jpg"
    _phone_photo(path)
    from_file = read_image(path, mode="color")
    assert from_file.shape == (24, 40, 3)  # OpenCV applies the orientation
    with Image.open(path) as pil:
        assert pil.size == (24, 40)  # PIL keeps the stored pixels
        from_pil = to_bgr_uint8(pil)
        estimator_input, _ = PoseEstimator.load_image(pil)
    for image in (from_pil, estimator_input):
        assert image.shape == (24, 40, 3)
        assert np.abs(image.astype(int) - from_file).mean() < 2  # two JPEG decoders, same pixels
        b, g, r = image[:10, -10:].mean(axis=(0, 1))
        assert b < 10 and g < 10 and r > 245  # red (BGR), top right
    plain = Image.fromarray(np.zeros((5, 7, 3), np.uint8))  # no EXIF: as it is
    assert to_bgr_uint8(plain).shape == (5, 7, 3)


@pytest.mark.parametrize("shape", [(3, 20, 3), (3, 20, 4), (4, 20, 3), (4, 20, 4), (3, 3, 3)])
def test_an_array_that_may_be_channel_first_is_refused(shape):
    """(3, H, 4) is a channel-first image or a 3-pixel-tall RGBA one: no guess, a DataError saying both readings."""
    from kdpose.data.image import to_bgr_uint8
    from kdpose.inference.estimator import PoseEstimator

    array = np.zeros(shape, np.uint8)
    for convert in (lambda a: to_bgr_uint8(a, name="frame"), lambda a: PoseEstimator.load_image(a)):
        with pytest.raises(DataError) as info:
            convert(array)
        text = str(info.value)
        assert f"shape {shape} is ambiguous: a channel-first (C, H, W) image or a {shape[0]}-pixel-tall (H, W, C) " \
               "one; arrays are read as (H, W, C): pass a channel-first image as image.transpose(1, 2, 0)" in text
    assert str(info.value).startswith("image: ")
    if shape[1] > 4:  # the transposed array is unambiguous and reads
        assert to_bgr_uint8(array.transpose(1, 2, 0)).shape == (shape[1], shape[2], 3)


def test_channel_first_arrays_are_named_and_unambiguous_layouts_read():
    from PIL import Image

    from kdpose.data.image import to_bgr_uint8

    with pytest.raises(DataError, match=r"^image: expected an HxW, HxWx3 or HxWx4 image, got shape \(3, 20, 30\); "
                                        r"a channel-first \(C, H, W\) image needs image.transpose\(1, 2, 0\)$"):
        to_bgr_uint8(np.zeros((3, 20, 30), np.uint8))
    assert to_bgr_uint8(np.zeros((20, 30, 3), np.uint8)).shape == (20, 30, 3)
    assert to_bgr_uint8(np.zeros((5, 20, 4), np.uint8)).shape == (5, 20, 3)  # 5 rows: HWC, no doubt
    assert to_bgr_uint8(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1, 3)
    # a PIL image has no layout question: 3 pixels tall is 3 pixels tall
    assert to_bgr_uint8(Image.fromarray(np.zeros((3, 20, 4), np.uint8))).shape == (3, 20, 3)
