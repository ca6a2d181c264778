"""Fresh synthetic scenes every training epoch (``data.train.synthetic_fresh``): top-down person samples rendered in
the loader workers instead of read from a split rendered once.

Item ``i`` of epoch ``e`` is person ``i % block`` of block ``i // block``. A block renders the scenes seeded
``(seed, split, FRESH_STREAM, e, block, s)`` for s = 0, 1, ... until they hold ``block`` labelled people, and keeps
``block`` of them in a seeded random order (the people of the last scene beyond that are dropped: about one per
block of 32 on the ``standard`` preset). An item depends on (settings, seed, epoch, index) only, so a resumed run,
any number of workers and any access order see the same people, and no two epochs share a scene. The training
sampler keeps the indices of a block together (``sampler_block``), and with one block per batch a worker renders
each scene once and serves all its people; the price is that the people of one scene share a batch (a cached split's
shuffle spreads them).

The people of a scene are those kdpose's COCO reader keeps (``mode="train"``) from the file the writer writes for
it, value for value: coordinates rounded to the file's 0.01 px, the same box clipping, the JPEG artefacts of the
written image (:func:`train_samples`).
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from ..geometry import clip_bbox_xywh_to_xyxy
from ..sample import Sample
from .coco_format import _flat_keypoints, _xywh
from .config import SPLITS, SynthConfig
from .dataset import _with_jpeg
from .rgb import list_backgrounds
from .scene import SynthScene, render_scene

FRESH_STREAM = 0x46524553  # "FRES": keeps fresh scenes apart from a written split's (seed, split, index) scenes
MAX_EMPTY_SCENES = 64  # consecutive scenes without a labelled person before a block gives up (bad settings)


def train_samples(scene: SynthScene, image_id: int, first_ann_id: int = 1) -> list[Sample]:
    """The people of ``scene`` that top-down training uses, as the COCO reader loads them (``mode="train"``) from the
    written annotation file: people with ``num_keypoints > 0`` (body keypoints) and a box of positive size;
    keypoints and box rounded to 0.01 px as in the file, unlabelled keypoints (0, 0), ``visible = min(1, v)``, the
    box clipped to [0, W-1] x [0, H-1]; whole-body part flags and boxes (xywh) in ``meta``."""
    h, w = scene.instance_map.shape
    out = []
    for rank, inst in enumerate(scene.instances):
        if inst.num_keypoints == 0:
            continue
        kpts = np.asarray(_flat_keypoints(inst.keypoints, inst.flags), np.float32).reshape(-1, 3)
        x, y, bw, bh = _xywh(inst.bbox)
        if bw <= 0 or bh <= 0 or kpts.max() <= 0:
            continue
        meta = {"iscrowd": False, "num_keypoints": inst.num_keypoints, "image_size": (w, h)}
        if len(kpts) > 17:  # whole-body: the annotation's part fields
            meta.update({f"{part}_valid": bool(inst.part_valid.get(part, False))
                         for part in ("foot", "face", "lefthand", "righthand")})
            meta.update({f"{part}_box": _xywh(inst.part_boxes.get(part, np.zeros(4)))
                         for part in ("face", "lefthand", "righthand")})
        out.append(Sample(
            image_path="", image_id=int(image_id),
            bbox=clip_bbox_xywh_to_xyxy(np.array([x, y, bw, bh], np.float32), w, h).astype(np.float32),
            keypoints=np.ascontiguousarray(kpts[:, :2]), visible=np.minimum(1.0, kpts[:, 2]),
            ann_id=int(first_ann_id + rank), area=float(inst.area), flags=kpts[:, 2].copy(), image=scene.image,
            meta=meta))
    return out


class FreshPeople:
    """Person samples from scenes rendered anew every epoch; the ``samples`` of a
    :class:`~kdpose.data.topdown.TopDownDataset`, which passes its ``set_epoch`` on.

    Args:
        cfg: generator settings.
        length: person crops per epoch; rounded down to whole blocks.
        seed: base seed (the recipe's ``synthetic_seed``).
        block: people rendered together and served as consecutive indices (the training batch size).
        split: the generator's seed stream (``train``).
    """

    def __init__(self, cfg: SynthConfig, length: int, seed: int = 0, block: int = 32, split: str = "train"):
        if split not in SPLITS:
            raise ConfigError(f"synth: unknown split '{split}' (valid: {', '.join(SPLITS)})")
        if block < 1 or length < block:
            raise ConfigError(f"synth: fresh scenes need at least one block of people per epoch, got {length} "
                              f"people and blocks of {block}")
        self.cfg = cfg.validated()
        self.length = length // block * block
        self.seed = int(seed)
        self.block = int(block)
        self.split = split
        self.epoch = 0
        self._backgrounds = list_backgrounds(self.cfg.background_dir)
        self._cache: tuple[tuple[int, int], list[Sample]] | None = None  # this process's last block

    @property
    def sampler_block(self) -> int:
        """Runs of consecutive indices the training sampler must keep together (one block)."""
        return self.block

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def scene_seed(self, epoch: int, block: int, scene: int) -> tuple[int, ...]:
        """The seed of scene ``scene`` of block ``block`` in epoch ``epoch``."""
        return (self.seed, SPLITS[self.split], FRESH_STREAM, int(epoch), int(block), int(scene))

    def render(self, seed: tuple[int, ...]) -> SynthScene:
        """One scene as the writer would store it (JPEG artefacts included)."""
        return _with_jpeg(self.cfg, render_scene(self.cfg, seed, backgrounds=self._backgrounds), seed)

    def block_samples(self, epoch: int, block: int) -> list[Sample]:
        """The ``self.block`` people of block ``block`` in epoch ``epoch`` (``meta``: epoch, block, scene)."""
        people: list[Sample] = []
        scene = empty = 0
        while len(people) < self.block:
            found = train_samples(self.render(self.scene_seed(epoch, block, scene)), image_id=scene + 1,
                                  first_ann_id=scene * self.cfg.max_people + 1)
            for sample in found:
                sample.meta.update(epoch=int(epoch), block=int(block), scene=scene)
            people += found
            empty = 0 if found else empty + 1
            if empty >= MAX_EMPTY_SCENES:
                raise DataError(f"synth: {MAX_EMPTY_SCENES} scenes in a row without a labelled person; check the "
                                "generator settings (min_label_area, min_visible_keypoints, distance_range)")
            scene += 1
        order = np.random.default_rng(self.scene_seed(epoch, block, scene) + (11,)).permutation(len(people))
        return [people[i] for i in order[: self.block]]

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.length:
            raise IndexError(f"fresh sample index {index} out of range [0, {self.length})")
        key = (self.epoch, index // self.block)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.block_samples(*key))
        return self._cache[1][index % self.block]


__all__ = ["FRESH_STREAM", "FreshPeople", "train_samples"]
