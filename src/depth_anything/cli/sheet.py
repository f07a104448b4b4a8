"""Write a contact sheet: a grid of dataset samples, each image beside its colourised depth.

Works on any registered layout (default: the synthetic one), so a person can see at a glance what
the data looks like and whether labels line up with images. Depth is shown as inverse depth
(near = warm); invalid pixels are black.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from ..data.datasets import DepthSample, SampleReader
from ..errors import DatasetError
from ..io import colorize_depth, to_unit_float
from .options import int_at_least


def depth_picture(sample: DepthSample) -> np.ndarray:
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


def _cell(sample: DepthSample, tile: int) -> np.ndarray:
    """Image and depth picture side by side, scaled to height `tile`, with the sample name."""
    image = sample.image
    if image.dtype != np.uint8:
        image = np.round(to_unit_float(image).clip(0.0, 1.0) * 255).astype(np.uint8)
    height, width = image.shape[:2]
    new_w = max(1, round(width * tile / height))
    left = cv2.resize(np.ascontiguousarray(image), (new_w, tile), interpolation=cv2.INTER_AREA)
    right = cv2.resize(depth_picture(sample), (new_w, tile), interpolation=cv2.INTER_NEAREST)
    cell = np.concatenate([left, right], axis=1)
    cv2.putText(cell, sample.name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(cell, sample.name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return cell


def contact_sheet(reader: SampleReader, count: int = 12, columns: int = 4, tile: int = 192, gap: int = 4) -> np.ndarray:
    """A grid picture of `count` samples spread evenly over `reader` (RGB uint8)."""
    if len(reader) == 0:
        raise DatasetError(f"{getattr(reader, 'root', 'the dataset')}: the dataset has no samples to show")
    count = min(count, len(reader))
    picks = np.unique(np.linspace(0, len(reader) - 1, count).round().astype(int))
    cells = [_cell(reader[int(i)], tile) for i in picks]
    cell_h = max(c.shape[0] for c in cells)
    cell_w = max(c.shape[1] for c in cells)
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    sheet = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, 3), 32, np.uint8)
    for k, cell in enumerate(cells):
        r, c = divmod(k, columns)
        y, x = gap + r * (cell_h + gap), gap + c * (cell_w + gap)
        sheet[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
    return sheet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `depth-anything contact-sheet`."""
    parser.add_argument("--data", required=True, help="dataset folder")
    parser.add_argument("--layout", default="synthetic", help="dataset layout (default synthetic)")
    parser.add_argument("--split", default=None, help="split to show (default: the layout's default)")
    parser.add_argument("--count", type=int_at_least(1, "--count"), default=12, help="number of samples (default 12)")
    parser.add_argument("--columns", type=int_at_least(1, "--columns"), default=4, help="samples per row (default 4)")
    parser.add_argument("--tile", type=int_at_least(1, "--tile"), default=192, help="height of each picture in pixels (default 192)")
    parser.add_argument("--out", required=True, help="output picture (.png or .jpg)")


def run(args: argparse.Namespace) -> int:
    """Read the samples, build the grid and write it atomically."""
    from ..data.datasets import open_dataset
    from ..io import save_image

    reader = open_dataset(args.layout, args.data, split=args.split)
    sheet = contact_sheet(reader, args.count, args.columns, args.tile)
    save_image(args.out, sheet)
    print(f"{args.out}: {min(args.count, len(reader))} samples, {sheet.shape[1]}x{sheet.shape[0]} pixels")
    return 0
