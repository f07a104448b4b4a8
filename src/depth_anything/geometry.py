"""Depth to 3-D points with pinhole intrinsics, and coloured PLY files (through `plyfile`).

Camera frame: x right, y down, z forward (OpenCV's), in the unit of the depth map (metres for metric
models). Pixel (u, v) is column u, row v of the map, and a point is
x = (u - cx) * z / fx, y = (v - cy) * z / fy, z = depth[v, u].
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import require_extra
from .io import atomic_write

POINTCLOUD_EXTRA = "pointcloud"
DEFAULT_FOV_DEG = 60.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: focal lengths and principal point in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_focal(cls, width: int, height: int, focal: float) -> Intrinsics:
        """Square pixels of focal length `focal`, principal point at the image centre."""
        return cls(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> Intrinsics:
        """A horizontal field of view `fov_deg` across the image width, principal point at the centre."""
        if not 0.0 < fov_deg < 180.0:
            raise ValueError(f"field of view must be between 0 and 180 degrees, got {fov_deg}")
        return cls.from_focal(width, height, (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0))

    @property
    def matrix(self) -> np.ndarray:
        """The 3×3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def depth_to_points(
    depth: np.ndarray, intrinsics: Intrinsics, colors: np.ndarray | None = None, stride: int = 1,
    max_points: int | None = None, seed: int = 0, keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N×3 float32) of the valid pixels (finite, > 0) of `depth`, with their `colors` (N×3)
    if given; every `stride`-th pixel in each direction, only where `keep` (an H×W bool mask, e.g. no
    depth edge: `mesh.depth_edges`) is true, then at most `max_points` drawn at random (seeded, so a run
    is repeatable)."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    depth = np.asarray(depth)
    if colors is not None and colors.shape[:2] != depth.shape:
        raise ValueError(f"colors of shape {colors.shape} do not match depth of shape {depth.shape}")
    v, u = np.mgrid[0 : depth.shape[0] : stride, 0 : depth.shape[1] : stride]
    z = depth[::stride, ::stride].astype(np.float64)
    if keep is not None and np.shape(keep) != depth.shape:
        raise ValueError(f"keep mask of shape {np.shape(keep)} does not match depth of shape {depth.shape}")
    valid = np.isfinite(z) & (z > 0)
    if keep is not None:
        valid &= np.asarray(keep, dtype=bool)[::stride, ::stride]
    u, v, z = u[valid], v[valid], z[valid]
    if max_points is not None and z.size > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(z.size, size=max_points, replace=False))
        u, v, z = u[chosen], v[chosen], z[chosen]
    points = np.stack([(u - intrinsics.cx) * z / intrinsics.fx, (v - intrinsics.cy) * z / intrinsics.fy, z], axis=1)
    return points.astype(np.float32), None if colors is None else np.asarray(colors)[v, u]


def write_ply(
    path: str | os.PathLike, points: np.ndarray, colors: np.ndarray | None = None, durable: bool = True,
    faces: np.ndarray | None = None, comments: Sequence[str] = (),
) -> Path:
    """A binary little-endian PLY of `points` (x, y, z float32) with `colors` (red, green, blue uint8),
    triangles `faces` (F×3 vertex indices, for a mesh) and header `comments` (what the file holds:
    `metadata.ply_comments`), written atomically (synced to disk before the rename when `durable`)."""
    plyfile = require_extra("plyfile", POINTCLOUD_EXTRA)
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = np.asarray(colors).reshape(-1, 3)
        if len(colors) != len(points):
            raise ValueError(f"{len(colors)} colours for {len(points)} points")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertices = np.empty(len(points), dtype=fields)
    for axis, name in enumerate("xyz"):
        vertices[name] = points[:, axis]
    if colors is not None:
        for channel, name in enumerate(("red", "green", "blue")):
            vertices[name] = colors[:, channel]
    elements = [plyfile.PlyElement.describe(vertices, "vertex")]
    if faces is not None:
        faces = np.asarray(faces).reshape(-1, 3)
        if faces.size and (faces.min() < 0 or faces.max() >= len(points)):
            raise ValueError(f"face indices must lie in [0, {len(points)}), got [{faces.min()}, {faces.max()}]")
        triangles = np.empty(len(faces), dtype=[("vertex_indices", "i4", (3,))])
        triangles["vertex_indices"] = faces
        elements.append(plyfile.PlyElement.describe(triangles, "face"))
    data = plyfile.PlyData(elements, text=False, byte_order="<", comments=list(comments))
    return atomic_write(path, lambda tmp: data.write(str(tmp)), durable)


__all__ = ["DEFAULT_FOV_DEG", "Intrinsics", "depth_to_points", "write_ply"]
