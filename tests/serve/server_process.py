"""A real `depth-anything serve` in a subprocess on a free loopback port, for tests and the load benchmark."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import httpx
import numpy as np
from PIL import Image

LISTENING = re.compile(r"listening on (http://\S+)")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`depth-anything serve ARGS` on 127.0.0.1; `start()` returns once `wait_for` (/readyz) answers 200."""

    def __init__(self, args: Sequence[str] = (), env: dict[str, str] | None = None, ready_timeout: float = 120.0,
                 wait_for: str = "/readyz") -> None:
        self.args = list(args)
        self.wait_for = wait_for  # the endpoint whose 200 means started (/healthz: loading may fail)
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> ServerProcess:
        for _attempt in range(3):  # another program may take the free port between the look and the bind
            port = free_port()
            command = [sys.executable, "-m", "depth_anything.cli", "serve", "--port", str(port), *self.args]
            self.output = []
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                            env=self.env)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            if self._wait_ready():
                return self
            if "cannot listen" not in self.log:
                break
        self.stop()
        raise RuntimeError(f"the server did not become ready:\n{self.log}")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            found = LISTENING.search(line)
            if found:
                self.url = found.group(1)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if self.url:
                try:
                    if httpx.get(f"{self.url}{self.wait_for}", timeout=5).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        return False

    @property
    def log(self) -> str:
        return "".join(self.output)

    def terminate(self) -> None:
        """Send SIGTERM (a graceful stop)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within a minute."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def metric_samples(text: str, name: str) -> dict[str, float]:
    """The samples of one metric in Prometheus text: label text (may be empty) → value."""
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            samples[key[len(name):]] = float(value)
    return samples


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
