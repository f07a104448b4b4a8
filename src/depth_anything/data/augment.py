"""Training-time transforms and the one `Dataset` that feeds every registered reader to the trainer.

Randomness comes from a generator seeded by (seed, epoch, sample index), never from global state, so
a sample looks the same whichever worker, process or resumed run loads it: this is what lets a run
resumed after a crash end with exactly the weights of an uninterrupted one.

Bad samples (missing or unreadable files, broken layouts) do not stop training: the dataset returns
an error record naming the file, and `collate_samples` drops it and passes the message on so the
trainer can report and count it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError, DepthAnythingError
from ..io import to_unit_float
from ..transforms import normalize
from .datasets import DepthSample, SampleReader, item_name

Target = Literal["disparity", "depth"]


@dataclass(frozen=True)
class TrainTransform:
    """Resize (shorter side → `size`), crop `size`×`size`, flip, colour jitter; depth follows the image.

    `target="disparity"` (relative stages) turns metric depth into 1/depth and keeps disparity labels
    as they are; `target="depth"` (metric stage) needs metric depth and limits it to
    (`min_depth`, `max_depth`]. `train=False` gives the deterministic validation view (centre crop,
    no flip, no jitter).
    """

    size: int = 518
    flip: bool = True
    color_jitter: float = 0.2
    hue_jitter: float = 0.02
    target: Target = "disparity"
    min_depth: float = 1e-3
    max_depth: float | None = None
    train: bool = True

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Transform one sample into float32 image [3, S, S], target [S, S] and bool valid [S, S]."""
        image = to_unit_float(sample.image, np.float32)
        if sample.depth is None:
            raise DatasetError(f"{sample.name}: training needs a depth label, but the sample has none")
        target, valid = self._target(sample)
        image, target, valid = self._resize(image, target, valid)
        image, target, valid = self._crop(image, target, valid, rng)
        if self.train and self.flip and rng.random() < 0.5:
            image, target, valid = image[:, ::-1], target[:, ::-1], valid[:, ::-1]
        if self.train and (self.color_jitter > 0 or self.hue_jitter > 0):
            image = color_jitter(image, rng, self.color_jitter, self.hue_jitter)
        network_input = normalize(image).astype(np.float32).transpose(2, 0, 1)
        target = np.where(valid, target, 0.0).astype(np.float32)
        return {
            "image": np.ascontiguousarray(network_input),
            "target": np.ascontiguousarray(target),
            "valid": np.ascontiguousarray(valid),
        }

    def _target(self, sample: DepthSample) -> tuple[np.ndarray, np.ndarray]:
        depth = np.asarray(sample.depth, dtype=np.float32)
        if depth.shape != sample.image.shape[:2]:
            raise DatasetError(
                f"{sample.name}: depth map {depth.shape} does not match the image {sample.image.shape[:2]}"
            )
        valid = np.isfinite(depth)
        if sample.valid is not None:
            valid &= np.asarray(sample.valid, dtype=bool)
        if sample.depth_kind == "disparity":
            if self.target == "depth":
                raise DatasetError(f"{sample.name}: metric training needs metric depth, but this label is disparity")
            return np.where(valid, depth, 0.0).astype(np.float32), valid
        if sample.depth_kind != "depth":
            raise DatasetError(f"{sample.name}: unknown depth_kind {sample.depth_kind!r}")
        valid &= depth > self.min_depth
        if self.target == "depth":
            if self.max_depth is not None:
                valid &= depth <= self.max_depth
            return np.where(valid, depth, 0.0).astype(np.float32), valid
        safe = np.where(valid, depth, 1.0)
        return np.where(valid, 1.0 / safe, 0.0).astype(np.float32), valid

    def _resize(
        self, image: np.ndarray, target: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        scale = self.size / min(height, width)
        new_h, new_w = max(self.size, round(height * scale)), max(self.size, round(width * scale))
        if (new_h, new_w) == (height, width):
            return image, target, valid
        image = np.clip(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
        # Nearest neighbour for labels: interpolating across an invalid pixel or a depth edge would
        # invent depths that exist nowhere in the scene. NEAREST_EXACT samples pixel centres like the
        # image resize does; plain INTER_NEAREST is shifted by half a pixel against the image.
        target = cv2.resize(target, (new_w, new_h), interpolation=cv2.INTER_NEAREST_EXACT)
        valid = cv2.resize(valid.astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST_EXACT) > 0
        return image, target, valid

    def _crop(
        self, image: np.ndarray, target: np.ndarray, valid: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        if self.train:
            top = int(rng.integers(0, height - self.size + 1))
            left = int(rng.integers(0, width - self.size + 1))
        else:
            top, left = (height - self.size) // 2, (width - self.size) // 2
        window = (slice(top, top + self.size), slice(left, left + self.size))
        return image[window], target[window], valid[window]


def color_jitter(image: np.ndarray, rng: np.random.Generator, strength: float, hue: float) -> np.ndarray:
    """Random brightness, contrast, saturation (factors in 1 ± strength) and hue shift (± hue turns)."""
    out = image.astype(np.float32)
    if strength > 0:
        low, high = max(0.0, 1.0 - strength), 1.0 + strength
        out = out * rng.uniform(low, high)
        gray = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        out = (out - gray.mean()) * rng.uniform(low, high) + gray.mean()
        gray = out @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        out = (out - gray[..., None]) * rng.uniform(low, high) + gray[..., None]
        out = np.clip(out, 0.0, 1.0)
    if hue > 0:
        hsv = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees for float input
        hsv[..., 0] = (hsv[..., 0] + 360.0 * rng.uniform(-hue, hue)) % 360.0
        out = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)
    return out


@dataclass(frozen=True)
class SourceInfo:
    """A reader and what its labels are (pseudo-labels get trimmed losses and feature alignment)."""

    reader: SampleReader | Sequence[DepthSample]
    pseudo: bool = False
    name: str = ""


def _describe(reader: Any, index: int) -> str:
    """Name sample `index` of a reader that failed to load (readers without `items`: its index)."""
    items = getattr(reader, "items", None)
    if items is not None and 0 <= index < len(items):
        return item_name(items[index])
    return f"sample {index}"


class DepthTrainDataset(Dataset):
    """Concatenates readers and applies a `TrainTransform`; indexes are ints or (epoch, index) pairs.

    A failing sample yields ``{"error": "<path>: <reason>"}`` instead of raising, so one bad file
    costs one sample rather than the run.
    """

    def __init__(self, sources: Sequence[SourceInfo], transform: TrainTransform, seed: int = 0) -> None:
        if not sources:
            raise DatasetError("no datasets given")
        self.sources = list(sources)
        self.transform = transform
        self.seed = seed
        self.offsets = np.cumsum([0] + [len(s.reader) for s in self.sources]).tolist()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def stream_blocks(self) -> tuple[list[int], int] | None:
        """(sample counts of the shards the indexes run through, largest shuffle buffer) when a source
        reads label shards (a reader with `shard_counts`); every other source's samples count as shards
        of one sample. None when no source has shards."""
        if not any(getattr(s.reader, "shard_counts", None) is not None for s in self.sources):
            return None
        blocks: list[int] = []
        for source in self.sources:
            counts = getattr(source.reader, "shard_counts", None)
            blocks += list(counts) if counts is not None else [1] * len(source.reader)
        buffer = max(int(getattr(s.reader, "shuffle_buffer", 1)) for s in self.sources)
        return blocks, buffer

    def locate(self, index: int) -> tuple[SourceInfo, int]:
        """(source, index within that source) of a global index."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        which = bisect.bisect_right(self.offsets, index) - 1
        return self.sources[which], index - self.offsets[which]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        source, local = self.locate(int(index))
        try:
            sample = source.reader[local]
            rng = np.random.default_rng([self.seed, int(epoch), int(index)])
            arrays = self.transform(sample, rng)
        except (DepthAnythingError, OSError, ValueError, KeyError, cv2.error) as exc:
            where = _describe(source.reader, local)
            message = str(exc)
            text = message if where in message else f"{where}: {message}"
            return {"error": f"{source.name + ': ' if source.name else ''}{text}", "index": int(index)}
        return {
            "image": torch.from_numpy(arrays["image"]),
            "target": torch.from_numpy(arrays["target"]),
            "valid": torch.from_numpy(arrays["valid"]),
            "pseudo": source.pseudo,
            "name": sample.name,
            "index": int(index),
        }


def collate_samples(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack good samples; bad ones are dropped and their messages returned under "errors"."""
    good = [item for item in items if "error" not in item]
    batch: dict[str, Any] = {
        "errors": [item["error"] for item in items if "error" in item],
        "names": [item["name"] for item in good],
        "size": len(good),
    }
    if good:
        batch["image"] = torch.stack([item["image"] for item in good])
        batch["target"] = torch.stack([item["target"] for item in good])
        batch["valid"] = torch.stack([item["valid"] for item in good])
        batch["pseudo"] = torch.tensor([item["pseudo"] for item in good], dtype=torch.bool)
    return batch
