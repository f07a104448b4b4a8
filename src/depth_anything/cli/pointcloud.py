"""Coloured 3-D point clouds (binary PLY) from images with a metric depth model.

Each IMAGE (file, folder, list file or quoted glob, named as `predict` names them) becomes OUT/NAME.ply:
vertices x, y, z (float32, metres; camera frame: x right, y down, z forward) and red, green, blue
(uint8, the pixel's colour). The camera is a pinhole with its principal point at the image centre and
a horizontal field of view of 60 degrees unless --fov or --focal says otherwise. Relative models give
disparity without a scale, so they are refused: metric depth is needed.
"""

from __future__ import annotations

import argparse

from ..weights.registry import DEFAULT_METRIC_MODEL
from .options import (
    POSITIVE,
    IntAtLeast,
    add_fsync_option,
    add_model_options,
    add_outdir_option,
    add_progress_option,
    set_examples,
)

EXAMPLES = """\
examples:
  depth-anything pointcloud room.jpg                       # built-in metric model (default-metric), 60° FOV
  depth-anything pointcloud room.jpg --model metric-hypersim-vitl --focal 525 --outdir clouds/
  depth-anything pointcloud street/ --model metric-vkitti-vitl --fov 90 --stride 2 --max-points 200000
"""


# suggested when a relative model is given (every metric name resolves: see `weights.registry`)
METRIC_MODELS = (DEFAULT_METRIC_MODEL, "metric-hypersim-vitl", "metric-vkitti-vitl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything pointcloud`."""
    from ..geometry import DEFAULT_FOV_DEG

    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders, list files or quoted glob patterns")
    add_outdir_option(parser, help="output folder (default: %(default)s)")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=POSITIVE, default=None, metavar="DEG",
                        help=f"horizontal field of view in degrees (default {DEFAULT_FOV_DEG:g})")
    camera.add_argument("--focal", type=POSITIVE, default=None, metavar="PX",
                        help="focal length in pixels (instead of --fov)")
    parser.add_argument("--stride", type=IntAtLeast(1), default=1,
                        help="keep every N-th pixel in each direction (default 1: all)")
    parser.add_argument("--max-points", type=IntAtLeast(1), default=None,
                        help="at most this many points per image, drawn at random (seeded)")
    parser.add_argument("--skip-existing", action="store_true", help="leave out inputs whose output files all exist")
    add_fsync_option(parser)
    add_progress_option(parser)
    add_model_options(parser, default=f"the built-in {DEFAULT_METRIC_MODEL}; a metric model is needed")


def run(args: argparse.Namespace) -> int:
    """Predict metric depth for each image and write its coloured point cloud."""
    from ..errors import ConfigError, require_extra
    from ..geometry import POINTCLOUD_EXTRA
    from ..outputs import DepthWriter, PointCloudOptions
    from .batch import BatchRun
    from .options import open_predictor_from_args

    require_extra("plyfile", POINTCLOUD_EXTRA)  # before any model is loaded
    batch = BatchRun.collect(args.inputs, args.outdir)
    predictor = open_predictor_from_args(args, DEFAULT_METRIC_MODEL, download="metric-hypersim-vits")
    if not predictor.is_metric:
        raise ConfigError(
            f"{args.model or DEFAULT_METRIC_MODEL}: this model predicts relative depth (disparity without a scale); "
            f"a point cloud needs metric depth in metres. Use a metric model: {', '.join(METRIC_MODELS)} (--model NAME)"
        )
    points = PointCloudOptions(args.fov, args.focal, args.stride, args.max_points)
    writer = DepthWriter(args.outdir, ["ply"], metric=True, durable=args.fsync, points=points)
    if args.skip_existing:
        batch.skip(lambda image: writer.exists(image.name))
    return batch.process(predictor, lambda image, result: writer.write(image.name, result.image, result.depth),
                         progress=not args.no_progress)
