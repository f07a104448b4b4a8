"""Learning-rate schedule and the resumable, rank-sharded sampler.

Both are pure functions of (seed, epoch, step), so a run restarted from a checkpoint sees exactly
the learning rates and samples an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

from ..errors import ConfigError


@dataclass
class WarmupPoly:
    """LR factor: linear warm-up over `warmup` steps, then (1 − progress)^power down to 0 at `total`.

    A callable object rather than a closure so `LambdaLR.state_dict()` can store it.
    """

    total: int
    warmup: int = 0
    power: float = 0.9

    def __call__(self, step: int) -> float:
        if self.warmup > 0 and step < self.warmup:
            return (step + 1) / self.warmup
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return (1.0 - progress) ** self.power


class EpochShardSampler(Sampler[tuple[int, int]]):
    """Yields (epoch, index) for this rank, starting at a given batch of a given epoch.

    Each epoch is a seeded permutation cut into global batches of `batch_size × world_size`; rank r
    takes the r-th slice of every global batch. The global batch of a step is thus the same for any
    number of processes, and resuming needs only (epoch, batch). Incomplete last batches are dropped
    so every step has the full batch.
    """

    def __init__(
        self, size: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True
    ) -> None:
        self.size, self.batch_size = size, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle = seed, shuffle
        self.global_batch = batch_size * world_size
        if size < self.global_batch:
            raise ConfigError(
                f"key 'optim.batch_size': the training data has {size} samples, fewer than the global batch of "
                f"{self.global_batch}"
            )
        self.batches_per_epoch = size // self.global_batch
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch: int, batch: int) -> None:
        """Start the next iteration at global batch `batch` of `epoch`."""
        self.epoch, self.start_batch = epoch, batch

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of `epoch` (same on every rank)."""
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order(self.epoch)
        for batch in range(self.start_batch, self.batches_per_epoch):
            start = batch * self.global_batch + self.rank * self.batch_size
            for index in order[start : start + self.batch_size]:
                yield self.epoch, int(index)

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
