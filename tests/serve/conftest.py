"""Servers for the serve tests: real `depth-anything serve` processes on loopback, built-in model only."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from server_process import ServerProcess  # noqa: E402  (tests/serve)


def photo(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """A small RGB picture with structure (gradients, a square) and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=2)
    image[height // 4: height // 2, width // 4: width // 2] = (250, 40, 40)
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def encoded(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """Image files of two sizes and two formats."""
    folder = tmp_path_factory.mktemp("serve_images")
    files = {"a.png": encoded(photo()), "b.jpg": encoded(photo(97, 131, seed=1), "JPEG")}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


@pytest.fixture(scope="module")
def server():
    """The built-in model with small limits: 1 MiB bodies, 1 megapixel images."""
    with ServerProcess(["--max-body-mb", "1", "--max-pixels", "1000000", "--max-input-size", "512"]) as running:
        yield running
