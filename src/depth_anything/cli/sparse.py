"""--align-to SPARSE: predictions aligned to sparse metric depth (a robust scale and shift in disparity,
`alignment.align_to_metric`), so a relative model's output becomes metres. One definition for the
commands that take it (predict, pointcloud, mesh)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from ..outputs import ImageInput


def add_align_option(parser: argparse.ArgumentParser) -> None:
    """--align-to SPARSE: the sparse metric depth each prediction is aligned to."""
    parser.add_argument("--align-to", metavar="SPARSE", default=None,
                        help="sparse metric depth to align each prediction to (robust scale and shift in disparity; "
                        "the outputs are then metres): a CSV of x,y,metres lines, an .npy map in metres or a 16-bit "
                        "PNG/TIFF map in millimetres for one input image, or a folder of them named like the images")


def sparse_file(source: str, image: ImageInput, single: bool) -> Path:
    """The sparse depth file for `image`: `source` itself (one input image) or, in the folder `source`, the
    file named like the image (NAME.csv, NAME.npy, NAME.png, ...)."""
    from ..alignment import SPARSE_SUFFIXES
    from ..errors import ConfigError

    folder = Path(source)
    if not folder.is_dir():
        if not single:
            raise ConfigError(f"--align-to {source}: one sparse file fits one input image; for several give a "
                              "folder of files named like the images (NAME.csv, NAME.npy or NAME.png)")
        return folder
    for suffix in SPARSE_SUFFIXES:
        candidate = folder / f"{image.name}{suffix}"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{folder}: no sparse depth for {image.path} (looked for {image.name}.csv, .npy, .png, .tif)")


def aligned_depth(depth: np.ndarray, image: ImageInput, source: str, single: bool, kind: str) -> np.ndarray:
    """The prediction of `image` (`kind`: "depth" or "disparity") aligned to its sparse metric depth, in
    metres; skipped points are reported, an image whose sparse data cannot be used is skipped
    (`NoValidDepthError`) with the reason."""
    from ..alignment import align_to_metric, read_sparse_depth
    from ..errors import ConfigError, NoValidDepthError

    try:
        path = sparse_file(source, image, single)
        sparse = read_sparse_depth(path, depth.shape[:2])
        if sparse.skipped:
            shown = "; ".join(sparse.skipped[:3]) + (f"; and {len(sparse.skipped) - 3} more" if len(sparse.skipped) > 3 else "")
            print(f"{path}: skipped {len(sparse.skipped)} point(s) or pixel group(s): {shown}", file=sys.stderr)
        return align_to_metric(depth, sparse.depth, kind=kind).depth
    except ConfigError as exc:
        raise NoValidDepthError(f"{image.path}: not aligned ({exc})") from None
