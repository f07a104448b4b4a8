"""Write a contact sheet: a grid of dataset samples, each image beside its colourised depth.

Works on any registered layout (default: the synthetic one), so a person can see at a glance what
the data looks like and whether labels line up with images. Depth is shown as inverse depth
(near = warm); invalid pixels are black.
"""

from __future__ import annotations

import argparse

from .options import IntAtLeast, add_data_option, add_out_option, hide_aliases


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `depth-anything contact-sheet`."""
    add_data_option(parser, required=True, help="dataset folder (in the layout --layout names)")
    parser.add_argument("--layout", default="synthetic", help="dataset layout (default %(default)s)")
    parser.add_argument("--split", default=None, help="dataset split (default: the layout's default)")
    parser.add_argument("--count", type=IntAtLeast(1), default=12, help="number of samples (default %(default)s)")
    parser.add_argument("--columns", type=IntAtLeast(1), default=4, help="samples per row (default %(default)s)")
    hide_aliases(parser.add_argument("--cell-height", "--tile", type=IntAtLeast(1), default=192, metavar="PX",
                                     help="height of each picture in pixels (default %(default)s)"), "--tile")
    add_out_option(parser, required=True, help="output file: the picture (.png or .jpg)")


def run(args: argparse.Namespace) -> int:
    """Read the samples, build the grid and write it atomically."""
    from ..data.datasets import open_dataset
    from ..data.preview import contact_sheet
    from ..io import save_image

    reader = open_dataset(args.layout, args.data, split=args.split)
    sheet = contact_sheet(reader, args.count, args.columns, args.cell_height)
    save_image(args.out, sheet)
    print(f"{args.out}: {min(args.count, len(reader))} samples, {sheet.shape[1]}x{sheet.shape[0]} pixels")
    return 0
