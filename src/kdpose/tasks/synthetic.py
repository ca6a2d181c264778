"""Synthetic splits of a recipe, shared by every task kind: the generator settings of a split, where a rendered
COCO-format split is cached (top-down), and in-memory depth scenes (bottom-up, domain adaptation).

A split renders synthetic data when its ``synthetic_images`` > 0: ``synthetic_preset`` (``hard``, the default, or
``standard``) over the generator defaults, size and people count from the split's own keys, any other ``SynthConfig``
setting (the difficulty knobs, sensor noise ...) from ``synthetic_settings``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..engine import dist
from ..engine.config import DataCfg, SplitCfg
from ..errors import ConfigError, DataError

# SynthConfig settings that a split sets through its own keys (or that the task kind decides)
_OWN_SYNTH_KEYS = {"width": "synthetic_size", "height": "synthetic_size", "layout": "model.layout",
                   "max_people": "synthetic_max_people", "modality": "the task (top-down: RGB; bottom-up: depth)"}


def synthetic_config(split: SplitCfg, layout: str, where: str, modality: str = "rgb"):
    """The generator settings of a synthetic split (see the module doc); ``layout`` (``coco`` / ``wholebody``) and
    ``modality`` (``rgb`` / ``depth``) come from the caller. ``where`` names the split in errors (``data.train``)."""
    import dataclasses

    from ..data.synth import SynthConfig

    valid = [f.name for f in dataclasses.fields(SynthConfig) if f.name not in _OWN_SYNTH_KEYS]
    settings = {}
    for key, value in split.synthetic_settings.items():
        if key in _OWN_SYNTH_KEYS:
            raise ConfigError(f"{where}.synthetic_settings.{key}: set by {_OWN_SYNTH_KEYS[key]}, not here")
        if key not in valid:
            raise ConfigError(f"{where}.synthetic_settings: unknown setting '{key}' (valid: {', '.join(valid)})")
        settings[key] = tuple(value) if isinstance(value, list) else value   # YAML lists -> the config's tuples
    if modality != "rgb":
        settings["modality"] = modality
    w, h = split.synthetic_size
    try:
        return SynthConfig.from_preset(split.synthetic_preset, width=w, height=h, layout=layout,
                                       max_people=split.synthetic_max_people, **settings)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.synthetic_settings: {exc}") from None


def split_layout(data: DataCfg) -> str:
    """The generator's name of the recipe's layout (``data.layout`` is filled from ``model.layout``)."""
    from ..layouts import get_layout

    return get_layout(data.layout or "coco").synthetic_name("model.layout")


def synthetic_split_paths(data: DataCfg, split: SplitCfg, name: str):
    """(annotation file, image folder, generator settings) where a synthetic split is cached; renders nothing.
    The folder name hashes everything that changes the images, so a recipe finds exactly its own split."""
    from ..data.synth import GENERATOR_VERSION, annotation_path

    synth = synthetic_config(split, split_layout(data), f"data.{name}")
    key = json.dumps([GENERATOR_VERSION, name, split.synthetic_images, split.synthetic_seed, repr(synth)])
    out = Path(data.cache_dir) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    return annotation_path(out, synth, name), out, synth


def _synthetic_split(data: DataCfg, split: SplitCfg, name: str) -> tuple[str, str]:
    """Render (once, on rank 0) and cache a synthetic split; returns (annotation file, image folder)."""
    from ..data.synth import write_coco_dataset

    ann, out, synth = synthetic_split_paths(data, split, name)
    if dist.is_main() and not ann.is_file():
        # the folder is this split's own (its name hashes the settings) and its JSON is written last, so files
        # without it are an interrupted render: replaced. Two runs rendering it at once both move in the same
        # bytes, and the second keeps the first's identical JSON, so a run already reading it misses no file.
        write_coco_dataset(out, synth, split.synthetic_images, seed=split.synthetic_seed, split=name,
                           workers=max(1, data.workers), progress=True, overwrite=True)
    dist.barrier()
    return str(ann), str(out)


def resolve_split(data: DataCfg, split: SplitCfg, name: str) -> tuple[str, str]:
    """(annotation file, image folder) of a split, rendering synthetic data when the recipe asks for it."""
    if split.synthetic_images > 0:
        return _synthetic_split(data, split, name)
    if not split.ann_file:
        raise ConfigError(f"data.{name}.ann_file: set a COCO-format annotation file or data.{name}.synthetic_images")
    if not Path(split.ann_file).is_file():
        raise DataError(f"{split.ann_file}: annotation file not found (data.{name}.ann_file)")
    return split.ann_file, split.img_dir


def depth_scenes(data: DataCfg, split: SplitCfg, name: str, scene_split: str | None = None) -> list:
    """The in-memory depth scenes (``DepthScene``) of a synthetic split, rendered with the depth modality;
    ``scene_split`` is the generator's seed stream (default: the split's name)."""
    from ..data.bottomup import render_depth_scenes

    if split.synthetic_images <= 0:
        raise ConfigError(f"data.{name}.synthetic_images: depth data is rendered by the synthetic generator; "
                          "set it > 0")
    synth = synthetic_config(split, split_layout(data), f"data.{name}", modality="depth")
    return render_depth_scenes(synth, split.synthetic_images, split.synthetic_seed, scene_split or name)


__all__ = ["depth_scenes", "resolve_split", "split_layout", "synthetic_config", "synthetic_split_paths"]
