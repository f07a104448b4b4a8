"""Convert a depth file into another format: 16-bit PNG to metres (.npy, .exr), metric depth to points (.ply).

The target's suffix picks what is written, with the record of what it holds carried over:
  .npy  float32 map (and TARGET.npy.json)    .npz  float32 `depth` and `metadata`
  .exr  float32 channel Z                    .png  16-bit PNG (millimetres for metric depth)
  .ply  point cloud (metric depth; the camera the source records, or --fov/--focal)
A 16-bit PNG written elsewhere carries no record: --scale says how it was written (stored / scale =
metres: 1000 for millimetres, 256 for KITTI), and --values whether an array without one holds metres.
Invalid pixels (0 in a metric PNG) become NaN.
"""

from __future__ import annotations

import argparse

from .options import POSITIVE, IntAtLeast, add_camera_options, add_fsync_option, set_examples

EXAMPLES = """\
examples:
  depth-anything convert outputs/room_depth16.png room.npy          # metres, from a metric model's PNG
  depth-anything convert outputs/room_depth16.png room.exr
  depth-anything convert outputs/room.npy room.ply --stride 2       # points with the recorded camera
  depth-anything convert kitti_0000.png kitti.npy --scale 256       # a PNG written elsewhere
  depth-anything convert sensor_mm.png sensor.ply --scale 1000 --fov 70   # a camera for a file without one
  depth-anything convert lidar_metres.npy lidar.ply --values metric --fov 60 # an array in metres, no record
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything convert`."""
    set_examples(parser, EXAMPLES)
    parser.add_argument("source", metavar="SOURCE", help="a depth file (.png 16-bit, .npy, .npz, .exr)")
    parser.add_argument("target", metavar="TARGET", help="the file to write (.npy, .npz, .exr, .png, .ply)")
    parser.add_argument(
        "--scale",
        type=POSITIVE,
        default=None,
        metavar="S",
        help="how a 16-bit PNG without a record was written: stored / S = metres",
    )
    parser.add_argument(
        "--values",
        choices=("metric", "relative"),
        default=None,
        help="what a file without a record holds: metric (metres) or relative values (default: metric for a "
        "PNG read with --scale, else relative)",
    )
    add_camera_options(parser)
    parser.add_argument(
        "--stride",
        type=IntAtLeast(1),
        default=1,
        help="keep every N-th pixel in each direction (default 1: all)",
    )
    add_fsync_option(parser)


def run(args: argparse.Namespace) -> int:
    """Read SOURCE, write TARGET, say what was written."""
    from ..depth_files import convert_depth_file, inspect_depth_file
    from ..geometry import Intrinsics

    intrinsics = source = None
    if args.fov is not None or args.focal is not None:
        from ..depth_files import load_depth_values

        height, width = load_depth_values(args.source, args.scale)[0].shape[-2:]
        if args.focal is not None:
            intrinsics, source = Intrinsics.from_focal(width, height, args.focal), "focal"
        else:
            intrinsics, source = Intrinsics.from_fov(width, height, args.fov), "fov"
    written = convert_depth_file(
        args.source,
        args.target,
        png_scale=args.scale,
        intrinsics=intrinsics,
        focal_source=source,
        stride=args.stride,
        durable=args.fsync,
        kind=args.values,
    )
    print("\n".join(inspect_depth_file(written).lines()))
    return 0
