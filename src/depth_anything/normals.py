"""Surface normals from a depth map and the camera that took it, and their picture.

The normal of a pixel is the cross product of the 3-D steps to its neighbours: every pixel is
back-projected with the intrinsics (`geometry.depth_to_points`'s formula), and the steps along the
row and the column are crossed (central differences on smooth surfaces). Unlike image-space gradients of the depth map, this knows that a pixel
step covers z / f metres at depth z, so a plane comes out flat at its true tilt at any distance and
field of view. Where the two neighbours along an axis disagree (one relative depth jump more than twice
the other, and above 1 %), the step is taken to the neighbour on the side whose depth jumps least, so at an occlusion edge a normal comes from its own surface, not from
the rubber sheet between foreground and background (MoGe picks neighbours to the same end).

Normals are unit vectors in the camera frame (x right, y down, z forward), pointing toward the camera
(z < 0 for a surface in view); pixels without valid depth on both axes are NaN. The picture maps them
as normal-map tools expect (OpenGL's axes: x right, y up, z toward the viewer): RGB = (n + 1) / 2 of
(x, -y, -z), so a wall facing the camera is (128, 128, 255) lavender; invalid pixels are black.
"""

from __future__ import annotations

import numpy as np

from .geometry import Intrinsics

# neighbours on both sides count as one smooth surface when neither relative depth jump is more than
# twice the other, or both are below 1 % of the depth (near a surface's nearest point the two jumps are
# both tiny, and their ratio says nothing)
SMOOTH_RATIO = 2.0
SMOOTH_JUMP = 0.01
# pixels per band of rows in which large maps are done (bounded memory; the result does not depend on it)
BAND_PIXELS = 1 << 20


def backproject(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """The 3-D point of every pixel (H×W×3 float64, camera frame); invalid depth (not finite or ≤ 0) gives NaN."""
    z = np.asarray(depth, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"depth must be an H×W map, got shape {z.shape}")
    z = np.where(np.isfinite(z) & (z > 0), z, np.nan)
    v, u = np.indices(z.shape, dtype=np.float64)
    return np.stack(
        [(u - intrinsics.cx) * z / intrinsics.fx, (v - intrinsics.cy) * z / intrinsics.fy, z], axis=-1
    )


def _step(points: np.ndarray, axis: int) -> np.ndarray:
    """The 3-D step from each pixel to a neighbour along `axis` (0: rows, 1: columns), taken toward the
    side whose relative depth jump is smaller; NaN where neither neighbour is valid."""
    forward = np.full_like(points, np.nan)
    backward = np.full_like(points, np.nan)
    ahead = [slice(None)] * 2
    behind = [slice(None)] * 2
    ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
    difference = points[tuple(ahead)] - points[tuple(behind)]  # point[i + 1] - point[i]
    forward[tuple(behind)] = difference
    backward[tuple(ahead)] = difference
    z = points[..., 2]
    jump_forward = np.abs(forward[..., 2]) / z
    jump_backward = np.abs(backward[..., 2]) / z
    take_backward = np.isnan(jump_forward) | (jump_backward < jump_forward)
    one_sided = np.where(take_backward[..., None], backward, forward)
    # on a smooth surface both jumps are alike: the central difference, exact to second order there
    larger, smaller = np.fmax(jump_forward, jump_backward), np.fmin(jump_forward, jump_backward)
    with np.errstate(invalid="ignore"):
        smooth = ~np.isnan(jump_forward + jump_backward) & (
            (larger <= SMOOTH_RATIO * smaller) | (larger < SMOOTH_JUMP)
        )
    return np.where(smooth[..., None], (forward + backward) / 2.0, one_sided)


def depth_to_normals(depth: np.ndarray, intrinsics: Intrinsics, band_pixels: int = BAND_PIXELS) -> np.ndarray:
    """Unit surface normals (H×W×3 float32, camera frame, facing the camera) of a depth map taken by
    `intrinsics`; NaN where the depth gives no surface (invalid pixel, or no valid neighbour on an axis).

    Large maps are done in bands of rows of about `band_pixels` pixels (each with one row of its
    neighbours, so the result is the same), so the float64 work arrays of a 48-megapixel photo stay
    at a few hundred megabytes instead of many gigabytes."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an H×W map, got shape {depth.shape}")
    height, width = depth.shape
    if min(height, width) < 2:
        raise ValueError(f"normals need a depth map of at least 2×2 pixels, got {height}×{width}")
    rows = max(1, band_pixels // width)
    normals = np.empty((height, width, 3), np.float32)
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        low, high = max(0, start - 1), min(height, stop + 1)  # one row of context on each side
        band = Intrinsics(intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy - low)
        normals[start:stop] = _band_normals(depth[low:high], band)[start - low : stop - low]
    return normals


def _band_normals(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """`depth_to_normals` of a map (or a band of one, `intrinsics` shifted to its first row) in one piece;
    a band of one row has no row neighbours, so its normals are NaN (only a 1-row-high whole map)."""
    points = backproject(depth, intrinsics)
    if points.shape[0] < 2:
        return np.full(points.shape, np.nan, np.float32)
    # y-step × x-step: for a wall facing the camera, (down) × (right) = toward the camera (-z)
    normals = np.cross(_step(points, 0), _step(points, 1))
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normals = np.where(length > 0, normals / length, np.nan)
    return normals.astype(np.float32)


def normals_picture(normals: np.ndarray) -> np.ndarray:
    """The RGB uint8 normal map of `normals` (camera frame), in the OpenGL convention of normal-map tools
    (see the module doc); invalid pixels are black."""
    normals = np.asarray(normals, dtype=np.float64)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise ValueError(f"normals must be H×W×3, got shape {normals.shape}")
    opengl = normals * np.array([1.0, -1.0, -1.0])
    valid = np.isfinite(opengl).all(axis=-1)
    picture = np.rint((np.clip(np.nan_to_num(opengl), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    picture[~valid] = 0
    return picture


def angular_error_deg(estimated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Angle in degrees between two normal fields, per pixel (NaN where either is invalid)."""
    cosine = np.sum(np.asarray(estimated, np.float64) * np.asarray(reference, np.float64), axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


__all__ = ["angular_error_deg", "backproject", "depth_to_normals", "normals_picture"]
