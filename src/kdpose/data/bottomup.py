"""Bottom-up depth data for the pose machines: whole image + all people -> normalised depth + PAF targets.

The paper's pipeline (Sec. VII-A, C): depth in metres mapped from [0, 8] to [-0.5, 0.5]
(:func:`kdpose.data.sample.normalize_depth`); training augmentations rotation uniform in +-20 deg with p = 0.8 and
a crop to the 368x368 training size with p = 0.9 (otherwise the whole image is resized into it); padding is 0 m
(invalid), i.e. -0.5 after normalisation. Background fusion and the 20 % silhouette pixel dropout are the synthetic
generator's (:mod:`kdpose.data.synth`: ``fuse_background``, ``silhouette_dropout``), applied when a scene is
rendered; :func:`scene_from_synth` can instead take the clean people layer without any background (the paper's
"no background fusion" ablation) and apply the dropout itself.

Scale: the image is first scaled so that its height is the input height (the scale the whole-image inference at
444x368 / 491x368 uses), then rotated and cropped, so training and inference see people at the same size.
Depth is warped with nearest-neighbour interpolation so that invalid (0) pixels never blend into valid ones, by
kdpose itself (:func:`kdpose.data.geometry.warp_nearest`: OpenCV builds break half-way ties differently).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.utils.data

from .geometry import transform_points, warp_nearest
from .sample import normalize_depth, stack_dataclasses


@dataclass
class DepthScene:
    """One depth image and all its people.

    depth: (H, W) uint16 millimetres (0 = invalid). keypoints: (N, K, 2) pixels. visible: (N, K), > 0 = labelled.
    mask: optional (H, W) bool silhouettes of the people. image_id: id used in evaluation.
    boxes: optional (N, 4) xyxy person boxes (the PCK metric's h is their height).
    """

    depth: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    mask: np.ndarray | None = None
    image_id: int = 0
    boxes: np.ndarray | None = None


def scene_from_synth(scene: Any, image_id: int = 0, background: bool = True,
                     dropout_rate: float = 0.0, rng: np.random.Generator | None = None) -> DepthScene:
    """A ``kdpose.data.synth.SynthScene`` (depth mode) -> :class:`DepthScene`.

    ``background=False`` keeps only the clean rendered people/occluder layer (``scene.zbuffer``) on an empty (0)
    background; ``dropout_rate`` > 0 then applies the generator's ``silhouette_dropout`` with ``rng``.
    """
    if background:
        depth = np.asarray(scene.image)
    else:
        z = scene.zbuffer
        depth = np.where(np.isfinite(z), np.round(np.where(np.isfinite(z), z, 0.0) * 1000.0), 0).astype(np.uint16)
    mask = scene.instance_map >= 0
    if dropout_rate > 0:
        from .synth import silhouette_dropout

        depth = silhouette_dropout(depth, mask, rng or np.random.default_rng(image_id), rate=dropout_rate)
    people = scene.instances
    k = people[0].keypoints.shape[0] if people else 17
    kpts = np.stack([p.keypoints for p in people]).astype(np.float32) if people else np.zeros((0, k, 2), np.float32)
    vis = (np.stack([p.flags for p in people]) > 0).astype(np.float32) if people else np.zeros((0, k), np.float32)
    boxes = np.stack([p.bbox for p in people]).astype(np.float32) if people else np.zeros((0, 4), np.float32)
    return DepthScene(depth=depth, keypoints=kpts, visible=vis, mask=mask, image_id=int(image_id), boxes=boxes)


def render_depth_scenes(cfg: Any, n: int, seed: int, split: str = "train") -> list[DepthScene]:
    """Render ``n`` depth scenes of ``split`` with the synthetic generator (``cfg``: a depth-mode ``SynthConfig``),
    deterministic per index (``scene_seed(seed, split, i)``), kept in memory without silhouettes."""
    from .synth import render_scene, scene_seed

    scenes = []
    for i in range(int(n)):
        scene = scene_from_synth(render_scene(cfg, scene_seed(seed, split, i)), image_id=i)
        scene.mask = None  # the silhouettes are not used after rendering (the dropout is the generator's)
        scenes.append(scene)
    return scenes


@dataclass
class BottomUpItem:
    inputs: np.ndarray  # (1, h, w) float32 normalised depth
    target: Any  # PafTarget
    keypoints: np.ndarray  # (N, K, 2) in input pixels
    visible: np.ndarray  # (N, K), 0 where outside the input
    matrix: np.ndarray  # (2, 3) image -> input affine
    image_id: int


@dataclass
class BottomUpBatch:
    """Collated bottom-up items; people are padded to the batch's largest N with visible = 0.

    inputs (B, 1, h, w); target: batched PafTarget; keypoints (B, N, K, 2) input pixels; visible (B, N, K);
    matrix (B, 2, 3) image -> input affine; image_id (B,).
    """

    inputs: torch.Tensor
    target: Any
    keypoints: torch.Tensor
    visible: torch.Tensor
    matrix: torch.Tensor
    image_id: torch.Tensor

    def to(self, device, non_blocking: bool = False) -> "BottomUpBatch":
        def move(v):
            if hasattr(v, "to"):
                return v.to(device, non_blocking=non_blocking)
            return type(v)(**{f.name: move(getattr(v, f.name)) for f in fields(v)})

        return BottomUpBatch(**{f.name: move(getattr(self, f.name)) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


def collate_bottomup(items: Sequence[BottomUpItem]) -> BottomUpBatch:
    n = max([len(it.keypoints) for it in items] + [1])
    k = items[0].keypoints.shape[1] if items[0].keypoints.ndim == 3 else items[0].visible.shape[-1]
    kpts = np.zeros((len(items), n, k, 2), np.float32)
    vis = np.zeros((len(items), n, k), np.float32)
    for i, it in enumerate(items):
        kpts[i, : len(it.keypoints)] = it.keypoints
        vis[i, : len(it.visible)] = it.visible
    return BottomUpBatch(
        inputs=torch.from_numpy(np.stack([it.inputs for it in items])),
        target=stack_dataclasses([it.target for it in items]),
        keypoints=torch.from_numpy(kpts), visible=torch.from_numpy(vis),
        matrix=torch.from_numpy(np.stack([it.matrix for it in items]).astype(np.float32)),
        image_id=torch.tensor([it.image_id for it in items]))


def sample_affine(image_size: tuple[int, int], input_size: tuple[int, int], rng: np.random.Generator | None,
                  rotate_prob: float = 0.8, max_rotation: float = 20.0, crop_prob: float = 0.9) -> np.ndarray:
    """(2, 3) image -> input affine. Without ``rng`` (evaluation): letterbox the whole image (height fits).

    Training: scale to the input height, rotate about the image centre with p = ``rotate_prob`` by U(-r, r) deg,
    then with p = ``crop_prob`` take a random ``input_size`` window of the result, else letterbox all of it.
    """
    iw, ih = image_size
    w, h = input_size
    scale = h / ih
    angle = 0.0
    crop = False
    if rng is not None:
        if rng.random() < rotate_prob:
            angle = float(rng.uniform(-max_rotation, max_rotation))
        crop = bool(rng.random() < crop_prob)
    if not crop:  # fit the whole (rotated) image into the input, centred
        scale = min(w / iw, h / ih)
    rot = cv2.getRotationMatrix2D(((iw - 1) / 2, (ih - 1) / 2), angle, scale).astype(np.float64)
    # centre of the scaled image goes to the input centre, plus a random shift when cropping
    rot[:, 2] += np.array([(w - 1) / 2 - (iw - 1) / 2, (h - 1) / 2 - (ih - 1) / 2])
    if crop:
        sw, sh = iw * scale, ih * scale
        rot[0, 2] += rng.uniform(-max(0.0, (sw - w) / 2), max(0.0, (sw - w) / 2))
        rot[1, 2] += rng.uniform(-max(0.0, (sh - h) / 2), max(0.0, (sh - h) / 2))
    return rot.astype(np.float32)


class BottomUpDepthDataset(torch.utils.data.Dataset):
    """Depth scenes -> :class:`BottomUpItem` (normalised depth, PAF targets, people in input pixels).

    Args:
        scenes: indexable of :class:`DepthScene` (a list, or a dataset producing them on the fly).
        codec: the model's :class:`~kdpose.codecs.paf.PafCodec` (input size, stride, sigma).
        train: apply the paper's random rotation / crop; else a deterministic letterbox.
        seed: item ``i`` uses ``np.random.default_rng((seed, i, epoch))``: worker-independent, reproducible.
        input_size: override of ``codec.input_size`` (e.g. 488x368 for evaluating whole 4:3 images).
    """

    def __init__(self, scenes: Sequence[DepthScene], codec: Any, train: bool = True, seed: int = 0,
                 rotate_prob: float = 0.8, max_rotation: float = 20.0, crop_prob: float = 0.9,
                 input_size: tuple[int, int] | None = None):
        self.scenes = scenes
        self.codec = codec
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self.rotate_prob, self.max_rotation, self.crop_prob = rotate_prob, max_rotation, crop_prob
        self.input_size = tuple(input_size or codec.input_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> BottomUpItem:
        scene = self.scenes[index]
        if not isinstance(scene, DepthScene):
            scene = scene_from_synth(scene, image_id=index)
        ih, iw = scene.depth.shape
        rng = np.random.default_rng((self.seed, index, self.epoch)) if self.train else None
        matrix = sample_affine((iw, ih), self.input_size, rng, self.rotate_prob, self.max_rotation, self.crop_prob)
        depth = warp_nearest(scene.depth, matrix, self.input_size, border_value=0)
        kpts = transform_points(scene.keypoints.reshape(-1, 2), matrix).reshape(scene.keypoints.shape)
        w, h = self.input_size
        inside = (kpts[..., 0] >= 0) & (kpts[..., 0] <= w - 1) & (kpts[..., 1] >= 0) & (kpts[..., 1] <= h - 1)
        vis = np.where(inside, scene.visible, 0.0).astype(np.float32)
        codec = self.codec
        if self.input_size != tuple(codec.input_size):
            from copy import copy

            codec = copy(codec)
            codec.input_size = self.input_size
        target = codec.encode(kpts, vis)
        return BottomUpItem(inputs=normalize_depth(depth), target=target, keypoints=kpts.astype(np.float32),
                            visible=vis, matrix=matrix, image_id=int(scene.image_id))


class DepthBatches:
    """Random training batches of augmented crops: step ``t`` draws ``batch_size`` scenes with its own rng and
    augments item ``i`` with ``(seed, i, t)``, so two runs with the same seed see exactly the same batches."""

    def __init__(self, scenes: Sequence[DepthScene], codec: Any, batch_size: int, seed: int):
        self.dataset = BottomUpDepthDataset(scenes, codec, train=True, seed=seed)
        self.batch_size, self.seed = int(batch_size), int(seed)

    def batch(self, step: int):
        rng = np.random.default_rng((self.seed, int(step), 7))
        self.dataset.set_epoch(step)
        idx = rng.integers(0, len(self.dataset), min(self.batch_size, len(self.dataset)))
        return collate_bottomup([self.dataset[int(i)] for i in idx])
