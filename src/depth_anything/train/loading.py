"""The training data of a config: its datasets opened through the reader registry, wrapped in the
training transform, and batched by DataLoaders that never touch the global RNG."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.augment import DepthTrainDataset, SourceInfo, TrainTransform, collate_samples
from ..data.datasets import open_dataset
from ..errors import ConfigError, DepthAnythingError
from .config import DataSource, TrainConfig

log = logging.getLogger(__name__)


def open_source(source: DataSource, key: str) -> SourceInfo:
    """Open one configured dataset, with `key` (e.g. ``data.train[0]``) in any error."""
    options = dict(source.options)
    if source.min_quality is not None:
        options["min_quality"] = source.min_quality
    try:
        reader = open_dataset(source.layout, source.root, source.split, **options)
    except DepthAnythingError as exc:
        raise ConfigError(f"key '{key}': {exc}") from None
    except TypeError as exc:  # unknown option for that reader
        if source.min_quality is not None and "min_quality" in str(exc):
            raise ConfigError(f"key '{key}.min_quality': layout {source.layout!r} at {source.root} has no quality "
                              "scores (only label shards of `depth-anything label` do)") from None
        raise ConfigError(f"key '{key}.options': {exc}") from None
    if source.max_samples is not None:
        reader = _Limited(reader, source.max_samples)
    if len(reader) == 0:
        raise ConfigError(f"key '{key}': dataset {source.layout!r} at {source.root} has no samples")
    return SourceInfo(reader, source.is_pseudo, f"{source.layout}:{source.root}")


class _Limited:
    """The first `limit` samples of a reader (keeps `items` so bad samples can still be named)."""

    def __init__(self, reader: Any, limit: int) -> None:
        self.reader, self.limit = reader, limit
        self.items = getattr(reader, "items", None)
        counts = getattr(reader, "shard_counts", None)
        if counts is not None:  # the shards that the first `limit` samples fill
            ends = np.minimum(np.cumsum(counts), limit)
            kept = np.diff(np.concatenate([[0], ends]))
            self.shard_counts = [int(c) for c in kept if c > 0]
            self.shuffle_buffer = getattr(reader, "shuffle_buffer", 1)

    def __len__(self) -> int:
        return min(self.limit, len(self.reader))

    def __getitem__(self, index: int) -> Any:
        if index >= len(self):
            raise IndexError(index)
        return self.reader[index]


def build_dataset(config: TrainConfig, sources: list[DataSource], key: str, train: bool) -> DepthTrainDataset:
    """The configured `sources` (under config key `key`) as one dataset: augmented for training
    (`train=True`) or the deterministic validation view; targets are depth for the metric stage,
    disparity otherwise."""
    data = config.data
    transform = TrainTransform(
        size=data.size,
        flip=data.flip,
        color_jitter=data.color_jitter,
        hue_jitter=data.hue_jitter,
        target="depth" if config.stage == "metric" else "disparity",
        min_depth=data.min_depth,
        max_depth=config.model.max_depth,
        train=train,
    )
    opened = [open_source(source, f"{key}[{i}]") for i, source in enumerate(sources)]
    return DepthTrainDataset(opened, transform, seed=config.run.seed)


def make_loader(
    dataset: Dataset, sampler: Any, batch_size: int, workers: int, device: torch.device,
    collate: Callable[[Sequence[dict[str, Any]]], dict[str, Any]] = collate_samples,
) -> DataLoader:
    """Batches of the samples in `sampler` order, loaded by `workers` processes (`collate`: samples or clips)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        # A private generator: creating loader iterators must not advance the global torch RNG,
        # or a resumed run (which creates its iterator mid-epoch) would drift from the original.
        generator=torch.Generator(),
    )


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch with its tensors (or tuples of tensors: clip groups) on `device` (names and errors stay)."""
    out = dict(batch)
    for key in ("image", "target", "valid", "pseudo"):
        value = batch[key]
        out[key] = (tuple(v.to(device, non_blocking=True) for v in value) if isinstance(value, tuple)
                    else value.to(device, non_blocking=True))
    return out


def report_skipped(batch: dict[str, Any], rank: int, what: str) -> int:
    """Log the samples of `batch` that could not be loaded (`what`: "unreadable sample", "validation
    sample"); how many there were."""
    for message in batch["errors"]:
        log.warning("rank %d: skipped %s %s", rank, what, message)
    return len(batch["errors"])
