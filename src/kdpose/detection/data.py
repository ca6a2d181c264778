"""Detection data from the synthetic scene generator (``kdpose.data.synth``): every rendered person is a
ground-truth box (also the small / unlabelled ones that pose data leaves out), letterboxed to the network input.

``SceneDetectionDataset`` renders scene ``i`` of a split on the fly (deterministic per index, worker-safe) and
augments it with a seeded horizontal flip and a random zoom-out (the letterboxed image shrunk and placed at a random
position, so that the detector sees more small people); ``collate_detection`` pads the boxes into a
:class:`DetBatch`. ``render_eval_set`` renders a fixed validation set once and builds its COCO ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass

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
class DetBatch:
    """A collated detection batch.

    inputs: (B, 3, H, W) float32 normalised. boxes: (B, G, 4) xyxy input pixels (zero-padded). valid: (B, G) bool.
    image_id: (B,) int64. ratio: (B,) float64 letterbox ratios (input pixels per image pixel).
    """

    inputs: torch.Tensor
    boxes: torch.Tensor
    valid: torch.Tensor
    image_id: torch.Tensor
    ratio: torch.Tensor

    def to(self, device, non_blocking: bool = False) -> "DetBatch":
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=non_blocking)

        return DetBatch(move(self.inputs), move(self.boxes), move(self.valid), self.image_id, self.ratio)


def collate_detection(items: list[tuple[torch.Tensor, np.ndarray, int, float]]) -> DetBatch:
    """[(inputs (3, H, W), boxes (G_i, 4), image_id, ratio)] -> DetBatch with G = max G_i."""
    g = max([len(it[1]) for it in items] + [1])
    boxes = torch.zeros(len(items), g, 4)
    valid = torch.zeros(len(items), g, dtype=torch.bool)
    for i, it in enumerate(items):
        n = len(it[1])
        if n:
            boxes[i, :n] = torch.from_numpy(np.asarray(it[1], np.float32))
            valid[i, :n] = True
    return DetBatch(torch.stack([it[0] for it in items]), boxes, valid,
                    torch.tensor([it[2] for it in items], dtype=torch.int64),
                    torch.tensor([it[3] for it in items], dtype=torch.float64))


class SceneDetectionDataset(Dataset):
    """Synthetic scenes as detection training items ``(inputs (3, H, W), boxes (G, 4) input px, image_id, ratio)``.

    Args:
        synth: ``SynthConfig`` of the scenes (RGB).
        length: number of distinct scenes (item i = scene i of ``split``).
        input_size: (w, h) network input.
        seed: generator seed (scene i uses ``scene_seed(seed, split, i)``, as ``write_coco_dataset``).
        augment: seeded flip + zoom-out (training); False = plain letterbox (validation).
        zoom_range: the letterboxed image is scaled by a factor in this range (<= 1) before being placed.
        cache: keep rendered scenes in memory (small sets: tests, quick runs; each worker has its own cache).
    """

    def __init__(self, synth, length: int, input_size: tuple[int, int], seed: int = 0, split: str = "train",
                 augment: bool = True, zoom_range: tuple[float, float] = (0.5, 1.0), cache: bool = False):
        from ..data.synth import SyntheticSceneDataset

        self.scenes = SyntheticSceneDataset(synth, length, seed, split)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        self.pre = builtin_preprocess(input_size)
        self.seed = seed
        self.augment = augment
        self.zoom_range = zoom_range
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.scenes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def scene(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Scene ``index`` as (BGR image, (G, 4) boxes in image pixels)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        scene = self.scenes[index]
        out = (scene.image, scene_boxes(scene))
        if self._cache is not None:
            self._cache[index] = out
        return out

    def __getitem__(self, index: int):
        image, boxes = self.scene(index)
        canvas, ratio = letterbox(image, self.pre.input_size)
        boxes = boxes * ratio
        if self.augment:
            canvas, boxes = self._augment(canvas, boxes, np.random.default_rng([self.seed, self.epoch, index]))
        size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        boxes = boxes[size >= MIN_BOX_SIZE]
        inputs = torch.from_numpy(to_input([canvas], self.pre)[0])
        return inputs, boxes.astype(np.float32), index + 1, float(ratio)

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


@dataclass
class EvalSet:
    """A fixed detection validation set: BGR images, their GT boxes (image pixels) and the COCO ground truth."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    coco_gt: dict


def render_eval_set(synth, num_images: int, seed: int = 0, split: str = "val") -> EvalSet:
    """Render scenes 0..num_images-1 of ``split`` once and build the COCO detection ground truth (``area`` = the
    silhouette area, as ``write_coco_dataset`` writes it; every rendered person is a box)."""
    from ..data.synth import SyntheticSceneDataset

    scenes = SyntheticSceneDataset(synth, num_images, seed, split)
    images, all_boxes, gt_images, anns = [], [], [], []
    for i in range(num_images):
        scene = scenes[i]
        boxes = scene_boxes(scene)
        h, w = scene.image.shape[:2]
        images.append(scene.image)
        all_boxes.append(boxes)
        gt_images.append({"id": i + 1, "width": int(w), "height": int(h), "file_name": f"{split}_{i:06d}.jpg"})
        for inst, b in zip(scene.instances, boxes):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "area": float(max(inst.area, 1.0)),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    gt = {"images": gt_images, "annotations": anns,
          "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    return EvalSet(images, all_boxes, gt)
