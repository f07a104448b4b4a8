"""Write a contact sheet: a grid of dataset samples, each image beside its colourised depth.

Works on any registered layout (default: the synthetic one), so a person can see at a glance what
the data looks like and whether labels line up with images. Depth is shown as inverse depth
(near = warm); invalid pixels are black.
"""

from __future__ import annotations

import argparse

from .options import int_at_least


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
    from ..data.preview import contact_sheet
    from ..io import save_image

    reader = open_dataset(args.layout, args.data, split=args.split)
    sheet = contact_sheet(reader, args.count, args.columns, args.tile)
    save_image(args.out, sheet)
    print(f"{args.out}: {min(args.count, len(reader))} samples, {sheet.shape[1]}x{sheet.shape[0]} pixels")
    return 0
