"""Pseudo-labeling: a trained teacher predicts disparity for a folder of unlabeled images.

Output layout (read back by the "pseudo" dataset reader registered here)::

    OUT/labels/<image path relative to IMAGES>.npy|.png   (a.jpg → labels/a.jpg.npy: a.jpg and a.png never collide)
    OUT/manifest.json   format, encoding, images root, the teacher's identity, one {image, label} entry per label

Labels are relative disparity divided by its per-image maximum (so 1 = nearest pixel): float16
``.npy`` (encoding "npy16") or 16-bit PNG × 65535 ("png16"). Affine-invariant losses make the scaling
irrelevant for training. Every label is written atomically, so a crash never leaves half a file, and a
rerun skips images whose label exists, but only when the manifest names the same teacher (model file,
its size and modification time, input size, dtype, encoding); another teacher is refused. OUT may not lie
inside IMAGES. Under torchrun the image list is sharded over ranks.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.datasets import DepthSample, SampleReader, register_reader
from ..data.layouts import read_npy_depth
from ..errors import ConfigError, DatasetError
from ..io import atomic_write_text, list_images, load_depth_png16, load_image, save_depth_png16, save_npy
from .distributed import all_reduce_max, all_reduce_sum, barrier, init_distributed, on_main

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "depth-anything-pseudo/1"
ENCODINGS = {"npy16": ".npy", "png16": ".png"}


@dataclass
class LabelResult:
    """Counts over all ranks; `images_per_second` is labeled images over the slowest rank's time."""

    labeled: int
    skipped_existing: int
    failed: int
    seconds: float
    images_per_second: float
    manifest: Path


def label_path(out: Path, relative: Path, encoding: str) -> Path:
    """Where the label of image `relative` (to the images root) goes."""
    return out / "labels" / relative.with_name(relative.name + ENCODINGS[encoding])


def write_label(path: Path, disparity: np.ndarray, encoding: str) -> Path:
    """Store disparity scaled so its maximum is 1 (see module docstring), atomically."""
    disparity = np.nan_to_num(np.asarray(disparity, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    disparity = np.clip(disparity, 0.0, None)
    peak = float(disparity.max()) if disparity.size else 0.0
    unit = disparity / peak if peak > 0 else disparity
    if encoding == "npy16":
        return save_npy(path, unit.astype(np.float16))
    if encoding == "png16":
        return save_depth_png16(path, unit, 65535)
    raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


def read_label(path: Path) -> np.ndarray:
    """float32 disparity (max-normalised) from a label written by `write_label`."""
    if path.suffix == ".npy":
        return read_npy_depth(path)
    return load_depth_png16(path, scale=65535.0)


def label_images(
    model: str | Path,
    images: str | Path,
    out: str | Path,
    encoding: str = "npy16",
    input_size: int | None = None,
    batch_size: int = 4,
    device: str | None = None,
    dtype: str | None = None,
    progress: bool = True,
) -> LabelResult:
    """Pseudo-label every image below `images` into `out` with the model at `model` (see module doc)."""
    from tqdm import tqdm

    from .. import Predictor, load_model

    if encoding not in ENCODINGS:
        raise ValueError(f"unknown label encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    images, out = Path(images), Path(out)
    if out.resolve() == images.resolve() or images.resolve() in out.resolve().parents:
        raise ConfigError(
            f"--out {out} lies inside --images {images}: labels would be read back as images; choose an output "
            "folder outside the images folder"
        )
    env, torch_device = init_distributed(device)
    predictor = Predictor(load_model(model, device=torch_device), torch_device, dtype, input_size, batch_size)
    identity = teacher_identity(model, predictor.input_size, predictor.dtype, encoding)
    check_teacher(out, identity)
    barrier()  # every rank has compared with the old manifest before rank 0 records this teacher
    # recorded before any label is written, so a crashed run still names its teacher
    on_main(lambda: write_manifest(out, images, encoding, identity), f"write {out / MANIFEST}")
    files = list_images(images)
    mine = files[env.rank :: env.world_size]
    todo = [f for f in mine if not label_path(out, f.relative_to(images), encoding).is_file()]
    failed = 0
    start = time.perf_counter()
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), disable=not (progress and env.is_main),
               desc="label", unit="img", file=sys.stderr)
    for result in predictor.iter_results(todo):  # input order, a window of images read at a time
        if result.error is not None:
            failed += 1
            print(f"depth-anything label: skipped {result.error}", file=sys.stderr)
        else:
            write_label(label_path(out, Path(result.source).relative_to(images), encoding), result.depth, encoding)
        bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - start
    labeled_here = len(todo) - failed
    totals = all_reduce_sum(
        torch.tensor([labeled_here, len(mine) - len(todo), failed], dtype=torch.float64, device=torch_device)
    ).tolist()
    slowest = all_reduce_max(elapsed, torch_device)
    barrier()
    manifest = out / MANIFEST
    on_main(lambda: write_manifest(out, images, encoding, identity), f"write {manifest}")
    labeled, existing, bad = (int(v) for v in totals)
    return LabelResult(labeled, existing, bad, slowest, labeled / slowest if slowest > 0 else 0.0, manifest)


def teacher_identity(model: str | Path, input_size: int, dtype: torch.dtype | str, encoding: str) -> dict[str, Any]:
    """What decides the labels' values: the weights (see `weights_identity`), input size, dtype and
    encoding. Labels written under another identity must not be mixed with new ones."""
    from ..weights import weights_identity

    return {
        **weights_identity(model),
        "input_size": int(input_size),
        "dtype": str(dtype).removeprefix("torch."),
        "encoding": encoding,
    }


def check_teacher(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to add labels to `out` when its manifest was written by another teacher setting."""
    path = out / MANIFEST
    if not path.is_file():
        if (out / "labels").is_dir() and any(p.is_file() for p in (out / "labels").rglob("*")):
            raise ConfigError(f"--out {out} holds labels but no {MANIFEST}: their teacher is unknown; use a new folder")
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("teacher")
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a readable manifest ({exc}); use a new output folder") from None
    if recorded != identity:
        def show(value: Any) -> str:
            return json.dumps(value, sort_keys=True) if value is not None else "no teacher recorded"

        differing = sorted(k for k in identity if not isinstance(recorded, dict) or recorded.get(k) != identity[k])
        raise ConfigError(
            f"{out} holds labels of another teacher setting (differs in: {', '.join(differing)}); "
            f"recorded {show(recorded)}, now {show(identity)}. Relabel into a new --out folder "
            "(or delete the old labels)"
        )


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


@register_reader("pseudo")
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
            raise DatasetError(f"pseudo: {path} has format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        self.images_root = Path(images_root or manifest["images_root"])
        self.items = [(self.images_root / s["image"], self.root / s["label"]) for s in manifest["samples"]]

    def load(self, item: tuple[Path, Path]) -> DepthSample:
        image_path, label = item
        image = load_image(image_path)
        if not label.is_file():
            raise DatasetError(f"pseudo: label {label} for {image_path} is missing")
        disparity = read_label(label)
        if disparity.shape != image.shape[:2]:
            raise DatasetError(f"pseudo: label {label} is {disparity.shape}, image {image_path} is {image.shape[:2]}")
        name = image_path.relative_to(self.images_root).as_posix()  # with its suffix: a.jpg ≠ a.png
        return DepthSample(name, image, disparity, np.isfinite(disparity), depth_kind="disparity")
