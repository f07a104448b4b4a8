"""Depth videos from video files, image-sequence folders or a live camera.

Each INPUT (a video file FFmpeg reads, or a folder of frames in name order) becomes OUTDIR/NAME_side.mp4
(input and depth side by side) or, with --pred-only, OUTDIR/NAME_depth.mp4: H.264 MP4 at the input's
frame rate with one output frame per input frame. Frames are decoded, batched through the model and
encoded as a stream, so memory stays flat for long videos. The colour scale is a running range by
default (moving average of each frame's 2nd and 98th percentiles), so colours do not flicker;
--normalize frame scales every frame on its own. --camera INDEX shows a live camera in a window (q
or Esc stops) or, with --outdir, records it until Ctrl-C or --max-frames. Needs PyAV:
pip install 'depth-anything[video]'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import (
    POSITIVE,
    IntAtLeast,
    add_fsync_option,
    add_model_options,
    add_outdir_option,
    add_picture_options,
    add_pred_only_option,
    add_progress_option,
    set_examples,
)

EXAMPLES = """\
examples:
  depth-anything video clip.mp4                         # built-in model, writes outputs/clip_side.mp4
  depth-anything video clip.mp4 frames/ --outdir depth/ --pred-only --model vits --batch-size 8
  depth-anything video frames/ --fps 24 --normalize frame --cmap inferno
  depth-anything video --camera 0                       # live window (q or Esc to stop)
  depth-anything video --camera 0 --outdir rec/ --max-frames 300
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything video`."""
    from ..inference.video import DEFAULT_SEQUENCE_FPS, NORMALIZATIONS

    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="video files or folders of frames")
    add_outdir_option(parser, default=None,
                      help="output folder (default: outputs; with --camera, given = record instead of a window)")
    parser.add_argument("--camera", type=IntAtLeast(0), metavar="INDEX", help="OpenCV camera index")
    add_pred_only_option(parser)
    parser.add_argument("--normalize", choices=NORMALIZATIONS, default="running",
                        help="colour scale: running (stable, default) or frame (each frame on its own)")
    parser.add_argument("--fps", type=POSITIVE, default=None,
                        help=f"frame rate of image-sequence folders (default {float(DEFAULT_SEQUENCE_FPS):g})")
    parser.add_argument("--max-frames", type=IntAtLeast(1), default=None,
                        help="stop a camera after this many frames")
    add_picture_options(parser)
    add_fsync_option(parser)
    add_progress_option(parser)
    add_model_options(parser)


def _show(frames, title: str) -> int:
    """Show frames in an OpenCV window until they end or q/Esc is pressed; count them."""
    import cv2

    shown = 0
    try:
        for frame in frames:
            cv2.imshow(title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            shown += 1
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    finally:
        cv2.destroyAllWindows()
    return shown


def _has_display() -> bool:
    """Whether a window can be opened (a display, and an OpenCV built with GUI support)."""
    import os

    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("depth-anything")
        cv2.destroyWindow("depth-anything")
        return True
    except cv2.error:
        return False


def _encode(frames, path: Path, fps, total: int | None, args: argparse.Namespace, live: bool = False) -> int:
    """Write frames to `path` as H.264 with a progress bar; Ctrl-C keeps what a `live` camera recorded."""
    from tqdm import tqdm

    from ..outputs import VideoWriter

    with (
        VideoWriter(path, fps, durable=args.fsync) as writer,
        tqdm(total=total, unit=" frames", file=sys.stderr, dynamic_ncols=True, disable=args.no_progress) as bar,
    ):
        try:
            for frame in frames:
                writer.write(frame)
                bar.update(1)
        except KeyboardInterrupt:
            if not live:
                raise
    return writer.frames


def run(args: argparse.Namespace) -> int:
    """Predict every frame of every input (or the camera) and write or show the depth video."""
    from ..errors import ConfigError, VideoError
    from ..inference.video import CameraSource, FrameRenderer, open_source, render_frames
    from ..outputs import unique_names
    from .options import open_predictor_from_args

    if args.camera is not None and args.inputs:
        raise ConfigError("give INPUT files/folders or --camera, not both")
    if args.camera is None and not args.inputs:
        raise ConfigError("nothing to do: give video files, image folders or --camera INDEX")
    failures: list[str] = []

    def report(message: str) -> None:
        failures.append(message)
        print(f"skipped frame {message}", file=sys.stderr)

    outdir = Path(args.outdir or "outputs")
    suffix = "_depth.mp4" if args.pred_only else "_side.mp4"
    if args.camera is not None:
        camera = CameraSource(args.camera, args.max_frames)
        predictor = open_predictor_from_args(args)
        renderer = FrameRenderer(predictor.is_metric, args.cmap, args.grayscale, args.pred_only, args.normalize)
        frames = render_frames(predictor, camera, renderer, report)
        if args.outdir is None and _has_display():
            print(f"{_show(frames, f'depth-anything camera {args.camera}')} frame(s) shown")
            return 0
        if args.outdir is None:
            print("no display for a window; recording to outputs/ instead (Ctrl-C stops)", file=sys.stderr)
        path = outdir / f"camera{args.camera}{suffix}"
        count = _encode(frames, path, camera.fps, args.max_frames, args, live=True)
        print(f"{count} frame(s) written to {path}")
        return 0
    predictor = open_predictor_from_args(args)
    written = 0
    for item, name in zip(args.inputs, unique_names(Path(i) for i in args.inputs), strict=True):
        try:
            source = open_source(item, args.fps)
            renderer = FrameRenderer(predictor.is_metric, args.cmap, args.grayscale, args.pred_only, args.normalize)
            path = outdir / f"{name}{suffix}"
            count = _encode(render_frames(predictor, source, renderer, report), path, source.fps, source.frame_count, args)
        except VideoError as exc:
            failures.append(str(exc))
            print(f"skipped {exc}", file=sys.stderr)
            continue
        written += 1
        print(f"{item} → {path} ({count} frames at {float(source.fps):g} fps)")
    print(f"{written} video(s) written to {outdir}; {len(failures)} problem(s)")
    return 1 if failures else 0
