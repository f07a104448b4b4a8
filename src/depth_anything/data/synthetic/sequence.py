"""Synthetic video: one random scene seen along a continuous camera path, with exact depth and poses.

`generate_sequence(seed, index, frames, config)` is a pure function of its arguments, like
`generate_sample`: the scene comes from the same scene sampler (its own random stream, so sequence
`index` is not image `index`), and the camera moves smoothly from the scene's camera:

- "pan": the camera turns about the vertical through its centre (pure rotation);
- "dolly": the camera moves straight ahead, horizontally, keeping its orientation;
- "orbit": the camera circles a point in front of it, turning to keep looking at it.

Sequence `index` uses motion `MOTIONS[index % 3]`, so every few sequences cover all three. Paths that
would run into an object or out of the room are shortened until they do not.

On disk (format version 1)::

    sequences.json                  settings: seed, frames, width, height, scene config
    manifest.jsonl                  one line per finished sequence: motion, kind, intrinsics, poses
    NAME/image/000000.png           RGB frames
    NAME/depth/000000.npy           z-depth in metres, float16, 0 where invalid
    NAME/mask/000000.png            255 = valid depth

A sequence's line is appended to the manifest only after all its frames are written, so an
interrupted run keeps finished sequences and a re-run renders the rest, byte-identically.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DatasetError
from ...io import atomic_write_text, load_image, save_image, save_npy
from ..datasets import DepthSequence, SequenceReader, register_sequence_reader
from ..layouts import read_mask, read_npy_depth
from .dataset import _exclusive
from .generate import SynthConfig, sample_scene
from .render import render
from .scene import Camera, Scene, yaw_rotation

MOTIONS = ("pan", "dolly", "orbit")
SEQUENCE_FORMAT = "depth-anything-synthetic-sequences"
SEQUENCE_VERSION = 1
SEQUENCE_HEADER = "sequences.json"
SEQUENCE_MANIFEST = "manifest.jsonl"
SEQUENCE_STREAM = 1  # the third word of a sequence's random seed; image samples use two words
MIN_FRAMES = 2
# every 10th sequence (index % 10 == 0) is held out as the "val" split
SEQUENCE_VAL_EVERY = 10
_CLEARANCE = 0.3  # metres the camera keeps from every object and wall


@dataclass
class SyntheticSequence:
    """A rendered camera path: images T×H×W×3 uint8, depth T×H×W float32 (0 = invalid), valid, cameras."""

    images: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    intrinsics: np.ndarray
    camera_to_world: np.ndarray
    motion: str
    kind: str
    tags: list[str]


def sequence_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of sequence `index` of a sequence set with `seed`."""
    if seed < 0 or index < 0:
        raise DatasetError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([int(seed), int(index), SEQUENCE_STREAM])


def _world_turn(angle_rad: float) -> np.ndarray:
    """Rotation by `angle_rad` about the world's vertical axis (z up)."""
    return yaw_rotation(angle_rad)


def _camera_at(base: Camera, position: np.ndarray, rotation: np.ndarray) -> Camera:
    return Camera(base.width, base.height, base.intrinsics, position, rotation)


def camera_path(base: Camera, motion: str, frames: int, amount: float, reach: float) -> list[Camera]:
    """Cameras along one motion: `amount` is radians for pan and orbit, metres for dolly; `reach` is the
    orbit's distance to the point it circles. Frame 0 is `base`; motion is uniform in time."""
    if motion not in MOTIONS:
        raise DatasetError(f"unknown camera motion {motion!r}; choose one of {MOTIONS}")
    cameras = []
    forward = base.rotation[:, 2]
    flat = np.array([forward[0], forward[1], 0.0])
    flat = flat / max(np.linalg.norm(flat), 1e-9)
    target = base.position + forward * reach
    for t in range(frames):
        s = t / max(frames - 1, 1)
        if motion == "pan":
            turn = _world_turn(amount * s)
            cameras.append(_camera_at(base, base.position, turn @ base.rotation))
        elif motion == "dolly":
            cameras.append(_camera_at(base, base.position + flat * amount * s, base.rotation))
        else:
            turn = _world_turn(amount * s)
            cameras.append(_camera_at(base, target + turn @ (base.position - target), turn @ base.rotation))
    return cameras


def _clear(scene: Scene, cameras: list[Camera]) -> bool:
    """True if every camera keeps `_CLEARANCE` from the objects and stays inside the room, if any."""
    for camera in cameras:
        for prim in scene.primitives:
            if prim.shape == "room":
                local = np.abs(prim.rotation.T @ (camera.position - prim.center))
                if np.any(local > prim.scale - _CLEARANCE):
                    return False
            elif prim.near(camera.position, _CLEARANCE):
                return False
    return True


def sequence_scene(seed: int, index: int, frames: int, config: SynthConfig) -> tuple[Scene, list[Camera], str]:
    """The scene, the camera of every frame and the motion name of sequence `index` (no rendering)."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < MIN_FRAMES:
        raise DatasetError(f"a sequence needs at least {MIN_FRAMES} frames, got {frames!r}")
    rng = sequence_rng(seed, index)
    scene = sample_scene(rng, config)
    motion = MOTIONS[index % len(MOTIONS)]
    indoor = scene.kind == "indoor"
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if motion == "pan":
        amount = sign * np.radians(rng.uniform(8.0, 20.0))
    elif motion == "dolly":
        amount = rng.uniform(0.3, 0.9) if indoor else rng.uniform(0.8, 2.5)
    else:
        amount = sign * np.radians(rng.uniform(6.0, 15.0))
    reach = rng.uniform(2.0, 4.0) if indoor else rng.uniform(6.0, 15.0)
    for _ in range(6):  # shorten a path that runs into something; a pan never moves the camera
        cameras = camera_path(scene.camera, motion, int(frames), float(amount), float(reach))
        if motion == "pan" or _clear(scene, cameras):
            return scene, cameras, motion
        amount *= 0.5
    return scene, camera_path(scene.camera, motion, int(frames), 0.0, float(reach)), motion


def generate_sequence(seed: int, index: int, frames: int = 32, config: SynthConfig | None = None) -> SyntheticSequence:
    """Render sequence `index` of the sequence set with `seed`; a pure function of its arguments."""
    config = config or SynthConfig()
    scene, cameras, motion = sequence_scene(seed, index, frames, config)
    images, depths, valids = [], [], []
    for t, camera in enumerate(cameras):
        # sensor noise changes from frame to frame, as a real camera's does
        result = render(dataclasses.replace(scene, camera=camera, noise_seed=scene.noise_seed + t))
        images.append(result.image)
        depths.append(result.depth)
        valids.append(result.valid)
    return SyntheticSequence(
        np.stack(images), np.stack(depths), np.stack(valids),
        np.stack([c.intrinsics.matrix for c in cameras]), np.stack([c.camera_to_world for c in cameras]),
        motion, scene.kind, list(scene.tags),
    )


# ------------------------------------------------------------------------------------ writer
def sequence_name(index: int) -> str:
    """Folder name of sequence `index` (zero-padded so names sort in index order)."""
    return f"seq{index:05d}"


def frame_name(frame: int) -> str:
    """File stem of frame `frame` inside a sequence folder."""
    return f"{frame:06d}"


def _sequence_header(seed: int, frames: int, config: SynthConfig) -> dict[str, Any]:
    return {
        "format": SEQUENCE_FORMAT, "version": SEQUENCE_VERSION, "seed": seed, "frames": frames,
        "width": config.width, "height": config.height, "motions": list(MOTIONS),
        "depth": {"file": "NAME/depth/FRAME.npy", "dtype": "float16", "unit": "metre", "kind": "z-depth",
                  "invalid": 0},
        "mask": {"file": "NAME/mask/FRAME.png", "valid": 255, "invalid": 0},
        "camera_to_world": "4x4 per frame, OpenCV camera axes (x right, y down, z forward), metres",
        "val_split": f"index % {SEQUENCE_VAL_EVERY} == 0",
        "config": dataclasses.asdict(config),
    }


def _check_sequence_header(root: Path, header: dict[str, Any]) -> None:
    """Write sequences.json, or check that an existing one asks for the same data."""
    path = root / SEQUENCE_HEADER
    if not path.exists():
        atomic_write_text(path, json.dumps(header, indent=2, sort_keys=True) + "\n")
        return
    existing = _read_header(path)
    for key in ("version", "seed", "frames", "width", "height", "config"):
        if existing.get(key) != header[key]:
            raise DatasetError(f"{root} was generated with {key}={existing.get(key)!r} but this run asks for "
                               f"{key}={header[key]!r}; use the same settings to continue it, or another folder")


def _read_header(path: Path) -> dict[str, Any]:
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable sequence header ({exc})") from None
    if header.get("format") != SEQUENCE_FORMAT or header.get("version") != SEQUENCE_VERSION:
        raise DatasetError(f"{path}: expected format {SEQUENCE_FORMAT!r} version {SEQUENCE_VERSION}, found "
                           f"{header.get('format')!r} version {header.get('version')!r}")
    return header


def _frame_files(entry: dict[str, Any], frame: int) -> tuple[str, str, str]:
    name, stem = entry["name"], frame_name(frame)
    return f"{name}/image/{stem}.png", f"{name}/depth/{stem}.npy", f"{name}/mask/{stem}.png"


def read_sequence_manifest(root: Path) -> list[dict[str, Any]]:
    """Finished sequences listed in the manifest, sorted by index; torn lines and entries whose files
    are gone are left out (a re-run renders them again)."""
    path = root / SEQUENCE_MANIFEST
    if not path.exists():
        return []
    entries: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            entry = json.loads(line)
            index, frames = int(entry["index"]), int(entry["frames"])
            complete = line.endswith("\n") and all(
                (root / f).is_file() for t in range(frames) for f in _frame_files(entry, t))
        except (ValueError, KeyError, TypeError):
            continue
        if complete:
            entries[index] = entry
    return [entries[i] for i in sorted(entries)]


def _write_sequence(root: Path, seed: int, index: int, frames: int, config: SynthConfig) -> dict[str, Any]:
    sequence = generate_sequence(seed, index, frames, config)
    entry: dict[str, Any] = {
        "index": index, "name": sequence_name(index), "frames": frames, "motion": sequence.motion,
        "kind": sequence.kind, "tags": sequence.tags,
        "intrinsics": sequence.intrinsics.round(6).tolist(),
        "camera_to_world": sequence.camera_to_world.round(9).tolist(),
    }
    for sub in ("image", "depth", "mask"):
        (root / entry["name"] / sub).mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        image, depth, mask = _frame_files(entry, t)
        save_image(root / image, sequence.images[t])
        save_npy(root / depth, sequence.depth[t].astype(np.float16))
        save_image(root / mask, sequence.valid[t].astype(np.uint8) * 255)
    return entry


def write_sequences(
    out: str | Path, count: int, frames: int = 32, seed: int = 0, config: SynthConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Render sequences 0..count-1 into `out`, skipping finished ones; returns (written, skipped)."""
    config = config or SynthConfig()
    for key, value, low in (("count", count, 1), ("frames", frames, MIN_FRAMES), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DatasetError(f"{key} must be an integer of at least {low}, got {value!r}")
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot write the sequence folder {root}: {exc.strerror or exc}") from None
    with _exclusive(root):
        _check_sequence_header(root, _sequence_header(int(seed), int(frames), config))
        done = {e["index"]: e for e in read_sequence_manifest(root)}
        pending = [i for i in range(count) if i not in done]
        finished = len([i for i in done if i < count])
        with open(root / SEQUENCE_MANIFEST, "a", encoding="utf-8") as manifest:
            for index in pending:
                entry = _write_sequence(root, int(seed), index, int(frames), config)
                manifest.write(json.dumps(entry, sort_keys=True) + "\n")
                manifest.flush()
                done[index] = entry
                finished += 1
                if progress is not None:
                    progress(finished, count)
        atomic_write_text(root / SEQUENCE_MANIFEST,
                          "".join(json.dumps(done[i], sort_keys=True) + "\n" for i in sorted(done)))
    return len(pending), count - len(pending)


# ------------------------------------------------------------------------------------ reader
@register_sequence_reader("synthetic-sequences")
class SyntheticSequenceReader(SequenceReader):
    """Reads a folder written by `write_sequences` (`depth-anything synth --frames N`).

    `split`: None or "all", "train" (index % 10 != 0) or "val" (index % 10 == 0, held out).
    """

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        path = self.root / SEQUENCE_HEADER
        if not path.is_file():
            raise DatasetError(f"{self.root} is not a synthetic sequence set: {SEQUENCE_HEADER} is missing "
                               "(write one with write_sequences, or the synth command with frames per sequence)")
        self.header = _read_header(path)
        if split not in (None, "all", "train", "val"):
            raise DatasetError(f"synthetic sequences {self.root}: unknown split {split!r}; use all, train or val")
        items = read_sequence_manifest(self.root)
        if split == "train":
            items = [e for e in items if e["index"] % SEQUENCE_VAL_EVERY != 0]
        elif split == "val":
            items = [e for e in items if e["index"] % SEQUENCE_VAL_EVERY == 0]
        self.items = items

    def load(self, item: dict[str, Any]) -> DepthSequence:
        """Read every frame of one sequence."""
        images, depths, valids = [], [], []
        for t in range(int(item["frames"])):
            image_file, depth_file, mask_file = (self.root / f for f in _frame_files(item, t))
            image, depth, mask = load_image(image_file), read_npy_depth(depth_file), read_mask(mask_file)
            if depth.shape != image.shape[:2] or mask.shape != image.shape[:2]:
                raise DatasetError(f"{image_file}: image {image.shape[:2]}, depth {depth.shape} and mask "
                                   f"{mask.shape} differ in size")
            if images and image.shape != images[0].shape:
                raise DatasetError(f"{image_file}: frame {t} is {image.shape[:2]}, frame 0 is {images[0].shape[:2]}")
            images.append(image)
            depths.append(depth)
            valids.append(mask & (depth > 0))
        try:
            intrinsics = np.asarray(item["intrinsics"], np.float64).reshape(-1, 3, 3)
            poses = np.asarray(item["camera_to_world"], np.float64).reshape(-1, 4, 4)
        except (KeyError, ValueError) as exc:
            raise DatasetError(f"{self.root / SEQUENCE_MANIFEST}: bad cameras for {item.get('name')!r} ({exc})") from None
        meta = {"index": item["index"], "motion": item.get("motion"), "kind": item.get("kind"),
                "tags": list(item.get("tags", []))}
        return DepthSequence(item["name"], np.stack(images), np.stack(depths), np.stack(valids), intrinsics, poses,
                             meta)
