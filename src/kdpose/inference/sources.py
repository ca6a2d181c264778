"""Where frames come from: an image file, a folder of images (recursive, sorted), a video file or a webcam.

Every frame is handed on as ``np.uint8`` HxWx3 **BGR** (OpenCV order). Images in other forms are converted:
grayscale -> 3 channels, RGBA/BGRA -> alpha dropped, 16-bit -> top 8 bits, float in [0, 1] -> x255.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from kdpose.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


def to_bgr_uint8(image: np.ndarray, rgb: bool = False, name: str = "image") -> np.ndarray:
    """Any common image array -> contiguous (H, W, 3) uint8 BGR.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16 or float in [0, 1].
        rgb: the colour channels are in RGB order (PIL, diffusers) rather than OpenCV's BGR.
        name: what to call the image in error messages.
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise DataError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise DataError(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise DataError(f"{name}: image is empty (shape {image.shape})")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise DataError(f"{name}: float image has NaN or infinite values")
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{name}: unsupported image dtype {image.dtype} (use uint8, uint16 or float)")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        image = image[..., :3]
    if rgb:
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 BGR, or raise :class:`DataError` naming the file and problem.

    Decoding is ``kdpose.data.image.decode_image`` in colour mode (grayscale replicated, alpha dropped, 16-bit
    reduced to 8, EXIF orientation applied); on top of it, empty files and JPEGs cut short (which OpenCV would
    silently fill with grey) are refused.
    """
    from kdpose.data.image import decode_image

    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode handles non-ASCII paths on every OS
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise DataError(f"{path}: file is empty")
    if data[:2].tobytes() == b"\xff\xd8" and b"\xff\xd9" not in data[-64:].tobytes():
        raise DataError(f"{path}: truncated JPEG (no end-of-image marker)")
    try:
        image = decode_image(data, mode="color", name=str(path))
    except DataError:
        raise DataError(f"{path}: not a readable image (corrupt, truncated or unsupported format)") from None
    return to_bgr_uint8(image, name=str(path))


@dataclass
class Frame:
    """One frame of a source.

    Attributes:
        index: 0-based position in the source.
        image: (H, W, 3) uint8 BGR, or None when the item could not be read (see ``error``).
        name: file path relative to the source folder (images) or ``<video stem>`` (videos).
        timestamp: seconds from the start (videos: index / fps; images: index).
        error: why the item was skipped, for folder jobs that go on after bad files.
    """

    index: int
    image: np.ndarray | None
    name: str
    timestamp: float
    error: str | None = None


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by relative path."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def source_kind(source: str | int | os.PathLike) -> str:
    """'webcam', 'folder', 'video' or 'image' (raises DataError for missing paths)."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return "webcam"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"


class FrameSource:
    """Iterate the frames of an image, folder, video or webcam (see :func:`source_kind`).

    Folder sources yield a Frame with ``image=None`` and ``error`` set for unreadable files, so the job can report
    them and go on. A video that cannot be opened raises DataError; a video that ends before its announced frame
    count simply stops (``truncated`` is then True). ``max_frames`` bounds webcam and video jobs.
    """

    def __init__(self, source: str | int | os.PathLike, max_frames: int | None = None):
        self.source = source
        self.kind = source_kind(source)
        self.max_frames = max_frames
        self.fps = 30.0
        self.truncated = False
        self._files: list[Path] = []
        self._cap = None
        if self.kind == "folder":
            self._files = list_images(source)
        elif self.kind in ("video", "webcam"):
            self._open_capture()

    def _open_capture(self) -> None:
        import cv2

        if self.kind == "webcam":
            index = int(self.source)
            cap = cv2.VideoCapture(index)
            if not cap.isOpened():
                raise DataError(f"webcam {index}: cannot be opened (no camera with this index?)")
        else:
            cap = cv2.VideoCapture(str(self.source))
            if not cap.isOpened():
                raise DataError(f"{self.source}: cannot open video (unreadable file or unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self._cap = cap

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "webcam")

    def __len__(self) -> int:
        """Number of frames announced (0 when unknown, e.g. a webcam)."""
        if self.kind == "folder":
            n = len(self._files)
        elif self.kind == "image":
            n = 1
        elif self.kind == "video":
            import cv2

            n = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        else:
            n = 0
        return min(n, self.max_frames) if self.max_frames else n

    def __iter__(self) -> Iterator[Frame]:
        if self.kind == "image":
            yield Frame(0, read_image(self.source), Path(self.source).name, 0.0)
        elif self.kind == "folder":
            yield from self._iter_folder()
        else:
            yield from self._iter_capture()

    def _iter_folder(self) -> Iterator[Frame]:
        root = Path(self.source)
        for i, path in enumerate(self._files[: self.max_frames] if self.max_frames else self._files):
            rel = path.relative_to(root).as_posix()
            try:
                yield Frame(i, read_image(path), rel, float(i))
            except DataError as exc:
                yield Frame(i, None, rel, float(i), error=str(exc))

    def _iter_capture(self) -> Iterator[Frame]:
        announced = len(self)
        name = "webcam" if self.kind == "webcam" else Path(self.source).stem
        i = 0
        try:
            while self.max_frames is None or i < self.max_frames:
                ok, image = self._cap.read()
                if not ok or image is None:
                    break
                yield Frame(i, to_bgr_uint8(image, name=name), name, i / self.fps)
                i += 1
        finally:
            self._cap.release()
        if self.kind == "video":
            if i == 0:
                raise DataError(f"{self.source}: video has no readable frames")
            self.truncated = announced > 0 and i < announced


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
