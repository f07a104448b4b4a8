"""The pseudo-label format that `depth-anything label` writes, and its reader ("pseudo" layout).

Layout of a label folder::

    OUT/labels/<image path relative to IMAGES>.npy|.png   (a.jpg → labels/a.jpg.npy: a.jpg and a.png never collide)
    OUT/manifest.json   format, encoding, images root, the teacher's identity, one {image, label} entry per label

Labels are relative disparity divided by its per-image maximum (so 1 = nearest pixel): float16
``.npy`` (encoding "npy16") or 16-bit PNG × 65535 ("png16"). Affine-invariant losses make the scaling
irrelevant for training. Every label is written atomically, so a crash never leaves half a file.

Label shards (`depth-anything label` with shards in; see `data.shards`) are read by the same layout
in shard mode: ``OUT/index.jsonl`` lists the shards, their sample counts and every sample's quality
score, so the reader knows every sample's place without opening a shard; `min_quality` drops the
samples scoring below it. Samples are read from the shards by offset (one header scan per shard, a few
shards kept open per process). The order in which training visits them, shard by shard through a
shuffle buffer, is made by the sampler from `shard_counts` and `shuffle_buffer` (`train.schedule`).
"""

from __future__ import annotations

import io as _io
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import DatasetError
from ..io import (
    atomic_write_bytes,
    atomic_write_text,
    decode_image_bytes,
    depth_png16_values,
    list_images,
    load_depth_png16,
    load_image,
)
from .datasets import DATASET_READERS, DepthSample, SampleReader
from .layouts import read_npy_depth
from .shards import IMAGE_EXTENSIONS, INDEX, TEACHER_FILE, MemberTable, read_index, teacher_digest

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "depth-anything-pseudo/1"
ENCODINGS = {"npy16": ".npy", "png16": ".png"}


def label_path(out: Path, relative: Path, encoding: str) -> Path:
    """Where the label of image `relative` (to the images root) goes."""
    return out / "labels" / relative.with_name(relative.name + ENCODINGS[encoding])


def encode_label(disparity: np.ndarray, encoding: str) -> bytes:
    """The file bytes of a label: disparity scaled so its maximum is 1 (see module docstring)."""
    disparity = np.nan_to_num(np.asarray(disparity, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    disparity = np.clip(disparity, 0.0, None)
    peak = float(disparity.max()) if disparity.size else 0.0
    unit = disparity / peak if peak > 0 else disparity
    if encoding == "npy16":
        buffer = _io.BytesIO()
        np.save(buffer, unit.astype(np.float16), allow_pickle=False)
        return buffer.getvalue()
    if encoding == "png16":
        ok, encoded = cv2.imencode(".png", depth_png16_values(unit, 65535))
        if not ok:
            raise ValueError(f"OpenCV could not encode a {unit.shape} label as a 16-bit PNG")
        return encoded.tobytes()
    raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


def write_label(path: Path, disparity: np.ndarray, encoding: str) -> Path:
    """Store a label (`encode_label`) at `path`, atomically."""
    return atomic_write_bytes(path, encode_label(disparity, encoding))


def read_label(path: Path) -> np.ndarray:
    """float32 disparity (max-normalised) from a label written by `write_label`."""
    if path.suffix == ".npy":
        return read_npy_depth(path)
    return load_depth_png16(path, scale=65535.0)


def decode_label(data: bytes, extension: str, name: str) -> np.ndarray:
    """float32 disparity from a label's bytes (`extension` "npy" or "png"), e.g. a label shard member."""
    if extension == "npy":
        try:
            array = np.load(_io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{name}: cannot read .npy label ({exc})") from None
        if array.ndim != 2:
            raise DatasetError(f"{name}: expected an H×W label, found shape {array.shape}")
        return array.astype(np.float32)
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise DatasetError(f"{name}: expected a single-channel 16-bit PNG label")
    return (raw.astype(np.float32) / np.float32(65535.0)).astype(np.float32)


def write_manifest(out: Path, images: Path, encoding: str, teacher: dict[str, Any]) -> Path:
    """List every image that has a label (from any rank or earlier run) in `out/manifest.json`."""
    samples = []
    for image in list_images(images):
        relative = image.relative_to(images)
        label = label_path(out, relative, encoding)
        if label.is_file():
            samples.append({"image": relative.as_posix(), "label": label.relative_to(out).as_posix()})
    manifest = {
        "format": MANIFEST_FORMAT,
        "encoding": encoding,
        "depth_kind": "disparity",
        "scaling": "per-image maximum = 1",
        "images_root": str(images.resolve()),
        "teacher": teacher,
        "count": len(samples),
        "samples": samples,
    }
    return atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))


class PseudoLabelReader(SampleReader):
    """Images with the teacher's disparity from a `depth-anything label` output folder.

    `images_root` overrides the images folder recorded in the manifest (e.g. after moving the data).
    """

    def __init__(self, root: str | Path, split: str | None = None, images_root: str | None = None) -> None:
        super().__init__(root, split)
        path = self.root / MANIFEST
        try:
            manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"pseudo: {path} not found; run `depth-anything label` to create it") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"pseudo: {path} is not a readable manifest ({exc})") from None
        if manifest.get("format") != MANIFEST_FORMAT:
            raise DatasetError(
                f"pseudo: {path} has format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"
            )
        self.images_root = Path(images_root or manifest["images_root"])
        self.items = [(self.images_root / s["image"], self.root / s["label"]) for s in manifest["samples"]]

    def load(self, item: tuple[Path, Path]) -> DepthSample:
        image_path, label = item
        image = load_image(image_path)
        if not label.is_file():
            raise DatasetError(f"pseudo: label {label} for {image_path} is missing")
        disparity = read_label(label)
        if disparity.shape != image.shape[:2]:
            raise DatasetError(
                f"pseudo: label {label} is {disparity.shape}, image {image_path} is {image.shape[:2]}"
            )
        name = image_path.relative_to(self.images_root).as_posix()  # with its suffix: a.jpg ≠ a.png
        return DepthSample(name, image, disparity, np.isfinite(disparity), depth_kind="disparity")


@dataclass(frozen=True)
class ShardItem:
    """Sample `position` (in file order) of label shard `shard`; `name` is how messages name it."""

    shard: Path
    position: int

    @property
    def name(self) -> str:
        return f"{self.shard.name}#{self.position}"


class _ShardItems(Sequence[ShardItem]):
    """The kept samples of every label shard, as a sequence that builds each item when asked (no list
    of millions of objects)."""

    def __init__(self, shards: list[Path], kept: list[np.ndarray]) -> None:
        self.shards, self.kept = shards, kept
        self.offsets = np.cumsum([0] + [len(k) for k in kept])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        which = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return ShardItem(self.shards[which], int(self.kept[which][index - self.offsets[which]]))


class _OpenShards:
    """The member tables and file descriptors of the last few shards read by this process (reads use
    `os.pread`, so DataLoader workers never share a file position)."""

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.pid = os.getpid()
        self.open: OrderedDict[Path, tuple[int, MemberTable]] = OrderedDict()

    def get(self, shard: Path) -> tuple[int, MemberTable]:
        if self.pid != os.getpid():  # a forked worker: its parent's descriptors are not its own to close
            self.open, self.pid = OrderedDict(), os.getpid()
        if shard in self.open:
            self.open.move_to_end(shard)
            return self.open[shard]
        try:
            with open(shard, "rb") as handle:
                table = MemberTable.scan(handle, str(shard))
            descriptor = os.open(shard, os.O_RDONLY)
        except FileNotFoundError:
            raise DatasetError(f"pseudo: label shard {shard} is missing") from None
        self.open[shard] = (descriptor, table)
        while len(self.open) > self.capacity:
            old_descriptor, _ = self.open.popitem(last=False)[1]
            os.close(old_descriptor)
        return self.open[shard]

    def __getstate__(self) -> dict[str, Any]:  # a copy sent to another process starts empty
        return {"capacity": self.capacity}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["capacity"])


class ShardedPseudoReader(PseudoLabelReader):
    """The "pseudo" layout in shard mode: images and labels from the label shards `index.jsonl` lists.

    `min_quality` keeps only samples whose flip-consistency score is at least that (scores are stored
    in the index as float16); `shuffle_buffer` is the number of samples the training order mixes at a
    time (see `train.schedule.stream_order`).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        min_quality: float | None = None,
        shuffle_buffer: int = 1000,
    ) -> None:
        SampleReader.__init__(self, root, split)
        if shuffle_buffer < 1:
            raise DatasetError(f"pseudo: shuffle_buffer must be at least 1, got {shuffle_buffer}")
        try:
            recorded = json.loads((self.root / TEACHER_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"pseudo: {self.root / TEACHER_FILE} is not readable ({exc})") from None
        if not isinstance(recorded, dict) or "teacher" not in recorded:
            raise DatasetError(f"pseudo: {self.root / TEACHER_FILE} holds no teacher record (a JSON object with "
                               f"'teacher'); got {type(recorded).__name__}")
        digest = teacher_digest(recorded.get("teacher"))
        entries = sorted(read_index(self.root).values(), key=lambda e: e.shard)
        shards: list[Path] = []
        kept: list[np.ndarray] = []
        for entry in entries:
            if entry.teacher != digest:
                raise DatasetError(
                    f"pseudo: {self.root / INDEX}: shard {entry.shard} was labelled by another "
                    f"teacher ({entry.teacher}, {TEACHER_FILE} names {digest})"
                )
            positions = np.arange(entry.count)
            if min_quality is not None:
                if not np.isfinite(entry.quality).all():
                    raise DatasetError(
                        f"pseudo: min_quality={min_quality} but shard {entry.shard} has no quality "
                        "scores (labelled without them); relabel with scores or drop min_quality"
                    )
                positions = positions[entry.quality >= min_quality]
            shards.append(self.root / entry.shard)
            kept.append(positions)
        self.shuffle_buffer = shuffle_buffer
        self.shard_counts = [len(k) for k in kept]
        self.min_quality = min_quality
        self.items = _ShardItems(shards, kept)  # type: ignore[assignment]
        self._open = _OpenShards()

    def load(self, item: ShardItem) -> DepthSample:  # type: ignore[override]
        descriptor, table = self._open.get(item.shard)
        if item.position >= len(table.keys):
            raise DatasetError(f"pseudo: {item.shard} holds {len(table.keys)} samples, the index says more")
        key = table.keys[item.position]
        members = table.members[key]
        where = f"{item.shard.name} {key}"

        def read(extension: str) -> bytes:
            offset, size = members[extension]
            return os.pread(descriptor, size, offset)

        image_ext = next((e for e in IMAGE_EXTENSIONS if e in members), None)
        label_ext = next((e for e in ("depth.npy", "depth.png") if e in members), None)
        if image_ext is None or label_ext is None:
            raise DatasetError(
                f"pseudo: {where}: expected an image and a depth label, found {sorted(members)}"
            )
        image = decode_image_bytes(read(image_ext), where)
        disparity = decode_label(read(label_ext), label_ext.split(".")[-1], where)
        if disparity.shape != image.shape[:2]:
            raise DatasetError(f"pseudo: {where}: label is {disparity.shape}, image is {image.shape[:2]}")
        return DepthSample(key, image, disparity, np.isfinite(disparity), depth_kind="disparity")


def open_pseudo(root: str | Path, split: str | None = None, **options: Any) -> SampleReader:
    """The "pseudo" layout: shard mode where `root` holds label shards (index.jsonl, no manifest.json),
    folder mode otherwise."""
    if not (Path(root) / MANIFEST).is_file() and (Path(root) / INDEX).is_file():
        return ShardedPseudoReader(root, split, **options)
    return PseudoLabelReader(root, split, **options)


DATASET_READERS["pseudo"] = open_pseudo
