"""Detection data from the synthetic scene generator (``kdpose.data.synth``): every rendered person is a
ground-truth box, letterboxed to the network input; people without labelled keypoints (the ``standard`` preset's
people an annotator would not label) can be made ignore regions, as COCO's crowd boxes.

Scenes come from a source: :class:`RenderedScenes` renders scene ``i`` of a split on the fly (deterministic per
index, worker-safe); :class:`CachedScenes` reads a split that ``write_coco_dataset`` rendered once (the same
images and boxes, so a CPU trains instead of rendering). :class:`SceneDetectionDataset` letterboxes a source's scene
and augments it with a seeded horizontal flip and a random zoom-out (the letterboxed image shrunk and placed at a
random position, so that the detector sees more small people), new every epoch; ``collate_detection`` pads the
boxes into a :class:`DetBatch`. ``render_eval_set`` / ``load_eval_set`` build a fixed validation set and its COCO
ground truth.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .letterbox import PAD_VALUE, Preprocess, letterbox, to_input
from ..models.person_detector import RGB_MEAN, RGB_STD

MIN_BOX_SIZE = 2.0  # pixels (after letterboxing); smaller boxes are dropped from the training targets


def builtin_preprocess(input_size: tuple[int, int]) -> Preprocess:
    """The built-in detector's input convention: letterbox (pad 114), RGB, MMPose mean/std."""
    return Preprocess(tuple(input_size), rgb=True, mean=RGB_MEAN, std=RGB_STD)


def scene_boxes(scene) -> np.ndarray:
    """(G, 4) float32 xyxy boxes of every annotated person of a ``SynthScene``, clipped to the image."""
    h, w = scene.image.shape[:2]
    if not scene.instances:
        return np.zeros((0, 4), np.float32)
    boxes = np.stack([np.asarray(inst.bbox, np.float32) for inst in scene.instances])
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    return boxes


@dataclass
class SceneTargets:
    """The detection ground truth of one scene (no pixels).

    image_id: COCO image id. width, height: image size. boxes: (G, 4) float32 xyxy image pixels, clipped.
    unlabelled: (G,) bool, the person has no labelled keypoints (``num_keypoints`` 0) or is a COCO crowd region.
    areas: (G,) float64 COCO ``area`` (the visible silhouette for synthetic people). file_name: for the COCO file.
    crowd: (G,) bool, the file's ``iscrowd`` regions (None: none); always ignored, as pycocotools and COCO do, whether
    or not the unlabelled people are.
    """

    image_id: int
    width: int
    height: int
    boxes: np.ndarray
    unlabelled: np.ndarray
    areas: np.ndarray
    file_name: str = ""
    crowd: np.ndarray | None = None

    def ignored(self, ignore_unlabelled: bool) -> np.ndarray:
        """(G,) bool: the boxes that are ignore regions (crowds; with ``ignore_unlabelled`` unlabelled people too)."""
        crowd = self.crowd if self.crowd is not None else np.zeros(len(self.boxes), bool)
        return crowd | (self.unlabelled & ignore_unlabelled)


def scene_targets(scene, image_id: int, file_name: str = "") -> SceneTargets:
    """The :class:`SceneTargets` of a rendered ``SynthScene``."""
    h, w = scene.image.shape[:2]
    return SceneTargets(int(image_id), int(w), int(h), scene_boxes(scene),
                        np.array([inst.num_keypoints == 0 for inst in scene.instances], bool),
                        np.array([max(float(inst.area), 1.0) for inst in scene.instances], np.float64), file_name)


class RenderedScenes:
    """Scene ``i`` of a synthetic split, rendered on the fly (``SyntheticSceneDataset``: the scene
    ``write_coco_dataset`` writes as image ``i``, JPEG artefacts included). ``image(i)`` then ``targets(i)`` render
    once (the last scene is kept); ``cache=True`` keeps every scene (small sets: tests, quick runs)."""

    def __init__(self, synth, length: int, seed: int = 0, split: str = "train", cache: bool = False):
        from ..data.synth import SyntheticSceneDataset

        self.scenes = SyntheticSceneDataset(synth, length, seed, split)
        self.split = split
        self._cache: dict[int, tuple[np.ndarray, SceneTargets]] = {}
        self._keep_all = cache

    def __len__(self) -> int:
        return len(self.scenes)

    def _get(self, index: int) -> tuple[np.ndarray, SceneTargets]:
        if index not in self._cache:
            if not self._keep_all:
                self._cache.clear()
            scene = self.scenes[index]
            self._cache[index] = (scene.image, scene_targets(scene, index + 1, f"{self.split}_{index:06d}.jpg"))
        return self._cache[index]

    def image(self, index: int) -> np.ndarray:
        """BGR uint8 image of scene ``index``."""
        return self._get(index)[0]

    def targets(self, index: int) -> SceneTargets:
        return self._get(index)[1]


class CachedScenes:
    """The scenes of a COCO-format split on disk (what ``write_coco_dataset`` writes, or any COCO person file):
    the boxes of every image are read once, the images from their files on each access.

    Args:
        ann_file: COCO annotation file; annotations need ``image_id`` and ``bbox`` (xywh); a person with
            ``num_keypoints`` 0 or ``iscrowd`` 1 is marked unlabelled; ``iscrowd`` 1 regions are also kept as crowds
            (always ignored, :attr:`SceneTargets.crowd`).
        img_root: folder the images' ``file_name`` are relative to (default: the annotation file's folder, the
            writer's layout).

    Raises:
        DataError: an unreadable annotation file or a missing field (when built), an unreadable image (on access).
    """

    def __init__(self, ann_file: str | os.PathLike, img_root: str | os.PathLike | None = None):
        from ..evaluation.coco import load_gt

        data, name = load_gt(ann_file, fields=("image_id", "bbox"))
        self.root = Path(img_root) if img_root else Path(ann_file).parent
        per_image: dict[int, list[dict]] = {}
        for ann in data["annotations"]:
            if ann["category_id"] == 1:
                per_image.setdefault(ann["image_id"], []).append(ann)
        self._targets: list[SceneTargets] = []
        for im in data["images"]:
            anns = per_image.get(im["id"], [])
            w, h = int(im["width"]), int(im["height"])
            xywh = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            unlabelled = np.array([a.get("num_keypoints", 1) == 0 or bool(a["iscrowd"]) for a in anns], bool)
            areas = np.array([max(float(a.get("area", b[2] * b[3])), 1.0) for a, b in zip(anns, xywh)], np.float64)
            crowd = np.array([bool(a["iscrowd"]) for a in anns], bool)
            self._targets.append(SceneTargets(int(im["id"]), w, h, boxes, unlabelled, areas, im["file_name"], crowd))
        self.name = name

    def __len__(self) -> int:
        return len(self._targets)

    def image(self, index: int) -> np.ndarray:
        from ..errors import DataError

        path = self.root / self._targets[index].file_name
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: cannot read the image (listed in {self.name})")
        return image

    def targets(self, index: int) -> SceneTargets:
        return self._targets[index]


class DetItem(NamedTuple):
    """One training item: inputs (3, H, W) float32, boxes (G, 4) xyxy input pixels, COCO image id, letterbox ratio,
    ignore (G,) bool (None: no box is ignored)."""

    inputs: torch.Tensor
    boxes: np.ndarray
    image_id: int
    ratio: float
    ignore: np.ndarray | None = None


@dataclass
class DetBatch:
    """A collated detection batch.

    inputs: (B, 3, H, W) float32 normalised. boxes: (B, G, 4) xyxy input pixels (zero-padded). valid: (B, G) bool.
    image_id: (B,) int64. ratio: (B,) float64 letterbox ratios (input pixels per image pixel). ignore: (B, G) bool,
    a valid box that is an ignore region (no positive, no negative: ``DetectionLoss``).
    """

    inputs: torch.Tensor
    boxes: torch.Tensor
    valid: torch.Tensor
    image_id: torch.Tensor
    ratio: torch.Tensor
    ignore: torch.Tensor

    def to(self, device, non_blocking: bool = False) -> "DetBatch":
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=non_blocking)

        return DetBatch(move(self.inputs), move(self.boxes), move(self.valid), self.image_id, self.ratio,
                        move(self.ignore))


def collate_detection(items: Sequence[tuple]) -> DetBatch:
    """[DetItem (or (inputs, boxes, image_id, ratio))] -> DetBatch with G = max G_i."""
    items = [DetItem(*it) for it in items]
    g = max([len(it.boxes) for it in items] + [1])
    boxes = torch.zeros(len(items), g, 4)
    valid = torch.zeros(len(items), g, dtype=torch.bool)
    ignore = torch.zeros(len(items), g, dtype=torch.bool)
    for i, it in enumerate(items):
        n = len(it.boxes)
        if n:
            boxes[i, :n] = torch.from_numpy(np.asarray(it.boxes, np.float32))
            valid[i, :n] = True
            if it.ignore is not None:
                ignore[i, :n] = torch.from_numpy(np.asarray(it.ignore, bool))
    return DetBatch(torch.stack([it.inputs for it in items]), boxes, valid,
                    torch.tensor([it.image_id for it in items], dtype=torch.int64),
                    torch.tensor([it.ratio for it in items], dtype=torch.float64), ignore)


class SceneDetectionDataset(Dataset):
    """Scenes of a source as detection training items (:class:`DetItem`).

    Args:
        scenes: :class:`RenderedScenes` or :class:`CachedScenes` (anything with ``__len__``, ``image(i)``,
            ``targets(i)``).
        input_size: (w, h) network input.
        seed: augmentation seed: item i of epoch e draws its flip and zoom from ``(seed, e, i)``.
        augment: seeded flip + zoom-out (training); False = plain letterbox (validation).
        zoom_range: the letterboxed image is scaled by a factor in this range (<= 1) before being placed.
        ignore_unlabelled: people without labelled keypoints become ignore regions (``DetItem.ignore``) instead of
            boxes to find; False: every person is a box to find. A file's crowd regions are ignore regions always.
    """

    def __init__(self, scenes, input_size: tuple[int, int], seed: int = 0, augment: bool = True,
                 zoom_range: tuple[float, float] = (0.5, 1.0), ignore_unlabelled: bool = False):
        self.scenes = scenes
        self.pre = builtin_preprocess(input_size)
        self.seed = seed
        self.augment = augment
        self.zoom_range = zoom_range
        self.ignore_unlabelled = ignore_unlabelled
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.scenes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> DetItem:
        image = self.scenes.image(index)
        target = self.scenes.targets(index)
        canvas, ratio = letterbox(image, self.pre.input_size)
        boxes = target.boxes * ratio
        ignore = target.ignored(self.ignore_unlabelled)
        if self.augment:
            canvas, boxes = self._augment(canvas, boxes, np.random.default_rng([self.seed, self.epoch, index]))
        size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = size >= MIN_BOX_SIZE
        inputs = torch.from_numpy(to_input([canvas], self.pre)[0])
        return DetItem(inputs, boxes[keep].astype(np.float32), target.image_id, float(ratio), ignore[keep])

    def _augment(self, canvas: np.ndarray, boxes: np.ndarray, rng: np.random.Generator):
        h, w = canvas.shape[:2]
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1]
            boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        zoom = rng.uniform(*self.zoom_range)
        if zoom < 0.999:
            small = cv2.resize(np.ascontiguousarray(canvas), (max(1, int(w * zoom)), max(1, int(h * zoom))),
                               interpolation=cv2.INTER_AREA)
            ox, oy = int(rng.integers(0, w - small.shape[1] + 1)), int(rng.integers(0, h - small.shape[0] + 1))
            out = np.full_like(canvas, PAD_VALUE)
            out[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
            canvas = out
            boxes = boxes * np.float32(small.shape[1] / w)
            boxes[:, 0::2] += ox
            boxes[:, 1::2] += oy
        return np.ascontiguousarray(canvas), boxes.reshape(-1, 4)


class _ImageFiles(Sequence):
    """Images of a :class:`CachedScenes`, read on access (a val set of 500 640x480 images is 460 MB in memory)."""

    def __init__(self, scenes: CachedScenes):
        self.scenes = scenes

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.scenes.image(i) for i in range(*index.indices(len(self)))]
        return self.scenes.image(index)


@dataclass
class EvalSet:
    """A fixed detection validation set: BGR images (a list, or files read on access), their boxes (image pixels)
    and the COCO ground truth."""

    images: Sequence[np.ndarray]
    boxes: list[np.ndarray]
    coco_gt: dict


def coco_detection_gt(targets: Sequence[SceneTargets], ignore_unlabelled: bool = False) -> dict:
    """COCO detection ground truth of the scenes (``area`` as given: the silhouette for synthetic people).

    A file's crowd regions stay ``iscrowd: 1``. With ``ignore_unlabelled`` a person without labelled keypoints is
    written ``iscrowd: 1`` too: pycocotools then
    neither rewards nor penalises a detection on it (it matches crowd regions only after every real box, and a
    detection matched to one is ignored), as COCO treats its crowd regions."""
    images, anns = [], []
    for t in targets:
        images.append({"id": t.image_id, "width": t.width, "height": t.height, "file_name": t.file_name})
        for b, ignored, area in zip(t.boxes, t.ignored(ignore_unlabelled), t.areas):
            anns.append({"id": len(anns) + 1, "image_id": t.image_id, "category_id": 1,
                         "iscrowd": int(ignored), "area": float(area),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def render_eval_set(synth, num_images: int, seed: int = 0, split: str = "val",
                    ignore_unlabelled: bool = False) -> EvalSet:
    """Render scenes 0..num_images-1 of ``split`` once (in memory) with their COCO detection ground truth; every
    rendered person is a box (``ignore_unlabelled``: those without labelled keypoints are crowd regions)."""
    scenes = RenderedScenes(synth, num_images, seed, split)
    images, targets = [], []
    for i in range(num_images):
        images.append(scenes.image(i))
        targets.append(scenes.targets(i))
    return EvalSet(images, [t.boxes for t in targets], coco_detection_gt(targets, ignore_unlabelled))


def load_eval_set(ann_file: str | os.PathLike, img_root: str | os.PathLike | None = None,
                  ignore_unlabelled: bool = False) -> EvalSet:
    """The validation set of a COCO-format split on disk (:class:`CachedScenes`; images read on access)."""
    scenes = CachedScenes(ann_file, img_root)
    targets = [scenes.targets(i) for i in range(len(scenes))]
    return EvalSet(_ImageFiles(scenes), [t.boxes for t in targets], coco_detection_gt(targets, ignore_unlabelled))
