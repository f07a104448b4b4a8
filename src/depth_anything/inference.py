"""Batched prediction over paths, arrays and PIL images of mixed sizes, on the best available device."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ImageReadError
from .io import ImageSource, load_image
from .models import DepthAnything
from .transforms import preprocess, resize_depth

_DTYPES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or the best available one: cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """torch dtype from a name such as "fp16", "bf16", "float32" (default float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype.lower() not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(sorted(_DTYPES))}")
    return _DTYPES[dtype.lower()]


@dataclass
class PredictionResult:
    """One image's outcome in a skip-and-report run: `depth` or the `error` message naming the file."""

    source: ImageSource
    depth: np.ndarray | None
    error: str | None = None


def _image_name(source: ImageSource, index: int) -> str:
    return str(source) if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__") else f"image #{index}"


class Predictor:
    """Depth for many images: each is resized as `infer_image` does, images whose network inputs share
    a shape run as one batch, and every result comes back at its own original size.

    Numpy inputs are RGB (use `model.infer_image` for OpenCV's BGR). Grayscale, RGBA and 16-bit inputs
    are converted; unreadable files raise `ImageReadError` naming the file.
    """

    def __init__(
        self,
        model: DepthAnything,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        input_size: int = 518,
        batch_size: int = 4,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = resolve_device(device)
        # no dtype asked: keep the model's own (e.g. one loaded with load_model(..., dtype="fp16"))
        self.dtype = resolve_dtype(dtype) if dtype is not None else next(model.parameters()).dtype
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.input_size = input_size
        self.batch_size = batch_size

    @torch.inference_mode()
    def _run(self, inputs: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        batch = torch.from_numpy(np.stack(inputs)).to(device=self.device, dtype=self.dtype)
        depth = self.model(batch).float()
        return [resize_depth(d, size).cpu().numpy() for d, size in zip(depth, sizes, strict=False)]

    def iter_predict(self, images: Iterable[ImageSource]) -> Iterator[np.ndarray]:
        """Yield depth maps in input order, reading images a window at a time so memory stays flat.

        An unreadable image raises `ImageReadError`; use `iter_results` to skip and report instead.
        """
        for result in self._iter(images, skip_errors=False):
            yield result.depth  # type: ignore[misc]

    def iter_results(self, images: Iterable[ImageSource]) -> Iterator[PredictionResult]:
        """Like `iter_predict`, but a bad image yields a result with `error` set and the run goes on."""
        yield from self._iter(images, skip_errors=True)

    def _iter(self, images: Iterable[ImageSource], skip_errors: bool) -> Iterator[PredictionResult]:
        window: list[tuple[ImageSource, np.ndarray | None, tuple[int, int] | str]] = []
        for index, source in enumerate(images):
            try:
                rgb = load_image(source, _image_name(source, index))
                window.append((source, preprocess(rgb, self.input_size), rgb.shape[:2]))
            except ImageReadError as exc:
                if not skip_errors:
                    raise
                window.append((source, None, str(exc)))
            if len(window) == self.batch_size * 8:
                yield from self._predict_window(window)
                window = []
        if window:
            yield from self._predict_window(window)

    def _predict_window(self, window: list[tuple[ImageSource, np.ndarray | None, tuple[int, int] | str]]) -> list[PredictionResult]:
        results = [PredictionResult(source, None, info if tensor is None else None) for source, tensor, info in window]  # type: ignore[arg-type]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, (_, tensor, _) in enumerate(window):
            if tensor is not None:
                by_shape.setdefault(tensor.shape, []).append(i)
        for indices in by_shape.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                outputs = self._run([window[i][1] for i in chunk], [window[i][2] for i in chunk])  # type: ignore[misc]
                for i, depth in zip(chunk, outputs, strict=False):
                    results[i].depth = depth
        return results

    def predict(self, images: Sequence[ImageSource]) -> list[np.ndarray]:
        """Depth maps (float32, H×W of each input) for a list of images."""
        return list(self.iter_predict(images))

    __call__ = predict

    def predict_one(self, image: ImageSource) -> np.ndarray:
        """Depth map for a single image."""
        return self.predict([image])[0]
