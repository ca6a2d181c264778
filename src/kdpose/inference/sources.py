"""Where frames come from: image files, folders of images (recursive, sorted), URLs, a video file or stream, or a
webcam; several image / folder / URL sources make one job (``kdpose infer a.jpg b.jpg`` or a shell glob).

Every frame is handed on as ``np.uint8`` HxWx3 **BGR** (OpenCV order): files and URLs are read with
``kdpose.data.image.read_image(path, mode="color")``, images in other forms are converted by
``kdpose.data.image.to_bgr_uint8`` (grayscale -> 3 channels, RGBA/BGRA -> alpha dropped, 16-bit -> top 8 bits,
float [0, 1] or 0-255, PIL images -> their RGB pixels, upright by their EXIF orientation).
"""
from __future__ import annotations

import os
import urllib.parse
import urllib.request  # here, not in a function: a local import made every URL's urllib unbound
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from kdpose.data.image import STREAM_SCHEMES, is_url, read_image, to_bgr_uint8, url_name  # noqa: F401 (public)
from kdpose.errors import ConfigError, DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
# Image formats that only some OpenCV builds read (GIF, AVIF), or none does (HEIC, JPEG XL, raw, ...). A folder's file
# of one of these is read when this OpenCV reads it, else reported as skipped: a phone's HEIC photos must not vanish
# from a job without a word. Files of other extensions (.txt, .json, videos, ...) are not images and stay unlisted.
OTHER_IMAGE_FORMATS = {
    ".jfif": "JPEG", ".jpe": "JPEG", ".gif": "GIF", ".avif": "AVIF", ".heic": "HEIC", ".heif": "HEIF",
    ".jxl": "JPEG XL", ".pnm": "PNM", ".pam": "PAM", ".pfm": "PFM", ".exr": "OpenEXR", ".hdr": "Radiance HDR",
    ".ras": "Sun raster", ".sr": "Sun raster", ".ico": "ICO", ".tga": "TGA", ".psd": "Photoshop", ".svg": "SVG",
    ".dng": "DNG raw", ".cr2": "Canon raw", ".nef": "Nikon raw", ".arw": "Sony raw",
}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".m3u8",
                    ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".ogv", ".vob", ".mxf"}


@dataclass
class Frame:
    """One frame of a source.

    Attributes:
        index: 0-based position in the job (over all its sources).
        image: (H, W, 3) uint8 BGR, or None when the item could not be read (see ``error``).
        name: file path relative to its source folder, the file name of an image file or URL, or
            ``<video stem>`` (videos).
        timestamp: seconds from the start (videos: the frame's presentation time, else index / fps; images:
            index).
        error: why the item was skipped, for image jobs that go on after bad files.
    """

    index: int
    image: np.ndarray | None
    name: str
    timestamp: float
    error: str | None = None


# An empty-ish file that `kdpose infer` leaves in every folder it draws pictures into (vis/, openpose/): a later job
# over a folder that holds an earlier job's --out (`kdpose infer photos --out photos/run1`, then `--out photos/run2`)
# read run1's drawings as photos, wrote poses for them and drew drawings of drawings. Only --out of the job itself
# was left out before.
DRAWN_MARKER = ".kdpose-drawn"


def drawn_folders(folder: Path) -> list[tuple[str, ...]]:
    """The relative parts of each folder under ``folder`` that holds :data:`DRAWN_MARKER` (an earlier job's
    pictures)."""
    return sorted({m.parent.relative_to(folder).parts for m in folder.rglob(DRAWN_MARKER) if m.is_file()} - {()})


def _inside(folder: Path, exclude: Sequence[str | os.PathLike]) -> list[tuple[str, ...]]:
    """The relative parts of each ``exclude`` folder that lies strictly inside ``folder``."""
    root = folder.resolve()
    parts = []
    for ex in exclude:
        try:
            rel = Path(ex).resolve().relative_to(root).parts
        except ValueError:  # elsewhere
            continue
        if rel:
            parts.append(rel)
    return parts


def scan_folder(folder: str | os.PathLike, exclude: Sequence[str | os.PathLike] = ()
                ) -> tuple[list[Path], list[str]]:
    """The image files under ``folder`` (recursive, sorted by relative path) and, one line each, the image files
    this OpenCV cannot read (``sub/photo.heic: OpenCV cannot read this HEIC file; convert it to JPEG or PNG``);
    see ``OTHER_IMAGE_FORMATS``. Files that are not images are in neither list, nor files under an ``exclude``
    folder that lies inside ``folder`` (a job's own drawn outputs: ``kdpose infer .`` writes ``infer_out/vis/``),
    nor files under a folder that holds :data:`DRAWN_MARKER` (an earlier job's drawn outputs)."""
    import cv2

    folder = Path(folder)
    cut = _inside(folder, exclude) + drawn_folders(folder)
    images, skipped = [], []
    for path in sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()):
        if cut and any(path.relative_to(folder).parts[:len(c)] == c for c in cut):
            continue
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            images.append(path)
        elif suffix in OTHER_IMAGE_FORMATS:
            if cv2.haveImageReader(str(path)):  # a decoder of this build recognises the file's signature
                images.append(path)
            else:
                skipped.append(f"{path.relative_to(folder).as_posix()}: OpenCV cannot read this "
                               f"{OTHER_IMAGE_FORMATS[suffix]} file; convert it to JPEG or PNG")
    return images, skipped


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by relative path (:func:`scan_folder` without the files
    skipped)."""
    return scan_folder(folder)[0]


def drop_repeats(items: list[tuple[str | Path, str]]) -> tuple[list[tuple[str | Path, str]], list[str]]:
    """``items`` ((path or URL, frame name) of an image job) without a file given again (the same file named twice,
    a file and its folder, overlapping folders: ``kdpose infer shots/ shots/a.jpg``), keeping its first place, and
    one line for each repeat dropped. A repeat was inferred twice: its people twice in predictions.json, and with
    integer stems an image-id clash that told the user to rename one of two files that are one."""
    seen: dict[str, str | Path] = {}
    kept, notes = [], []
    for path, name in items:
        key = str(path) if is_url(path) else os.path.realpath(path)
        if key in seen:
            first = "" if str(seen[key]) == str(path) else f" (first as {seen[key]})"
            notes.append(f"{path}: given more than once{first}; inferred once")
            continue
        seen[key] = path
        kept.append((path, name))
    return kept, notes


def source_kind(source: str | int | os.PathLike) -> str:
    """'webcam', 'folder', 'video' or 'image' (raises DataError for missing paths).

    URLs: stream schemes (rtsp, rtmp, ...) and http(s)/ftp/file URLs whose path ends in a video extension are
    videos, other URLs images."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdecimal()):
        return "webcam"
    if is_url(source):
        scheme = urllib.parse.urlsplit(source).scheme.lower()
        video = scheme in STREAM_SCHEMES or Path(url_name(source)).suffix.lower() in VIDEO_EXTENSIONS
        return "video" if video else "image"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"


def _capture_target(source: str | os.PathLike) -> str:
    """What ``cv2.VideoCapture`` opens: a local path for file:// URLs, the URL or path otherwise."""
    text = str(source)
    if is_url(text) and urllib.parse.urlsplit(text).scheme.lower() == "file":
        return urllib.request.url2pathname(urllib.parse.urlsplit(text).path)
    return text


class FrameSource:
    """Iterate the frames of one or several sources (see :func:`source_kind`).

    Args:
        source: an image file or URL, a folder, a video file or URL, a webcam index, or a list of image files,
            URLs and folders (one job, frames numbered across all of them). A video or webcam must be the only
            source.
        max_frames: stop after this many frames.
        exclude: folders whose files are never frames (a job's output folders: a second ``kdpose infer .`` read the
            pictures the first one drew in ``infer_out/vis/``); one line in ``notes`` says so when one held files.

    Image jobs yield a Frame with ``image=None`` and ``error`` set for unreadable images (a single image source
    raises instead), so the job can report them and go on. A folder's files of image formats this OpenCV cannot
    read (HEIC, ...: :func:`scan_folder`) are not frames: ``skipped`` lists them, one line each, for the job to
    report. A folder without readable images, or a video that cannot be opened, raises DataError; a video that ends
    before its announced frame count simply stops (``truncated`` is then True).
    """

    def __init__(self, source: str | int | os.PathLike | Sequence[str | os.PathLike], max_frames: int | None = None,
                 exclude: Sequence[str | os.PathLike] = ()):
        sources = list(source) if isinstance(source, (list, tuple)) else [source]
        if not sources:
            raise DataError("no source given")
        if max_frames is not None and max_frames < 1:  # 0 read every image, -2 all but the last two
            raise ConfigError(f"FrameSource: max_frames must be >= 1 or None, got {max_frames}")
        kinds = [source_kind(s) for s in sources]
        for s, kind in zip(sources, kinds):
            if len(sources) > 1 and kind in ("video", "webcam"):
                raise DataError(f"{s}: a {kind} must be the only source (got {len(sources)} sources)")
        self.source = sources[0] if len(sources) == 1 else sources
        self.kind = kinds[0] if len(sources) == 1 else "images"
        self.max_frames = max_frames
        self.fps = 30.0
        self.truncated = False
        self._items: list[tuple[str | Path, str]] = []  # image jobs: (path or URL, frame name)
        self.skipped: list[str] = []  # "name: why" of each folder file in a format OpenCV cannot read
        self.notes: list[str] = []  # files given again (drop_repeats), output folders left out (exclude)
        self._cap = None
        if self.kind in ("video", "webcam"):
            self._open_capture()
            return
        for s, kind in zip(sources, kinds):
            if kind == "folder":
                files, skipped = scan_folder(s, exclude)
                self.notes += [f"{s}: left out {Path(s, *c)}, an output folder of this job"
                               for c in _inside(Path(s), exclude) if any(Path(s, *c).rglob("*"))]
                own = set(_inside(Path(s), exclude))
                self.notes += [f"{s}: left out {Path(s, *c)}, pictures drawn by an earlier kdpose infer"
                               for c in drawn_folders(Path(s)) if c not in own]
                if not files and skipped:
                    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
                    raise DataError(f"{s}: no image file OpenCV can read in this folder: {skipped[0]}{more}")
                if not files:
                    exts = ", ".join(sorted(IMAGE_EXTENSIONS))
                    raise DataError(f"{s}: no image files in this folder (looked for {exts}, recursively)")
                self._items += [(p, p.relative_to(s).as_posix()) for p in files]
                self.skipped += skipped
            else:
                self._items.append((s, url_name(s) if is_url(s) else Path(s).name))
        self._items, repeats = drop_repeats(self._items)
        self.notes += repeats
        if self.max_frames:
            self._items = self._items[: self.max_frames]

    @property
    def names(self) -> list[str]:
        """Frame names of an image job, in order (empty for videos and webcams)."""
        return [name for _, name in self._items]

    @property
    def paths(self) -> list[str]:
        """The path or URL of each frame of an image job, in order (empty for videos and webcams)."""
        return [str(path) for path, _ in self._items]

    def _open_capture(self) -> None:
        # FFmpeg's own lines ("[mov,mp4,...] moov atom not found") came above kdpose's one-line error for a damaged
        # file; kdpose says what went wrong itself. Read when OpenCV first starts FFmpeg; the user's setting wins.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        import cv2

        # Where FFmpeg fails on a damaged .avi, OpenCV's own MJPEG reader tried next and printed "Unexpected element.
        # Expected: LIST..." above kdpose's line; with FFmpeg present that reader adds nothing (FFmpeg reads AVI).
        # Read when OpenCV first lists its video backends.
        if any(line.strip().startswith("FFMPEG:") and "YES" in line for line in cv2.getBuildInformation().splitlines()):
            os.environ.setdefault("OPENCV_VIDEOIO_PRIORITY_CV_MJPEG", "0")

        if self.kind == "webcam":
            index = int(self.source)
            cap = cv2.VideoCapture(index)
            if not cap.isOpened():
                raise DataError(f"webcam {index}: cannot be opened (no camera with this index?)")
        else:
            cap = cv2.VideoCapture(_capture_target(self.source))
            if not cap.isOpened():
                raise DataError(f"{self.source}: cannot open video (unreadable file or unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self._cap = cap

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "webcam")

    @property
    def video_name(self) -> str:
        """The stem video outputs are named after (``webcam`` for cameras)."""
        if self.kind == "webcam":
            return "webcam"
        return Path(url_name(self.source) if is_url(self.source) else str(self.source)).stem

    @property
    def frame_count(self) -> int:
        """Frames the video announces, whatever ``max_frames`` (0 for image jobs and when unknown, e.g. a webcam)."""
        if self.kind != "video":
            return 0
        import cv2

        return max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))

    def __len__(self) -> int:
        """Number of frames announced (0 when unknown, e.g. a webcam)."""
        if not self.is_video:
            return len(self._items)
        if self.kind == "video":
            import cv2

            n = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
            return min(n, self.max_frames) if self.max_frames else n
        return 0

    def __iter__(self) -> Iterator[Frame]:
        if self.is_video:
            yield from self._iter_capture()
        elif self.kind == "image":
            path, name = self._items[0]
            yield Frame(0, read_image(path, mode="color"), name, 0.0)
        else:
            yield from self._iter_images()

    def _iter_images(self) -> Iterator[Frame]:
        for i, (path, name) in enumerate(self._items):
            try:
                yield Frame(i, read_image(path, mode="color"), name, float(i))
            except DataError as exc:
                yield Frame(i, None, name, float(i), error=str(exc))

    def _iter_capture(self) -> Iterator[Frame]:
        import cv2

        announced = len(self)
        name = self.video_name
        i, start, t = 0, None, 0.0
        try:
            while self.max_frames is None or i < self.max_frames:
                ok, image = self._cap.read()
                if not ok or image is None:
                    break
                t, start = frame_time(self._cap.get(cv2.CAP_PROP_POS_MSEC), start, t if i else None, self.fps)
                yield Frame(i, to_bgr_uint8(image, name=name), name, t)
                i += 1
        finally:
            self._cap.release()
        if self.kind == "video":
            if i == 0:
                raise DataError(f"{self.source}: video has no readable frames")
            # Matroska / WebM and many phone recordings announce no frame count: OpenCV's is duration x nominal fps,
            # more than a variable-rate file holds. Only a last frame well before the announced end is a cut file.
            end = announced / self.fps
            self.truncated = announced > 0 and i < announced and t + max(1.5 / self.fps, 0.05 * end) < end


def frame_time(position_ms: float, start: float | None, previous: float | None, fps: float
               ) -> tuple[float, float | None]:
    """(seconds from the first frame, the first frame's container time) of a decoded frame: its presentation time
    (``CAP_PROP_POS_MSEC``, right for variable-frame-rate files) when the backend gives one that goes forward, else
    the previous frame's time + 1 / fps (``previous`` None: the first frame, time 0)."""
    now = position_ms / 1000.0 if np.isfinite(position_ms) and position_ms >= 0 else None
    if previous is None:
        return 0.0, now
    if now is not None and start is not None and now - start > previous:
        return now - start, start
    return previous + 1.0 / fps, start


def prefetch(frames: Iterator[Frame] | FrameSource, depth: int = 4) -> Iterator[Frame]:
    """Decode the next ``depth`` frames in a background thread while the caller runs the model (OpenCV releases
    the GIL while decoding). Errors raised by the source are re-raised in the caller, in order."""
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    done = object()
    stop = threading.Event()

    def worker() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                buffer.put(frame)
            buffer.put(done)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    thread = threading.Thread(target=worker, name="kdpose-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a worker waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
