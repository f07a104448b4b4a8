"""On-disk synthetic datasets: a resumable, deterministic writer and the "synthetic" reader.

Layout of a dataset folder (format version 1)::

    dataset.json        generation settings: seed, width, height, image format, scene config
    manifest.jsonl      one JSON object per finished sample (name, files, intrinsics, pose, tags)
    image/000042.png    RGB, 8-bit (PNG, or JPEG with image_format="jpg")
    depth/000042.npy    z-depth in metres, float16, 0 where invalid
    mask/000042.png     8-bit, 255 = valid depth, 0 = invalid (sky, beyond max_depth)

A sample's files are each written atomically, and only then is its line appended to the manifest,
so the manifest lists finished samples only. Re-running the writer skips them and renders the rest;
because a sample is a pure function of (seed, index), the finished folder is byte-identical to an
uninterrupted run with any number of workers. The manifest is rewritten sorted at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import DatasetError
from ...io import atomic_write_text, load_image, save_image, save_npy
from ..datasets import DepthSample, SampleReader, register_reader
from ..layouts import read_mask, read_npy_depth
from .generate import SynthConfig, generate_sample

FORMAT_NAME = "depth-anything-synthetic"
FORMAT_VERSION = 1
IMAGE_FORMATS = ("png", "jpg")
MANIFEST = "manifest.jsonl"
HEADER = "dataset.json"
# every 20th sample (index % 20 == 0) is held out as the "val" split
VAL_EVERY = 20


@dataclass
class WriteReport:
    """What one run of `write_dataset` did."""

    written: int
    skipped: int
    root: Path


def sample_name(index: int) -> str:
    """File stem of sample `index` (zero-padded so names sort in index order)."""
    return f"{index:06d}"


def _header(seed: int, config: SynthConfig, image_format: str) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "seed": seed,
        "width": config.width,
        "height": config.height,
        "image_format": image_format,
        "depth": {"file": "depth/NAME.npy", "dtype": "float16", "unit": "metre", "kind": "z-depth",
                  "invalid": 0},
        "mask": {"file": "mask/NAME.png", "valid": 255, "invalid": 0},
        "val_split": f"index % {VAL_EVERY} == 0",
        "config": dataclasses.asdict(config),
    }


def _prepare_folder(root: Path) -> None:
    """Create `root` and prove it is writable, with an error naming the folder if not."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("image", "depth", "mask"):
            (root / sub).mkdir(exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DatasetError(f"cannot write the dataset folder {root}: {exc.strerror or exc}") from None


def _check_header(root: Path, header: dict[str, Any]) -> None:
    """Write dataset.json, or check that an existing one asks for the same data."""
    path = root / HEADER
    if not path.exists():
        atomic_write_text(path, json.dumps(header, indent=2, sort_keys=True) + "\n")
        return
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable dataset header ({exc}); remove the folder or choose another") from None
    if existing.get("format") != FORMAT_NAME:
        raise DatasetError(f"{root} holds something else than a synthetic dataset ({path} has format "
                           f"{existing.get('format')!r}); choose an empty folder")
    for key in ("version", "seed", "width", "height", "image_format", "config"):
        if existing.get(key) != header[key]:
            raise DatasetError(f"{root} was generated with {key}={existing.get(key)!r} but this run asks for "
                               f"{key}={header[key]!r}; use the same settings to continue it, or another folder")


def _entry_complete(root: Path, entry: dict[str, Any]) -> bool:
    return all((root / entry[key]).is_file() for key in ("image", "depth", "mask"))


def read_manifest(root: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Finished samples listed in the manifest, sorted by index, one entry per index.

    A torn last line (power loss during an append) and entries whose files are gone are ignored;
    with `repair` the manifest is rewritten without them so that they get generated again.
    """
    path = root / MANIFEST
    if not path.exists():
        return []
    entries: dict[int, dict[str, Any]] = {}
    dropped = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            entry = json.loads(line)
            index = int(entry["index"])
            if not line.endswith("\n") or not _entry_complete(root, entry):
                raise ValueError("incomplete")
        except (ValueError, KeyError, TypeError):
            dropped = True
            continue
        entries[index] = entry
    ordered = [entries[i] for i in sorted(entries)]
    if repair and dropped:
        _write_manifest(root, ordered)
    return ordered


def _write_manifest(root: Path, entries: list[dict[str, Any]]) -> None:
    atomic_write_text(root / MANIFEST, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def _remove_stale_temporaries(root: Path) -> None:
    """Delete temporary files left by a killed run (`atomic_write` names them `.NAME.*.tmp.SUFFIX`)."""
    for sub in ("image", "depth", "mask", "."):
        for leftover in (root / sub).glob(".*.tmp*"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold a lock on the folder so that two writers never append to one manifest."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the user must not start two runs at once
        yield
        return
    with open(root / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DatasetError(f"another `synth` run is writing {root}; wait for it or choose another folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class _SampleJob:
    """Everything a worker needs to write one sample (picklable)."""

    root: Path
    seed: int
    config: SynthConfig
    image_format: str

    def __call__(self, index: int) -> dict[str, Any]:
        sample = generate_sample(self.seed, index, self.config)
        name = sample_name(index)
        entry = {
            "index": index,
            "name": name,
            "image": f"image/{name}.{self.image_format}",
            "depth": f"depth/{name}.npy",
            "mask": f"mask/{name}.png",
            "intrinsics": sample.intrinsics.round(6).tolist(),
            "camera_to_world": sample.camera_to_world.round(6).tolist(),
            "kind": sample.kind,
            "tags": sample.tags,
            "valid_fraction": round(float(sample.valid.mean()), 6),
        }
        save_image(self.root / entry["image"], sample.image)
        save_npy(self.root / entry["depth"], sample.depth.astype(np.float16))
        save_image(self.root / entry["mask"], sample.valid.astype(np.uint8) * 255)
        return entry


def write_dataset(
    out: str | Path,
    count: int,
    seed: int = 0,
    config: SynthConfig | None = None,
    workers: int = 1,
    image_format: str = "png",
    progress: Callable[[int, int], None] | None = None,
) -> WriteReport:
    """Generate samples 0..count-1 into `out`, skipping those already finished; see the module doc.

    `progress(done, total)` is called after each sample. An interrupted run (Ctrl-C, kill) keeps
    every sample that was listed in the manifest; run it again to finish.
    """
    config = config or SynthConfig()
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise DatasetError(f"count must be a positive integer, got {count!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise DatasetError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    if image_format not in IMAGE_FORMATS:
        raise DatasetError(f"image format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    root = Path(out)
    _prepare_folder(root)
    with _exclusive(root):
        _check_header(root, _header(int(seed), config, image_format))
        _remove_stale_temporaries(root)
        done = {e["index"]: e for e in read_manifest(root, repair=True)}
        pending = [i for i in range(count) if i not in done]
        job = _SampleJob(root, int(seed), config, image_format)
        finished = len([i for i in done if i < count])
        with open(root / MANIFEST, "a", encoding="utf-8") as manifest:
            for entry in _run(job, pending, workers):
                # one write of a whole line, flushed at once: the manifest only ever grows by
                # complete entries, and only after the sample's files are in place
                manifest.write(json.dumps(entry, sort_keys=True) + "\n")
                manifest.flush()
                done[entry["index"]] = entry
                finished += 1
                if progress is not None:
                    progress(finished, count)
        _write_manifest(root, [done[i] for i in sorted(done)])
    return WriteReport(written=len(pending), skipped=count - len(pending), root=root)


def _run(job: _SampleJob, indices: list[int], workers: int) -> Iterator[dict[str, Any]]:
    """Manifest entries of `indices` as they finish, in this process or in a pool of `workers`."""
    if workers == 1 or len(indices) <= 1:
        for index in indices:
            yield job(index)
        return
    # spawn, not fork: the caller may hold threads (torch, OpenCV) that a forked child would inherit
    # in a broken state; each worker keeps to one OpenCV thread since the workers share the cores
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(indices)), initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        yield from pool.imap_unordered(job, indices, chunksize=1)


# ------------------------------------------------------------------------------------- reader
@dataclass(frozen=True)
class SyntheticItem:
    """One manifest entry with absolute paths; `name` identifies it in error reports (`item_name`)."""

    index: int
    name: str
    image: Path
    depth: Path
    mask: Path
    intrinsics: np.ndarray
    camera_to_world: np.ndarray
    kind: str
    tags: tuple[str, ...]

    @classmethod
    def from_entry(cls, root: Path, entry: dict[str, Any]) -> SyntheticItem:
        """Parse a manifest line, naming the sample and key that is wrong."""
        try:
            return cls(int(entry["index"]), str(entry["name"]), root / entry["image"], root / entry["depth"],
                       root / entry["mask"], np.asarray(entry["intrinsics"], np.float64).reshape(3, 3),
                       np.asarray(entry.get("camera_to_world", np.eye(4)), np.float64).reshape(4, 4),
                       str(entry.get("kind", "")), tuple(entry.get("tags", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{root / MANIFEST}: bad entry for sample {entry.get('index')!r} ({exc!r})") from None


@register_reader("synthetic")
class SyntheticReader(SampleReader):
    """Reads a folder written by `write_dataset` (or `depth-anything synth`).

    `split`: None or "all" (every finished sample), "train" (index % 20 != 0) or "val"
    (index % 20 == 0). Depth is float32 metres; `valid` is False on sky and beyond max depth.
    """

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        header_path = self.root / HEADER
        if not header_path.is_file():
            raise DatasetError(f"{self.root} is not a synthetic dataset: {HEADER} is missing "
                               f"(write one with `write_dataset` or `depth-anything synth`)")
        try:
            self.header = json.loads(header_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{header_path}: unreadable dataset header ({exc})") from None
        if self.header.get("format") != FORMAT_NAME or self.header.get("version") != FORMAT_VERSION:
            raise DatasetError(f"{header_path}: expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, found "
                               f"{self.header.get('format')!r} version {self.header.get('version')!r}")
        if split not in (None, "all", "train", "val"):
            raise DatasetError(f"synthetic dataset {self.root}: unknown split {split!r}; use all, train or val")
        items = [SyntheticItem.from_entry(self.root, e) for e in read_manifest(self.root)]
        if split == "train":
            items = [item for item in items if item.index % VAL_EVERY != 0]
        elif split == "val":
            items = [item for item in items if item.index % VAL_EVERY == 0]
        self.items = items

    def load(self, item: SyntheticItem) -> DepthSample:
        """Read one sample's image, depth and mask from disk."""
        image = load_image(item.image)
        depth = read_npy_depth(item.depth)
        mask = read_mask(item.mask)
        if depth.shape != image.shape[:2] or mask.shape != image.shape[:2]:
            raise DatasetError(f"sample {item.name} in {self.root}: image {image.shape[:2]}, depth {depth.shape} "
                               f"and mask {mask.shape} differ in size")
        valid = mask & (depth > 0)
        meta = {"index": item.index, "kind": item.kind, "tags": list(item.tags),
                "camera_to_world": item.camera_to_world.copy()}
        return DepthSample(item.name, image, depth, valid, item.intrinsics.copy(), meta=meta)
