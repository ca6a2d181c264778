"""Mixing training sources at set ratios (DWPose trains on COCO-WholeBody + UBody).

MMPose's ``CombinedDataset`` (the released DWPose / RTMPose ``ucoco`` configs) simply concatenates the sources, so
each one's share is its size. :func:`mix_samples` also offers a set share per extra source: the primary source is
kept whole, once, and each extra source is subsampled (or repeated) so that it makes ``ratio`` of the mixed list.
The draw is made once with an explicit seed (deterministic), not per epoch.

Two entry points: :func:`mix_samples` mixes ``Sample`` lists in Python; :func:`write_mixed_annotations` writes one
COCO-WholeBody file holding COCO-WholeBody plus UBody (or any sources) at the set shares, so that a recipe trains
on the mixture through its ordinary ``data.train.ann_file`` (``img_dir`` = the common root of the sources' images).
UBody's ``frame_step`` (every 10th video frame, MMPose ``sample_interval``) is applied before the draw.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..utils.io import atomic_write
from .coco import load_coco_file
from .sample import Sample

CONCATENATE = -1.0  # ratio meaning "append the whole source" (CombinedDataset)


def draw_indices(available: int, wanted: int, rng: np.random.Generator) -> np.ndarray:
    """``wanted`` indices into ``range(available)``: whole shuffled passes while more than one pass is needed,
    then a random subset without replacement (so every item appears floor or ceil of wanted / available times)."""
    if available <= 0:
        raise ConfigError("cannot draw samples from an empty source")
    full, rest = divmod(int(wanted), available)
    parts = [rng.permutation(available) for _ in range(full)]
    parts.append(rng.choice(available, size=rest, replace=False))
    return np.concatenate(parts).astype(np.int64)


def mixed_counts(primary_size: int, ratios: Sequence[float], sizes: Sequence[int]) -> list[int]:
    """How many items each extra source contributes.

    Args:
        primary_size: size of the primary source (kept whole).
        ratios: per extra source, its share of the mixed set in (0, 1), or ``CONCATENATE`` (-1) for all its items.
        sizes: per extra source, how many items it has.
    Shares are relative to the whole mixed set: with shares r_i the mixed size is
    ``(primary_size + concatenated sizes) / (1 - sum r_i)``.
    """
    if len(ratios) != len(sizes):
        raise ConfigError("mixing: one ratio per extra source is needed")
    shares = [r for r in ratios if r != CONCATENATE]
    if any(not 0.0 < r < 1.0 for r in shares):
        raise ConfigError(f"mixing: ratios must be in (0, 1) or -1 (append everything), got {list(ratios)}")
    if sum(shares) >= 1.0:
        raise ConfigError(f"mixing: extra-source ratios sum to {sum(shares):.3f}; they must leave room for the "
                          "primary source (sum < 1)")
    fixed = primary_size + sum(n for r, n in zip(ratios, sizes) if r == CONCATENATE)
    total = fixed / (1.0 - sum(shares))
    return [n if r == CONCATENATE else int(round(total * r)) for r, n in zip(ratios, sizes)]


def mix_samples(primary: Sequence[Sample], extras: Sequence[tuple[Sequence[Sample], float]],
                seed: int = 0) -> list[Sample]:
    """The primary samples followed by each extra source's drawn share (see :func:`mixed_counts`).

    Args:
        primary: e.g. COCO-WholeBody training samples.
        extras: ``(samples, ratio)`` per extra source, e.g. ``(ubody_samples, 0.3)``.
        seed: seed of the draw.
    Returns a new list (the order does not matter: the training sampler shuffles).
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    counts = mixed_counts(len(primary), [r for _, r in extras], [len(s) for s, _ in extras])
    mixed = list(primary)
    for (samples, ratio), count in zip(extras, counts):
        if ratio == CONCATENATE:
            mixed.extend(samples)
        else:
            mixed.extend(samples[i] for i in draw_indices(len(samples), count, rng))
    return mixed


@dataclass(frozen=True)
class AnnotationSource:
    """One COCO-format annotation file to mix.

    Attributes:
        ann_file: the annotation file.
        image_prefix: folder of its images relative to the common image root (prepended to ``file_name``).
        ratio: share of the mixed set's images (see :func:`mixed_counts`); ignored for the primary source.
        frame_step: keep only image ids divisible by it (UBody: 10).
    """

    ann_file: str
    image_prefix: str = ""
    ratio: float = CONCATENATE
    frame_step: int = 1


def _kept_images(data: dict, frame_step: int) -> tuple[list[dict], dict]:
    by_image: dict = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images = [img for img in data["images"] if frame_step <= 1 or int(img["id"]) % frame_step == 0]
    return images, by_image


def write_mixed_annotations(primary: AnnotationSource, extras: Sequence[AnnotationSource], out_file: str | os.PathLike,
                            seed: int = 0) -> dict[str, int]:
    """Write one COCO-format file with ``primary``'s images (all, once) and each extra source's drawn share.

    Images are mixed whole (with all their annotations); image and annotation ids are renumbered from 1 (a
    repeated image gets a new id), ``file_name`` becomes ``image_prefix/file_name``, and ``categories`` come from
    the primary file. The file is written atomically. Returns the number of images taken from each source
    (keyed by annotation file).
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    loaded, categories = [], None
    for src in (primary, *extras):
        data = load_coco_file(src.ann_file)
        categories = data.get("categories", []) if categories is None else categories
        loaded.append((src, *_kept_images(data, src.frame_step)))
        del data
    for src, images, _ in loaded:
        if not images:
            raise ConfigError(f"{src.ann_file}: no images left to mix (frame_step {src.frame_step})")
    counts = [len(loaded[0][1])] + mixed_counts(len(loaded[0][1]), [s.ratio for s in extras],
                                                [len(images) for _, images, _ in loaded[1:]])
    out_images, out_anns, taken = [], [], {}
    for (src, images, by_image), count in zip(loaded, counts):
        order = (np.arange(len(images)) if src is primary or src.ratio == CONCATENATE
                 else draw_indices(len(images), count, rng))
        prefix = src.image_prefix.strip("/")
        for i in order:
            img = dict(images[int(i)])
            new_id = len(out_images) + 1
            for ann in by_image.get(img["id"], ()):
                out_anns.append({**ann, "id": len(out_anns) + 1, "image_id": new_id})
            img["file_name"] = f"{prefix}/{img['file_name']}" if prefix else img["file_name"]
            img["id"] = new_id
            out_images.append(img)
        taken[src.ann_file] = taken.get(src.ann_file, 0) + len(order)
    mixed = {"images": out_images, "annotations": out_anns, "categories": categories,
             "info": {"description": "kdpose mixed training set", "sources": taken, "seed": int(seed)}}
    with atomic_write(out_file, "w") as f:
        json.dump(mixed, f)
    return taken


__all__ = ["CONCATENATE", "AnnotationSource", "draw_indices", "mix_samples", "mixed_counts",
           "write_mixed_annotations"]
