"""Pre- and post-processing shared by inference, training and evaluation (one definition each).

`preprocess` reproduces the reference `infer_image` pipeline bit for bit: float64 in [0, 1],
aspect-preserving bicubic resize (OpenCV INTER_CUBIC) so the shorter side reaches `input_size` and
both sides are multiples of 14, ImageNet normalisation, then float32.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .io import to_unit_float

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH_SIZE = 14


def round_to_multiple(value: float, minimum: int, multiple: int = PATCH_SIZE) -> int:
    """Nearest multiple (half to even, like np.round), rounding up instead if that falls below `minimum`."""
    rounded = int(np.round(value / multiple) * multiple)
    if rounded < minimum:
        rounded = int(np.ceil(value / multiple) * multiple)
    return rounded


def network_input_size(height: int, width: int, input_size: int = 518, multiple: int = PATCH_SIZE) -> tuple[int, int]:
    """(h, w) of the network input for an image of height×width: shorter side ≥ input_size, multiples of 14.

    >>> network_input_size(97, 131, 140)
    (140, 196)
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    if input_size < multiple:
        raise ValueError(f"input_size must be at least {multiple}, got {input_size}")
    scale = max(input_size / height, input_size / width)
    return round_to_multiple(scale * height, input_size, multiple), round_to_multiple(scale * width, input_size, multiple)


def normalize(image: np.ndarray) -> np.ndarray:
    """ImageNet mean/std normalisation of an H×W×3 float image in [0, 1] (stays float64)."""
    return (image - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)


def preprocess(rgb: np.ndarray, input_size: int = 518) -> np.ndarray:
    """RGB image (uint8, uint16 or float in [0, 1]) → float32 [3, h, w] network input."""
    image = to_unit_float(rgb)
    height, width = network_input_size(image.shape[0], image.shape[1], input_size)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(normalize(image).transpose(2, 0, 1)).astype(np.float32)


def resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize [B, h, w] (or [h, w]) predictions to `size` bilinearly with align_corners=True."""
    squeeze = depth.ndim == 2
    batch = depth[None, None] if squeeze else depth[:, None]
    out = F.interpolate(batch, size=tuple(size), mode="bilinear", align_corners=True)[:, 0]
    return out[0] if squeeze else out
