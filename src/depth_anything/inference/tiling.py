"""Tiled high-resolution inference: overlapping full-resolution tiles, aligned and blended.

A ViT's cost grows with the square of its token count, so a whole 4K photo at full resolution is out
of reach, while shrinking it to the network's input size throws away detail. Tiles of `tile_size`
pixels cut from the image at its own resolution keep the detail and cost a constant amount each, so
the whole image costs linearly in its pixels.

Each tile predicts on its own, and a relative model's output is affine-invariant disparity: every
tile comes back with its own unknown scale and shift. Two ways of putting them on one scale:

- ``align="global"`` (the default): the whole image is also predicted once at the network's normal
  input size, and each tile is fitted (least-squares scale and shift over the tile's own pixels) to
  that low-resolution prediction resized to full size. Every tile is tied to the same global
  reference, so errors do not accumulate across many tiles, and the mosaic has the global
  prediction's scale.
- ``align="mosaic"``: tiles are placed in raster order and each new one is fitted to the running
  mosaic on the pixels it shares with tiles already placed (the first tile is the reference). It needs
  no global prediction, but small fit errors compound from tile to tile (drift).

Measured with the built-in model (`benchmarks/tiled_agreement.py`): against ground truth (Middlebury)
"global" scores better (pairwise 0.782 vs 0.653 at 128-px tiles) and stays close to the plain
prediction; "mosaic" agrees more with a whole-image prediction at the photo's full size (median AbsRel
0.153 vs 0.229 at 256-px tiles, in depth space), but that prediction, far above the model's 128-px
training size, scores worst against ground truth itself. "global" is the default.

Metric models predict metres, which are absolute: their tiles are blended as they are.

Blending weights ramp linearly from a tile's border to its interior across each overlap band (and
stay 1 on sides that lie on the image border), so where two tiles overlap their weights sum to one and
the seam is a smooth cross-fade. Weights are normalised per pixel and never zero inside a tile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from ..alignment import fit_scale_shift  # a flat tile is only shifted (see its flat rule)
from ..transforms import PATCH_SIZE

ALIGN_MODES = ("global", "mosaic")


@dataclass(frozen=True)
class Tiling:
    """How to tile an image: square tiles of `tile_size` pixels (at the image's own resolution)
    overlapping by at least `overlap` of a tile, aligned to a global prediction or to each other."""

    tile_size: int = 518
    overlap: float = 0.25
    align: Literal["global", "mosaic"] = "global"

    def __post_init__(self) -> None:
        if isinstance(self.tile_size, bool) or not isinstance(self.tile_size, (int, np.integer)):
            raise ValueError(f"tiling: tile_size must be an integer, got {self.tile_size!r}")
        if self.tile_size < PATCH_SIZE:
            raise ValueError(f"tiling: tile_size must be at least the patch size {PATCH_SIZE}, got {self.tile_size}")
        if not 0.0 <= self.overlap < 0.5:
            raise ValueError(f"tiling: overlap must be in [0, 0.5), got {self.overlap}")
        if self.align not in ALIGN_MODES:
            raise ValueError(f"tiling: align must be one of {ALIGN_MODES}, got {self.align!r}")
        if self.align == "mosaic" and self.overlap_pixels == 0:
            raise ValueError("tiling: align='mosaic' fits tiles on their overlaps, so overlap must be above 0, got 0")

    @property
    def overlap_pixels(self) -> int:
        """The least number of pixels two neighbouring tiles share."""
        return math.ceil(self.overlap * self.tile_size)

    def applies_to(self, height: int, width: int) -> bool:
        """Whether an image is tiled: its shorter side is larger than a tile."""
        return min(height, width) > self.tile_size


class TileBox(NamedTuple):
    """A tile's pixel box in the image: rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


def tile_starts(length: int, tile: int, overlap_pixels: int) -> list[int]:
    """Start positions of tiles of `tile` pixels along an axis of `length`: evenly spread, the first at
    0 and the last flush with the end, neighbours sharing at least `overlap_pixels` (one start, 0, when
    the axis is no longer than a tile)."""
    if length <= tile:
        return [0]
    max_step = tile - overlap_pixels  # an integer, so rounded even steps never exceed it
    count = math.ceil((length - tile) / max_step) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tiling: Tiling) -> list[TileBox]:
    """Tile boxes covering an image of height×width, in raster order (each tile after the first
    overlaps one placed before it). A side smaller than a tile is covered by one tile of its length."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    size = tiling.tile_size
    rows = tile_starts(height, size, tiling.overlap_pixels)
    columns = tile_starts(width, size, tiling.overlap_pixels)
    return [
        TileBox(top, left, min(top + size, height), min(left + size, width)) for top in rows for left in columns
    ]


def _axis_ramps(spans: list[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """Per span along one axis, a 1-D weight: 1 inside, ramping down linearly across the band it shares
    with the previous and the next span (none at the image border). Pixel centres (x + 0.5) keep it
    above zero, and two equal bands' ramps sum to exactly one."""
    ramps = {}
    for i, (start, end) in enumerate(spans):
        x = np.arange(end - start, dtype=np.float64) + 0.5
        weight = np.ones_like(x)
        if i > 0 and spans[i - 1][1] > start:
            weight = np.minimum(weight, x / (spans[i - 1][1] - start))
        if i + 1 < len(spans) and spans[i + 1][0] < end:
            weight = np.minimum(weight, (end - start - x) / (end - spans[i + 1][0]))
        ramps[(start, end)] = weight
    return ramps


def blend_weights(boxes: Sequence[TileBox]) -> list[np.ndarray]:
    """Each tile's blending weight (height×width, in (0, 1]) for a grid of boxes as `plan_tiles` makes."""
    rows = _axis_ramps(sorted({(b.top, b.bottom) for b in boxes}))
    columns = _axis_ramps(sorted({(b.left, b.right) for b in boxes}))
    return [np.outer(rows[(b.top, b.bottom)], columns[(b.left, b.right)]) for b in boxes]


class TileBlender:
    """Accumulates tile maps (added in plan order) into one full map: aligned (`align` "global" with a
    full-size `guide`, "mosaic", or None for metric maps), weighted, normalised per pixel.

    Memory is two full-size float64 maps (plus the guide), whatever the number of tiles.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        boxes: Sequence[TileBox],
        align: Literal["global", "mosaic"] | None = "global",
        guide: np.ndarray | None = None,
    ) -> None:
        if align not in (*ALIGN_MODES, None):
            raise ValueError(f"align must be one of {ALIGN_MODES} or None, got {align!r}")
        if align == "global" and (guide is None or guide.shape != tuple(shape)):
            found = None if guide is None else guide.shape
            raise ValueError(f"align='global' needs a guide map of the image's shape {tuple(shape)}, got {found}")
        self.align = align
        self.guide = guide
        self.weighted = np.zeros(shape, np.float64)
        self.total = np.zeros(shape, np.float64)
        self._weights = dict(zip(boxes, blend_weights(boxes), strict=True))

    def add(self, depth: np.ndarray, box: TileBox) -> tuple[float, float]:
        """Align one tile's map (box.height×box.width) and add it; returns the (scale, shift) applied."""
        if depth.shape != (box.height, box.width):
            raise ValueError(f"tile map of shape {depth.shape} does not fit its box {box.height}×{box.width}")
        area = box.slices
        scale, shift = 1.0, 0.0
        if self.align == "global":
            scale, shift = fit_scale_shift(depth, self.guide[area])  # type: ignore[index]
        elif self.align == "mosaic":
            placed = self.total[area] > 0
            if placed.any():  # the first tile is the reference
                mosaic = self.weighted[area][placed] / self.total[area][placed]
                scale, shift = fit_scale_shift(depth[placed], mosaic)
        weight = self._weights[box]
        self.weighted[area] += weight * (scale * depth.astype(np.float64) + shift)
        self.total[area] += weight
        return scale, shift

    def result(self) -> np.ndarray:
        """The blended map (float32); every pixel must have been covered by a tile."""
        if not (self.total > 0).all():
            raise ValueError("the tiles added do not cover the whole image")
        return (self.weighted / self.total).astype(np.float32)


def blend_tiles(
    tiles: Sequence[np.ndarray],
    boxes: Sequence[TileBox],
    shape: tuple[int, int],
    align: Literal["global", "mosaic"] | None = "global",
    guide: np.ndarray | None = None,
) -> np.ndarray:
    """One full map from per-tile maps in plan order (see `TileBlender`)."""
    blender = TileBlender(shape, boxes, align, guide)
    for depth, box in zip(tiles, boxes, strict=True):
        blender.add(depth, box)
    return blender.result()


__all__ = ["ALIGN_MODES", "TileBlender", "TileBox", "Tiling", "blend_tiles", "blend_weights", "fit_scale_shift",
           "plan_tiles", "tile_starts"]
