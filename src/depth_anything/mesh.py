"""Triangle meshes from depth maps, and the depth-edge clean-up that keeps "flying pixels" out of point
clouds and meshes.

A depth network blurs depth edges: pixels on the boundary of a chair in front of a wall get depths
between the two, and a point cloud shows them as a veil of points hanging in the air ("flying pixels",
official Depth-Anything-V2 #128); a mesh made naively from the pixel grid joins foreground and
background with a rubber sheet. As MoGe and Depth Anything 3 do, a pixel whose depth jumps relative to
a neighbour's by more than `edge_threshold` (max / min - 1 of the two depths; 0.04 = 4 %) is a depth
edge (`depth_edges`): point clouds drop it, and a mesh drops every triangle whose corners span such a
jump. A plane seen at a grazing angle also changes depth quickly from pixel to pixel, so the threshold
is a trade: the measurements on rendered scenes are in docs/3d.md.

Meshes (`depth_to_mesh`) are made in the camera frame of `geometry` (x right, y down, z forward):
one vertex per kept pixel, two triangles per 2×2 block of pixels, facing the camera, textured with the
image (UV coordinates of the pixel centres). `write_mesh` writes GLB (glTF's own frame: y up, the
camera looking down -z, so viewers show the scene upright; the image as its texture), PLY and OBJ (the
camera frame, as point-cloud PLYs, with the pixels' colours on the vertices), through trimesh.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, NoValidDepthError, require_extra
from .geometry import Intrinsics, write_ply
from .io import atomic_write_bytes, to_uint8
from .metadata import DepthMetadata, glb_extras

if TYPE_CHECKING:
    import trimesh

log = logging.getLogger(__name__)

MESH_EXTRA = "pointcloud"  # trimesh and plyfile: the 3-D outputs' extra
MESH_FORMATS = ("glb", "ply", "obj")
# relative depth jump between neighbours (max / min - 1) above which they are on a depth edge
DEFAULT_EDGE_THRESHOLD = 0.04
# above this many grid vertices a mesh takes every n-th pixel (a 48-megapixel photo would need ~10 GB)
MAX_MESH_VERTICES = 2_000_000
# above this many points a point cloud does (its arrays take about 100 bytes a point while it is made)
MAX_CLOUD_POINTS = 20_000_000
# the longest side of a GLB's texture: what WebGL and phone GPUs load everywhere
MAX_TEXTURE_SIDE = 4096
# camera frame (x right, y down, z forward) → glTF (x right, y up, z backward): a half turn about x
_TO_GLTF = np.diag([1.0, -1.0, -1.0])


def depth_edges(depth: np.ndarray, threshold: float = DEFAULT_EDGE_THRESHOLD, spacing: int = 1) -> np.ndarray:
    """H×W bool: pixels whose depth differs by more than `threshold` (relative: max / min - 1 of the
    two) from a valid depth within `spacing` pixels (its 8 neighbours when 1).

    A sharp step marks the pixel on each side of it, as neither can be trusted (a network blurs edges
    into the background and the foreground alike). A prediction upsampled from the network's smaller
    output blurs an edge over several pixels, whose neighbour-to-neighbour jumps are small: `spacing` =
    image side / network side (`edge_spacing`) compares depths as far apart as the network's own
    pixels, so the ramp is marked. Pixels without a valid depth are no edge and mark none."""
    import cv2

    if not threshold > 0:
        raise ValueError(f"edge threshold must be positive, got {threshold}")
    if spacing < 1:
        raise ValueError(f"edge spacing must be at least 1 pixel, got {spacing}")
    z = np.asarray(depth, dtype=np.float32)
    if z.ndim != 2:
        raise ValueError(f"depth must be an H×W map, got shape {z.shape}")
    valid = np.isfinite(z) & (z > 0)
    window = np.ones((2 * spacing + 1, 2 * spacing + 1), np.uint8)
    # the farthest and nearest valid depth around each pixel; a hole neither raises the maximum (0)
    # nor lowers the minimum (inf)
    farthest = cv2.dilate(np.where(valid, z, 0.0).astype(np.float32), window, borderType=cv2.BORDER_REPLICATE)
    nearest = cv2.erode(
        np.where(valid, z, np.inf).astype(np.float32), window, borderType=cv2.BORDER_REPLICATE
    )
    z64 = z.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        jump = np.maximum(farthest / z64, z64 / nearest) - 1.0
    return valid & (jump > threshold)


def edge_spacing(image_shape: tuple[int, int], network_side: int | None) -> int:
    """The spacing (`depth_edges`) at which a prediction made at `network_side` pixels on its shorter
    side and resized to `image_shape` (H, W) shows its edges: the resize factor, at least 1."""
    if not network_side:
        return 1
    return max(1, round(min(image_shape) / network_side))


def grid_stride(height: int, width: int, stride: int = 1, max_points: int = MAX_MESH_VERTICES) -> int:
    """`stride`, raised until a `height`×`width` grid taken every stride-th pixel has at most
    `max_points` points (mesh vertices, cloud points), with a warning when it is raised: a huge photo
    is decimated instead of running out of memory."""
    if stride < 1 or max_points < 1:
        raise ValueError(f"stride and max_points must be at least 1, got {stride} and {max_points}")
    needed = stride
    while math.ceil(height / needed) * math.ceil(width / needed) > max_points:
        needed += 1
    if needed != stride:
        log.warning(
            "a %d×%d depth map gives more than %d points at stride %d: using every %d-th pixel (stride %d)",
            width,
            height,
            max_points,
            stride,
            needed,
            needed,
        )
    return needed


def grid_faces(valid: np.ndarray) -> np.ndarray:
    """Triangles (F×3 indices into the valid pixels, in row-major order) of a grid of pixels: two per
    2×2 block whose three corners are valid, wound so their normals face a camera looking down +z."""
    valid = np.asarray(valid, dtype=bool)
    index = np.full(valid.shape, -1, dtype=np.int64)
    index[valid] = np.arange(int(valid.sum()))
    top_left, top_right = index[:-1, :-1], index[:-1, 1:]
    bottom_left, bottom_right = index[1:, :-1], index[1:, 1:]
    # (a, c, b) and (b, c, d) for the block a b / c d: (c - a) × (b - a) points to -z, at the camera
    triangles = np.concatenate(
        [
            np.stack([top_left, bottom_left, top_right], axis=-1).reshape(-1, 3),
            np.stack([top_right, bottom_left, bottom_right], axis=-1).reshape(-1, 3),
        ]
    )
    return triangles[np.all(triangles >= 0, axis=1)]


def depth_to_mesh(
    depth: np.ndarray,
    image: np.ndarray | None,
    intrinsics: Intrinsics,
    edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD,
    stride: int = 1,
    keep: np.ndarray | None = None,
    max_vertices: int = MAX_MESH_VERTICES,
    edge_spacing: int = 1,
) -> trimesh.Trimesh:
    """A triangle mesh of `depth` (H×W, metres or any unit; pixels without a finite positive depth are
    holes) seen by `intrinsics`, in the camera frame, textured with `image` (H×W×3 RGB, any bit depth).

    With an `edge_threshold` the mesh is made of the pixels a cleaned point cloud keeps: no triangle
    has a corner on a depth edge (`depth_edges(depth, edge_threshold, edge_spacing)`) or spans a
    relative depth jump above the threshold (between strided pixels), so foreground and background are
    not joined; None keeps every triangle. `stride` takes every n-th pixel (raised, with a warning,
    above `max_vertices` vertices); `keep` (H×W bool) leaves out the pixels where it is false (low
    confidence, sky). Vertices no triangle uses are dropped. `NoValidDepthError` when no pixel has a valid
    depth."""
    trimesh = require_extra("trimesh", MESH_EXTRA)
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an H×W map, got shape {depth.shape}")
    height, width = depth.shape
    if image is not None and np.shape(image)[:2] != (height, width):
        raise ValueError(f"image of shape {np.shape(image)} does not match depth of shape {depth.shape}")
    if keep is not None and np.shape(keep) != depth.shape:
        raise ValueError(f"keep mask of shape {np.shape(keep)} does not match depth of shape {depth.shape}")
    stride = grid_stride(height, width, stride, max_vertices)
    rows = np.arange(0, height, stride)
    cols = np.arange(0, width, stride)
    z = depth[::stride, ::stride].astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    if keep is not None:
        valid &= np.asarray(keep, dtype=bool)[::stride, ::stride]
    if not valid.any():
        raise NoValidDepthError("no pixel has a valid depth (finite and positive): nothing to make a mesh of")
    faces = grid_faces(valid)
    z_valid = z[valid]
    if edge_threshold is not None and len(faces):
        on_edge = depth_edges(depth, edge_threshold, edge_spacing)[::stride, ::stride][valid]
        corners = z_valid[faces]
        spans = corners.max(axis=1) / corners.min(axis=1) - 1.0 > edge_threshold
        faces = faces[~(spans | on_edge[faces].any(axis=1))]
    v, u = np.meshgrid(rows, cols, indexing="ij")
    u, v = u[valid], v[valid]
    used = np.zeros(len(z_valid), dtype=bool)
    used[faces.ravel()] = True
    renumber = np.cumsum(used) - 1
    faces, u, v, z_valid = renumber[faces], u[used], v[used], z_valid[used]
    vertices = np.stack(
        [
            (u - intrinsics.cx) * z_valid / intrinsics.fx,
            (v - intrinsics.cy) * z_valid / intrinsics.fy,
            z_valid,
        ],
        axis=1,
    )
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    if image is not None:
        rgb = to_uint8(np.asarray(image))
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        uv = np.stack([(u + 0.5) / width, 1.0 - (v + 0.5) / height], axis=1)  # trimesh: v = 0 at the bottom
        mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=_texture(rgb[..., :3]))
        mesh.vertex_attributes["color"] = rgb[v, u, :3]
    return mesh


def _texture(rgb: np.ndarray) -> Any:
    """The image as a PIL texture, at most `MAX_TEXTURE_SIDE` on its longer side."""
    from PIL import Image

    texture = Image.fromarray(np.ascontiguousarray(rgb))
    longest = max(texture.size)
    if longest > MAX_TEXTURE_SIDE:
        scale = MAX_TEXTURE_SIDE / longest
        texture = texture.resize(
            (max(1, round(texture.width * scale)), max(1, round(texture.height * scale))),
            Image.Resampling.LANCZOS,
        )
    return texture


def mesh_format(path: str | os.PathLike) -> str:
    """The mesh format a file name asks for (its extension), one of `MESH_FORMATS`."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        raise ConfigError(
            f"{path}: a mesh is written as {', '.join('.' + f for f in MESH_FORMATS)}, not {suffix!r}"
        )
    return suffix


def mesh_bytes(mesh: trimesh.Trimesh, file_format: str, metadata: DepthMetadata | None = None) -> bytes:
    """The bytes of `mesh` (camera frame, from `depth_to_mesh`) as GLB or OBJ, with `metadata` in the
    GLB's scene extras or the OBJ's header comment (PLY: `write_mesh`)."""
    trimesh = require_extra("trimesh", MESH_EXTRA)
    if file_format == "glb":
        gltf_mesh = mesh.copy()
        gltf_mesh.apply_transform(_homogeneous(_TO_GLTF))
        scene = trimesh.Scene(gltf_mesh)
        if metadata is not None:
            scene.metadata.update(glb_extras(metadata))
        return scene.export(file_type="glb")
    if file_format == "obj":
        colored = mesh.copy()
        colors = mesh.vertex_attributes.get("color")
        if colors is not None:
            colored.visual = trimesh.visual.ColorVisuals(colored, vertex_colors=np.asarray(colors))
        header = "depth-anything mesh" + (
            f": {metadata.describe()} | {metadata.to_json()}" if metadata else ""
        )
        text = trimesh.exchange.obj.export_obj(
            colored,
            include_color=colors is not None,
            include_texture=False,
            include_normals=False,
            header=header,
        )
        return text.encode("utf-8")
    raise ConfigError(f"mesh format {file_format!r}: choose from {', '.join(MESH_FORMATS)}")


def write_mesh(
    path: str | os.PathLike,
    mesh: trimesh.Trimesh,
    metadata: DepthMetadata | None = None,
    durable: bool = True,
) -> Path:
    """Write `mesh` (from `depth_to_mesh`) as GLB, PLY or OBJ (from the extension), atomically, with
    `metadata` (what the file holds: GLB extras, PLY header comments, OBJ header comment)."""
    from .metadata import ply_comments

    file_format = mesh_format(path)
    if file_format == "ply":
        colors = mesh.vertex_attributes.get("color")
        return write_ply(
            path,
            np.asarray(mesh.vertices, np.float32),
            colors,
            durable,
            faces=np.asarray(mesh.faces),
            comments=ply_comments(metadata) if metadata is not None else (),
        )
    return atomic_write_bytes(path, mesh_bytes(mesh, file_format, metadata), durable)


def _homogeneous(rotation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    return matrix


__all__ = [
    "DEFAULT_EDGE_THRESHOLD",
    "MAX_CLOUD_POINTS",
    "MAX_MESH_VERTICES",
    "MAX_TEXTURE_SIDE",
    "MESH_FORMATS",
    "depth_edges",
    "depth_to_mesh",
    "edge_spacing",
    "grid_faces",
    "mesh_bytes",
    "mesh_format",
    "grid_stride",
    "write_mesh",
]
