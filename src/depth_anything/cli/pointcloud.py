"""Coloured 3-D point clouds (binary PLY) from images with a metric depth model.

Each IMAGE (file, folder, list file or quoted glob, named as `predict` names them) becomes OUT/NAME.ply:
vertices x, y, z (float32, metres; camera frame: x right, y down, z forward) and red, green, blue
(uint8, the pixel's colour). The camera is a pinhole with its principal point at the image centre; its
focal length comes from the photo's EXIF (35 mm equivalent, or focal length and sensor size) when it
has a believable one, else from --focal or --fov, else a field of view of 60 degrees (with a
warning). Each image's focal length and where it came from are printed and written into the file.
Points on depth edges ("flying pixels" between foreground and background) are dropped unless
--keep-edges.
Relative models give disparity without a scale, so they are refused (metric depth is needed) unless
--align-to gives sparse metric depth (points in metres) that each prediction is aligned to.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..weights.registry import DEFAULT_METRIC_MODEL
from .options import (
    FRACTION,
    POSITIVE,
    IntAtLeast,
    add_camera_options,
    add_fsync_option,
    add_model_options,
    add_outdir_option,
    add_progress_option,
    set_examples,
)
from .sparse import add_align_option

if TYPE_CHECKING:
    from ..inference import PredictionResult, Predictor
    from ..inference.confidence import FlipConsistency
    from ..outputs import DepthWriter, ImageInput, PointCloudOptions
    from .batch import BatchRun

EXAMPLES = """\
examples:
  depth-anything pointcloud room.jpg                       # built-in metric model, camera from EXIF or 60° FOV
  depth-anything pointcloud room.jpg --model metric-hypersim-vitl --focal 525 --outdir clouds/
  depth-anything pointcloud street/ --model metric-vkitti-vitl --fov 90 --stride 2 --max-points 200000
"""


# suggested when a relative model is given (every metric name resolves: see `weights.registry`)
METRIC_MODELS = (DEFAULT_METRIC_MODEL, "metric-hypersim-vitl", "metric-vkitti-vitl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything pointcloud`."""
    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders, list files or quoted glob patterns")
    add_outdir_option(parser, help="output folder (default: %(default)s)")
    add_geometry_options(parser)
    parser.add_argument("--max-points", type=IntAtLeast(1), default=None,
                        help="at most this many points per image, drawn at random (seeded)")
    parser.add_argument("--skip-existing", action="store_true", help="leave out inputs whose output files all exist")
    add_fsync_option(parser)
    add_progress_option(parser)
    add_model_options(parser, default=f"the built-in {DEFAULT_METRIC_MODEL}; a metric model is needed")


def add_geometry_options(parser: argparse.ArgumentParser) -> None:
    """The camera and clean-up flags of the 3-D commands (pointcloud, mesh): one definition for both."""
    from ..mesh import DEFAULT_EDGE_THRESHOLD

    add_camera_options(parser)  # --fov | --focal for photos without a believable EXIF focal length; --no-exif
    parser.add_argument("--stride", type=IntAtLeast(1), default=1,
                        help="keep every N-th pixel in each direction (default 1: all; raised, with a message, for huge images)")
    parser.add_argument("--keep-edges", action="store_true",
                        help="keep the pixels on depth edges (flying points between foreground and background; "
                        "dropped by default)")
    parser.add_argument("--edge-threshold", type=POSITIVE, default=DEFAULT_EDGE_THRESHOLD, metavar="RATIO",
                        help="relative depth jump to a neighbour that makes a depth edge (default %(default)s: 4 %%)")
    parser.add_argument("--min-confidence", type=FRACTION, default=None, metavar="C",
                        help="drop pixels whose flip-consistency confidence (0-1) is below C: each image also runs "
                        "mirrored (a second forward pass)")
    add_align_option(parser)  # a relative model's output in metres


def geometry_options(args: argparse.Namespace, predictor: Predictor) -> PointCloudOptions:
    """The `PointCloudOptions` the flags of `add_geometry_options` (and --max-points) ask for."""
    from ..outputs import PointCloudOptions

    return PointCloudOptions(
        args.fov, args.focal, args.stride, getattr(args, "max_points", None), use_exif=not args.no_exif,
        edge_threshold=None if args.keep_edges else args.edge_threshold, network_side=predictor.input_size,
        min_confidence=args.min_confidence,
    )


def open_metric_predictor(args: argparse.Namespace, what: str) -> Predictor:
    """The predictor --model asks for (the built-in metric model by default); a relative model is
    refused, naming the metric ones (`what`: the output that needs metres), unless --align-to gives
    the sparse metric depth its predictions are aligned to."""
    from ..errors import ConfigError
    from .options import open_predictor_from_args

    predictor = open_predictor_from_args(args, DEFAULT_METRIC_MODEL, download="metric-hypersim-vits")
    if not predictor.is_metric and args.align_to is None:
        raise ConfigError(
            f"{args.model or DEFAULT_METRIC_MODEL}: this model predicts relative depth (disparity without a scale); "
            f"{what} needs metric depth in metres. Use a metric model: {', '.join(METRIC_MODELS)} (--model NAME), "
            "or give sparse metric depth to align it to (--align-to SPARSE)"
        )
    return predictor


@dataclass(frozen=True)
class GeometryRun:
    """How one run of a 3-D command writes each image: its writer, its options and, for a relative
    model, the sparse metric depth its predictions are aligned to (`align_to`; `single`: one input)."""

    writer: DepthWriter
    points: PointCloudOptions
    align_to: str | None = None
    single: bool = True

    def write(self, image: ImageInput, result: PredictionResult, consistency: FlipConsistency | None = None) -> None:
        """Write one image's 3-D files with its own camera (EXIF, flags or default), printing which it is."""
        from tqdm import tqdm

        from .sparse import aligned_depth

        depth = result.depth
        if self.align_to is not None:  # a relative model's disparity, in metres once aligned
            depth = aligned_depth(depth, image, self.align_to, self.single, "disparity")  # type: ignore[arg-type]
        height, width = depth.shape[:2]  # type: ignore[union-attr]
        camera = self.points.camera(width, height, image.path, image.name)
        tqdm.write(f"{image.name}: {camera.describe()}", file=sys.stderr)
        self.writer.write(image.name, result.image, depth, intrinsics=camera.intrinsics,  # type: ignore[arg-type]
                          focal_source=camera.source,
                          confidence=None if consistency is None else consistency.confidence)


def geometry_run(args: argparse.Namespace, writer: DepthWriter, points: PointCloudOptions, predictor: Predictor,
                 batch: BatchRun) -> GeometryRun:
    """The `GeometryRun` of these flags (--align-to only aligns a relative model's predictions)."""
    align_to = None if predictor.is_metric else args.align_to
    return GeometryRun(writer, points, align_to, len(batch.images) == 1)


def run(args: argparse.Namespace) -> int:
    """Predict metric depth for each image and write its coloured point cloud."""
    from ..errors import require_extra
    from ..geometry import POINTCLOUD_EXTRA
    from ..outputs import DepthWriter
    from .batch import BatchRun
    from .options import library_messages

    require_extra("plyfile", POINTCLOUD_EXTRA)  # before any model is loaded
    batch = BatchRun.collect(args.inputs, args.outdir)
    predictor = open_metric_predictor(args, "a point cloud")
    points = geometry_options(args, predictor)
    writer = DepthWriter(args.outdir, ["ply"], metric=True, durable=args.fsync, points=points,
                         model=args.model or DEFAULT_METRIC_MODEL, input_size=predictor.input_size)
    if args.skip_existing:
        batch.skip(lambda image: writer.exists(image.name))
    run = geometry_run(args, writer, points, predictor, batch)
    with library_messages("pointcloud"):  # the camera's warnings (EXIF not used, the default assumed)
        return batch.process(predictor, run.write,
                             progress=not args.no_progress, confidence=points.min_confidence is not None)
