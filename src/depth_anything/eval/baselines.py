"""Baselines anyone can beat, scored by the same protocols as models: a constant map, and "lower in the
image is nearer" (disparity grows with the row index)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..io import ImageSource, load_image
from .middlebury import row_ramp


def _constant(shape: tuple[int, int]) -> np.ndarray:
    return np.ones(shape, np.float32)


_MAPS: dict[str, Callable[[tuple[int, int]], np.ndarray]] = {"constant": _constant, "row-ramp": row_ramp}
BASELINES = tuple(_MAPS)


def baseline_predictor(name: str) -> Callable[[Sequence[ImageSource]], list[np.ndarray]]:
    """A `predict(images) -> disparity maps` callable for baseline `name` (one of `BASELINES`)."""
    if name not in _MAPS:
        raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    make = _MAPS[name]

    def predict(images: Sequence[ImageSource]) -> list[np.ndarray]:
        shapes = [img.shape[:2] if isinstance(img, np.ndarray) else load_image(img).shape[:2] for img in images]
        return [make(shape) for shape in shapes]

    return predict
