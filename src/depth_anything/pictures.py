"""Pictures of depth: colour maps (matplotlib's), colourised depth, side by side, video frames and grids.

Relative predictions are disparity-like (large = near) and are coloured as they are; metric depth is
inverted first, so near is warm in both (as in the official demo with `Spectral_r`).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from .io import to_uint8

DEFAULT_CMAP = "Spectral_r"
# short names of earlier versions
_ALIASES = {"spectral": "Spectral_r", "grey": "gray", "grayscale": "gray"}


@functools.lru_cache(maxsize=16)
def colormap_lut(name: str = DEFAULT_CMAP) -> np.ndarray:
    """A 256×3 uint8 table of matplotlib's colour map `name` (any of `matplotlib.colormaps`)."""
    import matplotlib

    name = _ALIASES.get(name, name)
    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"unknown colour map {name!r}; use a matplotlib colour map name such as Spectral_r, inferno, "
            "viridis, magma, turbo or gray"
        ) from None
    lut = np.round(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colormap_names() -> list[str]:
    """Every colour map name matplotlib knows (for a command line's or the web demo's choices)."""
    import matplotlib

    return sorted(matplotlib.colormaps)


def normalize_depth(
    depth: np.ndarray, valid: np.ndarray | None = None, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """To [0, 1]: min–max over finite (and `valid`) pixels, or over a fixed `value_range` (clipped).

    A fixed range keeps the colours of a video stable from frame to frame; other pixels become 0.
    """
    depth = np.asarray(depth)
    if depth.dtype not in (np.float32, np.float64):
        depth = depth.astype(np.float64)
    out = np.zeros(depth.shape, np.float64)  # computed in place: one float64 map, even for huge images
    if valid is None and value_range is None and depth.size:
        lo, hi = float(depth.min()), float(depth.max())
        if math.isfinite(lo) and math.isfinite(hi):  # every pixel is finite (a NaN makes min NaN): no masks
            if hi > lo:
                np.subtract(depth, lo, out=out, dtype=np.float64)
                out /= hi - lo  # the same values as the masked path below; already within [0, 1]
            return out
    finite = np.isfinite(depth) if valid is None else (np.isfinite(depth) & valid)
    if not finite.any():
        return out
    if value_range is None:
        lo = float(np.min(depth, where=finite, initial=np.inf))
        hi = float(np.max(depth, where=finite, initial=-np.inf))
    else:
        lo, hi = float(value_range[0]), float(value_range[1])
    if hi > lo:
        np.subtract(depth, lo, out=out, where=finite, dtype=np.float64)
        out /= hi - lo
        np.clip(out, 0.0, 1.0, out=out)
    return out


def _unit_to_levels(unit: np.ndarray, invert: bool) -> np.ndarray:
    """[0, 1] floats (modified in place) to 0..255 uint8 levels, reversed with `invert`."""
    if invert:
        np.subtract(1.0, unit, out=unit)
    unit *= 255
    np.rint(unit, out=unit)
    return unit.astype(np.uint8)


def colorize_depth(
    depth: np.ndarray,
    cmap: str = DEFAULT_CMAP,
    valid: np.ndarray | None = None,
    invert: bool = False,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Map a depth or disparity map to an RGB uint8 picture (invalid pixels black).

    Pass `invert=True` for metric depth so that near stays warm; `value_range` fixes the scale.
    """
    levels = _unit_to_levels(normalize_depth(depth, valid, value_range), invert)
    # OpenCV's table lookup applies the RGB table as it is, ten times faster than numpy's fancy indexing
    picture = cv2.applyColorMap(levels, colormap_lut(cmap).reshape(256, 1, 3))
    invalid = ~np.isfinite(np.asarray(depth))
    if valid is not None:
        invalid |= ~valid
    if invalid.any():
        picture[invalid] = 0
    return picture


def grayscale_depth(depth: np.ndarray, invert: bool = False, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Depth as an 8-bit grey RGB picture (white = near), as the official `--grayscale` writes."""
    grey = _unit_to_levels(normalize_depth(depth, value_range=value_range), invert)
    return np.repeat(grey[:, :, None], 3, axis=2)


def depth_picture(
    depth: np.ndarray,
    cmap: str = DEFAULT_CMAP,
    grayscale: bool = False,
    invert: bool = False,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """The picture of a prediction that the tools write: colour map `cmap`, or grey with `grayscale`."""
    if grayscale:
        return grayscale_depth(depth, invert, value_range)
    return colorize_depth(depth, cmap, invert=invert, value_range=value_range)


def side_by_side(rgb: np.ndarray, picture: np.ndarray, gap: int = 8) -> np.ndarray:
    """Input (brought to 8 bits) | white gap | depth picture, one RGB uint8 image."""
    rgb = to_uint8(rgb)
    if picture.shape[:2] != rgb.shape[:2]:
        picture = cv2.resize(picture, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    white = np.full((rgb.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([rgb, white, picture], axis=1)


def label_picture(picture: np.ndarray, text: str) -> np.ndarray:
    """`picture` with `text` written at its top left (white on a black outline), for grids."""
    out = np.ascontiguousarray(picture).copy()
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid(cells: list[np.ndarray], columns: int, gap: int = 4, background: int = 32) -> np.ndarray:
    """RGB uint8 cells laid out in rows of `columns` (a contact sheet or a figure)."""
    if not cells:
        raise ValueError("grid needs at least one picture")
    cell_h = max(c.shape[0] for c in cells)
    cell_w = max(c.shape[1] for c in cells)
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    sheet = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, 3), background, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        y, x = gap + r * (cell_h + gap), gap + c * (cell_w + gap)
        sheet[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
    return sheet


def fit_height(picture: np.ndarray, height: int, nearest: bool = False) -> np.ndarray:
    """`picture` scaled to `height` keeping its aspect ratio."""
    width = max(1, round(picture.shape[1] * height / picture.shape[0]))
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(picture), (width, height), interpolation=interpolation)


__all__ = [
    "DEFAULT_CMAP", "colorize_depth", "colormap_lut", "colormap_names", "depth_picture", "fit_height", "grayscale_depth", "grid",
    "label_picture", "normalize_depth", "side_by_side",
]
