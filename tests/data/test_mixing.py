"""Mixing training sources at set ratios (DWPose: COCO-WholeBody + UBody)."""
from __future__ import annotations

import numpy as np
import pytest

from kdpose.data.mixing import CONCATENATE, draw_indices, mix_samples, mixed_counts
from kdpose.data.sample import Sample
from kdpose.errors import ConfigError


def _samples(tag: str, n: int) -> list[Sample]:
    return [Sample(image_path=f"{tag}/{i}.jpg", image_id=i, bbox=np.zeros(4, np.float32),
                   keypoints=np.zeros((3, 2), np.float32), visible=np.ones(3, np.float32)) for i in range(n)]


def test_counts_follow_the_set_share():
    # primary 60 kept whole; extra share 0.4 -> mixed size 100, extra 40 (subsampled from 100 or repeated from 25)
    assert mixed_counts(60, [0.4], [100]) == [40]
    assert mixed_counts(60, [0.4], [25]) == [40]
    # concatenation (MMPose CombinedDataset) counts towards the fixed part: (60 + 20) / (1 - 0.2) = 100 -> 20
    assert mixed_counts(60, [CONCATENATE, 0.2], [20, 7]) == [20, 20]
    with pytest.raises(ConfigError, match="sum"):
        mixed_counts(10, [0.6, 0.5], [5, 5])
    with pytest.raises(ConfigError, match="ratios"):
        mixed_counts(10, [1.5], [5])


def test_draw_repeats_whole_passes_then_subsets():
    idx = draw_indices(4, 10, np.random.default_rng(0))
    counts = np.bincount(idx, minlength=4)
    assert len(idx) == 10 and counts.min() >= 2 and counts.max() <= 3  # floor/ceil of 10 / 4
    assert len(set(draw_indices(10, 6, np.random.default_rng(0)).tolist())) == 6  # no repeats when enough


def test_mix_samples_is_deterministic_and_keeps_the_primary():
    coco, ubody = _samples("coco", 30), _samples("ubody", 50)
    mixed = mix_samples(coco, [(ubody, 0.25)], seed=3)
    assert len(mixed) == 40 and mixed[:30] == coco
    assert sum(s.image_path.startswith("ubody") for s in mixed) == 10
    assert [s.image_path for s in mixed] == [s.image_path for s in mix_samples(coco, [(ubody, 0.25)], seed=3)]
    assert [s.image_path for s in mixed] != [s.image_path for s in mix_samples(coco, [(ubody, 0.25)], seed=4)]
    assert len(mix_samples(coco, [(ubody, CONCATENATE)])) == 80
