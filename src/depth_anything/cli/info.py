"""Print what depth files hold: metres or disparity, the 16-bit scale, camera, model, frames.

Reads every format the toolkit writes: 16-bit PNGs and depth pictures, .npy (with FILE.npy.json),
.npz, EXR, PLY point clouds and meshes, GLB meshes, a video's frame folder (its png16.json) and JSON
sidecars. A file written elsewhere is described as far as its format tells (shape, values); a 16-bit
PNG from elsewhere needs --scale to be read as metres (see `depth-anything convert`).
"""

from __future__ import annotations

import argparse

from .options import set_examples

EXAMPLES = """\
examples:
  depth-anything info outputs/photo_depth16.png     # metric: millimetres; relative: the range to map back
  depth-anything info outputs/photo.npy meshes/photo.glb clouds/photo.ply
  depth-anything info video_out/clip/               # a depth video's frames (png16.json)
  depth-anything info outputs/photo.npy --json      # the record alone, as JSON, for scripts
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything info`."""
    set_examples(parser, EXAMPLES)
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="depth files, meshes, point clouds or frame folders"
    )
    parser.add_argument(
        "--json", action="store_true", help="JSON instead of text: each file's record (null when it has none)"
    )


def run(args: argparse.Namespace) -> int:
    """Describe each file; a file that cannot be read is reported and the exit code is 1."""
    import sys

    from ..depth_files import inspect_depth_file, record_json
    from ..errors import DepthAnythingError

    failed = 0
    for file in args.files:
        try:
            print(record_json(file) if args.json else "\n".join(inspect_depth_file(file).lines()))
        except (DepthAnythingError, OSError, ValueError) as exc:
            print(f"depth-anything info: {file}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
