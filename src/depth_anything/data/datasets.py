"""Readers for depth datasets: one `DepthSample` type and one registry for every layout.

Training (`depth_anything.train`) and evaluation (`depth_anything.eval`) both read data through
`open_dataset(name, root, split)`, so a layout is parsed in exactly one place. A reader is a sequence
of samples: `len(reader)` and `reader[i]` (which loads from disk lazily, so memory stays flat).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError


@dataclass
class DepthSample:
    """One image with optional ground truth.

    `depth` is float32 metres (z-depth) unless `depth_kind` says "disparity"; invalid pixels are
    marked by `valid == False` (their depth value is meaningless). `depth`/`valid` are None for
    unlabeled images.
    """

    name: str
    image: np.ndarray
    depth: np.ndarray | None = None
    valid: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    depth_kind: str = "depth"
    meta: dict[str, Any] = field(default_factory=dict)


class SampleReader:
    """Base class: subclasses fill `self.items` in `__init__` and implement `load(item)`."""

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise DatasetError(f"{type(self).__name__}: dataset folder {self.root} does not exist")
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> DepthSample:
        return self.load(self.items[index])

    def load(self, item: Any) -> DepthSample:
        raise NotImplementedError


def item_name(item: Any) -> str:
    """Name a reader's listed item (`reader.items[i]`) in messages and reports, without loading it.

    Items with a `name` (`SamplePaths`, `SyntheticItem`) give it, which is also the loaded sample's
    `DepthSample.name`; tuples of paths (the pseudo-label reader's image and label) are joined with
    " / "; anything else is shown with `str`.
    """
    name = getattr(item, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(item, (tuple, list)) and item:
        return " / ".join(str(part) for part in item)
    return str(item)


DATASET_READERS: dict[str, Callable[..., SampleReader]] = {}

# Modules whose import registers their readers with `register_reader`.
_READER_MODULES: tuple[str, ...] = (
    "depth_anything.data.layouts", "depth_anything.data.synthetic.dataset", "depth_anything.data.pseudo",
)


def register_reader(name: str) -> Callable[[type[SampleReader]], type[SampleReader]]:
    """Class decorator: make a reader available to `open_dataset` under `name`."""

    def decorate(cls: type[SampleReader]) -> type[SampleReader]:
        DATASET_READERS[name] = cls
        return cls

    return decorate


def open_dataset(name: str, root: str | Path, split: str | None = None, **options: Any) -> SampleReader:
    """Open the dataset layout `name` at `root` (e.g. "kitti", "nyu", "synthetic", "folder")."""
    for module in _READER_MODULES:  # registration happens on import; done here so the import stays light
        importlib.import_module(module)
    if name not in DATASET_READERS:
        raise DatasetError(f"unknown dataset layout {name!r}; known: {', '.join(sorted(DATASET_READERS))}")
    return DATASET_READERS[name](root, split=split, **options)


# ------------------------------------------------------------------------------------ sequences
@dataclass
class DepthSequence:
    """Consecutive frames of one video with ground truth, for video-depth evaluation.

    `images` is T×H×W×3 uint8, `depth` T×H×W float32 metres (z-depth), `valid` T×H×W bool.
    `intrinsics` (T×3×3, pixels) and `camera_to_world` (T×4×4, OpenCV camera axes) are None where the
    dataset has no poses; temporal alignment error needs both.
    """

    name: str
    images: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    intrinsics: np.ndarray | None = None
    camera_to_world: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


class SequenceReader(SampleReader):
    """Base class of sequence layouts: a `SampleReader` whose items are whole sequences; subclasses fill
    `self.items` (one per sequence) and implement `load`."""

    def __getitem__(self, index: int) -> DepthSequence:  # type: ignore[override]
        return self.load(self.items[index])

    def load(self, item: Any) -> DepthSequence:  # type: ignore[override]
        raise NotImplementedError


SEQUENCE_READERS: dict[str, Callable[..., SequenceReader]] = {}

# Modules whose import registers sequence readers with `register_sequence_reader`.
_SEQUENCE_MODULES: tuple[str, ...] = ("depth_anything.data.sequences", "depth_anything.data.synthetic.sequence")


def register_sequence_reader(name: str) -> Callable[[type[SequenceReader]], type[SequenceReader]]:
    """Class decorator: make a sequence reader available to `open_sequences` under `name`."""

    def decorate(cls: type[SequenceReader]) -> type[SequenceReader]:
        SEQUENCE_READERS[name] = cls
        return cls

    return decorate


def sequence_layouts() -> tuple[str, ...]:
    """Names of every registered sequence layout (the image layouts are `open_dataset`'s)."""
    for module in _SEQUENCE_MODULES:
        importlib.import_module(module)
    return tuple(SEQUENCE_READERS)


def open_sequences(name: str, root: str | Path, split: str | None = None, **options: Any) -> SequenceReader:
    """Open the sequence layout `name` at `root` (e.g. "synthetic-sequences", "vda-sintel")."""
    for module in _SEQUENCE_MODULES:
        importlib.import_module(module)
    if name not in SEQUENCE_READERS:
        raise DatasetError(f"unknown sequence layout {name!r}; known: {', '.join(sorted(SEQUENCE_READERS))}")
    return SEQUENCE_READERS[name](root, split=split, **options)
