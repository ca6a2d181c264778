"""``PoseEstimator``: images in, every person's keypoints out (top-down: boxes -> crops -> one batched forward).

>>> est = PoseEstimator("rtmpose-t", weights="rtmpose-t.safetensors")          # doctest: +SKIP
>>> people = est("photo.jpg")                       # list of Person (bbox, keypoints, scores, track_id)
>>> keypoints, scores = est.predict_arrays(bgr)     # rtmlib's shape: (N, K, 2), (N, K); .bboxes too

Input channel order: numpy images are **BGR** (OpenCV) unless ``rgb=True``; PIL images are RGB; the crops are
converted to RGB before normalisation with MMPose's mean/std (the convention the models were trained with).
rtmlib users: rtmlib normalises the array it is given without converting it, so the same BGR frame gives other
keypoints there than here; pass rtmlib RGB frames (``image[..., ::-1]``) to match this rule.

Keypoint scores are the raw SimCC maxima (not probabilities; they can exceed 1): ``min(max_x, max_y)`` as in MMPose
(``score_mode="mmpose"``, the default). rtmlib averages the two maxima instead, which gives higher scores for the
same output; ``score_mode="rtmlib"`` does the same, so thresholds tuned with rtmlib carry over.

Boxes the caller gives (``bboxes=``, or a detection / annotation file as ``detector``) give one pose per box, in
their order (by default every box: no score cut, as training validation reads ``data.val.bbox_file`` with
``bbox_score_thr`` 0); a box that is not finite, has x2 < x1 or y2 < y1, or has no area inside the image is an error.
An image whose size differs from the one a dataset file's ``images`` table gives it is an error too (its boxes are in
another frame; width and height swapped names the usual cause, a phone photo read upright by its EXIF orientation).
Files, URLs and PIL images are read upright by their EXIF orientation (as OpenCV's imread and PIL's
``exif_transpose``), so caller boxes are in that frame; arrays are taken as their pixels are.
Detector output is filtered by ``bbox_thr`` (0.3 unless given), de-duplicated by OKS-NMS and sorted best first.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kdpose.checks import check_number
from kdpose.errors import DataError
from kdpose.inference.backends import PoseBackend, load_backend
from kdpose.inference.detectors import DetectionFile, DetectorSpec, resolve_detector, run_detector
from kdpose.data.image import is_url, read_image, to_bgr_uint8, url_name
from kdpose.inference.topdown import back_project, crop_people, rescore, sanitize_boxes

log = logging.getLogger("kdpose")
WHOLE_IMAGE_WARNING = ("no person detector: each image is treated as ONE person whose box is the whole image; "
                       "give a detector (a tag such as yolox-m.humanart, a detector .onnx file) or the boxes "
                       "(a detection-results .json, bboxes=) for images with several or small people")
DETECTOR_BBOX_THR = 0.3  # the default score cut of detector output (and the detectors' own cut)


@dataclass
class Person:
    """One detected person.

    Attributes:
        bbox: (4,) float32 xyxy box in image pixels (from the detector, the caller, or the previous pose).
        bbox_score: detector score of ``bbox`` (1.0 for user boxes without scores).
        keypoints: (K, 2) float32 image pixels (x, y), in the estimator's layout (``est.skeleton``).
        scores: (K,) float32 keypoint scores (raw SimCC maxima, not probabilities).
        score: instance score, MMPose's rescoring: ``bbox_score * mean(scores > 0.2)``.
        track_id: track id in videos (None for still images).
    """

    bbox: np.ndarray
    bbox_score: float
    keypoints: np.ndarray
    scores: np.ndarray
    score: float
    track_id: int | None = None


class PoseArrays(tuple):
    """``(keypoints (N, K, 2), scores (N, K))`` that unpacks like rtmlib's result, with the boxes attached:
    ``bboxes`` (N, 4) xyxy, ``bbox_scores`` (N,), ``instance_scores`` (N,), ``track_ids`` (N,) or None."""

    def __new__(cls, keypoints, scores, bboxes, bbox_scores, instance_scores, track_ids=None):
        obj = super().__new__(cls, (keypoints, scores))
        obj.bboxes, obj.bbox_scores = bboxes, bbox_scores
        obj.instance_scores, obj.track_ids = instance_scores, track_ids
        return obj

    @property
    def keypoints(self) -> np.ndarray:
        return self[0]

    @property
    def scores(self) -> np.ndarray:
        return self[1]

    def people(self) -> list[Person]:
        ids = self.track_ids
        return [Person(self.bboxes[i], float(self.bbox_scores[i]), self[0][i], self[1][i],
                       float(self.instance_scores[i]), None if ids is None else int(ids[i]))
                for i in range(len(self[0]))]


def _empty_arrays(k: int) -> PoseArrays:
    return PoseArrays(np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32), np.zeros((0, 4), np.float32),
                      np.zeros(0, np.float32), np.zeros(0, np.float32))


def _fmt_box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in box) + "]"


def check_boxes(boxes: Any, scores: np.ndarray | None, image_size: tuple[int, int],
                where: str = "bboxes", xywh: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate caller-given boxes, all of which must give a pose: (N, 4) xyxy (or (N, 5) with scores).

    Boxes are cropped as given, not clipped to the image (training validation and MMPose crop a detection file's
    boxes as they are, and a box with a sliver inside the image still gets its pose); a box that is not finite,
    has x2 < x1 or y2 < y1
    (most often a COCO x, y, w, h box given as xyxy, which swapping the corners would turn into another box
    silently), or has no area inside the ``(w, h)`` image, raises :class:`DataError` naming ``where``, the box's
    index and values. ``xywh``: the boxes were read from a COCO file's ``bbox`` [x, y, w, h] (and converted), so
    the message shows them, and names the format, as the file wrote them. Returns float32 boxes (N, 4) and scores
    (N,) (1.0 when ``scores`` is None).
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):  # strings, ragged lists, None inside: numpy's own words name no argument
        raise DataError(f"{where}: expected (N, 4) xyxy boxes (or (N, 5) with scores) of numbers, got "
                        f"{type(boxes).__name__}") from None
    if arr.ndim == 1 and arr.shape[0] in (4, 5):
        arr = arr[None]
    if arr.size and (arr.ndim != 2 or arr.shape[1] not in (4, 5)):
        raise DataError(f"{where}: expected (N, 4) xyxy boxes (or (N, 5) with scores), got shape {arr.shape}")
    arr = arr.reshape(-1, arr.shape[-1] if arr.size else 4)
    if scores is None and arr.shape[1] == 5:
        scores = arr[:, 4]
    s = np.ones(len(arr)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
    if len(s) != len(arr):
        raise DataError(f"{where}: {len(arr)} boxes but {len(s)} scores")
    def shown(box: np.ndarray) -> str:  # in the caller's format: a file's [x, y, w, h] is found by its values
        if xywh:
            return f"{_fmt_box(np.concatenate([box[:2], box[2:] - box[:2]]))} (x, y, w, h)"
        return f"{_fmt_box(box)} (x1, y1, x2, y2)"

    w, h = image_size
    for i, (box, score) in enumerate(zip(arr[:, :4], s)):
        if not (np.isfinite(box).all() and np.isfinite(score)):
            raise DataError(f"{where}: box {i} {shown(box)} (score {score:.4g}) is not a finite number")
        if (box[2:] < box[:2]).any():
            if xywh:
                raise DataError(f"{where}: box {i} {shown(box)} has a negative width or height")
            raise DataError(f"{where}: box {i} {shown(box)} has x2 < x1 or y2 < y1, a negative "
                            "width or height (bboxes= takes x1, y1, x2, y2, not COCO's x, y, w, h: "
                            "kdpose.data.geometry.bbox_xywh_to_xyxy converts those)")
        lo, hi = box[:2], box[2:]
        if not ((np.minimum(hi, [w, h]) - np.maximum(lo, 0)) > 0).all():
            raise DataError(f"{where}: box {i} {shown(box)} has no area inside the {w}x{h} image")
    return arr[:, :4].astype(np.float32), s.astype(np.float32)


def check_image_size(boxes_file: DetectionFile, name: str | None, image_id: int | None,
                     size: tuple[int, int]) -> None:
    """Refuse an image whose ``(w, h)`` differs from the size the dataset file gives it: its boxes are in another
    frame. Width and height swapped is the usual cause: a photo whose EXIF orientation turns it upright when read
    (kdpose reads like OpenCV's imread and PIL's ``exif_transpose``), labelled on its stored, sideways pixels."""
    expected = boxes_file.image_size(name, image_id)
    if expected is None or tuple(expected) == tuple(size):
        return
    (w, h), (ew, eh) = size, expected
    what = f"image {name}" if name else f"image id {image_id}"
    why = ("width and height swapped: the image is read upright by its EXIF orientation (as OpenCV and PIL's "
           "exif_transpose read it), the file's boxes were made on the stored, sideways pixels"
           if (w, h) == (eh, ew) else "the boxes are for another image or another size of it")
    raise DataError(f"{boxes_file.path}: {what} is {w}x{h} but the file gives it {ew}x{eh} ({why}); its boxes "
                    "would land in the wrong place")


class PoseEstimator:
    """Top-down multi-person pose estimation.

    Args:
        model: a zoo name (``"rtmpose-m"``), a path to an ``.onnx`` file (kdpose-exported, or an official
            RTMPose/DWPose file with input ``input`` and outputs ``simcc_x``/``simcc_y``), or a ``PoseModel``.
        weights: weights file for a zoo name (``.safetensors``, or an MMPose ``.pth``).
        detector: person boxes: None (whole image), a callable ``image -> (boxes, scores)`` or a COCO
            detection-results file (see :mod:`kdpose.inference.detectors`).
        backend: ``"torch"`` or ``"onnxruntime"`` (``.onnx`` files always run with onnxruntime).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``; a loud warning is given when CUDA is asked for but the
            backend falls back to the CPU.
        layout: keypoint layout name for zoo models and for official ONNX files (which carry none).
        flip_test: average with the mirrored crop (2x compute, slightly more accurate).
        bbox_thr: boxes scoring below this are ignored. None (the default): 0.3 for detector output (detectors
            kdpose builds are given it as their own score cut) and 0 for a detection / annotation file, whose every
            box then gives a pose, as in training validation (``bbox_score_thr`` 0). A number applies to both.
        nms_thr: OKS threshold of the pose NMS that removes duplicate people found by a detector (None = off).
        nms_caller_boxes: also apply the NMS (and sort by score) when the boxes are the caller's (``bboxes=``, a
            detection file); by default those give exactly one pose per box, in their order.
        padding: box enlargement before cropping (MMPose's 1.25).
        max_batch: most crops per forward pass, >= 1 (bounds memory; all crops of a frame still go in one pass
            up to this size).
        threads: CPU threads of the backend and of a detector kdpose builds (None: for torch, half the CPUs, 1 to
            4, unless ``OMP_NUM_THREADS`` is set; for onnxruntime, its default).
        input_size: (w, h) of a zoo model; None = the size recorded in the weights file, else the default.
        score_mode: SimCC keypoint scores as ``"mmpose"`` computes them (``min(max_x, max_y)``, the default) or as
            ``"rtmlib"`` does (``(max_x + max_y) / 2``); instance scores (rescoring) follow.
        precision: of a PyTorch model: ``"fp32"`` (None, the default), ``"bf16"`` (fast on CPUs with AMX /
            AVX512-BF16), ``"fp16"`` (CUDA) or ``"auto"``: the fastest of these whose accuracy guard passes
            (``kdpose.inference.guard``: AP drop <= 0.5 points and mean keypoint shift <= 1 crop px on rendered
            synthetic people). On a CPU without native bf16 (e.g. AVX2-only) ``auto`` is fp32: bf16 is emulated
            there and several times slower. An ``.onnx`` file runs in the precision it was exported in (fp32, or
            int8 from ``kdpose export --int8``); None or ``"auto"`` accept it. Keypoints are always decoded in fp32.
    """

    def __init__(self, model: Any = "rtmpose-m", weights: str | os.PathLike | None = None,
                 detector: DetectorSpec = None, backend: str = "torch", device: str = "cpu",
                 layout: str | None = None, flip_test: bool = False, bbox_thr: float | None = None,
                 nms_thr: float | None = 0.9, padding: float = 1.25, max_batch: int = 64,
                 threads: int | None = None, input_size: tuple[int, int] | None = None,
                 nms_caller_boxes: bool = False, score_mode: str = "mmpose", precision: str | None = None):
        # checked here: a bad one would fail on the first image, or (padding) give garbage crops silently
        for arg, value in (("bbox_thr", bbox_thr), ("nms_thr", nms_thr)):
            if value is not None:  # a score and an OKS: outside [0, 1] they drop every box or switch NMS off
                check_number(value, "PoseEstimator", arg, low=0, high=1)
        check_number(padding, "PoseEstimator", "padding", low=0, low_open=True)
        check_number(max_batch, "PoseEstimator", "max_batch", low=1, integer=True)
        self.backend: PoseBackend = load_backend(model, weights, backend=backend, device=device, layout=layout,
                                                 threads=threads, input_size=input_size, score_mode=score_mode,
                                                 precision=precision)
        self.detector = resolve_detector(detector, device, threads=threads,
                                         score_thr=DETECTOR_BBOX_THR if bbox_thr is None else bbox_thr)
        self.flip_test = flip_test
        self.bbox_thr = bbox_thr
        self.nms_thr = nms_thr
        self.nms_caller_boxes = nms_caller_boxes
        self._warned_whole_image = False
        self.padding = padding
        self.max_batch = int(max_batch)
        self.timings = {"detect_s": 0.0, "pose_s": 0.0}  # cumulative wall time per stage (for summaries)

    # ------------------------------------------------------------------ properties
    @property
    def skeleton(self):
        """The keypoint layout of the results (names, links, parts)."""
        return self.backend.skeleton

    @property
    def input_size(self) -> tuple[int, int]:
        return self.backend.input_size

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def precision(self) -> str:
        """The precision the pose model runs in (``fp32``, ``bf16``, ``fp16``, ``int8``, ...)."""
        return getattr(self.backend, "precision", "fp32")

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def load_image(image: Any, rgb: bool = False) -> tuple[np.ndarray, str | None]:
        """A path, URL, array or PIL image -> ((H, W, 3) uint8 BGR, file name or None)."""
        if isinstance(image, (str, os.PathLike)):
            return read_image(image, mode="color"), (url_name(image) if is_url(image) else str(image))
        return to_bgr_uint8(image, rgb=rgb), None

    @property
    def boxes_from_caller(self) -> bool:
        """The configured "detector" is the caller's own boxes (a detection or annotation file)."""
        return isinstance(self.detector, DetectionFile)

    @property
    def box_score_thr(self) -> float:
        """The score cut :meth:`detect` applies: ``bbox_thr``, or its default for the configured boxes (0 for the
        caller's detection / annotation file, 0.3 for a detector)."""
        if self.bbox_thr is not None:
            return self.bbox_thr
        return 0.0 if self.boxes_from_caller else DETECTOR_BBOX_THR

    def named_image_id(self, name: str | None) -> int | None:
        """The COCO image id an image's name gives it: the one the detection file gives the name, else the integer
        file stem; None when it gives none."""
        if isinstance(self.detector, DetectionFile):
            known = self.detector.image_id_for(name)
            if known is not None:
                return known
        return stem_image_id(name)

    def image_id_for(self, name: str | None, fallback: int) -> int:
        """The COCO image id of an image: :meth:`named_image_id`, else ``fallback``."""
        named = self.named_image_id(name)
        return fallback if named is None else named

    def detect(self, image: np.ndarray, name: str | None = None,
               image_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (N, 4) xyxy and scores (N,) of one BGR image from the configured detector."""
        h, w = image.shape[:2]
        if self.detector is None:
            if not self._warned_whole_image:
                log.warning("kdpose: %s", WHOLE_IMAGE_WARNING)
                self._warned_whole_image = True
            return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        t0 = time.perf_counter()
        if isinstance(self.detector, DetectionFile):
            if image_id is not None and (isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer))):
                raise DataError(f"image_id must be an integer, got {image_id!r}")
            if name is None and image_id is None:  # an array: the lookup found nothing, "nobody here", silently
                raise DataError(f"{self.detector.path}: boxes from a file are matched to images by file name or "
                                "image_id, and this image is an array with neither: give its path, or its id "
                                "(image_id=N), or its boxes (bboxes=)")
            boxes, scores = self.detector.lookup(name, image_id)
            check_image_size(self.detector, name, image_id, (w, h))
        else:
            boxes, scores = run_detector(self.detector, image)
        self.timings["detect_s"] += time.perf_counter() - t0
        keep = scores >= self.box_score_thr
        return boxes[keep], scores[keep]

    # ------------------------------------------------------------------ core
    def _where(self, name: str | None, what: str = "image") -> str:
        if isinstance(self.detector, DetectionFile):
            return f"{self.detector.path}: {what} {name}" if name else str(self.detector.path)
        return f"bboxes of {name}" if name else "bboxes"

    def check_file_boxes(self, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None,
                         name: str | None = None, what: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """:func:`check_boxes` of the boxes :meth:`detect` took for ``image`` from the detection / annotation file,
        naming the file, the image and the box as the file gives it (COCO's x, y, w, h). :meth:`predict_boxes`
        checks a whole batch at once; a job over many images checks each image first with this, so that one bad
        entry of the file skips that image only."""
        return check_boxes(boxes, scores, (image.shape[1], image.shape[0]), self._where(name, what), xywh=True)

    def predict_boxes(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray],
                      box_scores: Sequence[np.ndarray | None], caller_boxes: bool | None = None,
                      names: Sequence[str | None] | None = None, nms: bool | None = None) -> list[PoseArrays]:
        """Poses of the given boxes of several BGR images, with all crops in as few forwards as possible.

        Args:
            images: list of (H, W, 3) uint8 BGR images.
            boxes: per image, (N_i, 4) xyxy boxes; box_scores: per image, (N_i,) or None.
            caller_boxes: the boxes are the caller's: one pose per box in their order (every box must be finite
                and overlap its image: :func:`check_boxes`); False: detector output (boxes outside the image are
                dropped, OKS-NMS, sorted best first); None: the caller's when the estimator's detector is a
                detection file.
            names: per image, its name for error messages.
            nms: apply OKS-NMS and sort by instance score (None: for detector output, or for the caller's boxes
                when ``nms_caller_boxes``).
        Returns:
            per image, :class:`PoseArrays`.
        """
        t0 = time.perf_counter()
        from_file = caller_boxes is None and self.boxes_from_caller  # COCO x, y, w, h boxes (detect() converted)
        if caller_boxes is None:
            caller_boxes = self.boxes_from_caller
        if nms is None:
            nms = self.nms_caller_boxes or not caller_boxes
        names = list(names) if names is not None else [None] * len(images)
        if caller_boxes:
            clean = [check_boxes(b, s, (im.shape[1], im.shape[0]), self._where(n), xywh=from_file)
                     for im, b, s, n in zip(images, boxes, box_scores, names)]
        else:
            clean = [sanitize_boxes(b, s, (im.shape[1], im.shape[0])) for im, b, s in zip(images, boxes, box_scores)]
        b = self.backend
        batch = crop_people(images, [c[0] for c in clean], b.input_size, b.mean, b.std, b.channel_order,
                            self.padding)
        k = b.skeleton.num_keypoints
        kpts = np.zeros((len(batch.owner), k, 2), np.float32)
        scores = np.zeros((len(batch.owner), k), np.float32)
        for start in range(0, len(batch.owner), self.max_batch):
            part = slice(start, start + self.max_batch)
            kpts[part], scores[part] = b.predict(batch.inputs[part], flip=self.flip_test)
        kpts = back_project(kpts, batch.center, batch.scale, b.input_size)
        results = []
        for i, (bx, bs) in enumerate(clean):
            sel = np.flatnonzero(batch.owner == i)
            if sel.size == 0:
                results.append(_empty_arrays(k))
                continue
            inst = rescore(bs, scores[sel])
            keep = self._nms(kpts[sel], inst, batch.scale[sel]) if nms else np.arange(len(sel))
            sel = sel[keep]
            results.append(PoseArrays(kpts[sel], scores[sel], bx[keep], bs[keep], inst[keep]))
        self.timings["pose_s"] += time.perf_counter() - t0
        return results

    def _nms(self, keypoints: np.ndarray, instance_scores: np.ndarray, crop_scale: np.ndarray) -> np.ndarray:
        """Indices kept by OKS-NMS (MMPose: area = the padded crop area), best first."""
        order = np.argsort(-instance_scores, kind="stable")
        if self.nms_thr is None or len(keypoints) < 2:
            return order
        from kdpose.evaluation import oks_nms

        areas = np.prod(crop_scale, axis=1)
        with_scores = np.concatenate([keypoints, np.zeros_like(keypoints[..., :1])], -1)  # (N, K, 3)
        keep = oks_nms(with_scores, instance_scores, areas, self.skeleton.sigmas_array, self.nms_thr)
        keep = np.asarray(keep, np.int64)
        return keep[np.argsort(-instance_scores[keep], kind="stable")]

    # ------------------------------------------------------------------ public calls
    def predict_arrays(self, image: Any, bboxes: np.ndarray | None = None, rgb: bool = False,
                       image_id: int | None = None, nms: bool | None = None) -> PoseArrays:
        """One image (path, URL, array or PIL image) -> :class:`PoseArrays` ``(keypoints (N, K, 2), scores (N, K))``
        with ``.bboxes``. ``bboxes`` (N, 4) xyxy (or (N, 5) with scores) skips the detector and gives one pose per
        box, in the given order (``nms=True`` applies OKS-NMS and sorts by score). No person -> N = 0."""
        img, name = self.load_image(image, rgb)
        if bboxes is None:
            boxes, scores = self.detect(img, name, image_id)
            return self.predict_boxes([img], [boxes], [scores], names=[name], nms=nms)[0]
        return self.predict_boxes([img], [bboxes], [None], caller_boxes=True, names=[name], nms=nms)[0]

    def __call__(self, image: Any, bboxes: np.ndarray | Sequence[np.ndarray] | None = None,
                 rgb: bool = False, nms: bool | None = None,
                 image_id: int | Sequence[int] | None = None) -> list[Person] | list[list[Person]]:
        """People in one image (path, URL, array or PIL image), or, for a list of images, one list per image (all
        crops of all images in one batched forward). ``bboxes``: see :meth:`predict_arrays`. ``image_id`` (one per
        image for a list) finds an array's boxes in a detection / annotation file given as ``detector``."""
        if isinstance(image, (list, tuple)):
            if image_id is not None and (not isinstance(image_id, (list, tuple)) or len(image_id) != len(image)):
                raise DataError(f"image_id: a list of {len(image)} images takes a list of {len(image)} ids, got "
                                f"{image_id!r}")
            ids = list(image_id) if image_id is not None else [None] * len(image)
            loaded = [self.load_image(im, rgb) for im in image]
            names = [name for _, name in loaded]
            images = [im for im, _ in loaded]
            if bboxes is not None:
                if not hasattr(bboxes, "__len__"):
                    raise DataError(f"bboxes: a list of images takes one box array per image, got "
                                    f"{type(bboxes).__name__}")
                if isinstance(bboxes, np.ndarray) and bboxes.ndim != 3:
                    # an (N, 4) array would be read as one box per image when N equals the number of images
                    raise DataError(f"bboxes: a list of images takes a list with one (N_i, 4) box array per image, "
                                    f"got one array of shape {bboxes.shape}")
                if len(bboxes) != len(loaded):
                    raise DataError(f"{len(loaded)} images but {len(bboxes)} box arrays")
                results = self.predict_boxes(images, list(bboxes), [None] * len(images), caller_boxes=True,
                                             names=names, nms=nms)
            else:
                dets = [self.detect(img, name, i) for (img, name), i in zip(loaded, ids)]
                results = self.predict_boxes(images, [d[0] for d in dets], [d[1] for d in dets], names=names,
                                             nms=nms)
            return [r.people() for r in results]
        return self.predict_arrays(image, bboxes, rgb, image_id=image_id, nms=nms).people()

    def __repr__(self) -> str:
        return (f"PoseEstimator(layout={self.skeleton.name}, input_size={self.input_size}, device={self.device}, "
                f"backend={type(self.backend).__name__}, precision={self.precision}, flip_test={self.flip_test})")


def stem_image_id(name: str | None) -> int | None:
    """COCO-style image id of a file name: its integer stem (``000000397133.jpg`` -> 397133), else None."""
    if name is not None and Path(name).stem.isdecimal():
        return int(Path(name).stem)
    return None


def job_image_ids(names: Sequence[str | None],
                  named_id: Callable[[str | None], int | None] = stem_image_id) -> list[int]:
    """The COCO image ids of a job's images, in order: the id each name gives (``named_id``, by default the integer
    file stem), and to the images whose names give none the next ids above every id the names give, in job order
    (0, 1, ... when no name gives one). A fallback never repeats an id a name gives: a folder of ``1.jpg`` and
    ``a.jpg`` is ids 1 and 2 (``a.jpg``'s place in the job, 1, was ``1.jpg``'s id). Two names that give the same id
    are the caller's to refuse where the ids key anything."""
    named = [named_id(name) for name in names]
    next_id = max((i for i in named if i is not None), default=-1) + 1
    ids = []
    for image_id in named:
        if image_id is None:
            image_id, next_id = next_id, next_id + 1
        ids.append(image_id)
    return ids
