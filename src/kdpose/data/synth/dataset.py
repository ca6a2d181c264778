"""On-the-fly synthetic data as torch datasets: top-down person instances and whole scenes.

Item ``i`` depends only on (settings, seed, split, i), never on the worker or on the order of access, so
``DataLoader`` workers need no special seeding and a run is reproducible. Scene ``i`` of a split is the very scene
``write_coco_dataset`` writes as image ``i`` with the same seed (the RGB image additionally goes through the same
JPEG compression when ``image_format`` is ``"jpg"``)."""
from __future__ import annotations

import cv2
import numpy as np
import torch.utils.data

from ..geometry import clip_bbox_xywh_to_xyxy
from ..sample import Sample
from .config import SynthConfig
from .rgb import list_backgrounds
from .scene import SynthScene, render_scene
from .writer import jpeg_quality, scene_seed

INFINITE_LENGTH = 2**31 - 1  # "effectively infinite": use a sequential or random-with-replacement sampler


def _with_jpeg(cfg: SynthConfig, scene: SynthScene, seed: tuple[int, int, int]) -> SynthScene:
    if scene.modality == "rgb" and cfg.image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality(cfg, seed)])
        scene.image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return scene


def scene_samples(scene: SynthScene, image_id: int, first_ann_id: int = 1) -> list[Sample]:
    """The annotated people of a scene as ``Sample`` objects (image in memory), the same values kdpose's COCO
    readers produce from the written files: people without any labelled keypoint are left out (they are in the
    JSON for detection only), unlabelled keypoints are (0, 0), ``visible = min(1, v)``, the box is clipped to
    [0, W-1] x [0, H-1], whole-body part flags and boxes (xywh) in ``meta``."""
    h, w = scene.instance_map.shape
    out = []
    for rank, inst in enumerate(scene.instances):
        labelled = inst.flags > 0
        if not labelled.any():
            continue
        keypoints = np.where(labelled[:, None], inst.keypoints, 0.0).astype(np.float32)
        x0, y0, x1, y1 = inst.bbox
        bbox = clip_bbox_xywh_to_xyxy(np.array([x0, y0, x1 - x0, y1 - y0], np.float32), w, h).astype(np.float32)
        meta = {"iscrowd": False, "num_keypoints": inst.num_keypoints, "image_size": (w, h), "synthetic": True,
                "person_index": inst.person_index}
        for part, valid in inst.part_valid.items():
            meta[f"{part}_valid"] = valid
        for part, box in inst.part_boxes.items():
            meta[f"{part}_box"] = [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
        out.append(Sample(
            image_path="", image_id=int(image_id), bbox=bbox, keypoints=keypoints,
            visible=np.minimum(1.0, inst.flags.astype(np.float32)), ann_id=int(first_ann_id + rank),
            area=float(inst.area), flags=inst.flags.astype(np.float32), image=scene.image, meta=meta))
    return out


class SyntheticSceneDataset(torch.utils.data.Dataset):
    """Whole synthetic scenes (image, every instance, silhouettes) for bottom-up, depth and detector training.

    ``dataset[i]`` -> :class:`~kdpose.data.synth.scene.SynthScene`; ``dataset.samples(i)`` -> its people as
    ``Sample`` objects. ``length=None`` means effectively infinite (``INFINITE_LENGTH``)."""

    def __init__(self, cfg: SynthConfig | None = None, length: int | None = None, seed: int = 0,
                 split: str = "train") -> None:
        self.cfg = (cfg or SynthConfig()).validated()
        if length is not None and length < 0:
            from ...errors import ConfigError

            raise ConfigError(f"synth: dataset length must be >= 0, got {length}")
        self.length = INFINITE_LENGTH if length is None else int(length)
        self.seed = int(seed)
        self.split = split
        scene_seed(seed, split, 0)  # validates the split
        self._backgrounds = list_backgrounds(self.cfg.background_dir)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> SynthScene:
        if not 0 <= index < self.length:
            raise IndexError(f"synthetic scene index {index} out of range [0, {self.length})")
        seed = scene_seed(self.seed, self.split, index)
        return _with_jpeg(self.cfg, render_scene(self.cfg, seed, backgrounds=self._backgrounds), seed)

    def samples(self, index: int) -> list[Sample]:
        return scene_samples(self[index], image_id=index + 1)


class SyntheticPoseDataset(torch.utils.data.Dataset):
    """One person instance per item (top-down training), rendered on the fly; wrap it in
    ``kdpose.data.topdown.TopDownDataset``.

    Item ``i`` comes from scene ``i // reuse_scene``; within a scene, the items take the instances with at least
    ``cfg.min_keypoints`` labelled keypoints in a seeded random order (cycling when there are fewer). A scene
    without any such instance is replaced by the next scene index offset by ``length`` (deterministically).
    ``reuse_scene > 1`` renders fewer scenes per item (each worker caches its last scene), at the price of
    correlated consecutive items."""

    def __init__(self, cfg: SynthConfig | None = None, length: int | None = None, seed: int = 0,
                 split: str = "train", reuse_scene: int = 1) -> None:
        self.scenes = SyntheticSceneDataset(cfg, None, seed, split)
        self.cfg = self.scenes.cfg
        if length is not None and length < 0:
            from ...errors import ConfigError

            raise ConfigError(f"synth: dataset length must be >= 0, got {length}")
        if reuse_scene < 1:
            from ...errors import ConfigError

            raise ConfigError(f"synth: reuse_scene must be >= 1, got {reuse_scene}")
        self.length = INFINITE_LENGTH if length is None else int(length)
        self.reuse_scene = int(reuse_scene)
        self._cache: tuple[int, list[Sample]] | None = None

    def __len__(self) -> int:
        return self.length

    def _eligible(self, scene_index: int) -> list[Sample]:
        if self._cache is not None and self._cache[0] == scene_index:
            return self._cache[1]
        samples = [s for s in self.scenes.samples(scene_index)
                   if int((s.flags > 0).sum()) >= max(1, self.cfg.min_keypoints)]
        self._cache = (scene_index, samples)
        return samples

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.length:
            raise IndexError(f"synthetic sample index {index} out of range [0, {self.length})")
        scene_index = index // self.reuse_scene
        for attempt in range(64):
            candidate = scene_index + attempt * INFINITE_LENGTH // 64 if attempt else scene_index
            samples = self._eligible(candidate % INFINITE_LENGTH)
            if samples:
                order = np.random.default_rng((self.scenes.seed, candidate, 11)).permutation(len(samples))
                sample = samples[int(order[(index % self.reuse_scene) % len(samples)])].copy()
                sample.image = samples[0].image
                sample.meta["scene_index"] = int(candidate % INFINITE_LENGTH)
                return sample
        raise RuntimeError("synth: 64 consecutive scenes without a labelled person; check the settings")
