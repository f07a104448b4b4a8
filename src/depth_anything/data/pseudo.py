"""The pseudo-label format that `depth-anything label` writes, and its reader ("pseudo" layout).

Layout of a label folder::

    OUT/labels/<image path relative to IMAGES>.npy|.png   (a.jpg → labels/a.jpg.npy: a.jpg and a.png never collide)
    OUT/manifest.json   format, encoding, images root, the teacher's identity, one {image, label} entry per label

Labels are relative disparity divided by its per-image maximum (so 1 = nearest pixel): float16
``.npy`` (encoding "npy16") or 16-bit PNG × 65535 ("png16"). Affine-invariant losses make the scaling
irrelevant for training. Every label is written atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..io import atomic_write_text, list_images, load_depth_png16, load_image, save_depth_png16, save_npy
from .datasets import DepthSample, SampleReader, register_reader
from .layouts import read_npy_depth

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "depth-anything-pseudo/1"
ENCODINGS = {"npy16": ".npy", "png16": ".png"}


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
