"""A depth map as an HTTP answer: the same bytes `depth-anything predict` writes, and headers that say
what the numbers mean.

png16 and png are encoded by `outputs` exactly as `DepthWriter` encodes `NAME_depth16.png` and
`NAME_depth.png` (the same functions, the same compression and text chunks), npy is `np.save` of the
float32 map as `predict --formats npy` saves it, and json is a grid of the map averaged down to at most
`grid` cells on its longer side. Every answer says how to read it back:

    X-Depth-Kind    relative (disparity-like, larger = nearer, no scale) or metric
    X-Depth-Units   "metre" for metric models, "relative" otherwise
    X-Depth-Scale   stored value = (depth - X-Depth-Offset) × X-Depth-Scale (png16, npy, json)
    X-Depth-Offset
    X-Depth-Min/Max the finite range of the float map
    X-Image-Size    WIDTHxHEIGHT of the map (the input image's size)
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..metadata import DepthMetadata, png_text
from ..outputs import PNG_COMPRESSION, DepthWriter, encode_png, png16_scale, png16_text, png16_values

MEDIA_TYPES = {"png16": "image/png", "png": "image/png", "npy": "application/x-npy", "json": "application/json"}


@dataclass(frozen=True)
class Answer:
    """An encoded depth map: the body, its media type and the headers that explain it."""

    body: bytes
    media_type: str
    headers: dict[str, str]


def _finite_range(depth: np.ndarray) -> tuple[float, float]:
    if depth.size:
        low, high = float(depth.min()), float(depth.max())
        if math.isfinite(low) and math.isfinite(high):  # no NaN or infinity anywhere: no masked copy
            return low, high
    finite = depth[np.isfinite(depth)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _number(value: float) -> str:
    return repr(float(value))


def json_grid(depth: np.ndarray, grid: int) -> np.ndarray:
    """The map averaged down (area interpolation) so its longer side has at most `grid` cells."""
    height, width = depth.shape
    scale = min(1.0, grid / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return depth
    return cv2.resize(depth, size, interpolation=cv2.INTER_AREA)


def encode_answer(depth: np.ndarray, fmt: str, metric: bool, cmap: str, grid: int = 64,
                  extra: dict[str, str] | None = None, record: DepthMetadata | None = None) -> Answer:
    """`depth` (H×W float32) as the body of format `fmt` (png16, npy, png, json) with its headers; a png16
    carries `record` (the model's name and input size) in its text chunks, as the files `predict` writes."""
    depth = np.asarray(depth, dtype=np.float32)
    low, high = _finite_range(depth)
    height, width = depth.shape
    headers = {
        "X-Depth-Kind": "metric" if metric else "relative",
        "X-Depth-Units": "metre" if metric else "relative",
        "X-Depth-Min": _number(low),
        "X-Depth-Max": _number(high),
        "X-Image-Size": f"{width}x{height}",
        **(extra or {}),
    }
    scale, offset = 1.0, 0.0
    if fmt == "png16":
        scale, offset = png16_scale(depth, metric)  # metric: millimetres, 0 = invalid
        body = encode_png(png16_values(depth, metric), PNG_COMPRESSION, png16_text(metric, record, depth))
    elif fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, depth)
        body = buffer.getvalue()
    elif fmt == "png":
        writer = DepthWriter(".", ["color"], metric, cmap)
        picture_record = (record or DepthMetadata.for_model(metric)).with_values(content="picture", width=width,
                                                                                  height=height)
        body = encode_png(writer.picture(depth), writer.compression, png_text(picture_record))
    elif fmt == "json":
        cells = json_grid(depth, grid)
        values = [[float(str(v)) if np.isfinite(v) else None for v in row] for row in cells]
        body = json.dumps({
            "kind": headers["X-Depth-Kind"], "units": headers["X-Depth-Units"], "width": width, "height": height,
            "grid_width": int(cells.shape[1]), "grid_height": int(cells.shape[0]), "min": low, "max": high,
            "depth": values,
        }, separators=(",", ":")).encode()
    else:
        raise ValueError(f"unknown answer format {fmt!r}; choose one of {', '.join(MEDIA_TYPES)}")
    if fmt != "png":
        headers["X-Depth-Scale"] = _number(scale)
        headers["X-Depth-Offset"] = _number(offset)
    return Answer(body, MEDIA_TYPES[fmt], headers)


__all__ = ["MEDIA_TYPES", "Answer", "encode_answer", "json_grid"]
