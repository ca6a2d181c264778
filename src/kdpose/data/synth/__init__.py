"""Synthetic multi-person pose data: articulated 3D people rendered with a z-buffer as RGB or depth images, with
COCO-17 or COCO-WholeBody-133 annotations.

Scenes
    ``render_scene(cfg, seed) -> SynthScene``: image (BGR uint8, or uint16 depth in mm), the annotated people
    (``SynthInstance``: keypoints (K, 2), flags (K,) 2/1/0, 3D keypoints, bbox xyxy, area, whole-body part
    validity and boxes), the silhouettes (``instance_map`` (H, W) int16, ``masks()`` (N, H, W) bool) and the clean
    people/occluder z-buffer. ``SynthConfig`` holds every setting and the difficulty knobs (``occlusion``,
    ``crowding``, ``distance_range`` (person scale), ``truncation``, ``pose_extremity``, ``clutter``).

Files
    ``write_coco_dataset(out, cfg, num_images, seed, split, workers)`` writes COCO / COCO-WholeBody JSON, images
    (JPEG/PNG, or 16-bit PNG depth) and silhouette PNGs (CLI: ``kdpose synth``).

Torch datasets (imported lazily, they need torch)
    ``SyntheticPoseDataset(cfg, length=None, seed=0, split="train")``: one person ``Sample`` per item, image in
    memory, deterministic per index (worker-safe), fixed length or effectively infinite; wrap it in
    ``kdpose.data.topdown.TopDownDataset``. ``SyntheticSceneDataset``: whole scenes for bottom-up / depth /
    detector training; ``scene_samples(scene, image_id)`` turns a scene into ``Sample`` objects.
    ``FreshPeople(cfg, length, seed, block)``: new scenes every epoch (``set_epoch``), person samples in blocks of
    one batch (``data.train.synthetic_fresh``); ``train_samples(scene, image_id)``: a scene's people exactly as the
    COCO reader loads them for training from the written files.

Depth augmentations (the depth pose-machines paper; numpy, reusable on any depth data)
    ``fuse_background(person_depth_mm, person_mask, background_mm, margin_mm=150.0) -> uint16``: paste people
    rendered alone onto a background depth image; if the background is less than ``margin_mm`` behind the people
    on their silhouette, the whole background is pushed back by a constant first; background holes stay 0.
    ``fuse_depth(person, mask, background, margin)`` is the same on float32 depth in any unit (e.g. metres).
    ``silhouette_dropout(depth, mask, rng, rate=0.2, band_px=None)``: set ``rate`` of the silhouette pixels to 0
    (the paper's 20 % pixel noise); ``band_px`` restricts it to a border band.
    ``simulate_sensor(depth_m, rng, noise=0.5) -> uint16``: Kinect-2-like noise, edge holes, flying pixels, range.
    ``synthetic_background(rng, width, height)``: a sensor-like empty-room frame to fuse people onto on the fly.
    The clean people layer of a scene is ``SynthScene.zbuffer`` (metres, ``inf`` = empty) and its silhouettes
    ``SynthScene.instance_map >= 0``, so ``fuse_background(np.where(np.isfinite(z), z * 1000, 0),
    np.isfinite(z), background)`` re-fuses a scene onto any background.

Example::

    from kdpose.data.synth import SynthConfig, render_scene
    scene = render_scene(SynthConfig(layout="wholebody", max_people=3), seed=(0, 0, 42))
    for person in scene.instances:
        print(person.bbox, (person.flags == 2).sum(), "visible keypoints")
"""
from __future__ import annotations

from .config import GENERATOR_VERSION, PRESETS, SynthConfig, parse_size
from .depth import fuse_background, fuse_depth, silhouette_dropout, simulate_sensor, synthetic_background
from .scene import SynthInstance, SynthScene, render_scene
from .writer import annotation_path, scene_seed, write_coco_dataset

_LAZY = {"SyntheticPoseDataset": "dataset", "SyntheticSceneDataset": "dataset", "scene_samples": "dataset",
         "INFINITE_LENGTH": "dataset", "FreshPeople": "fresh", "train_samples": "fresh"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kdpose.data.synth' has no attribute '{name}'")


__all__ = [
    "GENERATOR_VERSION", "PRESETS", "SynthConfig", "parse_size", "render_scene", "SynthScene", "SynthInstance",
    "write_coco_dataset", "annotation_path", "scene_seed", "fuse_background", "fuse_depth", "silhouette_dropout",
    "simulate_sensor", "synthetic_background", *sorted(_LAZY),
]
