"""Pictures of dataset samples: a label as a colour picture, and contact sheets of many samples, so a
person sees at a glance what the data looks like and whether labels line up with images."""

from __future__ import annotations

import numpy as np

from ..errors import DatasetError
from ..io import to_uint8
from ..pictures import colorize_depth, fit_height, grid, label_picture
from .datasets import DepthSample, SampleReader


def sample_depth_picture(sample: DepthSample) -> np.ndarray:
    """Colour picture of a sample's label: inverse depth (or the disparity itself), near = warm."""
    height, width = sample.image.shape[:2]
    if sample.depth is None:
        return np.zeros((height, width, 3), np.uint8)
    depth = np.asarray(sample.depth, np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    if sample.valid is not None:
        valid &= sample.valid
    disparity = depth if sample.depth_kind == "disparity" else np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0)
    return colorize_depth(disparity, valid=valid)


def sample_cell(sample: DepthSample, tile: int) -> np.ndarray:
    """Image and depth picture side by side, scaled to height `tile`, with the sample name."""
    left = fit_height(to_uint8(sample.image), tile)
    right = fit_height(sample_depth_picture(sample), tile, nearest=True)
    return label_picture(np.concatenate([left, right], axis=1), sample.name)


def contact_sheet(reader: SampleReader, count: int = 12, columns: int = 4, tile: int = 192, gap: int = 4) -> np.ndarray:
    """A grid picture of `count` samples spread evenly over `reader` (RGB uint8)."""
    if len(reader) == 0:
        raise DatasetError(f"{getattr(reader, 'root', 'the dataset')}: the dataset has no samples to show")
    count = min(count, len(reader))
    picks = np.unique(np.linspace(0, len(reader) - 1, count).round().astype(int))
    return grid([sample_cell(reader[int(i)], tile) for i in picks], columns, gap)
