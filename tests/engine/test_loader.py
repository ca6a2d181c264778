"""The resumable sampler and the epoch/stage forwarding that the augmentation switch relies on."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine_toy import ToyDataset, collate, make_task, toy_recipe  # noqa: E402

from kdpose.engine.loader import ResumableSampler  # noqa: E402
from kdpose.engine.trainer import Trainer  # noqa: E402


def test_sampler_shards_pads_and_skips():
    shards = [list(ResumableSampler(10, seed=1, rank=r, world_size=3)) for r in range(3)]
    assert all(len(s) == 4 for s in shards) and set(sum(shards, [])) == set(range(10))
    s = ResumableSampler(10, seed=1)
    s.set_epoch(2)
    full = list(s)
    s.set_epoch(2, skip=3)
    assert list(s) == full[3:] and len(s) == 7
    s.set_epoch(3)
    assert list(s) != full  # a new permutation each epoch
    val = [list(ResumableSampler(5, shuffle=False, rank=r, world_size=2, pad=False)) for r in range(2)]
    assert val == [[0, 2, 4], [1, 3]]


class _Recording(ToyDataset):
    def __init__(self):
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def __getitem__(self, index):
        self.seen.append((self.epoch, self.stage))
        return super().__getitem__(index)


def test_trainer_sets_epoch_and_switches_to_stage_2(tmp_path):
    cfg = toy_recipe(max_epochs=4, stage2_epochs=2)
    data = _Recording()
    Trainer(cfg, make_task(), data, collate, tmp_path).fit()
    per_epoch = sorted(set(data.seen))
    assert per_epoch == [(0, 1), (1, 1), (2, 2), (3, 2)]
    assert len(data.seen) == 4 * 24
