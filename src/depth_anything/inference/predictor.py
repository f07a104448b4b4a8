"""The one inference path: images in, depth maps out, over any runtime.

The `Predictor` decodes images (paths, arrays, PIL images), prepares them with the weights' input
spec, groups inputs of equal network shape into batches, hands each batch to a runtime (PyTorch,
ONNX Runtime, OpenVINO), and resizes every output back to its own image. Decoding and
preprocessing of the next window of images run in a helper thread while the network works. With a
`Tiling`, images larger than a tile are also cut into full-resolution tiles whose maps are aligned to
the whole-image prediction and blended (see `tiling`). Nothing here imports torch: a runtime that
does not use it (ONNX Runtime, OpenVINO) predicts without torch ever being imported.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ImageReadError
from ..io import ImageSource, load_image
from ..runtime import yield_cores_to_network
from ..transforms import InputSpec, preprocess, resize_depth
from .runtimes import Runtime, TorchRuntime, as_numpy
from .tiling import TileBlender, Tiling, plan_tiles

if TYPE_CHECKING:
    import torch

    from ..models import DepthAnything


@dataclass
class PredictionResult:
    """One image's outcome: `depth` (H×W float32 at the image's size) or the `error` naming the file.

    `image` is the decoded RGB image (so tools draw side-by-side pictures without reading it again);
    `index` is the input's position.
    """

    source: ImageSource
    depth: np.ndarray | None
    error: str | None = None
    image: np.ndarray | None = None
    index: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def image_name(source: ImageSource, index: int) -> str:
    """A name for messages: the path, or the input's position for in-memory images."""
    return str(source) if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__") else f"image #{index}"


_Prepared = tuple[ImageSource, int, np.ndarray | None, np.ndarray | None, str | None]  # source, index, rgb, input, error
_END = object()
# decoded pixels after which a read-ahead window is cut short (about 100 MB of 8-bit RGB)
WINDOW_PIXELS = 2**25


class Predictor:
    """Depth for many images: each is prepared as `infer_image` does, images whose network inputs share a
    shape run as one batch, and every result comes back at its own original size.

    `model` is a `DepthAnything` (run by PyTorch; moved only if `device`/`dtype` are given) or any
    `Runtime`. `input_size` overrides the default of the weights' input spec. With `tiling`, an image
    whose shorter side is larger than `tiling.tile_size` is also cut into overlapping tiles at its own
    resolution (each prepared like a whole image at input size `tile_size`, run `batch_size` at a time),
    and the result is their blended map, aligned to the whole-image prediction. Numpy inputs are RGB (use
    `model.infer_image` for OpenCV's BGR). Grayscale, RGBA and 16-bit inputs are converted; unreadable
    files raise `ImageReadError` naming the file (`iter_results` skips and reports instead).
    """

    def __init__(
        self,
        model: DepthAnything | Runtime,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        input_size: int | None = None,
        batch_size: int = 4,
        keep_images: bool = True,
        prefetch: bool = True,
        tiling: Tiling | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.runtime: Runtime = _as_runtime(model, device, dtype)
        self.input_spec: InputSpec = self.runtime.input_spec.with_input_size(input_size)
        self.batch_size = batch_size
        self.keep_images = keep_images
        self.prefetch = prefetch
        if tiling is not None and tiling.tile_size < self.input_spec.size_multiple:
            raise ValueError(f"tiling: tile_size {tiling.tile_size} is below the model's patch size "
                             f"{self.input_spec.size_multiple}")
        self.tiling = tiling

    @property
    def input_size(self) -> int:
        return self.input_spec.input_size

    @property
    def device(self) -> torch.device | str | None:
        """The runtime's device: a torch device for PyTorch, a name ("cpu", "cuda") for the others."""
        return getattr(self.runtime, "device", None)

    @property
    def dtype(self) -> torch.dtype | str | None:
        """The runtime's precision: a torch dtype for PyTorch, a name ("fp32", "fp16", "bf16") for the others."""
        return getattr(self.runtime, "dtype", None)

    @property
    def is_metric(self) -> bool:
        return self.input_spec.is_metric

    # ------------------------------------------------------------------------------------ steps
    # `predict` chains these three; a caller that runs them on threads of its own (the HTTP server:
    # preparing and resizing in helper threads, so its network thread does nothing else) gets the same maps.
    def prepare(self, image: ImageSource) -> tuple[np.ndarray, tuple[int, int]]:
        """One image's network input ([3, h, w] float32, as `infer_image` prepares it) and its (H, W)."""
        rgb = load_image(image)
        return preprocess(rgb, self.input_spec, self.runtime.normalized_input), rgb.shape[:2]

    def run_prepared(self, inputs: Sequence[np.ndarray]) -> list[Any]:
        """The raw network-size outputs of prepared inputs of one shape, `batch_size` at a time (numpy, or
        torch on the runtime's device); `full_size` brings each back to its image's size."""
        raws: list[Any] = []
        for start in range(0, len(inputs), self.batch_size):
            raws.extend(self.runtime.run(np.stack(inputs[start : start + self.batch_size])))
        return raws

    @staticmethod
    def full_size(raw: Any, size: tuple[int, int]) -> np.ndarray:
        """A raw output resized to (H, W), float32 numpy: the map `predict` returns."""
        return as_numpy(resize_depth(raw, size))

    # ------------------------------------------------------------------------------------ reading
    def _prepare(self, source: ImageSource, index: int) -> _Prepared:
        try:
            rgb = load_image(source, image_name(source, index))
            return source, index, rgb, preprocess(rgb, self.input_spec, self.runtime.normalized_input), None
        except ImageReadError as exc:
            return source, index, None, None, str(exc)

    def _windows(self, images: Iterable[ImageSource]) -> Iterator[list[_Prepared]]:
        """Prepared inputs in windows of up to 8 batches, cut short once the decoded images of a window
        hold `WINDOW_PIXELS` pixels (so a folder of 100-megapixel photos does not fill memory)."""
        window: list[_Prepared] = []
        pixels = 0
        for index, source in enumerate(images):
            window.append(self._prepare(source, index))
            rgb = window[-1][2]
            pixels += 0 if rgb is None else rgb.shape[0] * rgb.shape[1]
            if len(window) == self.batch_size * 8 or pixels >= WINDOW_PIXELS:
                yield window
                window, pixels = [], 0
        if window:
            yield window

    def _prefetched(self, images: Iterable[ImageSource]) -> Iterator[list[_Prepared]]:
        """`_windows`, produced one window ahead in a helper thread (decoding overlaps the network)."""
        if not self.prefetch:
            yield from self._windows(images)
            return
        ready: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def produce() -> None:
            yield_cores_to_network()
            try:
                for window in self._windows(images):
                    while not stop.is_set():
                        try:
                            ready.put(window, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ready.put(_END)
            except BaseException as exc:  # handed to the consumer, raised there
                ready.put(exc)

        worker = threading.Thread(target=produce, name="depth-anything-reader", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    ready.get_nowait()
                except queue.Empty:
                    worker.join(timeout=0.05)

    # ------------------------------------------------------------------------------------ running
    def _predict_window(
        self, window: list[_Prepared]
    ) -> deque[tuple[PredictionResult, Any, np.ndarray | None]]:
        """Each input's result with its raw network-size output and decoded image (None for a failed input)."""
        results = [
            PredictionResult(source, None, error, rgb if self.keep_images else None, index)
            for source, index, rgb, _, error in window
        ]
        raws: list[Any] = [None] * len(window)  # one runtime output each: numpy, or torch on the runtime's device
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, (_, _, _, tensor, _) in enumerate(window):
            if tensor is not None:
                by_shape.setdefault(tensor.shape, []).append(i)
        for indices in by_shape.values():
            for i, raw in zip(indices, self.run_prepared([window[i][3] for i in indices]), strict=True):  # type: ignore[misc]
                raws[i] = raw
        return deque(zip(results, raws, [prepared[2] for prepared in window], strict=True))

    def _tiled(self, rgb: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """The blended map of `rgb`'s full-resolution tiles, aligned to `guide` (the whole-image map)."""
        tiling: Tiling = self.tiling  # type: ignore[assignment]
        spec = self.input_spec.with_input_size(tiling.tile_size)
        boxes = plan_tiles(rgb.shape[0], rgb.shape[1], tiling)
        blender = TileBlender(guide.shape, boxes, None if self.is_metric else tiling.align, guide)
        for start in range(0, len(boxes), self.batch_size):
            chunk = boxes[start : start + self.batch_size]
            batch = np.stack([preprocess(rgb[box.slices], spec, self.runtime.normalized_input) for box in chunk])
            for box, raw in zip(chunk, self.runtime.run(batch), strict=True):
                blender.add(as_numpy(resize_depth(raw, (box.height, box.width))), box)
        return blender.result()

    def iter_results(self, images: Iterable[ImageSource]) -> Iterator[PredictionResult]:
        """Results in input order, a window at a time (memory stays flat); a bad image yields a result
        with `error` set and the run goes on.

        Each map is resized back to full resolution only when its result is yielded, and the generator
        keeps no reference to it afterwards, so at most one full-size output lives at a time if the
        caller drops each result before asking for the next.
        """
        _refuse_single_image(images)
        for window in self._prefetched(images):
            pending = self._predict_window(window)
            while pending:
                result, raw, rgb = pending.popleft()
                if raw is not None:
                    result.depth = self.full_size(raw, rgb.shape[:2])  # type: ignore[union-attr]
                    if self.tiling is not None and self.tiling.applies_to(*result.depth.shape):
                        result.depth = self._tiled(rgb, result.depth)  # type: ignore[arg-type]
                    del raw, rgb
                yield result
                del result

    def iter_predict(self, images: Iterable[ImageSource]) -> Iterator[np.ndarray]:
        """Depth maps in input order; an unreadable image raises `ImageReadError`."""
        for result in self.iter_results(images):
            if result.error is not None:
                raise ImageReadError(result.error)
            yield result.depth  # type: ignore[misc]

    def predict(self, images: Sequence[ImageSource]) -> list[np.ndarray]:
        """Depth maps (float32, H×W of each input) for a list of images."""
        return list(self.iter_predict(images))

    __call__ = predict

    def predict_one(self, image: ImageSource) -> np.ndarray:
        """Depth map for a single image."""
        return self.predict([image])[0]


def _refuse_single_image(images: Any) -> None:
    """A lone image passed where a list is expected would be iterated row by row: say so instead."""
    import os

    lone = isinstance(images, (str, bytes, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim <= 3)
    if lone or type(images).__module__.startswith("PIL."):
        raise TypeError(
            f"expected a list of images, got one {type(images).__name__}; pass [image], or use predict_one(image)"
        )


def _as_runtime(model: Any, device: Any, dtype: Any) -> Runtime:
    """The runtime behind a Predictor's `model`: a `Runtime` as given, a `DepthAnything` under PyTorch."""
    if isinstance(model, Runtime):
        if device is not None or dtype is not None:
            raise ValueError(f"device/dtype belong to the runtime's own options; {model.name} was built already")
        return model
    if "torch" in sys.modules:  # a DepthAnything exists only once torch is imported
        from ..models import DepthAnything

        if isinstance(model, DepthAnything):
            return TorchRuntime(model, device, dtype)
    raise TypeError(f"Predictor needs a DepthAnything model or a Runtime, got {type(model).__name__}")


__all__ = ["PredictionResult", "Predictor", "image_name"]
