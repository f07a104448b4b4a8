"""Coloured 3-D point clouds (binary PLY) from images with a metric depth model.

Each IMAGE (file, folder, list file or quoted glob, named as `predict` names them) becomes OUT/NAME.ply:
vertices x, y, z (float32, metres; camera frame: x right, y down, z forward) and red, green, blue
(uint8, the pixel's colour). The camera is a pinhole with its principal point at the image centre and
a horizontal field of view of 60 degrees unless --fov or --focal says otherwise. Relative models give
disparity without a scale, so they are refused: metric depth is needed.
"""

from __future__ import annotations

import argparse

from ..builtin import DEFAULT_METRIC_MODEL
from .options import add_model_options, int_at_least, set_examples

EXAMPLES = """\
examples:
  depth-anything pointcloud room.jpg                       # built-in metric model (default-metric), 60° FOV
  depth-anything pointcloud room.jpg --model metric-hypersim-vitl --focal 525 --outdir clouds/
  depth-anything pointcloud street/ --model metric-vkitti-vitl --fov 90 --stride 2 --max-points 200000
"""

METRIC_MODELS = (DEFAULT_METRIC_MODEL, "metric-hypersim-vitl", "metric-vkitti-vitl")


def _positive_float(what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything pointcloud`."""
    from ..geometry import DEFAULT_FOV_DEG

    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders, list files or quoted glob patterns")
    parser.add_argument("--outdir", "--out", dest="outdir", default="outputs", help="output folder (default: outputs)")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=_positive_float("--fov"), default=None, metavar="DEG",
                        help=f"horizontal field of view in degrees (default {DEFAULT_FOV_DEG:g})")
    camera.add_argument("--focal", type=_positive_float("--focal"), default=None, metavar="PX",
                        help="focal length in pixels (instead of --fov)")
    parser.add_argument("--stride", type=int_at_least(1, "--stride"), default=1,
                        help="keep every N-th pixel in each direction (default 1: all)")
    parser.add_argument("--max-points", type=int_at_least(1, "--max-points"), default=None,
                        help="at most this many points per image, drawn at random (seeded)")
    parser.add_argument("--skip-existing", action="store_true", help="leave out images whose PLY exists")
    add_model_options(parser, model_help="metric model name or checkpoint (default: the built-in default-metric; "
                      f"others: {', '.join(METRIC_MODELS[1:])}, ...)")


def run(args: argparse.Namespace) -> int:
    """Predict metric depth for each image and write its coloured point cloud."""
    from ..errors import ConfigError, require_extra
    from ..geometry import DEFAULT_FOV_DEG, POINTCLOUD_EXTRA, Intrinsics, depth_to_points, write_ply
    from ..io import to_uint8
    from .batch import BatchRun
    from .options import open_predictor_from_args

    require_extra("plyfile", POINTCLOUD_EXTRA)  # before any model is loaded
    batch = BatchRun.collect(args.inputs, args.outdir)
    predictor = open_predictor_from_args(args, DEFAULT_METRIC_MODEL, download="metric-hypersim-vits")
    if not predictor.is_metric:
        raise ConfigError(
            f"{args.model or DEFAULT_METRIC_MODEL}: this model predicts relative depth (disparity without a scale); a point cloud needs "
            f"metric depth in metres. Use a metric model: {', '.join(METRIC_MODELS)} (--model NAME)"
        )
    if args.skip_existing:
        batch.skip(lambda image: (batch.outdir / f"{image.name}.ply").is_file())

    def write(image, result) -> None:
        height, width = result.depth.shape
        if args.focal is not None:
            intrinsics = Intrinsics.from_focal(width, height, args.focal)
        else:
            intrinsics = Intrinsics.from_fov(width, height, args.fov or DEFAULT_FOV_DEG)
        points, colors = depth_to_points(result.depth, intrinsics, to_uint8(result.image), args.stride, args.max_points)
        write_ply(batch.outdir / f"{image.name}.ply", points, colors)

    return batch.process(predictor, write)
