"""Inputs collected from paths, and the one writer of every output file the tools make.

Inputs (`collect_images`): files, folders (searched recursively), list files and glob patterns, each
image once, with an output name that no other input shares. Names mirror the input tree:
`photos/a.jpg` and `photos/sub/a.jpg` (given as `photos/`) are named `a` and `sub/a`. Several folders,
lists or patterns are named relative to their common parent; files given one by one keep their stem.
A name already taken (two inputs `a.jpg` and `a.png`, or the same stem in two places) gets the input's
extension and, if needed, a number: `a_png`, `a_png_2`.

Outputs: `DepthWriter` writes one prediction's files (depth pictures, 16-bit PNG, .npy, PLY) and
`VideoWriter` a depth video; `predict`, `pointcloud`, `video` and the web demo all write through them.
Every file appears at once, complete: it is written to a temporary file beside it and renamed. With
`durable=True` each file is also synced to disk before the rename (crash-safe, but a sync per file
costs more than encoding a small picture, so batch runs leave it to the operating system).

PNGs are encoded here (`encode_png`): each row is stored as its difference to the row above (the PNG
"Up" filter, one vectorised subtraction) and deflated at level 1 by ISA-L (the `isal` package), which
on a 640×480 side-by-side picture takes a quarter of the CPU time of zlib's level 1 (OpenCV's and
Pillow's fastest) for a file 3-9 % smaller than OpenCV's; without `isal`, zlib deflates. Level 0
stores the pictures uncompressed (fastest, about twice the size). 16-bit PNGs hold exactly the values
`png16_values` gives, as every version of this toolkit wrote them.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import math
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, VideoError, require_extra
from .geometry import Intrinsics
from .io import (
    atomic_target,
    atomic_write,
    atomic_write_bytes,
    depth_png16_values,
    is_image_file,
    list_images,
)
from .metadata import (
    DepthMetadata,
    exr_header,
    npz_fields,
    ply_comments,
    png_text,
    sidecar_json,
    sidecar_path,
)
from .pictures import DEFAULT_CMAP, colormap_lut, depth_picture, side_by_side

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".txt", ".lst", ".list")
_GLOB_CHARS = frozenset("*?[")


# ------------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class ImageInput:
    """One input image and its output name (relative, POSIX separators, no extension: "sub/a")."""

    path: Path
    name: str


@dataclass
class CollectedInputs:
    """The images found and every input that gave none, as (input, reason) pairs."""

    images: list[ImageInput] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Found:
    path: Path
    root: Path | None  # the folder its name is relative to; None: a file given by itself


def _glob_root(pattern: str) -> Path:
    """The leading part of a glob pattern that holds no wildcard (the folder the matches mirror)."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _expand(item: str, base: Path | None, problems: list[tuple[str, str]], in_list: bool = False) -> list[_Found]:
    """What one input stands for; anything unusable is added to `problems` with its reason."""
    path = Path(item) if base is None or Path(item).is_absolute() else base / item
    if path.is_dir():
        return [_Found(p, path) for p in list_images(path)]
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            if in_list:
                problems.append((str(path), "a list file inside a list file is not read"))
                return []
            return _read_list(path, problems)
        if not is_image_file(path):
            problems.append((str(path), f"not an image file name ({path.suffix or 'no extension'}); "
                                        f"a list of paths needs the extension {' or '.join(LIST_SUFFIXES)}"))
            return []
        return [_Found(path, base)]
    if _GLOB_CHARS & set(item):
        pattern = str(path)
        matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        root = _glob_root(pattern)
        found = [_Found(p, root) for m in matches for p in (list_images(m) if m.is_dir() else [m]) if is_image_file(p)]
        if not found:
            problems.append((item, "no image matches this pattern"))
        return found
    problems.append((str(path), "file not found"))
    return []


def _read_list(path: Path, problems: list[tuple[str, str]]) -> list[_Found]:
    """The entries of a list file: one path per line, relative to the file's folder; # starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append((str(path), f"cannot read the list file ({exc})"))
        return []
    found: list[_Found] = []
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            found.extend(_expand(entry, path.parent, problems, in_list=True))
    return found


def _unique(name: str, suffix: str, taken: set[str]) -> str:
    """`name`, or `name_<ext>`, `name_<ext>_2`, ... the first one not in `taken` (compared case-blind,
    since macOS and Windows file systems are)."""
    longer = f"{name}_{suffix.lstrip('.').lower() or 'file'}"
    candidate, number = name, 1
    while candidate.casefold() in taken:
        candidate = longer if number == 1 else f"{longer}_{number}"
        number += 1
    taken.add(candidate.casefold())
    return candidate


def collect_images(inputs: Sequence[str | os.PathLike], exclude: str | os.PathLike | None = None) -> CollectedInputs:
    """Images behind `inputs` (files, folders searched recursively, list files, glob patterns), each once,
    with unique output names; images below `exclude` (an output folder inside an input) are left out."""
    collected = CollectedInputs()
    found = [f for item in inputs for f in _expand(os.fspath(item), None, collected.problems)]
    excluded = Path(exclude).resolve() if exclude is not None else None
    roots = {f.root.resolve() for f in found if f.root is not None}
    common = Path(os.path.commonpath(list(roots))) if len(roots) > 1 else next(iter(roots), None)
    seen: set[Path] = set()
    taken: set[str] = set()
    for item in found:
        resolved = item.path.resolve()
        if resolved in seen or (excluded is not None and resolved.is_relative_to(excluded)):
            continue
        seen.add(resolved)
        if item.root is not None and common is not None and resolved.is_relative_to(common):
            name = resolved.relative_to(common).with_suffix("").as_posix()
        else:
            name = item.path.stem
        collected.images.append(ImageInput(item.path, _unique(name, item.path.suffix, taken)))
    return collected


def unique_names(paths: Iterable[Path]) -> list[str]:
    """Stems of `paths`, made unique as `collect_images` does (for tools whose inputs are not images)."""
    taken: set[str] = set()
    return [_unique(path.stem, path.suffix, taken) for path in paths]


# ------------------------------------------------------------------------------------- PNG encoding
PNG_COMPRESSION = 1  # zlib level of the pictures: the fastest that compresses (0 stores them as they are)
try:  # level 1 through ISA-L: the same deflate format, four times faster (see the module doc)
    from isal import isal_zlib as _fast_deflate
except ImportError:  # pragma: no cover - isal is a dependency; zlib still writes valid files
    _fast_deflate = None
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type: grey, grey + alpha, RGB, RGBA


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode_png(array: np.ndarray, compression: int = PNG_COMPRESSION, text: Mapping[str, str] | None = None) -> bytes:
    """The bytes of a PNG file holding `array` exactly: H×W grey or H×W×C (C = 1..4: grey, grey + alpha,
    RGB, RGBA), uint8 or uint16, deflated at zlib level `compression` (0-9; level 1 by ISA-L when
    installed), with `text` as tEXt chunks (Latin-1 keys of 1-79 characters). The one PNG encoder of
    the outputs (see module doc)."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"a PNG holds uint8 or uint16 values, got {array.dtype}")
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
    if channels not in _COLOR_TYPES or min(array.shape[:2], default=0) < 1:
        raise ValueError(f"a PNG holds an H×W or H×W×C image (C = 1 to 4, sides of at least 1), got shape {array.shape}")
    if not 0 <= compression <= 9:
        raise ValueError(f"compression is a zlib level from 0 to 9, got {compression}")
    height, width = array.shape[:2]
    bits = 8 * array.dtype.itemsize
    rows = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).view(np.uint8).reshape(height, -1)
    lines = np.empty((height, rows.shape[1] + 1), np.uint8)  # each scan line: filter type byte, then the filtered row
    if compression == 0:
        lines[:, 0] = 0  # None: nothing to gain from a filter when nothing is compressed
        lines[:, 1:] = rows
    else:
        lines[:, 0] = 2  # Up: the byte above is subtracted (modulo 256); the first row's "above" is zero
        lines[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=lines[1:, 1:])
    fast = _fast_deflate is not None and compression == 1
    deflate = _fast_deflate.compressobj(1) if fast else zlib.compressobj(compression)
    idat = deflate.compress(lines) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, bits, _COLOR_TYPES[channels], 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        if not 0 < len(key) < 80:
            raise ValueError(f"a PNG text key has 1 to 79 characters, got {key!r}")
        chunks.append(_png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    chunks += [_png_chunk(b"IDAT", idat), _png_chunk(b"IEND", b"")]
    return _PNG_SIGNATURE + b"".join(chunks)


def write_png(
    path: str | os.PathLike, array: np.ndarray, compression: int = PNG_COMPRESSION, durable: bool = False,
    text: Mapping[str, str] | None = None,
) -> Path:
    """Write `array` as a PNG file (see `encode_png`), atomically."""
    return atomic_write_bytes(path, encode_png(array, compression, text), durable)


def png16_scale(depth: np.ndarray, metric: bool) -> tuple[float, float]:
    """How a prediction maps to 16-bit values, as (scale, offset): stored = (depth - offset) × scale;
    metric depth in millimetres (1000, 0), relative depth min–max over its finite pixels."""
    if metric:
        return 1000.0, 0.0
    depth = np.asarray(depth, dtype=np.float64)
    finite = np.isfinite(depth)
    low = float(depth[finite].min()) if finite.any() else 0.0
    high = float(depth[finite].max()) if finite.any() else 0.0
    return 65535.0 / max(high - low, 1e-12), low


def png16_values(depth: np.ndarray, metric: bool) -> np.ndarray:
    """A prediction as the 16-bit PNG stores it: metric depth in millimetres (0 = invalid, clipped at
    65.535 m), relative depth min–max scaled to 0–65535 over its finite pixels (`png16_scale`)."""
    scale, offset = png16_scale(depth, metric)
    return depth_png16_values(np.asarray(depth, dtype=np.float64) - offset, scale)


def png16_text(metric: bool, record: DepthMetadata | None = None, depth: np.ndarray | None = None) -> dict[str, str]:
    """The PNG text chunks saying what a 16-bit depth PNG holds: `record` (or a bare one) with the scale of
    `depth` (`png16_scale`), for every writer of such files (the outputs, `convert`, the server)."""
    record = record or DepthMetadata.for_model(metric)
    if depth is not None:
        scale, offset = png16_scale(depth, metric)
        record = record.with_values(png_scale=scale, png_offset=offset, height=depth.shape[0], width=depth.shape[1])
    elif metric:
        record = record.with_values(png_scale=1000.0, png_offset=0.0)
    return png_text(record)


# ------------------------------------------------------------------------------------------ outputs
# format → the suffix added to an input's output name
OUTPUT_SUFFIXES: dict[str, str] = {
    "color": "_depth.png", "gray": "_gray.png", "side": "_side.png", "png16": "_depth16.png", "npy": ".npy", "ply": ".ply",
    "normals": "_normals.png", "normals_npy": "_normals.npy",
    "glb": ".glb", "mesh_ply": "_mesh.ply", "obj": ".obj", "confidence": "_confidence.png",
}
# what `predict` writes: every format but the point cloud (normals need metric depth: refused for relative models)
IMAGE_FORMATS = ("color", "gray", "side", "png16", "npy", "normals", "normals_npy", "confidence")
# formats computed from 3-D geometry: metric depth and a camera
GEOMETRY_FORMATS = ("ply", "normals", "normals_npy", "glb", "mesh_ply", "obj")
# what `mesh` writes: triangle meshes (GLB textured with the image; PLY and OBJ with vertex colours) and the
# flip-consistency confidence picture
MESH_OUTPUTS = ("glb", "mesh_ply", "obj", "confidence")


def check_formats(formats: Sequence[str], allowed: Sequence[str] = tuple(OUTPUT_SUFFIXES)) -> list[str]:
    """`formats` as a list, each once; `ConfigError` for an empty list or a name not in `allowed`."""
    unknown = [f for f in formats if f not in allowed]
    if unknown or not formats:
        raise ConfigError(f"formats= lists {unknown or 'nothing'}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(formats))


def parse_formats(text: str, allowed: Sequence[str] = IMAGE_FORMATS) -> list[str]:
    """A comma-separated list of output formats, checked against `allowed`."""
    return check_formats([f.strip() for f in text.split(",") if f.strip()], allowed)


@dataclass(frozen=True)
class PointCloudOptions:
    """How point clouds and meshes are made from metric depth: the camera (a horizontal field of view
    in degrees, or a focal length in pixels; principal point at the centre; a photo's EXIF focal length
    first when `use_exif`, see `camera.choose_camera`), every `stride`-th pixel, at most `max_points`
    points (drawn at random, seeded). Pixels on depth edges (`mesh.depth_edges` at `edge_threshold`,
    looked for at the pixel spacing of a network output `network_side` pixels on its shorter side:
    `mesh.edge_spacing`) are left out, none when `edge_threshold` is None; with `min_confidence`, so
    are pixels of lower flip-consistency confidence (`inference.confidence`)."""

    fov_deg: float | None = None
    focal_px: float | None = None
    stride: int = 1
    max_points: int | None = None
    use_exif: bool = True
    edge_threshold: float | None = 0.04  # mesh.DEFAULT_EDGE_THRESHOLD (checked by the tests)
    network_side: int | None = None
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.fov_deg is not None and self.focal_px is not None:
            raise ConfigError("give fov_deg= or focal_px=, not both")
        if self.edge_threshold is not None and not self.edge_threshold > 0:
            raise ConfigError(f"edge_threshold= must be positive (None keeps edges), got {self.edge_threshold}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence= must lie in [0, 1], got {self.min_confidence}")

    def camera(self, width: int, height: int, image_file: Any = None, name: str | None = None) -> Any:
        """The `camera.CameraChoice` of a `width`×`height` image read from `image_file` (its EXIF, then
        these options, then the default with a warning)."""
        from .camera import choose_camera

        return choose_camera(width, height, image_file, self.fov_deg, self.focal_px, self.use_exif, name)

    def edge_spacing(self, shape: tuple[int, ...]) -> int:
        """The pixel spacing at which depth edges of a map of `shape` are looked for (`mesh.edge_spacing`)."""
        from .mesh import edge_spacing

        return edge_spacing((int(shape[0]), int(shape[1])), self.network_side)

    def keep(self, depth: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray | None:
        """The pixels a cloud or mesh keeps (H×W bool): not on a depth edge, confident enough; None: all."""
        keep = None
        if self.edge_threshold is not None:
            from .mesh import depth_edges

            keep = ~depth_edges(depth, self.edge_threshold, self.edge_spacing(np.shape(depth)))
        if self.min_confidence is not None:
            if confidence is None:
                raise ValueError("min_confidence needs the confidence map (inference.confidence)")
            confident = np.asarray(confidence) >= self.min_confidence
            keep = confident if keep is None else keep & confident
        return keep

    def intrinsics(self, width: int, height: int) -> Intrinsics:
        """The pinhole camera of a `width`×`height` image."""
        from .geometry import DEFAULT_FOV_DEG

        if self.focal_px is not None:
            return Intrinsics.from_focal(width, height, self.focal_px)
        return Intrinsics.from_fov(width, height, self.fov_deg or DEFAULT_FOV_DEG)

    @property
    def focal_source(self) -> str:
        """Where the focal length comes from (`metadata.FOCAL_SOURCES`): focal, fov or the default."""
        return "focal" if self.focal_px is not None else "fov" if self.fov_deg is not None else "default"


class DepthWriter:
    """Writes one prediction's files below `outdir`, each atomically, one format at a time.

    color: the depth picture (colour map `cmap`, or grey with `grayscale`); gray: the grey picture;
    side: input | gap | depth picture; png16: 16-bit PNG (`png16_values`); npy: float32 depth as
    predicted; ply: coloured point cloud; normals: the normal map picture, normals_npy: H×W×3 float32
    unit normals (camera frame, NaN where invalid; see `normals`); glb, mesh_ply (NAME_mesh.ply), obj:
    a triangle mesh (`mesh.depth_to_mesh`); confidence: the flip-consistency confidence as an 8-bit
    picture (255 = 1). ply, normals and meshes need metric depth and a camera (`points` says which, and
    how clouds and meshes are thinned and cleaned of depth edges). Metric depth is coloured
    inverted, so near is warm. Pictures are PNGs deflated at `compression` (zlib level); `durable`
    syncs every file to disk before its rename.

    Every file says what it holds (`metadata.DepthMetadata`, with `model` and `input_size` when
    given): PNG text chunks, PLY header comments, and a JSON sidecar FILE.npy.json beside .npy files.
    """

    def __init__(
        self, outdir: str | os.PathLike, formats: Sequence[str], metric: bool, cmap: str = DEFAULT_CMAP,
        grayscale: bool = False, *, compression: int = PNG_COMPRESSION, durable: bool = False,
        points: PointCloudOptions | None = None, model: str | None = None, input_size: int | None = None,
    ) -> None:
        self.formats = check_formats(formats)
        try:
            colormap_lut(cmap)
        except ValueError as exc:
            raise ConfigError(f"cmap={cmap}: {exc}") from None
        geometric = [fmt for fmt in self.formats if fmt in GEOMETRY_FORMATS]
        if geometric and not metric:
            from .weights.registry import DEFAULT_METRIC_MODEL

            what = "a point cloud" if geometric == ["ply"] else "3-D geometry"
            raise ConfigError(f"{what} (formats= {', '.join(geometric)}) needs metric depth in metres; this model "
                              "predicts relative depth (disparity without a scale). Use a metric model: "
                              f"{DEFAULT_METRIC_MODEL}, metric-hypersim-vitl (indoor) or metric-vkitti-vitl (outdoor)")
        if "ply" in self.formats or "mesh_ply" in self.formats:
            require_extra("plyfile", "pointcloud")  # before any prediction is made
        if any(fmt in ("glb", "obj") for fmt in self.formats):
            require_extra("trimesh", "pointcloud")
        if not 0 <= compression <= 9:
            raise ConfigError(f"compression= is a zlib level from 0 to 9, got {compression}")
        self.outdir = Path(outdir)
        self.metric = metric
        self.cmap = cmap
        self.grayscale = grayscale
        self.compression = compression
        self.durable = durable
        self.points = points or PointCloudOptions()
        self.record = DepthMetadata.for_model(metric, model, input_size)

    def paths(self, name: str) -> dict[str, Path]:
        """The file of each format for the output name `name`."""
        return {fmt: self.outdir / f"{name}{OUTPUT_SUFFIXES[fmt]}" for fmt in self.formats}

    def exists(self, name: str) -> bool:
        """Whether every file of `name` is there already (what a run that skips finished inputs skips)."""
        return all(path.is_file() for path in self.paths(name).values())

    def picture(self, depth: np.ndarray, grayscale: bool | None = None) -> np.ndarray:
        """The depth picture as this writer draws it."""
        grey = self.grayscale if grayscale is None else grayscale
        return depth_picture(depth, self.cmap, grayscale=grey, invert=self.metric)

    def metadata(self, depth: np.ndarray, intrinsics: Intrinsics | None = None, focal_source: str | None = None,
                 content: str = "depth") -> DepthMetadata:
        """What a file of this prediction holds: the model's record, its size and the camera (`intrinsics`
        with its `focal_source`; without them, for 3-D outputs, the one `points` gives)."""
        height, width = np.shape(depth)[:2]
        if intrinsics is None and self.metric and any(fmt in GEOMETRY_FORMATS for fmt in self.formats):
            intrinsics, focal_source = self.points.intrinsics(width, height), self.points.focal_source
        return self.record.with_values(content=content, width=width, height=height, intrinsics=intrinsics,
                                       focal_source=focal_source if intrinsics is not None else None)

    def write(
        self, name: str, image: np.ndarray | None, depth: np.ndarray, picture: np.ndarray | None = None,
        intrinsics: Intrinsics | None = None, focal_source: str | None = None, confidence: np.ndarray | None = None,
    ) -> dict[str, Path]:
        """Write every format of one prediction (`picture`: the depth picture, if already drawn); the
        pictures live only during this call. `intrinsics` (and where its focal came from, a
        `metadata.FOCAL_SOURCES` name) is this image's camera, when it has its own; else `points`
        gives it. `confidence` (H×W in [0, 1], `inference.confidence`) is needed by the confidence
        format and by `points.min_confidence`. Returns the file of each format. An image without any
        valid depth raises `NoValidDepthError` (naming `name`) before a 3-D file is written."""
        written: dict[str, Path] = {}
        record = self.metadata(depth, intrinsics, focal_source)
        normals: np.ndarray | None = None
        keep: np.ndarray | None = None
        mesh: Any = None
        if any(fmt in GEOMETRY_FORMATS for fmt in self.formats):
            if not np.any(np.isfinite(depth) & (np.asarray(depth) > 0)):
                from .errors import NoValidDepthError

                raise NoValidDepthError(f"{name}: no pixel has a valid depth (finite and positive)")
            keep = self.points.keep(depth, confidence)
        for fmt, path in self.paths(name).items():
            if fmt == "npy":
                atomic_write(path, lambda tmp: np.save(tmp, np.asarray(depth, dtype=np.float32)), self.durable)
                self._write_sidecar(path, record)
            elif fmt == "png16":
                write_png(path, png16_values(depth, self.metric), self.compression, self.durable,
                          png16_text(self.metric, record, depth))
            elif fmt == "ply":
                self._write_ply(path, image, depth, record, keep)
            elif fmt in ("glb", "mesh_ply", "obj"):
                if mesh is None:
                    from .mesh import depth_to_mesh

                    mesh = depth_to_mesh(depth, image, record.intrinsics, self.points.edge_threshold, self.points.stride,
                                         keep, edge_spacing=self.points.edge_spacing(np.shape(depth)))
                self._write_mesh(path, mesh, record.with_values(content="mesh"))
            elif fmt == "confidence":
                if confidence is None:
                    raise ValueError("the confidence picture needs the confidence map (inference.confidence)")
                values = np.round(np.clip(np.nan_to_num(np.asarray(confidence, np.float64)), 0, 1) * 255).astype(np.uint8)
                write_png(path, values, self.compression, self.durable, {
                    "Description": "flip-consistency confidence, 255 = 1 (the prediction and the mirrored image's agree), "
                                   "0 = no valid prediction", "Software": record.software})
            elif fmt in ("normals", "normals_npy"):
                if normals is None:
                    from .normals import depth_to_normals

                    normals = depth_to_normals(depth, record.intrinsics or self.points.intrinsics(*depth.shape[::-1]))
                self._write_normals(fmt, path, normals, record.with_values(content="normals"))
            elif fmt == "gray":
                write_png(path, self.picture(depth, grayscale=True), self.compression, self.durable,
                          png_text(record.with_values(content="picture")))
            else:  # color, side: the colour (or grey) picture, drawn once for both
                picture = self.picture(depth) if picture is None else picture
                text = png_text(record.with_values(content="picture"))
                if fmt == "side":
                    if image is None:
                        raise ValueError("the side-by-side picture needs the input image")
                    write_png(path, side_by_side(image, picture), self.compression, self.durable, text)
                else:
                    write_png(path, picture, self.compression, self.durable, text)
            written[fmt] = path
        log.debug("wrote %s", ", ".join(map(str, written.values())))
        return written

    def _write_sidecar(self, path: Path, record: DepthMetadata) -> None:
        """The record of a file whose format has no room for it, beside it (FILE.npy.json)."""
        atomic_write_bytes(sidecar_path(path), sidecar_json(record).encode("utf-8"), self.durable)

    def _write_normals(self, fmt: str, path: Path, normals: np.ndarray, record: DepthMetadata) -> None:
        from .normals import normals_picture

        if fmt == "normals":
            write_png(path, normals_picture(normals), self.compression, self.durable, png_text(record))
        else:
            atomic_write(path, lambda tmp: np.save(tmp, normals), self.durable)
            self._write_sidecar(path, record)

    def _write_mesh(self, path: Path, mesh: Any, record: DepthMetadata) -> None:
        from .mesh import write_mesh

        write_mesh(path, mesh, record, self.durable)

    def _write_ply(
        self, path: Path, image: np.ndarray | None, depth: np.ndarray, record: DepthMetadata,
        keep: np.ndarray | None = None,
    ) -> None:
        from .geometry import depth_to_points, write_ply
        from .io import to_uint8
        from .mesh import MAX_CLOUD_POINTS, grid_stride

        colors = to_uint8(image) if image is not None else None
        stride = grid_stride(*np.shape(depth), self.points.stride, MAX_CLOUD_POINTS)
        points, colors = depth_to_points(depth, record.intrinsics, colors, stride, self.points.max_points, keep=keep)
        write_ply(path, points, colors, durable=self.durable, comments=ply_comments(record.with_values(content="points")))


# -------------------------------------------------------------------------------------------- video
class VideoWriter:
    """H.264 MP4 (yuv420p) through PyAV at `fps`, written to a temporary file renamed onto `path` by
    `close()` (a failure or `abort()` leaves nothing). Frames are RGB uint8; the size is the first
    frame's (odd sides padded to even, as yuv420p needs); later frames of another size are resized.
    With `durable` the finished file is synced to disk before the rename. With `record` (what the
    depth it shows is: model, metres or disparity) a JSON sidecar FILE.mp4.json says so, with the
    frame count and rate (an MP4 has no room for it)."""

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, crf: int = 18, durable: bool = False,
                 record: DepthMetadata | None = None) -> None:
        from .inference.video import VIDEO_EXTRA

        self._av = require_extra("av", VIDEO_EXTRA)
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.frames = 0
        self.record = record
        self.durable = durable
        self._target = contextlib.ExitStack()
        self._tmp = self._target.enter_context(atomic_target(self.path, durable))
        self._container: Any = None
        self._stream: Any = None

    def _open(self, height: int, width: int) -> None:
        self._container = self._av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=self.fps)
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(self.crf)}
        self._stream.codec_context.time_base = 1 / self.fps

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB uint8 frame."""
        import cv2

        if self._stream is None:
            self._open(*frame.shape[:2])
        width, height = self._stream.width, self._stream.height
        if frame.shape[:2] != (height, width):
            if frame.shape[0] + frame.shape[0] % 2 == height and frame.shape[1] + frame.shape[1] % 2 == width:
                frame = np.pad(frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0)))
            else:
                log.warning("%s: frame %d is %dx%d, resized to %dx%d", self.path, self.frames, frame.shape[1],
                            frame.shape[0], width, height)
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        self._container.mux(self._stream.encode(video_frame))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder and put the finished file in place."""
        try:
            if self._stream is None:
                raise VideoError(f"{self.path}: no frames to write")
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except BaseException as exc:
            self._finish(exc)
            raise
        self._finish(None)
        if self.record is not None:
            height, width = (self._stream.height, self._stream.width)
            record = self.record.with_values(content="picture", frames=self.frames, fps=float(self.fps), width=width,
                                             height=height)
            atomic_write_bytes(sidecar_path(self.path), sidecar_json(record).encode("utf-8"), self.durable)
        return self.path

    def abort(self) -> None:
        """Drop the unfinished file."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._finish(VideoError("aborted"))

    def _finish(self, error: BaseException | None) -> None:
        if error is None:
            self._target.close()  # sync and rename
        else:
            with contextlib.suppress(BaseException):
                self._target.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()



# --------------------------------------------------------------------------- raw depth sequences
SEQUENCE_FORMATS = ("png16", "npz", "exr")  # raw depth of a whole video, beside (or instead of) its pictures
VIDEO_FORMATS = ("mp4", *SEQUENCE_FORMATS)  # what `video` writes; mp4 is the picture video
EXR_EXTRA = "exr"


class SequenceWriter:
    """Raw depth of one video, written frame by frame with memory that does not grow with its length.

    Formats: `png16` (OUT/NAME/000000.png … as 16-bit PNGs: metric depth in millimetres; relative depth
    scaled with ONE range, the whole video's minimum and maximum, written to OUT/NAME/png16.json, so
    frames compare), `exr` (OUT/NAME/000000.exr …: float32 channel Z, through OpenEXR) and `npz`
    (OUT/NAME.npz: `depth` float32 [T, H, W], `fps`, `units`, `kind`, `metadata`). Every file carries
    what it holds (`metadata.DepthMetadata`: PNG text, EXR attribute, the npz's `metadata` field, and
    png16.json's `depth-anything` entry), with `model`, `input_size` and `intrinsics` when given. Each frame's float32 map goes
    to a temporary file beside the outputs; `close()` writes the 16-bit PNGs from it (the range is
    exact because every frame has been seen) and the .npz (its `depth` array copied in chunks), then
    renames everything into place. A failure or `abort()` leaves no output at all.
    """

    def __init__(
        self, outdir: str | os.PathLike, name: str, formats: Sequence[str], fps: float | Fraction, metric: bool,
        durable: bool = False, *, model: str | None = None, input_size: int | None = None,
        intrinsics: Intrinsics | None = None, focal_source: str | None = None,
    ) -> None:
        import tempfile

        self.formats = check_formats([f for f in formats if f != "mp4"], SEQUENCE_FORMATS)
        self._exr = require_extra("OpenEXR", EXR_EXTRA) if "exr" in self.formats else None
        self.folder = Path(outdir) / name
        self.npz_path = self.folder.with_name(self.folder.name + ".npz")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.metric = metric
        self.durable = durable
        self.frames = 0
        self.shape: tuple[int, int] | None = None
        self.range = (math.inf, -math.inf)
        self.record = DepthMetadata.for_model(metric, model, input_size, fps=float(self.fps), intrinsics=intrinsics,
                                              focal_source=focal_source if intrinsics is not None else None)
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.", suffix=".partial", dir=self.folder.parent))
        self._frames_dir = self._tmp / self.folder.name
        self._frames_dir.mkdir()
        self._raw = open(self._tmp / "depth.f32", "wb")  # noqa: SIM115 (closed by close/abort)

    @property
    def units(self) -> str:
        """What the values are: metres, or relative (disparity-like: larger is nearer)."""
        return "metres" if self.metric else "relative"

    def write(self, depth: np.ndarray) -> None:
        """Add the next frame's depth map [H, W] (every frame of one video has the same size)."""
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        if self.shape is None:
            self.shape = (int(depth.shape[0]), int(depth.shape[1]))
        if depth.shape != self.shape:
            raise VideoError(f"{self.folder}: frame {self.frames} is {depth.shape[0]}×{depth.shape[1]}, "
                             f"but the video's frames are {self.shape[0]}×{self.shape[1]}")
        finite = depth[np.isfinite(depth)]
        if finite.size:
            self.range = (min(self.range[0], float(finite.min())), max(self.range[1], float(finite.max())))
        self._raw.write(depth.tobytes())
        if self._exr is not None:
            frame = self._frame_record(self.frames)
            header = {"compression": self._exr.ZIP_COMPRESSION, "type": self._exr.scanlineimage, **exr_header(frame)}
            self._exr.File(header, {"Z": depth}).write(str(self._frames_dir / f"{self.frames:06d}.exr"))
        self.frames += 1

    def _frame_record(self, index: int, **values: Any) -> DepthMetadata:
        """The record of frame `index` (the whole video's, once every frame is written)."""
        height, width = self.shape or (None, None)
        return self.record.with_values(frame=index, width=width, height=height, **values)

    def _frame_maps(self) -> Iterable[np.ndarray]:
        """The stored maps, one at a time (memory-mapped)."""
        if not self.frames or self.shape is None:
            return
        maps = np.memmap(self._tmp / "depth.f32", dtype=np.float32, mode="r", shape=(self.frames, *self.shape))
        try:
            yield from maps
        finally:
            del maps

    def _png16_range(self) -> tuple[float, float]:
        low, high = self.range
        return (0.0, 0.0) if low > high else (low, high)

    def _write_png16(self) -> None:

        low, high = self._png16_range()
        scale = 1000.0 if self.metric else 65535.0 / max(high - low, 1e-12)
        offset = 0.0 if self.metric else low
        for index, depth in enumerate(self._frame_maps()):
            values = depth_png16_values(np.asarray(depth, np.float64) - offset, scale)
            text = png_text(self._frame_record(index, frames=self.frames, png_scale=scale, png_offset=offset))
            (self._frames_dir / f"{index:06d}.png").write_bytes(encode_png(values, text=text))
        info = {"frames": self.frames, "fps": float(self.fps), "fps_fraction": [self.fps.numerator, self.fps.denominator],
                "units": self.units, "kind": "metric depth" if self.metric else "disparity",
                "png_scale": scale, "low": offset if not self.metric else 0.0,
                "high": high if not self.metric else 65.535,
                "to_values": "metres = png / 1000" if self.metric else "value = low + png / png_scale"}
        whole = self.record.with_values(frames=self.frames, png_scale=scale, png_offset=offset, width=self.shape[1],
                                        height=self.shape[0]) if self.shape else self.record
        (self._frames_dir / "png16.json").write_text(sidecar_json(whole, **info))

    def _write_npz(self) -> Path:
        import zipfile

        path = self._tmp / "depth.npz"
        shape = (self.frames, *(self.shape or (0, 0)))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("depth.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array_header_2_0(
                    entry, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                            "shape": shape})
                with open(self._tmp / "depth.f32", "rb") as raw:
                    while chunk := raw.read(1 << 24):
                        entry.write(chunk)
            whole = self.record.with_values(frames=self.frames, height=shape[1], width=shape[2])
            for key, value in (("fps", np.float64(self.fps)), ("units", np.str_(self.units)),
                               ("kind", np.str_("metric depth" if self.metric else "disparity")),
                               *npz_fields(whole).items()):
                with archive.open(f"{key}.npy", "w") as entry:
                    np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
        if self.durable:
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
        return path

    def close(self) -> list[Path]:
        """Finish every format and put the outputs in place; the paths written."""
        import shutil

        try:
            self._raw.close()
            if not self.frames:
                raise VideoError(f"{self.folder}: no frames to write")
            written: list[Path] = []
            if "png16" in self.formats:
                self._write_png16()
            npz = self._write_npz() if "npz" in self.formats else None
            if "png16" in self.formats or "exr" in self.formats:
                if self.folder.exists():
                    self.folder.rename(self._tmp / "replaced")
                self._frames_dir.rename(self.folder)
                written.append(self.folder)
            if npz is not None:
                os.replace(npz, self.npz_path)
                written.append(self.npz_path)
        except BaseException:
            self.abort()
            raise
        shutil.rmtree(self._tmp, ignore_errors=True)
        return written

    def abort(self) -> None:
        """Drop everything written so far."""
        import shutil

        with contextlib.suppress(Exception):
            self._raw.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


__all__ = [
    "IMAGE_FORMATS", "LIST_SUFFIXES", "MESH_OUTPUTS", "OUTPUT_SUFFIXES", "PNG_COMPRESSION", "CollectedInputs", "DepthWriter", "ImageInput",
    "PointCloudOptions", "SEQUENCE_FORMATS", "SequenceWriter", "VIDEO_FORMATS", "VideoWriter", "check_formats", "collect_images", "encode_png", "parse_formats", "png16_scale",
    "png16_text", "png16_values",
    "unique_names", "write_png",
]
