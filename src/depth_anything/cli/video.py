"""Depth videos from video files, image-sequence folders or a live camera, with any model.

Each INPUT (a video file FFmpeg reads, or a folder of frames in name order) becomes, with --formats mp4
(the default), OUTDIR/NAME_side.mp4 (input and depth side by side) or, with --pred-only,
OUTDIR/NAME_depth.mp4: H.264 at the input's frame rate, one output frame per input frame. Raw depth
goes beside it: png16 (OUTDIR/NAME/000000.png ..., 16-bit, one range per video in png16.json), exr
(OUTDIR/NAME/000000.exr ..., float32 Z) and npz (OUTDIR/NAME.npz). Video Depth Anything models run
over overlapping windows (offline) or, with --streaming, one frame at a time; per-frame models run
frame by frame and, when relative, are stabilised (--stabilize off to skip). --scene-cuts restarts the
temporal state, the stabiliser and the colour range at each shot cut. Frames stream, so memory stays
flat for long videos; a video that fails half-way leaves none of its outputs. --camera INDEX shows a
live camera in a window (q or Esc stops) or, with --outdir, records it until Ctrl-C or --max-frames.
Needs PyAV: pip install 'depth-anything[video]'.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .options import (
    POSITIVE,
    FormatList,
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
  depth-anything video clip.mp4 --model video-vits --formats mp4,png16,npz    # temporal model, raw depth too
  depth-anything video film.mp4 --scene-cuts --stabilize off --formats npz
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything video`."""
    from ..inference.video import DEFAULT_SEQUENCE_FPS, NORMALIZATIONS
    from ..outputs import VIDEO_FORMATS

    set_examples(parser, EXAMPLES)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="video files or folders of frames")
    add_outdir_option(parser, default=None,
                      help="output folder (default: outputs; with --camera, given = record instead of a window)")
    parser.add_argument("--camera", type=IntAtLeast(0), metavar="INDEX", help="OpenCV camera index")
    parser.add_argument("--formats", type=FormatList("VIDEO_FORMATS"), default=["mp4"], metavar="LIST",
                        help=f"comma-separated output formats: {', '.join(VIDEO_FORMATS)} (default mp4)")
    add_pred_only_option(parser)
    parser.add_argument("--streaming", action="store_true",
                        help="Video Depth Anything models: one frame at a time with cached temporal state "
                        "(bounded latency; cameras always stream) instead of offline windows")
    parser.add_argument("--scene-cuts", action="store_true",
                        help="detect shot cuts (PySceneDetect) and restart the temporal state, stabiliser and "
                        "colour range at each")
    parser.add_argument("--stabilize", choices=("on", "off"), default="on",
                        help="align each frame of a per-frame relative model to the previous output (default on)")
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


def show_frames(frames, title: str) -> int:
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


def has_display() -> bool:
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


def _open_model(args: argparse.Namespace) -> Any:
    """The `Predictor` of a per-frame model, or the network of a Video Depth Anything model (a registry name
    `video-*`, or a file recognised by its temporal head)."""
    from .options import load_model_from_args, open_predictor_from_args

    if getattr(args, "backend", "auto") in ("onnxruntime", "openvino") and args.model is not None:
        from ..errors import VideoError
        from ..inference.runtimes import open_runtime

        if args.model.lower().endswith(".onnx"):
            from ..export.streaming import ExportedStreamingModel, streaming_kind

            kind = streaming_kind(args.model)
            if kind is not None:  # an exported streaming pair: cached attention states in and out
                if kind != "first" or not args.streaming or args.backend != "onnxruntime":
                    raise VideoError(f"{args.model} is the {kind} graph of a streaming pair: run the first graph "
                                     "(not .step.onnx) with --streaming --backend onnxruntime")
                return ExportedStreamingModel(args.model)
        runtime = open_runtime(args.backend, args.model, args.device)
        if runtime.info.frames is not None:  # an exported temporal window: the offline windows run it
            from ..inference.video_windows import ExportedVideoModel

            if args.streaming:
                raise VideoError(f"{args.model}: an exported temporal window runs the offline windows; for "
                                 "--streaming export the streaming pair (export --streaming) or run the checkpoint")
            return ExportedVideoModel(runtime)
    if args.model is not None and getattr(args, "random_weights", None) is None and _is_video_model(args.model):
        from ..runtime import resolve_device

        return load_model_from_args(args, device=str(resolve_device(args.device)), dtype=args.dtype)[0]
    return open_predictor_from_args(args)


def _is_video_model(request: str) -> bool:
    """Whether `request` names a Video Depth Anything model (without loading it for a name)."""
    from ..weights import resolve

    try:
        resolved = resolve(request)
    except Exception:  # noqa: BLE001 - an unknown name: open_predictor_from_args says why
        return False
    if resolved.entry is not None:
        return bool(resolved.entry.video)
    if not resolved.path.is_file() or resolved.path.suffix.lower() not in {".pt", ".pth", ".bin", ".ckpt", ".safetensors"}:
        return False
    from ..models.convert import is_video_state_dict
    from ..weights.files import checkpoint_keys

    return is_video_state_dict(checkpoint_keys(resolved.path))  # the names only: the file is read once, later


class _Job:
    """How each input runs: the model (a `Predictor` or a VDA network) and the flags that shape the output."""

    def __init__(self, args: argparse.Namespace, model: Any, report) -> None:
        from ..inference.predictor import Predictor
        from .options import model_label

        self.args, self.model, self.report = args, model, report
        self.temporal = not isinstance(model, Predictor)
        self.metric = bool(model.metric) if self.temporal else bool(model.is_metric)
        self.input_size = args.input_size or (model.input_spec.input_size if self.temporal else None) or 518
        self.mode = "streaming" if args.streaming else "offline"
        # what the written files record about the model
        self.model_name = model_label(args)
        self.model_input_size = self.input_size if self.temporal else model.input_size

    def renderer(self) -> Any:
        from ..inference.video import FrameRenderer

        args = self.args
        return FrameRenderer(self.metric, args.cmap, args.grayscale, args.pred_only, args.normalize)

    def depth_frames(self, source: Any, name: str, live: bool = False) -> Iterator[Any]:
        """DepthFrames of one source, through the temporal or the per-frame path."""
        from ..inference.video import SceneCuts, decoded_frames, per_frame_depth_frames, temporal_depth_frames

        cuts = SceneCuts(source.fps) if self.args.scene_cuts else None
        if self.temporal:
            frames = decoded_frames(source, name, self.report)
            return temporal_depth_frames(self.model, frames, self.input_size, "streaming" if live else self.mode, cuts)
        stabilizer = None
        if self.args.stabilize == "on" and not self.metric:
            from ..inference.stabilize import FlowStabilizer

            stabilizer = FlowStabilizer()
        return per_frame_depth_frames(self.model, source, self.report, cuts, stabilizer)


def with_pictures(frames, renderer) -> Iterator[tuple[Any, Any]]:
    """(DepthFrame, its picture) in order; the colour range restarts at each new shot."""
    for frame in frames:
        if frame.new_shot and frame.index > 0:
            renderer.restart()
        yield frame, renderer(frame.image, frame.depth)


def write_frames(frames, outdir: Path, name: str, fps, total: int | None, job: _Job, live: bool = False) -> tuple[int, list[Path]]:
    """Write one video's outputs with a frames/s progress bar; all appear at the end or none do (Ctrl-C
    keeps what a `live` camera recorded)."""
    import contextlib

    from tqdm import tqdm

    from ..metadata import DepthMetadata
    from ..outputs import SEQUENCE_FORMATS, SequenceWriter, VideoWriter

    args = job.args
    record = DepthMetadata.for_model(job.metric, job.model_name, job.model_input_size)
    formats = args.formats
    suffix = "_depth.mp4" if args.pred_only else "_side.mp4"
    count = 0
    with contextlib.ExitStack() as stack:
        video = stack.enter_context(VideoWriter(outdir / f"{name}{suffix}", fps, durable=args.fsync, record=record)) \
            if "mp4" in formats else None
        raw = stack.enter_context(SequenceWriter(outdir, name, formats, fps, job.metric, durable=args.fsync,
                                                 model=job.model_name, input_size=job.model_input_size)) \
            if any(f in SEQUENCE_FORMATS for f in formats) else None
        bar = stack.enter_context(tqdm(total=total, unit=" frames", file=sys.stderr, dynamic_ncols=True,
                                       disable=args.no_progress))
        renderer = job.renderer()
        try:
            for frame, picture in with_pictures(frames, renderer) if video is not None else ((f, None) for f in frames):
                if video is not None:
                    video.write(picture)
                if raw is not None:
                    raw.write(frame.depth)
                count += 1
                bar.update(1)
        except KeyboardInterrupt:
            if not live:
                raise
    written = ([video.path] if video is not None else []) + ([raw.folder] if raw is not None and
                                                             ("png16" in formats or "exr" in formats) else [])
    if raw is not None and "npz" in formats:
        written.append(raw.npz_path)
    return count, written


def run(args: argparse.Namespace) -> int:
    """Predict every frame of every input (or the camera) and write or show the depth video."""
    from ..errors import ConfigError, DepthAnythingError, MissingExtraError, VideoError
    from ..inference.video import CameraSource, open_source
    from ..outputs import unique_names

    if args.camera is not None and args.inputs:
        raise ConfigError("give INPUT files/folders or --camera, not both")
    if args.camera is None and not args.inputs:
        raise ConfigError("nothing to do: give video files, image folders or --camera INDEX")
    failures: list[str] = []

    def report(message: str) -> None:
        failures.append(message)
        print(f"skipped frame {message}", file=sys.stderr)

    outdir = Path(args.outdir or "outputs")
    if args.camera is not None:
        camera = CameraSource(args.camera, args.max_frames)
        job = _Job(args, _open_model(args), report)
        name = f"camera{args.camera}"
        frames = job.depth_frames(camera, name, live=True)
        if args.outdir is None and has_display():
            renderer = job.renderer()
            print(f"{show_frames((p for _, p in with_pictures(frames, renderer)), f'depth-anything camera {args.camera}')}"
                  " frame(s) shown")
            return 0
        if args.outdir is None:
            print("no display for a window; recording to outputs/ instead (Ctrl-C stops)", file=sys.stderr)
        count, written = write_frames(frames, outdir, name, camera.fps, args.max_frames, job, live=True)
        print(f"{count} frame(s) written to {', '.join(map(str, written))}")
        return 0
    job = _Job(args, _open_model(args), report)
    written_videos = 0
    for item, name in zip(args.inputs, unique_names(Path(i) for i in args.inputs), strict=True):
        try:
            source = open_source(item, args.fps)
            count, written = write_frames(job.depth_frames(source, str(item)), outdir, name, source.fps,
                                    source.frame_count, job)
        except (ConfigError, MissingExtraError):
            raise  # every input would fail alike
        except (VideoError, DepthAnythingError) as exc:
            failures.append(str(exc))
            message = str(exc) if str(item) in str(exc) else f"{item}: {exc}"
            print(f"skipped {message} (nothing written for it)", file=sys.stderr)
            continue
        written_videos += 1
        print(f"{item} → {', '.join(map(str, written))} ({count} frames at {float(source.fps):g} fps)")
    print(f"{written_videos} video(s) written to {outdir}; {len(failures)} problem(s)")
    return 1 if failures else 0
