"""Where person boxes come from.

The ``detector`` argument of :class:`kdpose.PoseEstimator` accepts

* ``None`` / ``"none"`` / ``"whole"``: one box covering the whole image (score 1), for images cropped to one person
  or when the caller passes ``bboxes=`` itself;
* a callable ``image (H, W, 3) uint8 BGR -> (boxes (N, 4) xyxy, scores (N,))`` (any detector; the built-in one
  follows this protocol);
* an official detector tag (``OFFICIAL_DETECTORS``, e.g. ``"yolox-m.humanart"``, ``"rtmdet-nano.person"``): the
  OpenMMLab RTMDet / YOLOX person detector ONNX file that rtmlib uses, downloaded once into
  ``$KDPOSE_CACHE/detectors/`` and checked against its sha256 (see :func:`official_detector_path`);
* a registered detector name (``DETECTORS``, :mod:`kdpose.detection.registry`: factories
  ``(device: str, score_thr: float) -> callable``; the built-in detectors are there, and ``kdpose infer --det NAME``
  uses it);
* the tag of a trained built-in detector shipped with the package (``kdpose-det-tiny.synth-standard_320``:
  ``kdpose.detection.registry.shipped_detector_tags()``), run by :class:`kdpose.detection.PersonDetector`;
* a detector file: ``.onnx`` (a kdpose export of the built-in detector, or an official RTMDet / YOLOX person
  detector) or ``.safetensors`` (built-in detector weights), run by :class:`kdpose.detection.PersonDetector`;
* a path to a COCO detection-results file (a JSON list of ``{"image_id", "bbox": [x, y, w, h], "score",
  "category_id"}``, e.g. ``COCO_val2017_detections_AP_H_56_person.json``) or a COCO dataset file (its
  ``annotations`` are the boxes, e.g. the ground truth). Entries are matched to images by ``file_name`` (entries
  that carry one, or the dataset's ``images`` table), otherwise by ``image_id`` = the integer file stem
  (``000000397133.jpg`` -> 397133) or, for videos, the frame index. Its boxes are the caller's boxes: one pose per
  box, in the file's order. A dataset file's boxes are those training validation crops from it
  (:func:`kdpose.data.load_coco_keypoints`, ``mode="eval"``): clipped to ``[0, W-1] x [0, H-1]``, and a crowd, an
  annotation with ``num_keypoints`` 0 or whose keypoints are all unlabelled (or whose box has no width or height)
  gives no box, as in MMPose's top-down validation.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np

from kdpose.data.coco import WHOLEBODY_FIELDS
from kdpose.data.geometry import bbox_xywh_to_xyxy, clip_bbox_xywh_to_xyxy
from kdpose.data.jsonfile import finite_numbers, finite_score
from kdpose.detection.registry import DETECTORS, shipped_detector_tags  # noqa: F401  (the named detectors)
from kdpose.errors import CheckpointError, ConfigError, DataError

DetectorFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
DetectorSpec = Union[None, str, os.PathLike, DetectorFn, "DetectionFile"]


@dataclass(frozen=True)
class OfficialDetector:
    """An official person-detector ONNX file, as published by OpenMMLab for RTMPose (the files rtmlib uses).

    ``url`` is a zip archive holding ``end2end.onnx`` (MMDeploy end-to-end: boxes + labels, NMS inside);
    ``sha256`` is the digest of that ``end2end.onnx`` (OpenMMLab publishes none for the archives; these are the
    digests independent users recorded for the same files, and kdpose refuses a file that differs).
    """

    tag: str
    url: str
    sha256: str
    family: str  # "yolox" or "rtmdet" pre-processing
    input_size: tuple[int, int]  # (w, h)
    notes: str = ""


_ONNX_SDK = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"


def _official(tag: str, file: str, sha256: str, family: str, size: int, notes: str) -> OfficialDetector:
    return OfficialDetector(tag, _ONNX_SDK + file, sha256, family, (size, size), notes)


OFFICIAL_DETECTORS: dict[str, OfficialDetector] = {d.tag: d for d in (
    _official("yolox-nano.humanart", "yolox_nano_8xb8-300e_humanart-40f6f0d0.zip",
              "1450966de24902b18aada1a78913d7efd8fc8dcd51bd4d0d5591476bd4a38821", "yolox", 416,
              "YOLOX-nano person detector trained on HumanArt + COCO"),
    _official("yolox-tiny.humanart", "yolox_tiny_8xb8-300e_humanart-6f3252f9.zip",
              "ceb11c07298f95c50d7c5abeb906d03340c85f23aa79e3e66966e7fb6c307250", "yolox", 416,
              "YOLOX-tiny person detector trained on HumanArt + COCO"),
    _official("yolox-s.humanart", "yolox_s_8xb8-300e_humanart-3ef259a7.zip",
              "332e09ea9696e3401049b6c5314851db020b6430f85da159e65f37034ab3aee8", "yolox", 640,
              "YOLOX-s person detector trained on HumanArt + COCO"),
    _official("yolox-m.humanart", "yolox_m_8xb8-300e_humanart-c2c7a14a.zip",
              "3dea6513388889f0fff4b77bf7a26013600321b9eb9ceb0e9a400a82572f5f23", "yolox", 640,
              "YOLOX-m person detector trained on HumanArt + COCO (rtmlib's 'balanced' detector)"),
    _official("yolox-l.humanart", "yolox_l_8xb8-300e_humanart-ce1d7a62.zip",
              "0e7a169bb6b2f439c318f727fd894b1405c30280baca676e6a5c7d1f8cb52876", "yolox", 640,
              "YOLOX-l person detector trained on HumanArt + COCO"),
    _official("yolox-x.humanart", "yolox_x_8xb8-300e_humanart-a39d44ed.zip",
              "8e9ea96a176bd48501eaaa77216e49ee30794d2f8ba80c7b9862beca4ea972da", "yolox", 640,
              "YOLOX-x person detector trained on HumanArt + COCO"),
    _official("rtmdet-nano.person", "rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip",
              "8297e829ccc5590c8e2d32d5a211f322a0585fb7467eec85eb12c9525b0b95d6", "rtmdet", 320,
              "RTMDet-nano person detector trained on COCO + Objects365 person"),
)}


def official_detector_path(tag: str, download: bool = True) -> Path:
    """The local ``end2end.onnx`` of an official detector tag: ``$KDPOSE_CACHE/detectors/<tag>.onnx``.

    A cached file is checked against the tag's sha256 and used. A missing one is downloaded (the zip into the cache,
    its ``end2end.onnx`` extracted and checked) when ``download`` is true and ``KDPOSE_OFFLINE`` is not set;
    otherwise, and on any network or checksum failure, a one-line :class:`CheckpointError` says what to do.
    """
    from kdpose.models._download import _sha256, cache_dir, download_weights
    from kdpose.utils.io import atomic_write

    spec = OFFICIAL_DETECTORS[tag]
    target = cache_dir() / "detectors" / f"{tag}.onnx"
    if target.is_file():
        digest = _sha256(target)
        if digest != spec.sha256:
            raise CheckpointError(f"{target}: sha256 {digest[:16]}... is not the published {spec.sha256[:16]}... of "
                                  f"detector '{tag}'; delete the file to download it again")
        return target
    offline = os.environ.get("KDPOSE_OFFLINE", "") not in ("", "0")
    if offline or not download:
        why = "KDPOSE_OFFLINE is set" if offline else "downloads are off"
        raise CheckpointError(f"detector '{tag}' is not in the cache ({target}) and {why}: download {spec.url} on a "
                              f"machine with network access and put its end2end.onnx at {target}")
    archive = download_weights(spec.url, sha256=None, cache=cache_dir() / "detectors",
                               fix=f"download it on a machine with network access and put its end2end.onnx at {target}")
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if Path(m).name == "end2end.onnx"]
            if len(members) != 1:
                raise CheckpointError(f"{spec.url}: expected one end2end.onnx in the archive, found {len(members)}")
            with zf.open(members[0]) as src, atomic_write(target) as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
    except zipfile.BadZipFile:
        archive.unlink(missing_ok=True)
        raise CheckpointError(f"{spec.url}: the download is not a zip archive; try again") from None
    digest = _sha256(target)
    if digest != spec.sha256:
        target.unlink(missing_ok=True)
        raise CheckpointError(f"{spec.url}: its end2end.onnx has sha256 {digest[:16]}..., not the published "
                              f"{spec.sha256[:16]}... of detector '{tag}'; nothing was kept")
    archive.unlink(missing_ok=True)  # the extracted, checked model is what is kept
    return target


class DetectionFile:
    """Person boxes read from a COCO detection-results JSON file, or from a COCO dataset file (its annotations).

    Args:
        path: the file.
        category_id: keep entries of this category (1 = person); entries without ``category_id`` are kept.

    Boxes keep the file's order. ``image_id_for(name)`` gives the COCO image id the file assigns to an image
    name (from the dataset's ``images`` table, or from entries that carry both ``file_name`` and ``image_id``).
    A dataset file gives the boxes training validation crops from it (:func:`validation_box`); ``skipped`` counts
    its annotations that give none.
    """

    def __init__(self, path: str | os.PathLike, category_id: int = 1):
        self.path = Path(path)
        try:
            entries = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise DataError(f"{self.path}: no such detection-results file") from None
        except IsADirectoryError:
            raise DataError(f"{self.path}: a folder, not a detection-results or COCO annotation .json file") from None
        except UnicodeDecodeError:   # e.g. an image given as the boxes
            raise DataError(f"{self.path}: not a text file, so not a detection-results or COCO annotation .json "
                            "file") from None
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        self._ids: dict[str, int] = {}  # image file name (relative path, and base name when unique) -> image id
        self.skipped = 0  # dataset annotations that give no box (validation skips them too)
        sizes: dict[int, tuple[int, int]] | None = None  # image id -> (w, h): the file is a dataset file
        if isinstance(entries, dict) and "annotations" in entries:
            self._index_images(entries.get("images", []))
            sizes = _image_sizes(entries.get("images", []))
            entries = entries["annotations"]
        if not isinstance(entries, list):
            raise DataError(f"{self.path}: expected a JSON list of detections (COCO results format)")
        by_key: dict = defaultdict(list)
        named: list[tuple[str, int]] = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or "bbox" not in e or ("image_id" not in e and "file_name" not in e):
                raise DataError(f"{self.path}: entry {i} is not a detection (needs 'bbox' and 'image_id')")
            if e.get("category_id", category_id) != category_id:
                continue
            bbox = e["bbox"]
            if not (isinstance(bbox, list) and len(bbox) == 4):
                raise DataError(f"{self.path}: entry {i} has a malformed bbox {bbox!r} (expected [x, y, w, h])")
            # strings, None or NaN in a box or score: refused here with the file's own values (numpy's errors, or
            # a NaN shown after the xywh -> xyxy round trip, would name neither the file nor the entry)
            xywh = finite_numbers(bbox, str(self.path), f"entry {i}", "bbox", size=4)
            score = finite_score(e.get("score", 1.0), str(self.path), f"entry {i}", "score")
            if "image_id" in e and (isinstance(e["image_id"], bool) or not isinstance(e["image_id"], int)):
                raise DataError(f"{self.path}: entry {i} field 'image_id' is {e['image_id']!r}, expected an integer")
            if "file_name" in e and "image_id" in e:
                named.append((str(e["file_name"]), e["image_id"]))
            key = e["file_name"] if "file_name" in e else e["image_id"]
            if sizes is None:  # detection results: as given (validation's bbox_file is not clipped either)
                box = bbox_xywh_to_xyxy(xywh)
            else:
                box = validation_box(e, sizes.get(e.get("image_id")))
                if box is None:
                    self.skipped += 1
                    continue
            by_key[key].append([*box, score])
        if named and not self._ids:
            self._index_images([{"file_name": n, "id": i} for n, i in dict(named).items()])
        self._by_key = {k: np.asarray(v, np.float64) for k, v in by_key.items()}
        self._sizes = sizes or {}  # image id -> (w, h) of a dataset file's images: the frame its boxes are in

    def _index_images(self, images: list) -> None:
        names: dict[str, int] = {}
        bases: dict[str, list[int]] = defaultdict(list)
        for img in images:
            if isinstance(img, dict) and "file_name" in img and "id" in img:
                name = Path(str(img["file_name"])).as_posix()
                names[name] = int(img["id"])
                bases[Path(name).name].append(int(img["id"]))
        unique = {b: ids[0] for b, ids in bases.items() if len(set(ids)) == 1}
        self._ids = {**unique, **names}

    def __len__(self) -> int:
        return len(self._by_key)

    def image_ids(self) -> list[int]:
        """The sorted image ids that have boxes (entries keyed by ``file_name`` alone have none)."""
        return sorted(k for k in self._by_key if isinstance(k, int))

    def image_id_for(self, name: str | None) -> int | None:
        """The image id this file gives the image ``name`` (relative path or file name), or None if it names none."""
        if name is None or not self._ids:
            return None
        posix = Path(name).as_posix()
        if posix in self._ids:
            return self._ids[posix]
        # "val/000001.jpg" in the file and "000001.jpg" asked, or the reverse; two folders may hold the same name
        matches = {known: image_id for known, image_id in self._ids.items()
                   if "/" in known and (known.endswith("/" + posix) or posix.endswith("/" + known))}
        if len(set(matches.values())) > 1:
            shown = ", ".join(f"{known} (id {i})" for known, i in sorted(matches.items())[:3])
            raise DataError(f"{self.path}: image {posix} could be any of {shown}: give the folder that holds them "
                            "so that its names carry the sub-folder, as the file's do")
        if matches:
            return next(iter(matches.values()))
        return self._ids.get(Path(name).name)

    def lookup(self, name: str | None = None, image_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) xyxy and scores (N,) of an image, by file name or image id (empty when none)."""
        key = self._key(name, image_id)
        if key is None:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        det = self._by_key[key]
        return det[:, :4].copy(), det[:, 4].astype(np.float32)

    def image_size(self, name: str | None = None, image_id: int | None = None) -> tuple[int, int] | None:
        """(width, height) a dataset file's ``images`` table gives the image whose boxes :meth:`lookup` returns
        (the frame those boxes are in), or None (detection results, no boxes, or no size in the file)."""
        key = self._key(name, image_id)
        return self._sizes.get(key) if isinstance(key, int) else None

    def knows(self, name: str | None, image_id: int | None = None) -> bool:
        """Whether the file speaks of an image: its ``images`` table names it, or entries match it."""
        return self.image_id_for(name) is not None or self._key(name, image_id) is not None

    def _key(self, name: str | None, image_id: int | None):
        """The key of the entries of an image (file name or image id), or None when the file has none."""
        keys: list = []
        known = self.image_id_for(name)
        if known is not None:  # the file itself says which id this image has
            keys = [name, Path(name).name, known]
        else:
            if name is not None:
                keys += [name, Path(name).name]
                if Path(name).stem.isdecimal():
                    keys.append(int(Path(name).stem))
            if image_id is not None:
                keys.append(int(image_id))
        return next((key for key in keys if key in self._by_key), None)


def _image_sizes(images: list) -> dict[int, tuple[int, int]]:
    """Image id -> (width, height) of a dataset file's ``images`` table (images without a size are left out)."""
    return {int(img["id"]): (int(img["width"]), int(img["height"])) for img in images
            if isinstance(img, dict) and {"id", "width", "height"} <= img.keys()}


def validation_box(ann: dict, image_size: tuple[int, int] | None) -> np.ndarray | None:
    """The xyxy box training validation crops from a dataset annotation, or None where it crops none.

    Validation reads ground-truth boxes with the dataset reader (``mode="eval"``, MMPose's COCO parsing), so infer
    on the same file must see the same boxes for ``kdpose eval`` to reproduce its AP: a crowd, an annotation with
    ``num_keypoints`` 0 (body keypoints, for whole-body), one whose keypoint fields are all 0 (no labelled point) or
    whose box has no width or height gives none, and the box is clipped to ``[0, W-1] x [0, H-1]`` (an image
    without a size in the file: not clipped). Annotations without keypoints (a detection ground truth) give their
    box unless they are crowds.
    """
    xywh = np.asarray(ann["bbox"], np.float32)
    points = [np.asarray(ann[field], np.float64) for field, _ in WHOLEBODY_FIELDS if field in ann]
    if xywh[2] <= 0 or xywh[3] <= 0 or (points and max(p.max(initial=0.0) for p in points) <= 0):
        return None
    if ann.get("iscrowd"):
        return None
    if "keypoints" in ann:  # the reader's count: the file's, else the labelled body keypoints
        body_labelled = int((np.asarray(ann["keypoints"], np.float64)[2::3] > 0).sum())
        if int(ann.get("num_keypoints", body_labelled)) == 0:
            return None
    if image_size is None:
        return bbox_xywh_to_xyxy(xywh)
    return clip_bbox_xywh_to_xyxy(xywh, *image_size)


def _known_names() -> str:
    names = sorted(OFFICIAL_DETECTORS) + sorted(DETECTORS.names()) + shipped_detector_tags()
    return ", ".join(names)


def _pretrained_model(tag: str) -> str:
    """The zoo model of a pretrained tag, "" for anything else (or where torch is missing)."""
    try:
        from kdpose.models import PRETRAINED
    except ImportError:
        return ""
    return PRETRAINED[tag].model if tag in PRETRAINED else ""


def _factory_kwargs(factory: Callable, **settings) -> dict:
    """The ``settings`` (``score_thr``, ``threads``) that are not None, for a detector factory that takes them (the
    built-in ones do)."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if not settings:
        return {}
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return settings
    return {k: v for k, v in settings.items() if k in params}


def resolve_detector(spec: DetectorSpec, device: str = "cpu", score_thr: float | None = None,
                     download: bool = True, threads: int | None = None) -> DetectorFn | DetectionFile | None:
    """Normalise the ``detector`` argument (see the module docstring).

    Args:
        device: passed to detectors kdpose builds.
        score_thr: the score cut of detectors kdpose builds (named, tags, files), so that a lower
            ``PoseEstimator(bbox_thr=...)`` is not undercut by the detector's own default (0.3).
        download: allow an official detector tag to be downloaded when it is not cached.
        threads: CPU threads of detectors kdpose builds (None: PyTorch ones half the CPUs, 1 to 4, unless
            ``OMP_NUM_THREADS`` is set; onnxruntime its default), as the pose model's.
    """
    if spec is None or isinstance(spec, DetectionFile):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        kwargs = {k: v for k, v in (("score_thr", score_thr), ("threads", threads)) if v is not None}
        if text.lower() in ("", "none", "whole", "whole_image"):
            return None
        if text.lower().endswith(".json"):
            return DetectionFile(text)
        if text.lower().endswith((".onnx", ".safetensors")):  # a detector file: kdpose.detection runs it
            from kdpose.detection import PersonDetector

            return PersonDetector(text, device=device, **kwargs)
        if text in OFFICIAL_DETECTORS:
            from kdpose.detection import PersonDetector

            official = OFFICIAL_DETECTORS[text]
            path = official_detector_path(text, download=download)
            return PersonDetector(str(path), device=device, family=official.family,
                                  input_size=official.input_size, **kwargs)
        if text in DETECTORS:
            factory = DETECTORS.get(text)
            return factory(device, **_factory_kwargs(factory, score_thr=score_thr, threads=threads))
        if text in shipped_detector_tags():
            from kdpose.detection import PersonDetector

            return PersonDetector(text, device=device, **kwargs)
        from kdpose.detection.registry import BUILTIN_NAMES, unknown_detector_message

        if text.split(".")[0] in BUILTIN_NAMES:  # a detector tag that is not shipped (yet)
            raise ConfigError(unknown_detector_message(text))
        pose_model = _pretrained_model(text)
        if pose_model:
            raise ConfigError(f"'{text}' is the tag of a {pose_model} pose model, not a person detector "
                              f"(known detectors: {_known_names()})")
        import difflib

        known = list(OFFICIAL_DETECTORS) + list(DETECTORS.names())
        close = [k for k in known if k.startswith(text + ".")]  # "yolox-m" -> "yolox-m.humanart"
        close = close or difflib.get_close_matches(text, known, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"unknown detector '{text}'{hint} (known: {_known_names()}; or a detector .onnx / "
                          ".safetensors file, a COCO detection-results .json, or 'none' for the whole image)")
    if callable(spec):
        return spec
    raise ConfigError(f"detector must be None, a callable or a detection-results file, got {type(spec).__name__}")


def run_detector(detector: DetectorFn, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Call a detector and check what it returns: boxes (N, 4) float32, scores (N,) float32."""
    out = detector(image)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ConfigError(f"detector {detector!r} must return (boxes (N, 4), scores (N,)), got {type(out).__name__}")
    boxes, scores = (np.asarray(a, np.float32) for a in out)
    boxes = boxes.reshape(-1, 4) if boxes.size else np.zeros((0, 4), np.float32)
    scores = scores.reshape(-1)
    if len(scores) != len(boxes):
        raise ConfigError(f"detector returned {len(boxes)} boxes but {len(scores)} scores")
    return boxes, scores
