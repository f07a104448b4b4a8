"""Learning-rate schedule and the resumable, rank-sharded sampler.

Both are pure functions of (seed, epoch, step), so a run restarted from a checkpoint sees exactly
the learning rates and samples an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def stream_order(blocks: Sequence[int], buffer: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which a shard stream visits its samples in `epoch`: the shards (`blocks`: sample
    counts, in index order) in a seeded random order, read one after another through a shuffle buffer of
    `buffer` samples, as a WebDataset pipeline does. Computed from the counts alone, so it is a pure
    function of (blocks, buffer, seed, epoch) that every rank can compute without reading any data; each
    output position draws from at most `buffer` samples ahead of the stream, so the samples a step needs
    lie in a window of about `buffer` samples of consecutive shards.
    """
    rng = np.random.default_rng([seed, epoch])
    starts = np.concatenate([[0], np.cumsum(blocks)])
    shards = rng.permutation(len(blocks))
    stream = np.concatenate([np.arange(starts[b], starts[b + 1]) for b in shards] or [np.zeros(0, np.int64)])
    if buffer <= 1 or len(stream) <= 1:
        return stream.astype(np.int64)
    size = min(buffer, len(stream))
    pool = stream[:size].copy()
    picks = rng.integers(0, size, len(stream) - size)
    out = np.empty(len(stream), dtype=np.int64)
    for i, (incoming, pick) in enumerate(zip(stream[size:], picks, strict=True)):
        out[i] = pool[pick]
        pool[pick] = incoming
    out[len(stream) - size :] = rng.permutation(pool)
    return out


class EpochShardSampler(Sampler[tuple[int, int]]):
    """Yields (epoch, index) for this rank, starting at a given batch of a given epoch.

    Each epoch is a seeded permutation cut into global batches of `batch_size × world_size`; rank r
    takes the r-th slice of every global batch. The global batch of a step is thus the same for any
    number of processes, and resuming needs only (epoch, batch). Incomplete last batches are dropped
    so every step has the full batch. With `blocks` (the sample counts of the shards the indexes run
    through, in order) the permutation is `stream_order` with a shuffle buffer of `buffer` samples
    instead, so reads stay within a few shards at a time.
    """

    def __init__(
        self, size: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True,
        blocks: Sequence[int] | None = None, buffer: int = 1,
    ) -> None:
        self.size, self.batch_size = size, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle = seed, shuffle
        if blocks is not None and sum(blocks) != size:
            raise ValueError(f"the shard counts add up to {sum(blocks)}, not to the {size} samples")
        self.blocks, self.buffer = (list(blocks) if blocks is not None else None), buffer
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
        if self.blocks is not None:
            return stream_order(self.blocks, self.buffer, self.seed, epoch)
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order(self.epoch)
        for batch in range(self.start_batch, self.batches_per_epoch):
            start = batch * self.global_batch + self.rank * self.batch_size
            for index in order[start : start + self.batch_size]:
                yield self.epoch, int(index)

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
