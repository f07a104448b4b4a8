"""Depth for whole videos with a Video Depth Anything model, as the official code computes it: offline over
overlapping windows, or streaming one frame at a time with cached temporal attention inputs.

Both take frames as any iterable of RGB uint8 arrays [H, W, 3] and produce float32 depth maps [H, W] at
the frames' size, one per frame, as they become final, so a video never has to be in memory at once:

- `iter_video_depth` (offline; `infer_video_depth` stacks it): windows of 32 frames advancing by 22.
  From the second window on, the first 10 inputs are the previous window's keyframes (0, 12, 24 … 31);
  a relative model's window is mapped onto the earlier ones by one least-squares scale and shift (sums
  in float32, as the reference) fitted on its first two maps against the video's first frame and the
  previous window's keyframe 12, then clipped at 0; the 8 frames both windows predicted are blended
  linearly. Metric models skip the fit. The last window is padded with copies of the last frame. Memory
  holds one window of inputs and 8 pending maps, however long the video.
- `StreamingVideoDepth` (streaming): each frame runs alone; its temporal attention attends over the
  cached inputs of 31 earlier entries (the first frame, one old frame, the 29 most recent). The cache
  starts as 32 copies of the first frame's and keeps at most 42 entries.

Inputs are prepared as the reference does: RGB / 255 in float32, the shorter side resized (bicubic) to
`input_size` with both sides multiples of 14, ImageNet normalisation; a frame more than 1.78 times
wider than tall (or taller than wide) lowers `input_size` first (`video_input_size`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import cv2
import numpy as np
import torch

from ..errors import VideoError
from ..io import to_unit_float
from ..models.video_depth_anything import VideoDepthAnything
from ..transforms import InputSpec, network_input_size, normalize, resize_depth

WINDOW = 32  # frames per window: the temporal attention's span
OVERLAP = 10  # inputs a window shares with the previous one (its keyframes)
STEP = WINDOW - OVERLAP
KEYFRAMES = (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)  # the previous window's inputs that start the next
BLEND = 8  # overlapping frames blended between windows; the other OVERLAP - BLEND anchor the alignment
ANCHORS = OVERLAP - BLEND
STREAM_GAP = STEP * 2 - 1 - ANCHORS  # 41: streaming keeps the newest entries within this reach
MAX_ASPECT = 1.78


def video_input_size(height: int, width: int, input_size: int = 518, multiple: int = 14) -> int:
    """The input size the reference uses for frames of height×width: lowered for frames more elongated
    than 16:9 (1.78), to round(int(input_size·1.777/ratio)/14)·14, bounding memory."""
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT:
        input_size = max(multiple, round(int(input_size * 1.777 / ratio) / multiple) * multiple)
    return input_size


class _FramePreparer:
    """Turns RGB frames of one size into network inputs [3, h, w] (float32) on the model's device."""

    def __init__(self, model: VideoDepthAnything, first: np.ndarray, input_size: int) -> None:
        self.frame_size = _frame_size(first, 0)
        self.spec: InputSpec = model.input_spec
        multiple = self.spec.size_multiple
        size = video_input_size(*self.frame_size, input_size, multiple)
        self.input_size = network_input_size(*self.frame_size, size, multiple)
        # an exported window graph normalises inside and runs from NumPy on the CPU
        self.normalise = getattr(model, "normalized_input", True)
        parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        self.device = parameter.device if parameter is not None else torch.device("cpu")
        self.dtype = parameter.dtype if parameter is not None else torch.float32

    def __call__(self, frame: np.ndarray, index: int) -> torch.Tensor:
        if _frame_size(frame, index) != self.frame_size:
            height, width = self.frame_size
            raise VideoError(
                f"frame {index} is {frame.shape[0]}×{frame.shape[1]}, but the video's frames are {height}×{width}"
            )
        image = to_unit_float(frame, np.float32)  # the reference divides in float32, unlike infer_image
        height, width = self.input_size
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        if self.normalise:
            image = normalize(image, self.spec)
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32))
        return tensor.to(device=self.device, dtype=self.dtype)


def _frame_size(frame: np.ndarray, index: int) -> tuple[int, int]:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise VideoError(f"frame {index} is not an H×W×3 RGB array ({type(frame).__name__} of shape {shape})")
    return int(frame.shape[0]), int(frame.shape[1])


def reference_scale_shift(prediction: np.ndarray, target: np.ndarray) -> tuple[np.float32, np.float32]:
    """Least-squares (scale, shift) with prediction·scale + shift ≈ target, solved from float32 sums as
    the reference does (its normal equations, Cramer's rule; (1, 0) when they are singular). Kept apart
    from `alignment.fit_scale_shift` (float64, centred moments) because exactness to VDA needs these sums."""
    prediction = prediction.astype(np.float32, copy=False)
    target = target.astype(np.float32, copy=False)
    a00, a01, a11 = np.sum(prediction * prediction), np.sum(prediction), np.float32(prediction.size)
    b0, b1 = np.sum(prediction * target), np.sum(target)
    det = a00 * a11 - a01 * a01
    if det == 0:
        return np.float32(1.0), np.float32(0.0)
    return (a11 * b0 - a01 * b1) / det, (-a01 * b0 + a00 * b1) / det


def _blend(previous: list[np.ndarray], new: list[np.ndarray]) -> list[np.ndarray]:
    """Linear cross-fade, weight of `new` from 0 (first) to 1 (last)."""
    step = 1.0 / (len(previous) - 1)
    weights = [0.0] + [i * step for i in range(1, len(previous) - 1)] + [1.0]  # i·step, as the reference
    return [before * (1 - w) + after * w for w, before, after in zip(weights, previous, new, strict=True)]


def _window_depth(model: VideoDepthAnything, inputs: torch.Tensor, frame_size: tuple[int, int]) -> list[np.ndarray]:
    """Depth maps of one window of inputs [T, 3, h, w], resized to the frames' size."""
    depth = model(inputs[None])[0]
    depth = resize_depth(depth.float(), frame_size).cpu().numpy()
    return list(depth)


@torch.inference_mode()
def iter_video_depth(
    model: VideoDepthAnything, frames: Iterable[np.ndarray], input_size: int = 518
) -> Iterator[np.ndarray]:
    """Offline windowed depth of a video, frame by frame: float32 [H, W] per input frame, in order.

    Maps are yielded as soon as no later window changes them (24 frames after each window), so a
    consumer can write them while the next window runs.
    """
    source = iter(frames)
    first = next(source, None)
    if first is None:
        return
    prepare = _FramePreparer(model, first, input_size)
    read = [0]  # frames read so far
    last: list[torch.Tensor] = []

    def take(count: int, inputs: list[torch.Tensor]) -> None:
        """Append the next `count` frames' inputs, repeating the last frame past the end of the video."""
        for _ in range(count):
            frame = first if read[0] == 0 else next(source, None)
            if frame is not None:
                last[:] = [prepare(frame, read[0])]
                read[0] += 1
            inputs.append(last[0])

    inputs: list[torch.Tensor] = []
    take(WINDOW, inputs)
    window = torch.stack(inputs)
    depth = _window_depth(model, window, prepare.frame_size)
    emitted = 0
    for index in range(min(STEP + ANCHORS, read[0])):  # frames 0 … 23 are final
        yield depth[index]
    emitted = STEP + ANCHORS
    pending = depth[STEP + ANCHORS :]  # the next window blends these
    first_reference, keyframe_reference = depth[0], depth[KEYFRAMES[1]]
    start = STEP
    while read[0] > start:  # a window starts at every multiple of STEP inside the video
        inputs = [window[k] for k in KEYFRAMES]
        take(STEP, inputs)
        window = torch.stack(inputs)
        depth = _window_depth(model, window, prepare.frame_size)
        if model.metric:
            scale, shift = np.float32(1.0), np.float32(0.0)
        else:
            scale, shift = reference_scale_shift(
                np.concatenate(depth[:ANCHORS]), np.concatenate([first_reference, keyframe_reference])
            )
        aligned = [np.maximum(d * scale + shift, 0) for d in depth[ANCHORS:]]
        final = _blend(pending, aligned[:BLEND]) + aligned[BLEND : BLEND + STEP - BLEND]
        for frame_depth in final:
            if emitted < read[0]:
                yield frame_depth
            emitted += 1
        pending = aligned[STEP:]
        keyframe_reference = aligned[KEYFRAMES[1] - ANCHORS]
        start += STEP
    for frame_depth in pending:
        if emitted < read[0]:
            yield frame_depth
        emitted += 1


class ExportedVideoModel:
    """A temporal model exported as one window of frames (ONNX Runtime or OpenVINO: `inference.runtimes`),
    called as the offline windows call the PyTorch model: [1, 32, 3, h, w] in, [1, 32, h, w] out.

    The graph takes RGB in [0, 1] and normalises inside (`normalized_input` False tells the frame
    preparation); its static size must be the network input size of the video's frames. Streaming
    (cached attention states) is not exported: it runs in PyTorch.
    """

    normalized_input = False

    def __init__(self, runtime: Any) -> None:
        frames = getattr(runtime.info, "frames", None)
        if frames != WINDOW:
            what = "an image graph" if frames is None else f"a window of {frames} frames"
            raise VideoError(f"{runtime.path} holds {what}; the offline windows run graphs of {WINDOW} frames "
                             f"(export with frames={WINDOW})")
        self.runtime = runtime
        self.input_spec = runtime.input_spec
        self.window = frames

    @property
    def metric(self) -> bool:
        return self.input_spec.is_metric

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.runtime.run(np.ascontiguousarray(clip.cpu().numpy(), dtype=np.float32)))

    def __repr__(self) -> str:
        return f"ExportedVideoModel({self.runtime!r})"


def infer_video_depth(model: VideoDepthAnything, frames: Iterable[np.ndarray], input_size: int = 518) -> np.ndarray:
    """Offline windowed depth of a whole clip: frames [T, H, W, 3] (or any iterable of frames) →
    float32 [T, H, W], as the official `infer_video_depth` returns."""
    maps = list(iter_video_depth(model, frames, input_size))
    if not maps:
        raise VideoError("the video has no frames")
    return np.stack(maps)


class StreamingVideoDepth:
    """Streaming depth: `stream(frame)` returns the float32 [H, W] depth of each frame as it arrives.

    Holds the temporal attention inputs of recent frames (at most 42 entries); `reset()` starts a new
    video (for example at a shot cut). `input_size` is read on the first frame.
    """

    def __init__(self, model: VideoDepthAnything, input_size: int = 518) -> None:
        self.model = model
        self.input_size = input_size
        self.reset()

    def reset(self) -> None:
        """Forget the cached frames: the next frame starts a new video."""
        self._prepare: _FramePreparer | None = None
        self._cache: list[list[torch.Tensor]] = []
        self.frames_seen = 0

    def _step(self, x: torch.Tensor, past: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Depth [1, 1, h, w] of one prepared frame and its attention inputs, given the earlier frames'
        (`past`, 31 entries per layer; None for the first frame): the network's, or an exported pair's."""
        if hasattr(self.model, "stream_step"):
            return self.model.stream_step(x, past)
        return self.model.decode(self.model.encode(x[None]), 1, (int(x.shape[-2]), int(x.shape[-1])), past)

    @property
    def cached_entries(self) -> int:
        """Entries in the temporal cache (32 after the first frame, at most 42)."""
        return len(self._cache)

    @torch.inference_mode()
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        index = self.frames_seen
        if self._prepare is None:
            self._prepare = _FramePreparer(self.model, frame, self.input_size)
        x = self._prepare(frame, index)
        if not self._cache:  # the first frame alone; its inputs stand in for a full window
            depth, inputs = self._step(x, None)
            self._cache = [inputs] * WINDOW
        else:
            entries = self._cache[:2] + self._cache[-(WINDOW - 3) :]
            past = [torch.cat([entry[layer] for entry in entries], dim=1) for layer in range(len(entries[0]))]
            depth, inputs = self._step(x, past)
            del past
            self._cache.append(inputs)
        if index + WINDOW > STREAM_GAP + 1:  # keep the first entry, drop the oldest after it
            del self._cache[1]
        self.frames_seen += 1
        return resize_depth(depth[0].float(), self._prepare.frame_size)[0].cpu().numpy()


def iter_streaming_depth(
    model: VideoDepthAnything, frames: Iterable[np.ndarray], input_size: int = 518
) -> Iterator[np.ndarray]:
    """Streaming depth of each frame of `frames` in turn (a fresh `StreamingVideoDepth`)."""
    stream = StreamingVideoDepth(model, input_size)
    for frame in frames:
        yield stream(frame)


__all__ = [
    "KEYFRAMES", "OVERLAP", "STEP", "WINDOW", "ExportedVideoModel", "StreamingVideoDepth", "reference_scale_shift", "infer_video_depth",
    "iter_streaming_depth", "iter_video_depth", "video_input_size",
]
