"""Data loading for training and validation: a resumable (distributed) sampler and seeded DataLoaders.

Determinism contract with datasets: the sampler's order is a pure function of ``(seed, epoch)``, and datasets
that augment should draw their randomness from ``(seed, epoch, index)`` (``set_epoch`` tells them the epoch),
not from a worker's history. Then the batches of a run do not depend on the number of workers, on worker
restarts, or on where a run was resumed.
"""
from __future__ import annotations

import math
import random
import signal
from typing import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..utils.cv import opencv_single_threaded


class ResumableSampler(Sampler[int]):
    """Shuffled, rank-sharded index order that can start part-way through an epoch.

    The permutation of epoch ``e`` is ``torch.randperm(n)`` under a generator seeded with ``seed + e`` (as
    ``DistributedSampler``); it is padded by repetition to a multiple of ``world_size`` and rank ``r`` takes every
    ``world_size``-th index from ``r``. ``set_epoch(e, skip=k)`` skips the first ``k`` indices of this rank's share
    (the samples already trained on before an interruption).

    Args:
        size: number of items in the dataset.
        shuffle: shuffle each epoch (training) or keep the order (validation).
        seed: base seed of the permutation.
        rank, world_size: this process's share of the data.
        pad: pad to equal shares (training); without padding (validation) shares differ by at most one item.
        tag_epoch: yield ``(index, epoch, stage)`` keys for :class:`EpochAwareDataset` instead of plain indices.
        block: keep runs of ``block`` consecutive indices together (``size`` a multiple of it): the permutation,
            the padding and the rank shares are over blocks (datasets that render a block of items at once, e.g.
            fresh synthetic scenes); 1 = single indices, as above.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pad: bool = True, tag_epoch: bool = False, block: int = 1):
        if block < 1 or size % block:
            raise ValueError(f"sampler: {size} items are not whole blocks of {block}")
        self.block = block
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.tag_epoch = tag_epoch
        self.epoch = 0
        self.stage = 1
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0, stage: int = 1) -> None:
        self.epoch = epoch
        self.skip = skip
        self.stage = stage

    def _indices(self) -> list[int]:
        if self.block > 1:
            return self._block_indices()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.pad and self.world_size > 1:
            total = math.ceil(self.size / self.world_size) * self.world_size
            order += order[: total - len(order)]
        return order[self.rank :: self.world_size]

    def _block_indices(self) -> list[int]:
        blocks = self.size // self.block
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(blocks, generator=g).tolist()
        else:
            order = list(range(blocks))
        if self.pad and self.world_size > 1:
            order += order[: math.ceil(blocks / self.world_size) * self.world_size - len(order)]
        return [b * self.block + k for b in order[self.rank :: self.world_size] for k in range(self.block)]

    def __iter__(self) -> Iterator:
        indices = self._indices()[self.skip :]
        if self.tag_epoch:
            return iter([(i, self.epoch, self.stage) for i in indices])
        return iter(indices)

    def __len__(self) -> int:
        if self.block > 1:
            return max(0, len(self._block_indices()) - self.skip)
        if self.pad and self.world_size > 1:
            share = math.ceil(self.size / self.world_size)
        else:
            share = len(range(self.rank, self.size, self.world_size))
        return max(0, share - self.skip)


class EpochAwareDataset(Dataset):
    """Forwards the epoch and augmentation stage to a dataset inside every worker process.

    With persistent workers each worker holds its own copy of the dataset, so calling ``set_epoch`` /
    ``set_stage`` in the main process would not reach it. The sampler tags each index with the epoch and stage
    (``ResumableSampler(tag_epoch=True)``) and this wrapper applies them where the item is made.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._epoch: int | None = None
        self._stage: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, epoch, stage = key
        if epoch != self._epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        if stage != (self._stage or 1) and hasattr(self.dataset, "set_stage"):  # datasets start in stage 1
            self.dataset.set_stage(stage)
        self._epoch, self._stage = epoch, stage
        return self.dataset[index]


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's and NumPy's global generators in each worker from torch's per-worker seed
    (which the DataLoader derives from its own generator, so the loader generator's state fixes every worker's
    seed). OpenCV is already single-threaded here: :func:`build_loader` makes it so before workers are forked."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    # Ctrl-C reaches the whole process group: the main process handles it (kdpose.engine.stop), the workers go on
    # until it shuts them down. SIGTERM keeps torch's worker handler: it is how the parent's terminate() (also at
    # interpreter exit) ends a worker, so ignoring it would hang that exit; a SIGTERM to every process of a job is
    # handled in the trainer instead (Trainer._loader_batches).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def build_loader(dataset: Dataset, sampler: Sampler, batch_size: int, collate_fn: Callable, workers: int,
                 generator: torch.Generator, pin_memory: bool = False, persistent_workers: bool = False,
                 drop_last: bool = True, prefetch_factor: int = 2) -> DataLoader:
    """A DataLoader with deterministic per-worker seeding (``generator`` + :func:`seed_worker`)."""
    kwargs = {}
    if workers > 0:
        # Workers are the data parallelism, and OpenCV's thread pool does not survive fork (a worker touching it
        # can hang forever): keep OpenCV single-threaded in the process that forks them.
        opencv_single_threaded()
        kwargs = {"persistent_workers": persistent_workers, "prefetch_factor": prefetch_factor}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=seed_worker if workers > 0 else None,
        generator=generator,
        **kwargs,
    )
