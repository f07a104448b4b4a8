"""Depth for videos: frames in, depth frames out, streamed (decode → predict → draw → encode), so memory
stays flat however long the video is.

Sources yield RGB uint8 frames: `VideoReader` (any file FFmpeg reads, through PyAV), `ImageSequence`
(a folder of images in name order) and `CameraSource` (OpenCV). `FrameRenderer` draws each prediction
with a colour scale that stays put from frame to frame (`RunningRange`) or per frame. Nothing here
writes a file: `outputs.VideoWriter` encodes the frames.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import VideoError, require_extra
from ..io import list_images
from ..pictures import DEFAULT_CMAP, depth_picture, side_by_side
from .predictor import Predictor

log = logging.getLogger(__name__)

VIDEO_EXTRA = "video"
NORMALIZATIONS = ("running", "frame")
DEFAULT_SEQUENCE_FPS = Fraction(30)


def _av() -> Any:
    """PyAV, or `MissingExtraError` naming the `video` extra."""
    return require_extra("av", VIDEO_EXTRA)


# ------------------------------------------------------------------------------------------- sources
class VideoReader:
    """Frames of a video file as RGB uint8 arrays, decoded one at a time; `fps` and `frame_count`
    (None when the container does not say) describe the stream."""

    def __init__(self, path: str | os.PathLike) -> None:
        av = _av()
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError, OSError) as exc:
            raise VideoError(f"{self.path}: not a readable video ({exc or 'no video stream'})") from None
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: Fraction = Fraction(rate) if rate else DEFAULT_SEQUENCE_FPS
        self.frame_count: int | None = self._stream.frames or None
        self.size = (self._stream.codec_context.height, self._stream.codec_context.width)

    def __iter__(self) -> Iterator[np.ndarray]:
        av = _av()
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise VideoError(f"{self.path}: decoding failed ({exc})") from None
        finally:
            self._container.close()


class ImageSequence:
    """The images of a folder (recursively, in path order) as the frames of a video at `fps`; frames are
    handed on as paths, so the `Predictor` decodes them and reports an unreadable one."""

    def __init__(self, folder: str | os.PathLike, fps: float | Fraction = DEFAULT_SEQUENCE_FPS) -> None:
        self.path = Path(folder)
        self.frames = list_images(self.path)
        if not self.frames:
            raise VideoError(f"{self.path}: no images in this folder")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frame_count: int | None = len(self.frames)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.frames)


class CameraSource:
    """Live frames of the OpenCV camera `index` (RGB), until `max_frames` or the camera stops."""

    def __init__(self, index: int, max_frames: int | None = None) -> None:
        self.index = index
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoError(f"no camera at index {index} (OpenCV could not open it)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = Fraction(fps).limit_denominator(1001) if fps and math.isfinite(fps) and fps > 0 else DEFAULT_SEQUENCE_FPS
        self.frame_count = max_frames
        self.path = Path(f"camera{index}")

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            count = 0
            while self.frame_count is None or count < self.frame_count:
                ok, bgr = self._capture.read()
                if not ok:
                    log.info("camera %d stopped delivering frames after %d", self.index, count)
                    return
                count += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            self._capture.release()


def open_source(path: str | os.PathLike, fps: float | None = None) -> VideoReader | ImageSequence:
    """A video file or an image-sequence folder (at `fps`, default 30) as a frame source."""
    path = Path(path)
    if path.is_dir():
        return ImageSequence(path, fps or DEFAULT_SEQUENCE_FPS)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file or image folder")
    return VideoReader(path)


# -------------------------------------------------------------------------------------- colour scale
def _sample(depth: np.ndarray, limit: int = 1 << 18) -> np.ndarray:
    """At most about `limit` finite values of a map, strided (percentiles of big frames stay cheap)."""
    step = max(1, int(math.sqrt(depth.size / limit)))
    values = depth[::step, ::step]
    return values[np.isfinite(values)]


class RunningRange:
    """A video's colour scale: an exponential moving average of each frame's low and high percentiles,
    so one odd frame (a flash, a stray pixel) barely moves the colours of the others."""

    def __init__(self, momentum: float = 0.9, percentiles: tuple[float, float] = (2.0, 98.0)) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.percentiles = percentiles
        self.range: tuple[float, float] | None = None

    def __call__(self, depth: np.ndarray) -> tuple[float, float] | None:
        """Update with one frame's map and return the range to draw it with."""
        values = _sample(depth)
        if values.size == 0:
            return self.range
        low, high = (float(v) for v in np.percentile(values, self.percentiles))
        if self.range is None:
            self.range = (low, high)
        else:
            m = self.momentum
            self.range = (m * self.range[0] + (1 - m) * low, m * self.range[1] + (1 - m) * high)
        return self.range


class FrameRange:
    """Each frame scaled on its own (min–max), as single pictures are."""

    def __call__(self, depth: np.ndarray) -> None:
        return None


def make_range(normalize: str) -> RunningRange | FrameRange:
    """The colour scale for `--normalize running|frame`."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")
    return RunningRange() if normalize == "running" else FrameRange()


class FrameRenderer:
    """Draws one prediction as a video frame: input | gap | depth (or the depth picture alone)."""

    def __init__(
        self, metric: bool, cmap: str = DEFAULT_CMAP, grayscale: bool = False, pred_only: bool = False,
        normalize: str = "running",
    ) -> None:
        self.metric = metric
        self.cmap = cmap
        self.grayscale = grayscale
        self.pred_only = pred_only
        self.normalize = normalize
        self.scale = make_range(normalize)

    def restart(self) -> None:
        """Start the colour scale over (at a shot cut: the new shot's depth has its own range)."""
        self.scale = make_range(self.normalize)

    def __call__(self, image: np.ndarray, depth: np.ndarray) -> np.ndarray:
        picture = depth_picture(depth, self.cmap, self.grayscale, invert=self.metric, value_range=self.scale(depth))
        return picture if self.pred_only else side_by_side(image, picture)


# ------------------------------------------------------------------------------ depth over a whole video
SCENES_EXTRA = "scenes"
TEMPORAL_MODES = ("offline", "streaming")


class DepthFrame:
    """One frame of a depth video: the RGB frame, its depth map and whether it starts a new shot."""

    __slots__ = ("depth", "image", "index", "new_shot")

    def __init__(self, index: int, image: np.ndarray, depth: np.ndarray, new_shot: bool) -> None:
        self.index, self.image, self.depth, self.new_shot = index, image, depth, new_shot


class SceneCuts:
    """Shot cuts found as the frames stream past, by PySceneDetect's content detector (HSV change between
    consecutive frames above `threshold`, shots at least `min_shot` frames long); `__call__(frame)` says
    whether that frame starts a new shot."""

    def __init__(self, fps: float | Fraction, threshold: float = 27.0, min_shot: int = 8) -> None:
        require_extra("scenedetect", SCENES_EXTRA)
        from scenedetect import FrameTimecode
        from scenedetect.detectors import ContentDetector

        self._timecode = FrameTimecode
        self._fps = Fraction(fps).limit_denominator(1001)
        self._detector = ContentDetector(threshold=threshold, min_scene_len=min_shot)
        self._index = 0
        self.cuts: list[int] = []

    def __call__(self, frame: np.ndarray) -> bool:
        index = self._index
        self._index += 1
        bgr = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2BGR)
        found = self._detector.process_frame(self._timecode(index, fps=self._fps), bgr)
        cut = index > 0 and bool(found)  # a cut the detector dates earlier is applied here: frames already ran
        if cut:
            self.cuts.append(index)
        return cut


def decoded_frames(
    source: Iterable[Any], name: str, on_error: Callable[[str], None] | None = None,
) -> Iterator[np.ndarray]:
    """RGB uint8 frames of one size from a source of arrays or image paths. A path that cannot be read is
    reported through `on_error` (naming the file and frame) and the previous frame repeated, so the video
    keeps its length; without `on_error`, or on the first frame, it raises `VideoError`. A frame of another
    size than the first raises `VideoError` naming the video and the frame."""
    from ..errors import ImageReadError
    from ..io import load_image

    size: tuple[int, int] | None = None
    previous: np.ndarray | None = None
    for index, item in enumerate(source):
        if isinstance(item, np.ndarray):
            frame = item
        else:
            try:
                frame = load_image(item)
            except (ImageReadError, OSError, ValueError) as exc:
                message = f"{item} (frame {index} of {name}): {exc}"
                if on_error is None or previous is None:
                    raise VideoError(message) from None
                on_error(message)
                yield previous
                continue
            if frame.dtype != np.uint8:
                frame = (frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else np.clip(frame, 0, 255).astype(np.uint8)
        if size is None:
            size = frame.shape[:2]
        elif frame.shape[:2] != size:
            where = f" ({item})" if not isinstance(item, np.ndarray) else ""
            raise VideoError(f"{name}: frame {index}{where} is {frame.shape[0]}×{frame.shape[1]}, but the video's "
                             f"frames are {size[0]}×{size[1]}")
        previous = frame
        yield frame


def _shots(frames: Iterable[np.ndarray], cuts: Callable[[np.ndarray], bool] | None) -> Iterator[tuple[int, np.ndarray]]:
    """(shot number, frame) for each frame in order."""
    shot = 0
    for frame in frames:
        if cuts is not None and cuts(frame):
            shot += 1
        yield shot, frame


def temporal_depth_frames(
    model: Any, frames: Iterable[np.ndarray], input_size: int = 518, mode: str = "offline",
    cuts: Callable[[np.ndarray], bool] | None = None,
) -> Iterator[DepthFrame]:
    """Depth of every frame through a Video Depth Anything model, in order and streamed: `offline`
    windows (`iter_video_depth`; at most about one window of frames held) or `streaming` one frame at a
    time. At each cut `cuts` reports, the temporal state restarts (a new window sequence, or
    `StreamingVideoDepth.reset`), so depth does not smear across shots."""
    import itertools
    from collections import deque

    from .video_windows import StreamingVideoDepth, iter_video_depth

    if mode not in TEMPORAL_MODES:
        raise ValueError(f"unknown temporal mode {mode!r}; choose one of {', '.join(TEMPORAL_MODES)}")
    index = 0
    if mode == "streaming":
        stream = StreamingVideoDepth(model, input_size)
        shot = 0
        for number, frame in _shots(frames, cuts):
            if number != shot:
                stream.reset()
            yield DepthFrame(index, frame, stream(frame), index == 0 or number != shot)
            shot, index = number, index + 1
        return
    for _, shot_frames in itertools.groupby(_shots(frames, cuts), key=lambda pair: pair[0]):
        waiting: deque[np.ndarray] = deque()  # frames read by the windows, waiting for their depth

        def read(pairs: Iterator[tuple[int, np.ndarray]] = shot_frames, held: deque = waiting) -> Iterator[np.ndarray]:
            for _, frame in pairs:
                held.append(frame)
                yield frame

        first = True
        for depth in iter_video_depth(model, read(), input_size):
            yield DepthFrame(index, waiting.popleft(), depth, first)
            first, index = False, index + 1


def per_frame_depth_frames(
    predictor: Predictor, frames: Iterable[Any], on_error: Callable[[str], None] | None = None,
    cuts: Callable[[np.ndarray], bool] | None = None, stabilizer: Any | None = None,
) -> Iterator[DepthFrame]:
    """Depth of every frame through a per-frame model (batched by the `Predictor`), in order; an unreadable
    frame is reported through `on_error` and the previous one repeated (the video keeps its length).
    `stabilizer` (a `FlowStabilizer`, for relative models) aligns each map to the previous output and is
    reset at each cut `cuts` reports."""
    previous: DepthFrame | None = None
    index = 0
    for result in predictor.iter_results(frames):
        if result.error is not None:
            if on_error is not None:
                on_error(result.error)
            if previous is None:
                continue
            previous = DepthFrame(index, previous.image, previous.depth, False)
        else:
            image, depth = result.image, result.depth
            cut = cuts(image) if cuts is not None else False  # the detector sees every frame, the first too
            new_shot = previous is None or cut
            if stabilizer is not None:
                if new_shot:
                    stabilizer.reset()
                depth = stabilizer(image, depth)
            previous = DepthFrame(index, image, depth, new_shot)
        del result
        index += 1
        yield previous


__all__ = [
    "NORMALIZATIONS", "TEMPORAL_MODES", "CameraSource", "DepthFrame", "SceneCuts", "decoded_frames",
    "per_frame_depth_frames", "temporal_depth_frames", "FrameRange", "FrameRenderer", "ImageSequence", "RunningRange", "VideoReader",
    "make_range", "open_source",
]
