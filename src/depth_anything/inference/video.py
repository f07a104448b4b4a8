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
        self.scale = make_range(normalize)

    def __call__(self, image: np.ndarray, depth: np.ndarray) -> np.ndarray:
        picture = depth_picture(depth, self.cmap, self.grayscale, invert=self.metric, value_range=self.scale(depth))
        return picture if self.pred_only else side_by_side(image, picture)


def render_frames(
    predictor: Predictor, frames: Iterable[Any], renderer: FrameRenderer,
    on_error: Callable[[str], None] | None = None,
) -> Iterator[np.ndarray]:
    """Depth frames in order, batched through the predictor; an unreadable frame is reported through
    `on_error` and the previous picture repeated, so the timing of the video is kept."""
    previous: np.ndarray | None = None
    for result in predictor.iter_results(frames):
        if result.error is not None:
            if on_error is not None:
                on_error(result.error)
            if previous is None:
                continue
        else:
            previous = renderer(result.image, result.depth)  # type: ignore[arg-type]
        del result
        yield previous


__all__ = [
    "NORMALIZATIONS", "CameraSource", "FrameRange", "FrameRenderer", "ImageSequence", "RunningRange", "VideoReader",
    "make_range", "open_source", "render_frames",
]
