"""Servers for the serve tests: real `depth-anything serve` processes on loopback, built-in model only."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from server_process import ServerProcess, encoded, photo  # noqa: E402, F401  (tests/serve)


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
