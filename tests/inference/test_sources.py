import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from kdpose.errors import DataError  # noqa: E402
from kdpose.data.image import read_image as read_any_image  # noqa: E402
from kdpose.inference.sources import FrameSource, source_kind, to_bgr_uint8  # noqa: E402


def read_image(path):
    """The pose pipeline's read: colour (kdpose.data.image.read_image is the one reader, mode picks the kind)."""
    return read_any_image(path, mode="color")


def test_to_bgr_converts_gray_rgba_16bit_float_and_rgb():
    gray = np.full((4, 5), 200, np.uint8)
    assert to_bgr_uint8(gray).shape == (4, 5, 3) and (to_bgr_uint8(gray) == 200).all()
    rgba = np.zeros((6, 5, 4), np.uint8)  # 3 or 4 rows with 3 or 4 channels could be channel-first: refused
    rgba[..., 0] = 10
    assert to_bgr_uint8(rgba).shape == (6, 5, 3) and (to_bgr_uint8(rgba)[..., 0] == 10).all()
    deep = np.full((2, 3, 3), 0xAB00, np.uint16)
    assert (to_bgr_uint8(deep) == 0xAB).all()
    assert (to_bgr_uint8(np.ones((2, 2, 3), np.float32)) == 255).all()
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # red in RGB
    assert tuple(to_bgr_uint8(rgb, rgb=True)[0, 0]) == (0, 0, 255)
    assert to_bgr_uint8(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1, 3)
    for bad in (np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((5, 4, 3), np.int64),
                np.full((2, 2), np.nan, np.float32), [[1, 2]]):
        with pytest.raises(DataError):
            to_bgr_uint8(bad)


def test_read_image_errors_name_file_and_problem(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    good = tmp_path / "ok.jpg"
    cv2.imwrite(str(good), img)
    assert read_image(good).shape == (40, 30, 3)
    cv2.imwrite(str(tmp_path / "g16.png"), np.full((8, 9), 40000, np.uint16))
    assert read_image(tmp_path / "g16.png").shape == (8, 9, 3)
    rgba = np.zeros((6, 7, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 10  # red, almost transparent: alpha is dropped, colour kept
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() == [0, 0, 200]
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((5, 4), 77, np.uint8))
    assert (read_image(tmp_path / "gray.png") == 77).all() and read_image(tmp_path / "gray.png").shape == (5, 4, 3)
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1, 3), np.uint8))
    assert read_image(tmp_path / "one.png").shape == (1, 1, 3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for name, problem in [("empty.jpg", "empty"), ("text.png", "not a readable image"), ("cut.jpg", "truncated"),
                          ("missing.png", "no such file")]:
        with pytest.raises(DataError, match=problem) as info:
            read_image(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


def test_folder_source_is_recursive_sorted_and_reports_bad_files(tmp_path):
    img = np.zeros((10, 10, 3), np.uint8)
    (tmp_path / "b").mkdir()
    cv2.imwrite(str(tmp_path / "b" / "2.png"), img)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    (tmp_path / "b" / "1.jpg").write_bytes(b"\xff\xd8garbage")
    (tmp_path / "notes.txt").write_text("skip me")
    src = FrameSource(tmp_path)
    frames = list(src)
    assert [f.name for f in frames] == ["a.png", "b/1.jpg", "b/2.png"]
    assert frames[1].image is None and "b/1.jpg" in frames[1].error
    assert frames[0].image.shape == (10, 10, 3) and frames[2].error is None


def _gif(path):
    from PIL import Image

    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(path)


def test_folder_files_opencv_cannot_read_are_reported_not_dropped(tmp_path):
    """A phone's HEIC photo in a folder is named with the reason and the job goes on; GIF / AVIF / JFIF files are
    read when this OpenCV reads them and reported when it does not; text files are not images and stay unlisted."""
    from kdpose.inference.sources import list_images, scan_folder

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "photo.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))  # no OpenCV reads HEIC
    (tmp_path / "scan.jxl").write_bytes(b"\xff\x0a" + bytes(32))
    _gif(tmp_path / "anim.gif")
    ok, jpeg = cv2.imencode(".jpg", np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "web.jfif").write_bytes(jpeg.tobytes())  # a JPEG under its other name
    for name in ("notes.txt", "meta.json", "clip.mp4"):
        (tmp_path / name).write_text("not an image")
    gif_read = cv2.haveImageReader(str(tmp_path / "anim.gif"))  # OpenCV >= 4.11 builds with GIF support
    images, skipped = scan_folder(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in images]
    assert names == ["a.png"] + (["anim.gif"] if gif_read else []) + ["web.jfif"]
    expected = ([] if gif_read else ["anim.gif: OpenCV cannot read this GIF file; convert it to JPEG or PNG"]) + [
        "scan.jxl: OpenCV cannot read this JPEG XL file; convert it to JPEG or PNG",
        "sub/photo.HEIC: OpenCV cannot read this HEIC file; convert it to JPEG or PNG"]
    assert skipped == expected
    assert list_images(tmp_path) == images
    src = FrameSource(tmp_path)
    assert src.skipped == expected and src.names == names
    frames = list(src)
    assert [f.name for f in frames] == names and all(f.image is not None for f in frames)


def test_a_file_given_twice_is_one_frame(tmp_path):
    """A file given again (twice, as a file and through its folder, through overlapping folders) was inferred twice:
    its people twice in predictions.json, and with an integer stem an image-id clash asking to rename one of two
    files that are one. It is now one frame, in its first place, and one line says so."""
    (tmp_path / "sub").mkdir()
    for name in ("1.jpg", "sub/2.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    one, two = tmp_path / "1.jpg", tmp_path / "sub" / "2.jpg"
    src = FrameSource([str(tmp_path), str(one), str(tmp_path / "sub"), str(tmp_path / "sub" / ".." / "1.jpg")])
    assert src.names == ["1.jpg", "sub/2.jpg"] and len(list(src)) == 2
    assert src.notes == [f"{one}: given more than once; inferred once",
                           f"{two}: given more than once; inferred once",
                           f"{tmp_path / 'sub' / '..' / '1.jpg'}: given more than once (first as {one}); inferred once"]
    assert FrameSource([str(one), str(two)]).notes == []


def test_the_jobs_own_output_folders_are_not_inputs(tmp_path):
    """A second `kdpose infer .` read the pictures the first one drew in ./infer_out/vis/ as inputs (with integer
    stems an image-id clash, else poses of drawn poses, silently). Output folders inside a source folder are left
    out, with one line; a folder given as the source itself is read."""
    from kdpose.inference.outputs import image_output_folders
    from kdpose.inference.sources import scan_folder

    for name in ("1.jpg", "infer_out/vis/1.jpg", "infer_out/openpose/1_pose.png", "infer_out/predictions/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    drawn = image_output_folders(tmp_path / "infer_out")
    src = FrameSource(str(tmp_path), exclude=drawn)
    assert src.names == ["1.jpg", "infer_out/predictions/x.png"]
    assert src.notes == [f"{tmp_path}: left out {tmp_path}/infer_out/vis, an output folder of this job",
                         f"{tmp_path}: left out {tmp_path}/infer_out/openpose, an output folder of this job"]
    assert [p.name for p in scan_folder(tmp_path / "infer_out" / "vis", drawn)[0]] == ["1.jpg"]
    assert len(FrameSource(str(tmp_path)).names) == 4 and FrameSource(str(tmp_path)).notes == []


def test_a_folder_of_only_unreadable_formats_names_them(tmp_path):
    for name in ("IMG_1.heic", "IMG_2.heic"):
        (tmp_path / name).write_bytes(bytes(40))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError) as info:
        FrameSource(tmp_path)
    assert str(info.value) == (f"{tmp_path}: no image file OpenCV can read in this folder: IMG_1.heic: OpenCV cannot "
                               "read this HEIC file; convert it to JPEG or PNG (and 1 more)")


def test_video_source_reads_frames_and_bad_videos_fail_clearly(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), i * 40, np.uint8))
    writer.release()
    src = FrameSource(path)
    assert src.kind == "video" and src.fps == pytest.approx(10)
    frames = list(src)
    assert len(frames) == 5 and frames[3].timestamp == pytest.approx(0.3) and frames[0].name == "clip"
    assert list(FrameSource(path, max_frames=2).__iter__())[-1].index == 1
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="bad.mp4"):
        list(FrameSource(tmp_path / "bad.mp4"))
    with pytest.raises(DataError, match="no such file"):
        source_kind(tmp_path / "nope.mp4")


def test_absent_webcam_is_a_clear_error():
    with pytest.raises(DataError, match="webcam 57"):
        FrameSource(57)


def test_video_that_ends_early_stops_and_says_so(tmp_path):
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.5)])  # the header still announces 20 frames
    src = FrameSource(path)
    frames = list(src)
    assert 0 < len(frames) < 20 and src.truncated


def test_prefetch_keeps_order_and_reraises_errors(tmp_path):
    from kdpose.inference.sources import Frame, prefetch

    frames = [Frame(i, None, str(i), float(i)) for i in range(10)]
    assert [f.index for f in prefetch(iter(frames), depth=2)] == list(range(10))

    def failing():
        yield frames[0]
        raise DataError("boom.mp4: broken")

    got = []
    with pytest.raises(DataError, match="boom"):
        for f in prefetch(failing()):
            got.append(f.index)
    assert got == [0]
    it = prefetch(iter(frames), depth=1)  # abandoning the iterator early stops the worker
    next(it)
    it.close()


def test_jpegs_with_data_after_the_end_marker_are_read_and_cut_ones_refused(tmp_path):
    """Phones append data after a JPEG's end-of-image marker (Samsung trailers, Google motion photos: a whole mp4);
    such a file is a valid photo. A JPEG cut short in its scan data is refused, also when zeros pad the cut."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 32, 3), dtype=np.uint8)
    ok, enc = cv2.imencode(".jpg", img)
    jpeg = enc.tobytes()
    (tmp_path / "motion.jpg").write_bytes(jpeg + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (tmp_path / "samsung.jpg").write_bytes(jpeg + b"SEFH" + b"\x00" * 100 + b"SEFT")
    got = read_image(tmp_path / "motion.jpg")
    np.testing.assert_array_equal(got, cv2.imdecode(enc, cv2.IMREAD_COLOR))
    assert read_image(tmp_path / "samsung.jpg").shape == (48, 32, 3)
    # cut in the middle of the scan; then the same cut file with a trailing (thumbnail-like) end marker
    sos = jpeg.index(b"\xff\xda")
    cut = jpeg[: sos + (len(jpeg) - sos) // 2]
    (tmp_path / "cut.jpg").write_bytes(cut)
    (tmp_path / "cut_padded.jpg").write_bytes(cut + b"\x00" * 300)
    for name in ("cut.jpg", "cut_padded.jpg"):
        with pytest.raises(DataError, match="truncated JPEG") as info:
            read_image(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    frames = list(FrameSource(tmp_path))
    assert [(f.name, f.error is None) for f in frames] == [("cut.jpg", False), ("cut_padded.jpg", False),
                                                           ("motion.jpg", True), ("samsung.jpg", True)]


@pytest.mark.parametrize("ext", [".3gp", ".ts", ".mts", ".m2ts", ".MTS", ".ogv", ".vob"])
def test_camcorder_phone_and_broadcast_videos_are_videos(tmp_path, ext):
    """Camcorder (.MTS/.m2ts), old-phone (.3gp) and broadcast (.ts) clips are opened as videos, not decoded as one
    image (which failed with a misleading 'not a readable image')."""
    path = tmp_path / f"clip{ext}"
    path.write_bytes(b"\x00" * 16)
    assert source_kind(str(path)) == "video"
    with pytest.raises(DataError, match="cannot open video"):
        FrameSource(str(path))


@pytest.mark.parametrize("max_frames", [0, -2])
def test_max_frames_below_one_is_refused(tmp_path, max_frames):
    # -2 dropped the last two images of a folder (an IndexError for a single image); 0 read them all
    from kdpose.errors import ConfigError

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match=f"max_frames must be >= 1 or None, got {max_frames}"):
        FrameSource(str(tmp_path), max_frames=max_frames)


def test_a_damaged_video_gives_kdposes_line_only(tmp_path):
    """FFmpeg printed "[mov,mp4,...] moov atom not found" above kdpose's own one-line error (a fresh process: OpenCV
    reads the log level when it first starts FFmpeg)."""
    import subprocess
    import sys

    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    code = ("from kdpose.errors import DataError\nfrom kdpose.inference.sources import FrameSource\n"
            "try:\n    list(FrameSource('bad.mp4'))\nexcept DataError as exc:\n    print(exc)\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.stdout.strip() == "bad.mp4: cannot open video (unreadable file or unsupported codec)"
    assert run.stderr == ""
