"""Textured triangle meshes (GLB, PLY, OBJ) from images with a metric depth model.

Each IMAGE (file, folder, list file or quoted glob, named as `predict` names them) becomes a mesh made
from its pixel grid, in metres: OUT/NAME.glb (glTF's frame: y up, the camera looking down -z; the image
as its texture; opens in Blender, game engines and web viewers), OUT/NAME_mesh.ply and OUT/NAME.obj
(the camera frame of `pointcloud`: x right, y down, z forward; the pixels' colours on the vertices).
Triangles with a corner on a depth edge are left out, so foreground and background are not joined by a
rubber sheet (--keep-edges keeps them). The camera comes from the photo's EXIF, else --focal or
--fov, else a field of view of 60 degrees (with a warning); each image's focal length and where it
came from are printed and written into every file. --formats confidence also writes
OUT/NAME_confidence.png, the flip-consistency confidence (255 = the prediction and the mirrored
image's agree). Relative models give disparity without a scale, so they are refused (metric depth is
needed) unless --align-to gives sparse metric depth (points in metres) that each prediction is aligned
to.
"""

from __future__ import annotations

import argparse

from ..weights.registry import DEFAULT_METRIC_MODEL
from .options import (
    FormatList,
    add_fsync_option,
    add_model_options,
    add_outdir_option,
    add_progress_option,
    set_examples,
)
from .pointcloud import add_geometry_options

EXAMPLES = """\
examples:
  depth-anything mesh room.jpg                                   # OUT/room.glb, camera from EXIF or 60° FOV
  depth-anything mesh photos/ --formats glb,mesh_ply,obj --outdir meshes/
  depth-anything mesh room.jpg --model metric-hypersim-vitl --focal 525 --min-confidence 0.5
"""

DEFAULT_FORMATS = ["glb"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything mesh`."""
    set_examples(parser, EXAMPLES)
    parser.add_argument(
        "inputs", nargs="+", metavar="IMAGE", help="image files, folders, list files or quoted glob patterns"
    )
    add_outdir_option(parser, help="output folder (default: %(default)s)")
    parser.add_argument(
        "--formats",
        type=FormatList("MESH_OUTPUTS"),
        default=DEFAULT_FORMATS,
        help="comma-separated output formats: glb (textured), mesh_ply, obj, confidence (default: glb)",
    )
    add_geometry_options(parser)
    parser.add_argument(
        "--skip-existing", action="store_true", help="leave out inputs whose output files all exist"
    )
    add_fsync_option(parser)
    add_progress_option(parser)
    add_model_options(parser, default=f"the built-in {DEFAULT_METRIC_MODEL}; a metric model is needed")


def run(args: argparse.Namespace) -> int:
    """Predict metric depth for each image and write its mesh."""
    from ..errors import require_extra
    from ..mesh import MESH_EXTRA
    from ..outputs import DepthWriter
    from .batch import BatchRun
    from .options import library_messages
    from .pointcloud import geometry_options, geometry_run, open_metric_predictor

    require_extra("trimesh", MESH_EXTRA)  # before any model is loaded
    batch = BatchRun.collect(args.inputs, args.outdir)
    predictor = open_metric_predictor(args, "a mesh")
    points = geometry_options(args, predictor)
    writer = DepthWriter(
        args.outdir,
        args.formats,
        metric=True,
        durable=args.fsync,
        points=points,
        model=args.model or DEFAULT_METRIC_MODEL,
        input_size=predictor.input_size,
    )
    if args.skip_existing:
        batch.skip(lambda image: writer.exists(image.name))
    confidence = points.min_confidence is not None or "confidence" in args.formats
    run = geometry_run(args, writer, points, predictor, batch)
    with library_messages("mesh"):  # the camera's warnings (EXIF not used, the default assumed)
        return batch.process(
            predictor,
            run.write,
            progress=not args.no_progress,
            confidence=confidence,
        )
