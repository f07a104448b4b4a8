"""Readers for the published layouts of depth datasets, shared by training and evaluation.

Each reader turns a dataset folder, laid out as its public release unpacks, into `DepthSample`s with
float32 z-depth in metres and a validity mask. Listing happens once in `__init__` (paths only);
images and depth maps are read lazily in `load`, so memory stays flat for any dataset size.

Depth encodings are decoded by one helper each (16-bit PNG with a scale, Sintel `.dpt`, HDF5, raw
float32, `.npy`), used by every reader that shares the encoding.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..io import IMAGE_SUFFIXES, load_depth_png16, load_image
from .datasets import DepthSample, SampleReader, register_reader

# ------------------------------------------------------------------------------------ depth decoding
SINTEL_TAG = 202021.25  # first float of every Sintel .dpt file; guards against reading the wrong file
HYPERSIM_FOCAL_PX = 886.81  # Hypersim's focal length in pixels at its native width of 1024
HYPERSIM_WIDTH = 1024


def read_png16_depth(
    path: str | Path, scale: float, invalid_raw: Sequence[int] = (0,)
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a single-channel 16-bit PNG storing depth × `scale`; raw values in `invalid_raw` are invalid.

    KITTI (scale 256), NYU (1000, millimetres) and Virtual KITTI 2 (100, centimetres; 65535 = sky)
    all use this encoding. Decoding is `io.load_depth_png16`'s, the reader of what `save_depth_png16`
    writes; an unreadable file raises its `ImageReadError` naming the file.
    """
    depth = load_depth_png16(path, scale)
    # depth is raw / scale in float32, so raw is recovered exactly by rounding (raw <= 65535 < 2**24)
    raw = np.rint(depth.astype(np.float64) * scale)
    valid = ~np.isin(raw, np.asarray(invalid_raw, dtype=np.float64))
    return depth, valid


def read_dpt(path: str | Path) -> np.ndarray:
    """Read a Sintel `.dpt` depth file: float32 tag 202021.25, int32 width, int32 height, then W×H float32."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read Sintel depth file ({exc})") from None
    if len(data) < 12:
        raise DatasetError(f"{path}: too short for a .dpt header ({len(data)} bytes)")
    tag = np.frombuffer(data, dtype="<f4", count=1)[0]
    if tag != np.float32(SINTEL_TAG):
        raise DatasetError(f"{path}: not a Sintel .dpt file (tag {tag!r}, expected {SINTEL_TAG})")
    width, height = (int(v) for v in np.frombuffer(data, dtype="<i4", count=2, offset=4))
    expected = 12 + 4 * width * height
    if width <= 0 or height <= 0 or len(data) != expected:
        raise DatasetError(
            f"{path}: header says {width}×{height} ({expected} bytes) but the file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype="<f4", offset=12).reshape(height, width).astype(np.float32)


def read_raw_float32(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """Read headerless little-endian float32 of a known H×W size (ETH3D's ground-truth depth)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read raw depth file ({exc})") from None
    height, width = shape
    if len(data) != 4 * height * width:
        raise DatasetError(
            f"{path}: raw float32 depth has {len(data)} bytes, expected {4 * height * width} "
            f"for the image size {height}×{width}"
        )
    return np.frombuffer(data, dtype="<f4").reshape(height, width).astype(np.float32)


def read_hdf5_array(path: str | Path, key: str = "dataset") -> np.ndarray:
    """Read one array from an HDF5 file (Hypersim); needs the optional `datasets` extra (h5py)."""
    try:
        h5py = importlib.import_module("h5py")
    except ImportError:
        raise DatasetError(
            f"{path}: reading HDF5 needs h5py; install it with `pip install depth-anything[datasets]`"
        ) from None
    try:
        with h5py.File(path, "r") as handle:
            if key not in handle:
                raise DatasetError(f"{path}: HDF5 file has no key {key!r} (keys: {sorted(handle.keys())})")
            return np.asarray(handle[key])
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read HDF5 file ({exc})") from None


def read_npy_depth(path: str | Path) -> np.ndarray:
    """Read a float depth map saved with numpy; a trailing channel axis of 1 (DIODE) is dropped."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read .npy depth ({exc})") from None
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise DatasetError(f"{path}: expected an H×W depth array, found shape {array.shape}")
    return array.astype(np.float32)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a validity-mask image (8- or 16-bit, grey or colour) as bool H×W: nonzero pixels are valid.

    Decoded by `io.load_image`, so a missing or broken file raises `ImageReadError` naming it.
    """
    return load_image(path).max(axis=2) > 0


def finite_positive(depth: np.ndarray) -> np.ndarray:
    """Pixels with a usable depth: finite and > 0 (0, NaN and inf mark holes in every format here)."""
    return np.isfinite(depth) & (depth > 0)


def hypersim_distance_to_depth(distance: np.ndarray, focal: float | None = None) -> np.ndarray:
    """Convert Hypersim's distance-to-camera-centre to planar z-depth.

    Each pixel's ray through the image plane (x, y, f) has length sqrt(x² + y² + f²); z = distance · f / length.
    The default focal is Hypersim's 886.81 px scaled to the map's width.
    """
    height, width = distance.shape
    focal = HYPERSIM_FOCAL_PX * width / HYPERSIM_WIDTH if focal is None else focal
    xs = np.arange(width, dtype=np.float64) - (width - 1) / 2.0
    ys = np.arange(height, dtype=np.float64) - (height - 1) / 2.0
    ray_length = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2 + focal**2)
    return (distance.astype(np.float64) * focal / ray_length).astype(np.float32)


def tonemap_hdr(rgb: np.ndarray, geometry: np.ndarray | None = None) -> np.ndarray:
    """Linear HDR colour (Hypersim `.color.hdf5`) to uint8 sRGB-like: 90th-percentile brightness to 0.8,
    gamma 2.2. As in Hypersim's own tone mapping, the percentile is taken over the pixels that show
    geometry (`geometry`, from `render_entity_id != -1`) when that mask is known."""
    rgb = np.nan_to_num(rgb.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    brightness = 0.3 * rgb[..., 0] + 0.59 * rgb[..., 1] + 0.11 * rgb[..., 2]
    if geometry is not None and geometry.shape == brightness.shape and geometry.any():
        brightness = brightness[geometry]
    level = np.percentile(brightness, 90) if brightness.size else 0.0
    scale = 0.8 ** 2.2 / level if level > 1e-8 else 1.0
    return (np.clip((scale * rgb) ** (1 / 2.2), 0.0, 1.0) * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------ shared helpers
@dataclass(frozen=True)
class SamplePaths:
    """Where one sample lives on disk; `depth` is None when no ground truth exists."""

    name: str
    image: Path
    depth: Path | None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def sample_name(path: Path, base: Path) -> str:
    """A stable sample name: the path relative to `base` without suffix, with forward slashes."""
    return path.relative_to(base).with_suffix("").as_posix()


def _image_files(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _require_dir(path: Path, reader: str, hint: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{reader}: expected folder {path} ({hint})")
    return path


def _read_split_lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"split file {path}: cannot read ({exc})") from None
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _split_path(token: str) -> str:
    """A path from a split file, relative to the dataset folder: BTS/ZoeDepth-style lists write NYU
    (and some KITTI) paths with a leading "/", which would otherwise replace the folder when joined."""
    return token.lstrip("/")


def _split_focal(tokens: list[str], listing: Path, number: int) -> dict[str, Any]:
    """`{"focal": f}` from the optional third column of an `IMAGE DEPTH [FOCAL]` line, else `{}`."""
    if len(tokens) < 3:
        return {}
    try:
        return {"focal": float(tokens[2])}
    except ValueError:
        raise DatasetError(f"{listing}:{number}: focal length {tokens[2]!r} is not a number") from None


def _first_existing(candidates: Iterable[Path]) -> Path | None:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


class PairedReader(SampleReader):
    """A reader whose items are `SamplePaths`; subclasses list them and decode depth in `read_depth`."""

    depth_kind = "depth"

    def load(self, item: SamplePaths) -> DepthSample:
        image = self.read_image(item)
        if item.depth is None:
            return DepthSample(name=item.name, image=image, depth=None, valid=None, meta=dict(item.meta))
        if not item.depth.exists():
            raise DatasetError(f"{type(self).__name__}: ground truth {item.depth} for {item.name} is missing")
        depth, valid = self.read_depth(item, image.shape[:2])
        return DepthSample(
            name=item.name, image=image, depth=depth, valid=valid, meta=dict(item.meta),
            depth_kind=self.depth_kind,
        )

    def read_image(self, item: SamplePaths) -> np.ndarray:
        """Load the RGB image (overridden where images are not ordinary files)."""
        return load_image(item.image)

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_nonempty(self, hint: str) -> None:
        if not self.items:
            raise DatasetError(f"{type(self).__name__}: no samples found under {self.root} ({hint})")


# ------------------------------------------------------------------------------------ KITTI
@register_reader("kitti")
class KittiReader(PairedReader):
    """KITTI raw images with depth from the `data_depth_annotated` tree (uint16 PNG / 256), by split file.

    Layout: `ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png` and
    `ROOT/data_depth_annotated/{train,val}/2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png`.
    The split file (`split_file=`, else `ROOT/eigen_{split}_files_with_gt.txt`, `ROOT/splits/...` or
    `eigen_{split}_files.txt`) has lines `IMAGE DEPTH [FOCAL]` (DEPTH may be `None`; a DEPTH found in no candidate
    folder fails when loaded, naming it) or, as in the self-supervised Eigen split, `DRIVE FRAME l|r`.
    Images without ground truth get `depth=None`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = "test",
        split_file: str | Path | None = None,
        depth_root: str | Path | None = None,
    ) -> None:
        super().__init__(root, split or "test")
        self.depth_root = Path(depth_root) if depth_root is not None else self.root / "data_depth_annotated"
        names = [f"eigen_{self.split}_files_with_gt.txt", f"eigen_{self.split}_files.txt"]
        if split_file is not None:
            listing = Path(split_file)
        else:
            found = _first_existing(self.root / d / n for d in ("", "splits") for n in names)
            if found is None:
                raise DatasetError(
                    f"kitti: no split file found; pass split_file= or put {names[0]} in {self.root} or {self.root / 'splits'}"
                )
            listing = found
        for number, tokens in enumerate(_read_split_lines(listing), start=1):
            self.items.append(self._parse_line(tokens, listing, number))
        self._check_nonempty(f"split file {listing} is empty")

    def _parse_line(self, tokens: list[str], listing: Path, number: int) -> SamplePaths:
        meta: dict[str, Any] = {}
        if Path(tokens[0]).suffix.lower() in IMAGE_SUFFIXES:
            image_rel = _split_path(tokens[0])
            depth_rel = _split_path(tokens[1]) if len(tokens) > 1 and tokens[1] != "None" else None
            meta = _split_focal(tokens, listing, number)
            named = True  # the split file names the depth file: it must exist
        elif len(tokens) >= 2 and tokens[1].isdigit():
            drive = _split_path(tokens[0])
            camera = "image_03" if len(tokens) > 2 and tokens[2] == "r" else "image_02"
            frame = f"{int(tokens[1]):010d}.png"
            image_rel = f"{drive}/{camera}/data/{frame}"
            depth_rel = f"{Path(drive).name}/proj_depth/groundtruth/{camera}/{frame}"
            named = False  # derived path: frames without annotated depth are unlabeled
        else:
            raise DatasetError(
                f"{listing}:{number}: expected 'IMAGE DEPTH [FOCAL]' or 'DRIVE FRAME l|r', found {' '.join(tokens)!r}"
            )
        depth = None
        if depth_rel is not None:
            rel = Path(depth_rel)
            candidates = [self.depth_root / "train" / rel, self.depth_root / "val" / rel, self.depth_root / rel,
                          self.root / rel]
            depth = _first_existing(candidates)
            if depth is None and named:
                # keep a path, so loading fails with "ground truth ... is missing" instead of the
                # sample passing as one without ground truth
                depth = candidates[0]
        image = self.root / image_rel
        # Name by drive/camera/frame: unique across the split and readable in reports.
        parts = Path(image_rel).with_suffix("").parts
        name = "/".join((*parts[1:3], parts[-1])) if len(parts) >= 5 else "/".join(parts)
        return SamplePaths(name=name, image=image, depth=depth, meta=meta)

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return read_png16_depth(item.depth, scale=256.0)


# ------------------------------------------------------------------------------------ NYU
@register_reader("nyu")
class NyuReader(PairedReader):
    """NYU-Depth-v2 as commonly extracted: `official_splits/{test,train}/<scene>/rgb_00045.jpg` + `sync_depth_00045.png` (mm).

    The test split is the 654 official test images; for `split="train"`, the `sync/` folder (the
    larger training set) is used when present. `split_file=` takes lines `SCENE/rgb_X.jpg SCENE/sync_depth_X.png [FOCAL]`
    relative to the split folder (a leading "/", as in the BTS/ZoeDepth lists, is allowed); FOCAL goes to `meta["focal"]`.
    """

    def __init__(self, root: str | Path, split: str | None = "test", split_file: str | Path | None = None) -> None:
        super().__init__(root, split or "test")
        if self.split not in ("test", "train"):
            raise DatasetError(f"nyu: split must be 'test' or 'train', got {self.split!r}")
        folder = self.root / "official_splits" / self.split
        if self.split == "train" and (self.root / "sync").is_dir():
            folder = self.root / "sync"
        _require_dir(folder, "nyu", "NYU layout: official_splits/test/<scene>/rgb_XXXXX.jpg")
        if split_file is not None:
            listing = Path(split_file)
            for number, tokens in enumerate(_read_split_lines(listing), start=1):
                image = folder / _split_path(tokens[0])
                depth = folder / _split_path(tokens[1]) if len(tokens) > 1 else self._depth_for(image)
                meta = _split_focal(tokens, listing, number)
                self.items.append(SamplePaths(sample_name(image, folder), image, depth, meta))
        else:
            for image in sorted(folder.glob("*/rgb_*.jpg")):
                self.items.append(SamplePaths(sample_name(image, folder), image, self._depth_for(image)))
        self._check_nonempty(f"no <scene>/rgb_*.jpg in {folder}")

    @staticmethod
    def _depth_for(image: Path) -> Path:
        return image.with_name(image.name.replace("rgb_", "sync_depth_", 1)).with_suffix(".png")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return read_png16_depth(item.depth, scale=1000.0)


# ------------------------------------------------------------------------------------ Hypersim
@register_reader("hypersim")
class HypersimReader(PairedReader):
    """Hypersim: `ai_XXX_YYY/images/scene_cam_NN_geometry_hdf5/frame.NNNN.depth_meters.hdf5` with the image
    `scene_cam_NN_final_preview/frame.NNNN.tonemap.jpg` when present, else `scene_cam_NN_final_hdf5/frame.NNNN.color.hdf5`
    (tone-mapped here). Depth is converted from distance-to-camera-centre to planar z-depth.

    With `metadata_images_split_scene_v1.csv` in ROOT, only that split's publicly released frames are listed.
    """

    SPLIT_CSV = "metadata_images_split_scene_v1.csv"

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        allowed = self._split_frames() if split is not None else None
        for depth in sorted(self.root.glob("ai_*/images/scene_cam_*_geometry_hdf5/frame.*.depth_meters.hdf5")):
            scene = depth.parents[2].name
            camera = depth.parent.name[: -len("_geometry_hdf5")]
            frame = depth.name.split(".")[1]
            if allowed is not None and (scene, camera.replace("scene_", "", 1), int(frame)) not in allowed:
                continue
            images = depth.parents[1]
            image = _first_existing(
                [images / f"{camera}_final_preview" / f"frame.{frame}.tonemap.jpg",
                 images / f"{camera}_final_hdf5" / f"frame.{frame}.color.hdf5"]
            )
            if image is None:
                raise DatasetError(f"hypersim: no image (tonemap.jpg or color.hdf5) for depth {depth}")
            self.items.append(SamplePaths(f"{scene}/{camera}/frame.{frame}", image, depth))
        self._check_nonempty("expected ai_*/images/scene_cam_*_geometry_hdf5/frame.*.depth_meters.hdf5")

    def _split_frames(self) -> set[tuple[str, str, int]] | None:
        csv_path = self.root / self.SPLIT_CSV
        if not csv_path.exists():
            return None
        frames: set[tuple[str, str, int]] = set()
        with csv_path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    if row["split_partition_name"] == self.split and row["included_in_public_release"] == "True":
                        frames.add((row["scene_name"], row["camera_name"], int(row["frame_id"])))
                except (KeyError, ValueError) as exc:
                    raise DatasetError(f"{csv_path}: row {row} lacks a valid field ({exc})") from None
        return frames

    def read_image(self, item: SamplePaths) -> np.ndarray:
        if item.image.suffix == ".hdf5":
            geometry = None
            if item.depth is not None:  # frame.NNNN.render_entity_id.hdf5 lies beside the depth file
                entity = item.depth.with_name(item.depth.name.replace("depth_meters", "render_entity_id"))
                if entity.is_file():
                    geometry = read_hdf5_array(entity) != -1
            return tonemap_hdr(read_hdf5_array(item.image), geometry)
        return load_image(item.image)

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        distance = read_hdf5_array(item.depth).astype(np.float32)
        if distance.ndim != 2:
            raise DatasetError(f"{item.depth}: expected an H×W distance map, found shape {distance.shape}")
        depth = hypersim_distance_to_depth(distance)
        return depth, finite_positive(depth)


# ------------------------------------------------------------------------------------ Virtual KITTI 2
@register_reader("vkitti2")
class VirtualKitti2Reader(PairedReader):
    """Virtual KITTI 2: `SceneXX/<variation>/frames/rgb/Camera_N/rgb_NNNNN.jpg` + `frames/depth/Camera_N/depth_NNNNN.png`
    (uint16 centimetres; 65535 marks sky/far and is invalid). `depth_root=` points at the separately
    unpacked depth archive when it is not in ROOT; `variations=` limits to e.g. ("clone",).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        depth_root: str | Path | None = None,
        variations: Sequence[str] | None = None,
    ) -> None:
        super().__init__(root, split)
        depth_base = Path(depth_root) if depth_root is not None else self.root
        for image in sorted(self.root.glob("Scene*/*/frames/rgb/Camera_*/rgb_*.jpg")):
            rel = image.relative_to(self.root)
            scene, variation, _, _, camera = rel.parts[:5]
            if variations is not None and variation not in variations:
                continue
            frame = image.stem[len("rgb_"):]
            depth = depth_base / scene / variation / "frames" / "depth" / camera / f"depth_{frame}.png"
            self.items.append(SamplePaths(f"{scene}/{variation}/{camera}/{frame}", image, depth))
        self._check_nonempty("expected SceneXX/<variation>/frames/rgb/Camera_N/rgb_NNNNN.jpg")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return read_png16_depth(item.depth, scale=100.0, invalid_raw=(0, 65535))


# ------------------------------------------------------------------------------------ Sintel
@register_reader("sintel")
class SintelReader(PairedReader):
    """MPI Sintel: `training/<pass>/<scene>/frame_0001.png` + `training/depth/<scene>/frame_0001.dpt` (pass "final" or "clean")."""

    def __init__(self, root: str | Path, split: str | None = "training", render_pass: str = "final") -> None:
        super().__init__(root, split or "training")
        images = _require_dir(self.root / self.split / render_pass, "sintel", "Sintel layout: training/final/<scene>/frame_0001.png")
        for image in _image_files(images, "*/frame_*"):
            depth = self.root / self.split / "depth" / image.parent.name / f"{image.stem}.dpt"
            self.items.append(SamplePaths(sample_name(image, images), image, depth))
        self._check_nonempty(f"no <scene>/frame_*.png in {images}")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        depth = read_dpt(item.depth)
        return depth, finite_positive(depth)


# ------------------------------------------------------------------------------------ ETH3D
@register_reader("eth3d")
class Eth3dReader(PairedReader):
    """ETH3D high-res multi-view: `<scene>/images/dslr_images/DSC_NNNN.JPG` with ground truth in
    `<scene>/ground_truth_depth/dslr_images/DSC_NNNN.JPG` (or `ground_truth/depth/dslr_images/`):
    headerless little-endian float32 of the image's size, inf where there is no measurement.
    """

    DEPTH_DIRS = ("ground_truth_depth/dslr_images", "ground_truth/depth/dslr_images")

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        for image in sorted(self.root.glob("*/images/dslr_images/*")):
            if not image.is_file() or image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            scene = image.parents[2]
            depth = _first_existing(scene / d / image.name for d in self.DEPTH_DIRS)
            self.items.append(
                SamplePaths(f"{scene.name}/{image.stem}", image, depth or scene / self.DEPTH_DIRS[0] / image.name)
            )
        self._check_nonempty("expected <scene>/images/dslr_images/DSC_NNNN.JPG")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        depth = read_raw_float32(item.depth, image_shape)
        return depth, finite_positive(depth)


# ------------------------------------------------------------------------------------ DIODE
@register_reader("diode")
class DiodeReader(PairedReader):
    """DIODE: `val/{indoors,outdoor}/scene_NNNNN/scan_NNNNN/X.png` + `X_depth.npy` (H×W×1) + `X_depth_mask.npy`."""

    def __init__(self, root: str | Path, split: str | None = "val", scene_type: str | None = None) -> None:
        super().__init__(root, split or "val")
        base = _require_dir(self.root / self.split, "diode", "DIODE layout: val/indoors/scene_*/scan_*/*.png")
        types = (scene_type,) if scene_type else ("indoors", "outdoor")
        for kind in types:
            for image in sorted((base / kind).glob("scene_*/scan_*/*.png")):
                depth = image.with_name(f"{image.stem}_depth.npy")
                self.items.append(SamplePaths(sample_name(image, base), image, depth, {"scene_type": kind}))
        self._check_nonempty(f"no {'/'.join(types)}/scene_*/scan_*/*.png in {base}")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        depth = read_npy_depth(item.depth)
        mask_path = item.depth.with_name(f"{item.depth.stem}_mask.npy")
        valid = finite_positive(depth)
        if mask_path.exists():
            mask = read_npy_depth(mask_path)
            if mask.shape != depth.shape:
                raise DatasetError(f"{mask_path}: mask shape {mask.shape} differs from depth shape {depth.shape}")
            valid &= mask > 0
        return depth, valid


# ------------------------------------------------------------------------------------ generic folders
@register_reader("folder")
class DepthFolderReader(PairedReader):
    """A generic folder: `images/<rel>.{png,jpg,...}` with `depth/<rel>.npy` (float metres) or
    `depth/<rel>.png` (uint16, metres × `depth_scale`, default millimetres). `depth_kind="disparity"`
    declares the maps as disparity. Images without a depth file get `depth=None`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        image_dir: str = "images",
        depth_dir: str = "depth",
        depth_scale: float = 1000.0,
        depth_kind: str = "depth",
    ) -> None:
        super().__init__(root, split)
        if depth_kind not in ("depth", "disparity"):
            raise DatasetError(f"folder: depth_kind must be 'depth' or 'disparity', got {depth_kind!r}")
        self.depth_kind = depth_kind
        self.depth_scale = float(depth_scale)
        base = self.root / split if split else self.root
        images = _require_dir(base / image_dir, "folder", f"generic layout: {image_dir}/ and {depth_dir}/ side by side")
        depths = base / depth_dir
        for image in _image_files(images, "**/*"):
            rel = image.relative_to(images).with_suffix("")
            depth = _first_existing(depths / f"{rel.as_posix()}{s}" for s in (".npy", ".png"))
            self.items.append(SamplePaths(rel.as_posix(), image, depth))
        self._check_nonempty(f"no images in {images}")

    def read_depth(self, item: SamplePaths, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        if item.depth.suffix == ".npy":
            depth = read_npy_depth(item.depth)
            return depth, finite_positive(depth)
        return read_png16_depth(item.depth, scale=self.depth_scale)


@register_reader("images")
class ImageFolderReader(PairedReader):
    """Unlabeled images anywhere below ROOT (for pseudo-labeling and prediction): `depth` is None."""

    def __init__(self, root: str | Path, split: str | None = None) -> None:
        super().__init__(root, split)
        for image in _image_files(self.root, "**/*"):
            self.items.append(SamplePaths(sample_name(image, self.root), image, None))
        self._check_nonempty("no image files")
