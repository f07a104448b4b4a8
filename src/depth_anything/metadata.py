"""What a depth file holds, written into the file itself, and read back from any format the toolkit writes.

A `DepthMetadata` record says what the values are (metric depth in metres or relative disparity,
larger = nearer), how a 16-bit file's integers map back to them, the camera used (intrinsics and
where the focal length came from: EXIF, --fov, --focal or the default), the model (name and input
size) and, for sequences, the frame. Each format stores the same JSON record under the key
`depth-anything`, where the format has room for it:

| format | where |
|---|---|
| PNG (16-bit depth, pictures) | a tEXt chunk `depth-anything` (and a human `Description`) |
| NPZ | a field `metadata` (a JSON string, read with `allow_pickle=False`) |
| NPY | no room: a sidecar `FILE.npy.json` beside it |
| EXR | a string header attribute `depthAnything` |
| PLY | a header comment `depth-anything {...}` |
| GLB | the scene's extras (`scenes[0].extras["depth-anything"]`, from `trimesh.Scene.metadata`) |
| OBJ | the header comment (`# depth-anything mesh: ... | {...}`, as `mesh.write_mesh` writes it) |
| depth sequences and videos | JSON beside them (`png16.json` of a frame folder, `FILE.mp4.json`) |

`read_metadata(path)` finds the record in any of them (a sidecar wins over the file, as it is the
only place an NPY or MP4 has), without decoding pixels and without optional libraries.
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .geometry import Intrinsics

METADATA_KEY = "depth-anything"  # PNG keyword, PLY comment prefix, GLB extras key, JSON sidecar key
EXR_ATTRIBUTE = "depthAnything"  # EXR attribute names are identifiers by convention
NPZ_FIELD = "metadata"
SIDECAR_SUFFIX = ".json"
SCHEMA = 1  # bumped when a field changes meaning; readers refuse a newer one

KINDS = ("metric", "disparity")  # metres; relative, affine-invariant, larger = nearer
CONTENTS = ("depth", "normals", "points", "mesh", "picture")
FOCAL_SOURCES = (
    "exif",
    "fov",
    "focal",
    "default",
    "known",
)  # known: given exactly (synthetic scenes, calibration)


@functools.cache  # read once per process: parsing the installed metadata takes 0.3 ms, a server asks per request
def _software() -> str:
    from importlib import metadata

    try:
        return f"depth-anything {metadata.version('depth-anything')}"
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "depth-anything"


@dataclass(frozen=True)
class DepthMetadata:
    """What one depth file (or one frame of a sequence) holds.

    `content`: depth, normals (unit vectors in the camera frame), points, mesh or picture (a depth
    picture for people, not values). `kind`: "metric" (metres) or "disparity" (relative).
    `png_scale`/`png_offset`: a 16-bit file's integers map back as value = png_offset + stored / png_scale
    (metric: scale 1000, millimetres; 0 stays invalid). `intrinsics` and `focal_source`: the camera the
    geometry used. `model`/`input_size`: the weights and their network input's shorter side.
    `frame`/`frames`/`fps`: position in a sequence.
    """

    kind: str = "disparity"
    content: str = "depth"
    width: int | None = None
    height: int | None = None
    png_scale: float | None = None
    png_offset: float = 0.0
    intrinsics: Intrinsics | None = None
    focal_source: str | None = None
    model: str | None = None
    input_size: int | None = None
    frame: int | None = None
    frames: int | None = None
    fps: float | None = None
    software: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"metadata: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.content not in CONTENTS:
            raise ConfigError(f"metadata: content must be one of {', '.join(CONTENTS)}, got {self.content!r}")
        if self.focal_source is not None and self.focal_source not in FOCAL_SOURCES:
            raise ConfigError(
                f"metadata: focal_source must be one of {', '.join(FOCAL_SOURCES)}, got {self.focal_source!r}"
            )
        if self.png_scale is not None and not (math.isfinite(self.png_scale) and self.png_scale > 0):
            raise ConfigError(f"metadata: png_scale must be a positive number, got {self.png_scale}")
        if not self.software:
            object.__setattr__(self, "software", _software())

    @classmethod
    def for_model(
        cls, metric: bool, model: str | None = None, input_size: int | None = None, **values: Any
    ) -> DepthMetadata:
        """The record of a model's output (`metric`: metres, else disparity)."""
        return cls(kind="metric" if metric else "disparity", model=model, input_size=input_size, **values)

    @property
    def metric(self) -> bool:
        return self.kind == "metric"

    @property
    def units(self) -> str:
        """What the values are measured in: metres, or relative (disparity-like: larger is nearer)."""
        return "metres" if self.metric else "relative"

    @property
    def fov_deg(self) -> float | None:
        """The horizontal field of view of the camera used, in degrees (None without a camera or width)."""
        if self.intrinsics is None or self.width is None:
            return None
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.intrinsics.fx)))

    def with_values(self, **values: Any) -> DepthMetadata:
        """A copy with some fields changed (checked again)."""
        return replace(self, **values)

    def describe(self) -> str:
        """One line for people (a PNG's Description, a PLY comment)."""
        depth = (
            "metric depth in metres"
            if self.metric
            else "relative depth (disparity-like, larger = nearer, no scale)"
        )
        held = {
            "normals": "surface normals (unit x, y, z in the camera frame: x right, y down, z forward)",
            "points": "3-D points in metres (camera frame: x right, y down, z forward)",
            "mesh": "a triangle mesh in metres, from the pixel grid",
            "picture": f"a picture of {depth} for people (colours, not values)",
        }.get(self.content, depth)
        if self.png_scale is not None:
            stored = (
                "millimetres (metres x 1000), 0 = invalid"
                if self.metric and self.png_scale == 1000.0
                else f"min-max scaled, value = {self.png_offset:g} + stored / {self.png_scale:g}"
            )
            held += f"; 16-bit values: {stored}"
        if self.intrinsics is not None:
            fov = self.fov_deg
            held += f"; camera fx={self.intrinsics.fx:.2f} fy={self.intrinsics.fy:.2f} px" + (
                f" ({fov:.1f} deg horizontal FOV"
                + (f", from {self.focal_source})" if self.focal_source else ")")
                if fov is not None
                else ""
            )
        if self.model:
            held += f"; model {self.model}" + (f" at input size {self.input_size}" if self.input_size else "")
        return held

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (None left out), with the schema number."""
        values = {key: value for key, value in asdict(self).items() if value is not None}
        if self.png_scale is None:
            values.pop("png_offset")  # only 16-bit files have integers to map back
        if self.intrinsics is not None:
            values["intrinsics"] = {
                "fx": self.intrinsics.fx,
                "fy": self.intrinsics.fy,
                "cx": self.intrinsics.cx,
                "cy": self.intrinsics.cy,
            }
        if self.fov_deg is not None:
            values["fov_deg"] = round(self.fov_deg, 6)  # derived, written for people; ignored when read
        return {"schema": SCHEMA, **values}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "metadata") -> DepthMetadata:
        """The record stored as `values`; `ConfigError` naming `where` and the key for anything wrong."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(values).__name__}")
        schema = values.get("schema", SCHEMA)
        if not isinstance(schema, int) or schema > SCHEMA:
            raise ConfigError(
                f"{where}: schema {schema!r} is newer than this version reads ({SCHEMA}); update depth-anything"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {"schema", "fov_deg"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        kwargs = {key: values[key] for key in known if key in values}
        camera = kwargs.get("intrinsics")
        if camera is not None:
            try:
                kwargs["intrinsics"] = Intrinsics(*(float(camera[key]) for key in ("fx", "fy", "cx", "cy")))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{where}: intrinsics must hold positive fx, fy and cx, cy ({exc})"
                ) from None
        for key in ("width", "height", "input_size", "frame", "frames"):
            if key in kwargs and not isinstance(kwargs[key], int):
                raise ConfigError(f"{where}: {key} must be an integer, got {kwargs[key]!r}")
        for key in ("png_scale", "png_offset", "fps"):
            if key in kwargs and not isinstance(kwargs[key], (int, float)):
                raise ConfigError(f"{where}: {key} must be a number, got {kwargs[key]!r}")
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("metadata:", f"{where}:", 1)) from None

    def to_json(self) -> str:
        """The record as one line of JSON (fits a PNG text chunk, a PLY comment, an EXR attribute)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "metadata") -> DepthMetadata:
        try:
            values = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc})") from None
        return cls.from_dict(values, where)


# ---------------------------------------------------------------------------- the record in each format
def png_text(meta: DepthMetadata) -> dict[str, str]:
    """PNG tEXt chunks (for `outputs.encode_png(text=...)`): the record, and a Description for people."""
    return {METADATA_KEY: meta.to_json(), "Description": meta.describe(), "Software": meta.software}


def npz_fields(meta: DepthMetadata) -> dict[str, Any]:
    """Fields to save beside the arrays of an .npz (`np.savez(..., **npz_fields(meta))`)."""
    import numpy as np

    return {NPZ_FIELD: np.str_(meta.to_json())}


def exr_header(meta: DepthMetadata) -> dict[str, str]:
    """EXR header attributes (add them to the header given to `OpenEXR.File`)."""
    return {EXR_ATTRIBUTE: meta.to_json()}


def ply_comments(meta: DepthMetadata) -> list[str]:
    """PLY header comments (`plyfile.PlyData(comments=...)`): the record, then the line for people."""
    return [f"{METADATA_KEY} {meta.to_json()}", meta.describe()]


def stamp_ply(data: bytes, meta: DepthMetadata) -> bytes:
    """A PLY file's bytes with `ply_comments(meta)` added to its header (for writers such as trimesh's
    that take no comments)."""
    head_end = data.find(b"end_header")
    line_end = data.find(b"\n", data.find(b"format"))
    if not data.startswith(b"ply") or head_end < 0 or not 0 < line_end < head_end:
        raise ValueError("not a PLY file (no 'ply' magic, format line and end_header)")
    newline = b"\r\n" if data[line_end - 1 : line_end] == b"\r" else b"\n"
    comments = b"".join(
        b"comment " + line.encode("ascii", "replace") + newline for line in ply_comments(meta)
    )
    return data[: line_end + 1] + comments + data[line_end + 1 :]


def glb_extras(meta: DepthMetadata) -> dict[str, Any]:
    """GLB extras: put them in `trimesh.Scene.metadata` (`scene.metadata.update(glb_extras(meta))`);
    trimesh writes them as the scene's extras."""
    return {METADATA_KEY: meta.to_dict()}


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON file beside `path` that holds its record where the format has no room (FILE.npy.json)."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sidecar_json(meta: DepthMetadata, **extra: Any) -> str:
    """The text of a sidecar: the record under `depth-anything`, and `extra` fields for the format."""
    return json.dumps({**extra, METADATA_KEY: meta.to_dict()}, indent=2) + "\n"


# ---------------------------------------------------------------------------------------- reading back
def png_text_chunks(data: bytes, where: str = "PNG") -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file's bytes, keyword → text; stops at the pixels."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ConfigError(f"{where}: not a PNG file")
    texts: dict[str, str] = {}
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind in (b"IDAT", b"IEND"):
            break
        key, _, rest = body.partition(b"\0")
        try:
            if kind == b"tEXt":
                texts[key.decode("latin-1")] = rest.decode("latin-1")
            elif kind == b"zTXt":
                texts[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                compressed, _method, rest = rest[0], rest[1], rest[2:]
                _language, _, rest = rest.partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                texts[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue  # a damaged text chunk is not the record
    return texts


def _head(path: Path, size: int = 1 << 20) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _from_png(path: Path) -> DepthMetadata | None:
    texts = png_text_chunks(_head(path), str(path))
    return DepthMetadata.from_json(texts[METADATA_KEY], str(path)) if METADATA_KEY in texts else None


def _from_npz(path: Path) -> DepthMetadata | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            if NPZ_FIELD not in archive.files:
                return None
            text = str(archive[NPZ_FIELD])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # not a zip of arrays, or cut short
        raise ConfigError(f"{path}: not a readable .npz archive ({exc})") from None
    return DepthMetadata.from_json(text, f"{path}: {NPZ_FIELD}")


def _from_exr(path: Path) -> DepthMetadata | None:
    # EXR attributes are (name\0, type\0, size, value) until an empty name; read without OpenEXR
    data = _head(path)
    if data[:4] != b"\x76\x2f\x31\x01":
        raise ConfigError(f"{path}: not an OpenEXR file")
    position = 8
    try:
        while position < len(data) and data[position] != 0:
            name_end = data.index(b"\0", position)
            type_end = data.index(b"\0", name_end + 1)
            (size,) = struct.unpack("<i", data[type_end + 1 : type_end + 5])
            value = data[type_end + 5 : type_end + 5 + size]
            if data[position:name_end].decode("latin-1") == EXR_ATTRIBUTE:
                return DepthMetadata.from_json(value, f"{path}: {EXR_ATTRIBUTE}")
            position = type_end + 5 + size
    except (ValueError, struct.error):  # a name or a size runs past the bytes read: a cut-short header
        raise ConfigError(
            f"{path}: the OpenEXR header is cut short or damaged (at byte {position})"
        ) from None
    return None


def ply_header_comments(data: bytes, where: str = "PLY") -> list[str]:
    """The comment lines of a PLY header (without the word `comment`)."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ConfigError(f"{where}: not a PLY file (no 'ply' magic or no end_header)")
    lines = data[:end].decode("ascii", "replace").splitlines()
    return [line.strip()[len("comment ") :] for line in lines if line.strip().startswith("comment ")]


def _from_ply(path: Path) -> DepthMetadata | None:
    prefix = METADATA_KEY + " "
    for comment in ply_header_comments(_head(path), str(path)):
        if comment.startswith(prefix):
            return DepthMetadata.from_json(comment[len(prefix) :], f"{path}: comment")
    return None


def glb_json(data: bytes, where: str = "GLB") -> dict[str, Any]:
    """The JSON chunk of a binary glTF file's bytes."""
    if len(data) < 20 or data[:4] != b"glTF":
        raise ConfigError(f"{where}: not a binary glTF (GLB) file")
    length, kind = struct.unpack("<I4s", data[12:20])
    if kind != b"JSON":
        raise ConfigError(f"{where}: the first GLB chunk is not JSON")
    try:
        return json.loads(data[20 : 20 + length])
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: the GLB's JSON chunk is damaged ({exc})") from None


def _from_glb(path: Path) -> DepthMetadata | None:
    tree = glb_json(path.read_bytes(), str(path))
    places = [
        tree,
        tree.get("asset", {}),
        *tree.get("scenes", []),
        *tree.get("nodes", []),
        *tree.get("meshes", []),
    ]
    for place in places:
        extras = place.get("extras") if isinstance(place, dict) else None
        if isinstance(extras, dict) and METADATA_KEY in extras:
            return DepthMetadata.from_dict(extras[METADATA_KEY], f"{path}: extras")
    return None


def _from_obj(path: Path) -> DepthMetadata | None:
    # mesh.write_mesh puts "depth-anything mesh: <for people> | <record>" in the header comment
    for line in _head(path, 1 << 16).decode("utf-8", "replace").splitlines():
        if not line.startswith("#"):
            break
        if METADATA_KEY in line and " | {" in line:
            return DepthMetadata.from_json(line.rsplit(" | ", 1)[1], f"{path}: header comment")
    return None


def _from_sidecar(path: Path) -> DepthMetadata | None:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the JSON ({exc})") from None
    if not isinstance(values, dict) or METADATA_KEY not in values:
        return None
    return DepthMetadata.from_dict(values[METADATA_KEY], f"{path}: {METADATA_KEY}")


_READERS = {
    ".png": _from_png,
    ".npz": _from_npz,
    ".exr": _from_exr,
    ".ply": _from_ply,
    ".glb": _from_glb,
    ".json": _from_sidecar,
    ".obj": _from_obj,
}


def read_metadata(path: str | os.PathLike) -> DepthMetadata | None:
    """The record of the file at `path` (its sidecar, else the file's own place for it), or None when
    it carries none (a file from elsewhere, or written before files were stamped). A folder of frames
    is read through its `png16.json`. `ConfigError` names the file for a damaged record."""
    path = Path(path)
    if path.is_dir():
        path = path / "png16.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        found = _from_sidecar(sidecar)
        if found is not None:
            return found
    reader = _READERS.get(path.suffix.lower())
    return reader(path) if reader is not None else None


__all__ = [
    "CONTENTS",
    "DepthMetadata",
    "EXR_ATTRIBUTE",
    "FOCAL_SOURCES",
    "KINDS",
    "METADATA_KEY",
    "NPZ_FIELD",
    "exr_header",
    "glb_extras",
    "glb_json",
    "npz_fields",
    "ply_comments",
    "ply_header_comments",
    "png_text",
    "png_text_chunks",
    "read_metadata",
    "sidecar_json",
    "sidecar_path",
    "stamp_ply",
]
