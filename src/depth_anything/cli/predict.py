"""Predict depth for images and write pictures, 16-bit PNGs or .npy files.

INPUT is an image file, a folder (searched recursively for .jpg .jpeg .png .bmp .tif .tiff .webp in
any case), a text file (.txt/.lst/.list) listing one path per line (relative to the file; # starts a
comment), or a quoted glob pattern ("photos/**/*.jpg"). The output folder mirrors the input tree:
photos/a.jpg and photos/sub/a.jpg become OUTDIR/a_side.png and OUTDIR/sub/a_side.png; several inputs are
named relative to their common parent, files given one by one by their name (made unique).
A file that cannot be read is reported with its reason and skipped; the others are written, and
the exit code is 1.

--tile SIZE is the tiled high-resolution mode: an image whose shorter side is larger than SIZE pixels
is also cut into overlapping SIZE×SIZE tiles at its own resolution, each tile is predicted, aligned
(scale and shift) to the whole-image prediction and blended into one full-resolution map; the cost
grows linearly with the pixels. Smaller images run as without it.
"""

from __future__ import annotations

import argparse
import sys

from .options import (
    FloatRange,
    FormatList,
    IntAtLeast,
    IntRange,
    add_camera_options,
    add_fsync_option,
    add_model_options,
    add_outdir_option,
    add_picture_options,
    add_pred_only_option,
    add_progress_option,
    add_random_weights_option,
    set_examples,
)
from .sparse import add_align_option, aligned_depth

EXAMPLES = """\
output formats (--formats, comma-separated; default side, or color with --pred-only):
  color   NAME_depth.png    depth picture (colour map --cmap; grey with --grayscale)
  gray    NAME_gray.png     grey depth picture (white = near)
  side    NAME_side.png     input | white gap | depth picture
  png16   NAME_depth16.png  16-bit PNG: relative models min-max normalised to 0..65535 per image;
                            metric models in millimetres (metres x 1000, 0 = invalid, clipped at 65.535 m)
  npy     NAME.npy          float32 H x W map as predicted (disparity-like for relative models, metres for metric)
  normals NAME_normals.png  surface normal map (metric models; camera from EXIF, else --fov/--focal, else 60°)
  normals_npy NAME_normals.npy  float32 H x W x 3 unit normals (camera frame: x right, y down, z forward)
  confidence NAME_confidence.png  flip-consistency confidence, 255 = the prediction and the mirrored
                            image's agree (each image also runs mirrored: a second forward pass)
every file says what it holds (PNG text, NAME.npy.json beside .npy files): `depth-anything info FILE`

examples:
  depth-anything predict photo.jpg                          # built-in model, writes outputs/photo_side.png
  depth-anything predict photos/ --outdir depth/ --model vits --pred-only
  depth-anything predict "shots/**/*.JPG" --formats color,png16,npy --cmap inferno --skip-existing
  depth-anything predict list.txt --model depth_anything_v2_vitl.pth --dtype fp16 --batch-size 8
  depth-anything predict big_photo.jpg --tile 518 --formats color,npy   # tiled, full-resolution detail
  depth-anything predict assets/example.png --random-weights vits   # untrained: checks the pipeline only
  depth-anything predict room.jpg --model default-metric --formats normals,normals_npy --fov 70
"""


formats_list = FormatList("IMAGE_FORMATS")  # an argparse type: comma-separated formats (outputs.IMAGE_FORMATS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything predict`."""
    from ..outputs import IMAGE_FORMATS, PNG_COMPRESSION

    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, list files or quoted glob patterns")
    add_outdir_option(parser, help="output folder (default: %(default)s)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--formats", type=formats_list, default=None, metavar="LIST",
                       help=f"comma-separated output formats: {', '.join(IMAGE_FORMATS)} (default side)")
    add_pred_only_option(shape)
    add_picture_options(parser)
    add_camera_options(parser)
    parser.add_argument("--png-compression", type=IntRange(0, 9), default=PNG_COMPRESSION, metavar="LEVEL",
                        help="zlib level of the PNG files, 0-9 (default %(default)s; 0 stores them uncompressed: "
                        "fastest, about twice the size)")
    parser.add_argument("--skip-existing", action="store_true", help="leave out inputs whose output files all exist")
    add_fsync_option(parser)
    add_progress_option(parser)
    add_model_options(parser)
    parser.add_argument("--tile", type=IntAtLeast(14), default=None, metavar="SIZE",
                        help="tiled high-resolution mode: cut images larger than SIZE px into overlapping SIZE×SIZE "
                        "tiles at full resolution, blend them")
    parser.add_argument("--tile-overlap", type=FloatRange(0.0, 0.5, high_open=True), default=0.25, metavar="F",
                        help="share of a tile that neighbouring tiles overlap, in [0, 0.5) (default %(default)s)")
    add_random_weights_option(parser)
    add_align_option(parser)


def run(args: argparse.Namespace) -> int:
    """Collect the inputs, predict them through one `Predictor`, write each one's files, summarise."""
    import contextlib

    from tqdm import tqdm

    from ..camera import choose_camera
    from ..inference import Tiling
    from ..outputs import GEOMETRY_FORMATS, DepthWriter, PointCloudOptions
    from .batch import BatchRun
    from .options import library_messages, model_label, open_predictor_from_args

    formats = ["color"] if args.pred_only else (args.formats or ["side"])
    batch = BatchRun.collect(args.inputs, args.outdir)
    tiling = Tiling(args.tile, args.tile_overlap) if args.tile is not None else None
    predictor = open_predictor_from_args(args, tiling=tiling)
    metric = predictor.is_metric or args.align_to is not None  # aligned to sparse metric data: metres
    writer = DepthWriter(args.outdir, formats, metric, args.cmap, args.grayscale,
                         compression=args.png_compression, durable=args.fsync,
                         points=PointCloudOptions(args.fov, args.focal), model=model_label(args),
                         input_size=predictor.input_size)
    # the camera is recorded for metric depth when the geometry needs it or --fov/--focal gives it
    camera_needed = metric and (any(f in GEOMETRY_FORMATS for f in formats) or args.fov or args.focal)
    kind = "depth" if predictor.is_metric else "disparity"

    def write(image, result, consistency=None) -> None:
        depth = result.depth if args.align_to is None else aligned_depth(result.depth, image, args.align_to,
                                                                         len(batch.images) == 1, kind)
        camera = None
        if camera_needed:  # this photo's camera: its EXIF, else --fov/--focal, else the default (with a warning)
            height, width = depth.shape
            camera = choose_camera(width, height, image.path, args.fov, args.focal, use_exif=not args.no_exif,
                                   name=str(image.path))
            tqdm.write(f"{image.name}: {camera.describe()}", file=sys.stderr)
        writer.write(image.name, result.image, depth, intrinsics=camera and camera.intrinsics,
                     focal_source=camera and camera.source,
                     confidence=None if consistency is None else consistency.confidence)

    if args.skip_existing:
        batch.skip(lambda image: writer.exists(image.name))
    # the camera's warnings (EXIF not used, the default assumed) show as the 3-D commands show them
    with library_messages("predict") if camera_needed else contextlib.nullcontext():
        return batch.process(predictor, write, progress=not args.no_progress, confidence="confidence" in formats)
