"""Mixing training sources at set ratios (DWPose trains on COCO-WholeBody + UBody).

MMPose's ``CombinedDataset`` (the released DWPose / RTMPose ``ucoco`` configs) simply concatenates the sources, so
each one's share is its size. :func:`mix_samples` also offers a set share per extra source: the primary source is
kept whole, once, and each extra source is subsampled (or repeated) so that it makes ``ratio`` of the mixed list.
The draw is made once per run with an explicit seed (deterministic, recorded by the recipe), not per epoch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
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


__all__ = ["CONCATENATE", "draw_indices", "mix_samples", "mixed_counts"]
