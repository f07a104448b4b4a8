"""Write random views of the real photos that installed packages ship (unlabeled images for pseudo-labels).

The photos of scikit-image, scikit-learn and matplotlib that have no ground-truth depth, each cut into
random crops (10-100 % of the area, aspect 3:4 to 4:3), mirrored half the time and resized so that
their shorter side is --short-side pixels: OUTDIR/PHOTO_000.png, ... The same --seed gives the same files.
"""

from __future__ import annotations

import argparse

from .options import IntAtLeast, add_outdir_option, set_examples

EXAMPLES = """\
examples:
  depth-anything sample-photos --outdir runs/default/photos --views 50 --short-side 160
  depth-anything label --model runs/default/teacher/model.pt --data runs/default/photos --outdir runs/default/pseudo
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything sample-photos`."""
    set_examples(parser, EXAMPLES)
    add_outdir_option(parser, default=None, required=True, help="output folder: the views as PNG files")
    parser.add_argument("--views", type=IntAtLeast(1), default=50, metavar="N",
                        help="random views per photo (default %(default)s)")
    parser.add_argument("--short-side", type=IntAtLeast(8), default=160, metavar="PX",
                        help="shorter side of each view in pixels (default %(default)s)")
    parser.add_argument("--seed", type=IntAtLeast(0), default=0, help="random seed (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Write the views and say how many."""
    from pathlib import Path

    from ..data.sample_photos import shipped_photo_paths, write_photo_views
    from ..errors import ConfigError

    photos = shipped_photo_paths()
    if not photos:
        raise ConfigError("none of the packages that ship photos (scikit-image, scikit-learn, matplotlib) is installed")
    written = write_photo_views(Path(args.outdir), args.views, args.short_side, args.seed)
    print(f"{len(written)} views of {len(photos)} photos written to {args.outdir}")
    return 0
