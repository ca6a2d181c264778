"""Top-down dataset: ``Sample`` -> augmented, normalised crop + codec target (``TopDownItem``), and the
collate function that builds a :class:`~kdpose.data.sample.Batch`.

Randomness: item ``i`` of epoch ``e`` uses ``np.random.default_rng([seed, e, i])``, so an item is the same
whatever worker produces it and whatever order items are requested in. The trainer calls ``set_epoch(e)``
before each epoch and ``set_stage("weak")`` for RTMPose's second stage. Both change attributes of the dataset
object: with ``DataLoader(persistent_workers=True)`` the workers keep their own copies, so use non-persistent
workers (the default), which re-copy the dataset at each new iterator.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataError
from .image import read_image
from .sample import Batch, Sample, normalize_depth, normalize_image, stack_dataclasses
from .transforms import TopDownState, build_val_pipeline

log = logging.getLogger(__name__)


@dataclass
class TopDownItem:
    """One training/eval item (numpy; :func:`collate_topdown` turns a list of them into a ``Batch``).

    Attributes:
        inputs: (C, H, W) float32 normalised crop (C = 3 RGB, or 1 for depth).
        target: the codec's target dataclass for this instance.
        keypoints: (K, 2) float32 keypoints in crop pixels.
        visible: (K,) float32 visibility.
        center: (2,) crop centre in image pixels; scale: (2,) crop size (w, h) in image pixels (aspect-fixed).
            After a random flip they refer to the mirrored image (x -> W-1-x); evaluation pipelines never flip,
            so there ``invert_crop_points(keypoints, center, scale, input_size)`` maps back to the image.
        image_id, ann_id: ids of the source; bbox_score: detector score (1 for GT boxes).
    """

    inputs: np.ndarray
    target: Any
    keypoints: np.ndarray
    visible: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    image_id: int
    ann_id: int
    bbox_score: float


class TopDownDataset:
    """Map-style dataset of top-down crops (usable directly with ``torch.utils.data.DataLoader``).

    Args:
        samples: any sequence of :class:`Sample` (a list from a reader, or an on-the-fly dataset).
        codec: object with ``input_size`` (w, h) and ``encode(keypoints (K,2), visible (K,)) -> target``;
            ``None`` -> ``target`` is ``None`` (inference / evaluation only).
        pipeline: ``pipeline(state, rng) -> state`` (a ``Compose`` or ``StagedPipeline``); default: the
            deterministic evaluation pipeline for ``codec.input_size``.
        seed: base seed of the per-item generators.
        skip_bad_images: when an image cannot be read, log it once and return the next good item instead of
            raising ``DataError`` (for long runs on large datasets).
        image_mode: ``read_image`` mode for samples read from disk (``"auto"``: 16-bit gray PNG = depth).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        codec: Any,
        pipeline: Callable[[TopDownState, np.random.Generator], TopDownState] | None = None,
        seed: int = 0,
        skip_bad_images: bool = False,
        image_mode: str = "auto",
        input_size: tuple[int, int] | None = None,
    ):
        self.samples = samples
        self.codec = codec
        self.input_size = tuple(input_size or codec.input_size)
        self.pipeline = pipeline if pipeline is not None else build_val_pipeline(self.input_size)
        self.seed = int(seed)
        self.epoch = 0
        self.skip_bad_images = skip_bad_images
        self.image_mode = image_mode
        self.bad_images: set[str] = set()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def sampler_block(self) -> int:
        """Runs of consecutive indices the training sampler keeps together: the samples' own (fresh synthetic
        scenes render one block of people at a time), else 1 (any order)."""
        return int(getattr(self.samples, "sampler_block", 1))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the augmentation streams, and of the samples when they change per epoch (fresh
        synthetic scenes: ``kdpose.data.synth.FreshPeople``)."""
        self.epoch = int(epoch)
        if hasattr(self.samples, "set_epoch"):
            self.samples.set_epoch(self.epoch)

    def set_stage(self, stage: str | int) -> None:
        """Switch the pipeline stage (``"strong"``/``"weak"``); a pipeline without stages raises ValueError."""
        if not hasattr(self.pipeline, "set_stage"):
            raise ValueError("this dataset's pipeline has no stages (use build_train_pipeline)")
        self.pipeline.set_stage(stage)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def load_image(self, sample: Sample) -> np.ndarray:
        if sample.image is not None:
            return sample.image
        return read_image(sample.image_path, mode=self.image_mode)

    def __getitem__(self, index: int) -> TopDownItem:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index %= n
        for attempt in range(n):
            i = (index + attempt) % n
            sample = self.samples[i]
            try:
                image = self.load_image(sample)
            except DataError as exc:
                if not self.skip_bad_images:
                    raise
                if sample.image_path not in self.bad_images:
                    self.bad_images.add(sample.image_path)
                    log.warning("skipping unreadable image: %s", exc)
                continue
            return self.make_item(sample, image, self.rng(index))
        raise DataError(f"no readable image among the {n} samples of this dataset")

    def make_item(self, sample: Sample, image: np.ndarray, rng: np.random.Generator) -> TopDownItem:
        """Run the pipeline on one sample with a given generator."""
        state = TopDownState(
            image=image,
            bbox=np.asarray(sample.bbox, np.float32).copy(),
            keypoints=np.asarray(sample.keypoints, np.float32).copy(),
            visible=np.asarray(sample.visible, np.float32).copy(),
        )
        state = self.pipeline(state, rng)
        crop = state.image
        inputs = normalize_depth(crop) if crop.ndim == 2 else normalize_image(crop)
        target = self.codec.encode(state.keypoints, state.visible) if self.codec is not None else None
        return TopDownItem(
            inputs=inputs,
            target=target,
            keypoints=state.keypoints.astype(np.float32),
            visible=state.visible.astype(np.float32),
            center=np.asarray(state.center, np.float32),
            scale=np.asarray(state.scale, np.float32),
            image_id=int(sample.image_id),
            ann_id=int(sample.ann_id),
            bbox_score=float(sample.bbox_score),
        )


def collate_topdown(items: list[TopDownItem]) -> Batch:
    """Stack items into a :class:`Batch` of torch tensors (the target via ``stack_dataclasses``)."""
    import torch

    def stack(name: str, dtype=None) -> "torch.Tensor":
        arr = np.stack([np.asarray(getattr(it, name)) for it in items])
        return torch.from_numpy(arr if dtype is None else arr.astype(dtype))

    target = None if items[0].target is None else stack_dataclasses([it.target for it in items])
    return Batch(
        inputs=stack("inputs"),
        target=target,
        keypoints=stack("keypoints"),
        visible=stack("visible"),
        center=stack("center"),
        scale=stack("scale"),
        image_id=stack("image_id", np.int64),
        bbox_score=stack("bbox_score", np.float32),
    )
