"""Depth files read back: what one holds (`inspect_depth_file`, behind `depth-anything info`), its values
in their own units (`load_depth_values`), and one format turned into another (`convert_depth_file`,
behind `depth-anything convert`).

Every format the toolkit writes is read: 16-bit PNGs (back to metres, or to relative values with the
range the file records), .npy (with its FILE.npy.json), .npz (one map, or a sequence [T, H, W]), EXR
(the Z channel), PLY point clouds and meshes, GLB and OBJ meshes, and a folder of sequence frames (through its
png16.json). Files from elsewhere carry no record: a 16-bit PNG then needs the scale it was written
with (`png_scale`: stored / png_scale = metres; KITTI's is 256, millimetres' 1000).

Conversion writes the target's format (by its suffix: .npy, .npz, .exr, .png, .ply) with the record,
updated: a 16-bit PNG becomes float metres, metric depth becomes points (with the camera the record
holds, or the one given). Invalid pixels (0 in a metric 16-bit PNG) become NaN in float formats.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, require_extra
from .geometry import Intrinsics
from .io import atomic_write, atomic_write_bytes
from .metadata import (
    DepthMetadata,
    exr_header,
    glb_json,
    npz_fields,
    ply_comments,
    ply_header_comments,
    png_text_chunks,
    read_metadata,
    sidecar_json,
    sidecar_path,
)

# target suffix → what `convert_depth_file` writes there
CONVERT_TARGETS = {
    ".npy": "float32 values",
    ".npz": "float32 values (depth) and metadata",
    ".exr": "float32 Z channel",
    ".png": "16-bit PNG",
    ".ply": "point cloud (metric depth only)",
}


@dataclass
class DepthFileInfo:
    """What a file holds: its `format`, the record it carries (None for a file from elsewhere), the shape
    and type of its main array, the finite range of its values, and format details (counts, keys)."""

    path: Path
    format: str
    record: DepthMetadata | None
    shape: tuple[int, ...] = ()
    dtype: str = ""
    value_range: tuple[float, float] | None = None
    invalid: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The description for people, one fact per line."""
        out = [
            f"{self.path}: {self.format}"
            + (f", {self.dtype} {'x'.join(map(str, self.shape))}" if self.shape else "")
        ]
        if self.value_range is not None:
            unit = (
                f" {self.record.units}" if self.record is not None and self.record.content == "depth" else ""
            )
            out.append(
                f"  values: {self.value_range[0]:.6g} to {self.value_range[1]:.6g}{unit}"
                + (f" ({self.invalid} invalid)" if self.invalid else "")
            )
        out += [f"  {key}: {value}" for key, value in self.details.items()]
        if self.record is None:
            out.append(
                "  metadata: none (not written by depth-anything, or by a version before files were stamped)"
            )
            return out
        record = self.record
        out.append(f"  holds: {record.describe()}")
        for key, value in record.to_dict().items():
            if key == "intrinsics":
                value = ", ".join(f"{k}={v:.6g}" for k, v in value.items())
            out.append(f"  {key}: {value}")
        return out


def _finite_range(values: np.ndarray, invalid_zero: bool = False) -> tuple[tuple[float, float] | None, int]:
    values = np.asarray(values)
    valid = np.isfinite(values) & ((values != 0) if invalid_zero else True)
    if not valid.any():
        return None, int(values.size)
    return (float(values[valid].min()), float(values[valid].max())), int(values.size - valid.sum())


def _png_kind(path: Path) -> tuple[int, int]:
    """Bit depth and channel count from a PNG's header."""
    with path.open("rb") as handle:
        head = handle.read(33)
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or len(head) < 26:
        raise ConfigError(f"{path}: not a PNG file")
    bits, colour = head[24], head[25]
    return bits, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 0)


def _read_ply(path: Path) -> tuple[dict[str, int], np.ndarray | None]:
    """Element counts of a PLY header, and the vertex positions."""
    plyfile = require_extra("plyfile", "pointcloud")
    try:
        data = plyfile.PlyData.read(str(path))
    except plyfile.PlyParseError as exc:  # a header that promises more than the body holds, bad values
        raise ConfigError(f"{path}: a damaged PLY file ({exc})") from None
    counts = {element.name: len(element.data) for element in data.elements}
    points = None
    if "vertex" in counts:
        vertex = data["vertex"]
        names = vertex.data.dtype.names or ()
        if not all(axis in names for axis in "xyz"):
            raise ConfigError(
                f"{path}: its vertices have no x, y, z (properties: {', '.join(names) or 'none'})"
            )
        points = np.stack([np.asarray(vertex[axis], np.float64) for axis in "xyz"], axis=-1)
    return counts, points


def _glb_details(path: Path) -> dict[str, Any]:
    tree = glb_json(path.read_bytes(), str(path))
    accessors = tree.get("accessors", [])
    vertices = faces = 0
    for mesh in tree.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            position = primitive.get("attributes", {}).get("POSITION")
            if position is not None and position < len(accessors):
                vertices += int(accessors[position].get("count", 0))
            indices = primitive.get("indices")
            if indices is not None and indices < len(accessors):
                faces += int(accessors[indices].get("count", 0)) // 3
    return {
        "meshes": len(tree.get("meshes", [])),
        "vertices": vertices,
        "triangles": faces,
        "textures": len(tree.get("textures", [])),
    }


def load_depth_values(
    path: str | os.PathLike, png_scale: float | None = None
) -> tuple[np.ndarray, DepthMetadata | None]:
    """The values of a depth file in their own units (metres, or relative) as float32 [H, W] (or
    [T, H, W] for a sequence's .npz), with its record. A 16-bit PNG is mapped back with its record's
    scale and offset, or `png_scale` (stored / png_scale = metres) for a file without one; invalid
    pixels of metric files are NaN."""
    path = Path(path)
    record = read_metadata(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        from .io import load_depth_png16

        stored = load_depth_png16(path, 1.0)
        if png_scale is not None:
            record = (
                record or DepthMetadata(kind="metric", width=stored.shape[1], height=stored.shape[0])
            ).with_values(png_scale=float(png_scale), png_offset=0.0)
        if record is None or record.png_scale is None:
            raise ConfigError(
                f"{path}: a 16-bit PNG without a depth-anything record; give the scale it was "
                "written with (png_scale=: stored / scale = metres, e.g. 1000 for millimetres)"
            )
        values = (record.png_offset + stored.astype(np.float64) / record.png_scale).astype(np.float32)
        if record.metric:
            values[stored == 0] = np.nan
        return values, record
    if suffix in (".npy", ".npz"):
        try:
            if suffix == ".npy":
                values = np.load(path, allow_pickle=False)
            else:
                with np.load(path, allow_pickle=False) as archive:
                    key = "depth" if "depth" in archive.files else next(iter(archive.files), None)
                    if key is None:
                        raise ConfigError(f"{path}: an empty .npz")
                    values = archive[key]
            return values.astype(np.float32, copy=False), record
        except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:  # not NumPy format
            raise ConfigError(f"{path}: not a readable {suffix} array of numbers ({exc})") from None
    if suffix == ".exr":
        openexr = require_extra("OpenEXR", "exr")
        try:
            with openexr.File(str(path)) as exr:
                channels = exr.channels()
                name = "Z" if "Z" in channels else next(iter(channels))
                return np.asarray(channels[name].pixels, dtype=np.float32), record
        except (OSError, ValueError, RuntimeError, StopIteration) as exc:  # cut short, no channel
            raise ConfigError(f"{path}: an unreadable OpenEXR file ({exc or type(exc).__name__})") from None
    raise ConfigError(f"{path}: not a depth map this toolkit reads (.png, .npy, .npz, .exr)")


def inspect_depth_file(path: str | os.PathLike) -> DepthFileInfo:
    """What the file at `path` holds (see `DepthFileInfo`); a folder of frames is read through its png16.json."""
    path = Path(path)
    if path.is_dir():
        record = read_metadata(path)
        frames = sorted(p.name for p in path.iterdir() if p.suffix.lower() in (".png", ".exr"))
        return DepthFileInfo(path, "depth frames", record, details={"frame files": len(frames)})
    record = read_metadata(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        bits, channels = _png_kind(path)
        if bits == 16 and channels == 1 and record is not None and record.content == "depth":
            values, record = load_depth_values(path)
            value_range, invalid = _finite_range(values)
            return DepthFileInfo(
                path,
                "png16",
                record,
                values.shape,
                "uint16",
                value_range,
                invalid,
            )
        texts = {
            k: v
            for k, v in png_text_chunks(path.read_bytes()[: 1 << 20], str(path)).items()
            if k != "depth-anything"
        }
        details = {key: value for key, value in texts.items() if key == "Description"}
        if bits == 16 and channels == 1 and record is None:  # a depth PNG from elsewhere: its integers
            from .io import load_depth_png16

            stored = load_depth_png16(path, 1.0)
            value_range, invalid = _finite_range(stored, invalid_zero=True)
            details["stored"] = (
                "16-bit integers of an unknown scale (convert with --scale S: stored / S = metres)"
            )
            return DepthFileInfo(
                path, "PNG (16-bit, 1 channel)", None, stored.shape, "uint16", value_range, invalid, details
            )
        return DepthFileInfo(
            path,
            f"PNG ({bits}-bit, {channels} channel{'s' if channels > 1 else ''})",
            record,
            details=details,
        )
    if suffix in (".npy", ".npz", ".exr"):
        values, record = load_depth_values(path)
        value_range, invalid = _finite_range(values)
        details: dict[str, Any] = {}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                details["fields"] = ", ".join(archive.files)
        if suffix == ".npy" and sidecar_path(path).is_file():
            details["sidecar"] = sidecar_path(path).name
        return DepthFileInfo(
            path, suffix[1:].upper(), record, values.shape, str(values.dtype), value_range, invalid, details
        )
    if suffix == ".ply":
        counts, points = _read_ply(path)
        others = [
            c
            for c in ply_header_comments(path.read_bytes()[: 1 << 16], str(path))
            if not c.startswith("depth-anything")
        ]
        details = {"elements": ", ".join(f"{name} {count}" for name, count in counts.items())}
        if points is not None and len(points):
            low, high = points.min(axis=0), points.max(axis=0)
            details["bounds"] = " ".join(
                f"{axis} {lo:.4g}..{hi:.4g}" for axis, lo, hi in zip("xyz", low, high, strict=True)
            )
        if others and record is None:
            details["comments"] = "; ".join(others)
        return DepthFileInfo(path, "PLY", record, details=details)
    if suffix == ".glb":
        return DepthFileInfo(path, "GLB", record, details=_glb_details(path))
    if suffix == ".obj":
        counts = {"v": 0, "f": 0}
        with path.open("rb") as handle:
            for line in handle:
                key = line[:2]
                if key in (b"v ", b"f "):
                    counts[key[:1].decode()] += 1
        return DepthFileInfo(path, "OBJ", record, details={"vertices": counts["v"], "triangles": counts["f"]})
    if suffix == ".json":
        return DepthFileInfo(path, "JSON sidecar", record)
    if record is not None:  # e.g. an .mp4 with its sidecar
        return DepthFileInfo(path, suffix[1:].upper() or "file", record)
    raise ConfigError(
        f"{path}: not a file this toolkit writes (.png, .npy, .npz, .exr, .ply, .glb, a frames folder)"
    )


# -------------------------------------------------------------------------------------------- writing
def write_exr(
    path: str | os.PathLike, values: np.ndarray, record: DepthMetadata, durable: bool = False
) -> Path:
    """A float32 EXR with the map in channel Z and the record in its header, written atomically."""
    openexr = require_extra("OpenEXR", "exr")
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage, **exr_header(record)}
    channels = {"Z": np.ascontiguousarray(values, dtype=np.float32)}
    return atomic_write(path, lambda tmp: openexr.File(header, channels).write(str(tmp)), durable)


def convert_depth_file(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    png_scale: float | None = None,
    intrinsics: Intrinsics | None = None,
    focal_source: str | None = None,
    stride: int = 1,
    durable: bool = False,
    kind: str | None = None,
) -> Path:
    """Write the depth map of `source` as `target` (its suffix picks the format: `CONVERT_TARGETS`) with
    the record updated. `png_scale` reads a 16-bit PNG that carries no record; `kind` ("metric":
    metres, or "relative") says what a file without a record holds (default: metric for a PNG read with
    `png_scale`, else relative), and must agree with a record; `intrinsics` (with its `focal_source`)
    replaces the record's camera, which a point cloud needs; `stride` thins one."""
    from .outputs import write_png

    source, target = Path(source), Path(target)
    suffix = target.suffix.lower()
    if suffix not in CONVERT_TARGETS:
        raise ConfigError(
            f"{target}: cannot write {target.suffix or 'a file without extension'}; choose "
            f"{', '.join(CONVERT_TARGETS)}"
        )
    if source.resolve() == target.resolve():
        raise ConfigError(f"{target}: the target is the source")
    if kind not in (None, "metric", "relative"):
        raise ConfigError(f"kind={kind!r}: a depth map holds metric (metres) or relative values")
    declared = None if kind is None else ("metric" if kind == "metric" else "disparity")
    depth, record = load_depth_values(source, png_scale)
    if depth.ndim == 3:
        raise ConfigError(f"{source}: holds {depth.shape[0]} frames; convert one map at a time")
    if depth.ndim != 2:
        raise ConfigError(f"{source}: holds an array of shape {depth.shape}; a depth map is H×W")
    if declared is not None and record is not None and record.kind != declared:
        if read_metadata(source) is not None:
            raise ConfigError(f"{source}: its record says it holds {record.units} values; kind= is for files "
                              "without a record")
        record = record.with_values(kind=declared)  # a bare PNG read with png_scale: declared otherwise
    height, width = depth.shape
    record = (record or DepthMetadata(kind=declared or ("metric" if png_scale else "disparity"))).with_values(
        width=width, height=height, content="depth", png_scale=None, png_offset=0.0
    )
    if intrinsics is not None:
        record = record.with_values(intrinsics=intrinsics, focal_source=focal_source)
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        atomic_write(target, lambda tmp: np.save(tmp, depth), durable)
        atomic_write_bytes(sidecar_path(target), sidecar_json(record).encode("utf-8"), durable)
    elif suffix == ".npz":
        atomic_write(target, lambda tmp: np.savez(tmp, depth=depth, **npz_fields(record)), durable)
    elif suffix == ".exr":
        write_exr(target, depth, record, durable)
    elif suffix == ".png":
        from .outputs import png16_text, png16_values

        write_png(
            target,
            png16_values(depth, record.metric),
            durable=durable,
            text=png16_text(record.metric, record, depth),
        )
    else:  # .ply
        from .geometry import depth_to_points, write_ply

        if not record.metric:
            raise ConfigError(
                f"{source}: holds relative depth (disparity without a scale); points need metric "
                "depth in metres (a file without a record that holds metres: kind='metric')"
            )
        if record.intrinsics is None:
            raise ConfigError(f"{source}: records no camera; give one (fov_deg= or focal_px=)")
        points, _ = depth_to_points(depth, record.intrinsics, stride=stride)
        write_ply(
            target, points, durable=durable, comments=ply_comments(record.with_values(content="points"))
        )
    return target


def record_json(path: str | os.PathLike) -> str:
    """The record of `path` as indented JSON ("null" when it has none), for scripts."""
    record = read_metadata(path)
    return json.dumps(None if record is None else record.to_dict(), indent=2)


__all__ = [
    "CONVERT_TARGETS",
    "DepthFileInfo",
    "convert_depth_file",
    "inspect_depth_file",
    "load_depth_values",
    "record_json",
    "write_exr",
]
