"""Depth from a Luxonis OAK camera through DepthAI v3, live or from a recorded video.

ARCHIVE is an NN Archive from `depth-anything export --format nnarchive --target rvc2|rvc4`, converted for
the camera by Luxonis' modelconverter (docs/deployment.md): the camera's colour frames go to its
NeuralNetwork node, and a host node turns the network's output into depth at the frame's size. Without
--outdir the depth is shown in a window (q or Esc stops); with --outdir it is recorded until Ctrl-C or
--max-frames, in the formats of the video command (mp4: NAME_side.mp4 or NAME_depth.mp4; raw depth:
png16, exr, npz). A camera that is unplugged mid-run ends the recording cleanly: what was recorded is kept.

--replay VIDEO drives the same pipeline from a file through DepthAI's ReplayVideo instead of the camera,
with the archive's ONNX model (the archive before conversion) on the host's ONNX Runtime standing in for
the camera's NeuralNetwork: every frame of the file, once. --stereo-align (OAK-D) also runs the camera's
stereo depth and aligns the network's depth to it per frame: dense depth in metres, the stereo's where it
measured and the aligned network's in its holes. The frames per second are printed at the end. Needs pip install 'depth-anything[oak]'.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .options import (
    POSITIVE,
    FormatList,
    IntAtLeast,
    add_fsync_option,
    add_outdir_option,
    add_picture_options,
    add_pred_only_option,
    add_progress_option,
    set_examples,
)

EXAMPLES = """\
examples:
  depth-anything oak vits-rvc4.tar.xz                                  # live window (q or Esc to stop)
  depth-anything oak vits-rvc2.tar.xz --outdir rec/ --formats mp4,npz --max-frames 300
  depth-anything oak vits-rvc2.tar.xz --stereo-align --outdir rec/ --formats mp4,png16   # OAK-D: metres
  depth-anything oak vits.tar.xz --replay clip.mp4 --outdir out/       # no camera: host ONNX Runtime
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything oak`."""
    from ..inference.video import NORMALIZATIONS
    from ..outputs import VIDEO_FORMATS

    set_examples(parser, EXAMPLES)
    parser.add_argument(
        "archive",
        metavar="ARCHIVE",
        help="NN Archive: converted for the camera, or as exported (ONNX) with --replay",
    )
    parser.add_argument(
        "--replay",
        metavar="VIDEO",
        default=None,
        help="a video file played through the pipeline instead of the camera (the archive's ONNX "
        "model runs on the host)",
    )
    add_outdir_option(parser, default=None, help="output folder (default: none, a window; given = record)")
    parser.add_argument(
        "--formats",
        type=FormatList("VIDEO_FORMATS"),
        default=["mp4"],
        metavar="LIST",
        help=f"comma-separated output formats: {', '.join(VIDEO_FORMATS)} (default mp4)",
    )
    add_pred_only_option(parser)
    parser.add_argument(
        "--stereo-align",
        action="store_true",
        help="OAK-D: align the network's depth to the camera's stereo depth, per frame with a "
        "smoothed fit: dense metric depth in metres",
    )
    parser.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        default="running",
        help="colour scale: running (stable, default) or frame (each frame on its own)",
    )
    parser.add_argument(
        "--camera-fps",
        type=POSITIVE,
        default=None,
        metavar="FPS",
        help="frame rate asked of the camera (default: the camera's)",
    )
    parser.add_argument(
        "--max-frames",
        type=IntAtLeast(1),
        default=None,
        help="stop a camera after this many frames (a replay too; default: a replay's every frame)",
    )
    add_picture_options(parser)
    add_fsync_option(parser)
    add_progress_option(parser)


class _Recording:
    """What `cli.video`'s writer needs to know about a run: the flags, the kind of depth, the model's name and
    input size for the files' records, the renderer."""

    def __init__(self, args: argparse.Namespace, built: Any) -> None:
        self.args, self.metric = args, built.metric
        self.model_name = Path(args.archive).name
        self.model_input_size = min(built.host.model.height, built.host.model.width)

    def renderer(self) -> Any:
        from ..inference.video import FrameRenderer

        args = self.args
        return FrameRenderer(self.metric, args.cmap, args.grayscale, args.pred_only, args.normalize)


class _Frames:
    """The pipeline's results as the video command's DepthFrames, counted and timed; a pipeline that stops
    early ends the iteration (so writers close and keep what came) and is remembered in `stopped`."""

    def __init__(self, built: Any, max_frames: int | None) -> None:
        self.built, self.max_frames = built, max_frames
        self.count, self.seconds, self.stopped = 0, 0.0, None

    def __iter__(self) -> Iterator[Any]:
        from ..export.depthai import PipelineStopped, depth_frames
        from ..inference.video import DepthFrame

        started = time.perf_counter()
        try:
            for frame in depth_frames(self.built, self.max_frames):
                self.count += 1
                self.seconds = time.perf_counter() - started
                yield DepthFrame(frame.index, frame.image, frame.depth, new_shot=False)
        except PipelineStopped as exc:
            self.stopped = exc

    @property
    def rate(self) -> float:
        """Frames per second from the first result to the last (0 with fewer than two)."""
        return (self.count - 1) / self.seconds if self.count > 1 and self.seconds > 0 else 0.0


def _build(args: argparse.Namespace) -> Any:
    """The replay or camera pipeline the flags ask for."""
    from ..errors import ConfigError
    from ..export import depthai

    if args.replay is not None:
        if args.stereo_align:
            raise ConfigError(
                "--stereo-align needs the camera's stereo depth, which a replayed video does not have"
            )
        return depthai.build_replay_pipeline(args.replay, args.archive, args.cmap)
    device = depthai.open_device()  # fails within about a second when no camera is attached
    return depthai.build_camera_pipeline(
        args.archive, fps=args.camera_fps, cmap=args.cmap, stereo=args.stereo_align, device=device
    )


def run(args: argparse.Namespace) -> int:
    """Build the pipeline, then show or record its depth; print the frames per second."""
    from ..errors import ConfigError
    from .video import has_display, show_frames, with_pictures, write_frames

    if not Path(args.archive).is_file():
        raise ConfigError(f"{args.archive}: no such NN Archive")
    built = _build(args)
    recording = _Recording(args, built)
    frames = _Frames(built, args.max_frames)
    source = "replay" if args.replay is not None else "camera"
    if args.outdir is None and has_display():
        shown = show_frames(
            (picture for _, picture in with_pictures(frames, recording.renderer())), "depth-anything oak"
        )
        print(f"{shown} frame(s) shown")
    else:
        if args.outdir is None:
            print("no display for a window; recording to outputs/ instead (Ctrl-C stops)", file=sys.stderr)
        name = Path(args.replay).stem if args.replay is not None else "oak"
        fps = built.fps or 30.0
        count, written = write_frames(
            frames, Path(args.outdir or "outputs"), name, fps, built.frame_count, recording, live=True
        )
        print(f"{count} frame(s) written to {', '.join(map(str, written))}")
    where = "host ONNX Runtime" if args.replay is not None else "camera"
    print(
        f"{frames.count} frame(s) from the {source} in {frames.seconds:.1f} s: {frames.rate:.1f} frames/s ({where})"
    )
    if frames.stopped is not None:
        print(
            f"depth-anything oak: {frames.stopped}; the {frames.count} frame(s) before it are kept",
            file=sys.stderr,
        )
        return 1
    return 0
