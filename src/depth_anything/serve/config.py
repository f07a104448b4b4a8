"""What a server runs and how much it accepts: one typed settings object, checked when it is made.

The same `ServeConfig` drives a single process and every worker of `--workers N`: the parent hands it
to its workers as JSON in an environment variable (`to_env`/`from_env`), since uvicorn starts each
worker afresh from an import string.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from ..errors import ConfigError

# where the parent process leaves the settings for its workers
CONFIG_ENV = "DEPTH_ANYTHING_SERVE_CONFIG"
# the bearer token, when not given on the command line (keeps it out of `ps` and shell history)
TOKEN_ENV = "DEPTH_ANYTHING_TOKEN"
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8000
# the answer formats of POST /v1/depth
FORMATS = ("png16", "npy", "png", "json")


@dataclass(frozen=True)
class ModelChoice:
    """One model the server keeps loaded: `name` is what requests ask for (`?model=`); `model` is the
    registry name or file that `open_predictor` opens, or `random_encoder` an untrained network of that
    size (for load tests: its output is not depth)."""

    name: str
    model: str | None = None
    random_encoder: str | None = None


@dataclass(frozen=True)
class ServeConfig:
    """Settings of `depth-anything serve`; every limit guards the process against one kind of request.

    models: loaded at start, the first one answers requests that name none. backend/device/dtype/
    input_size/batch_size: how each `Predictor` runs (as for `predict`). max_batch: most requests in one
    dynamic batch; max_wait_ms: how long the first request of a batch waits for others of its shape;
    max_queue: most requests waiting for the model before new ones get 503; request_timeout_s: after
    this an answer is 504. max_body_bytes (413), max_pixels (413), max_input_size (422): the largest
    upload, decoded image and per-request network size. token: bearer token for /v1 and /metrics.
    workers: server processes; metrics_dir: where they share their counters (set by `serve` itself).
    """

    models: tuple[ModelChoice, ...] = (ModelChoice("default"),)
    backend: str = "auto"
    device: str | None = None
    dtype: str | None = None
    input_size: int | None = None
    batch_size: int = 4
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 64
    request_timeout_s: float = 30.0
    max_body_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_input_size: int = 1036
    json_grid: int = 64
    token: str | None = None
    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    workers: int = 1
    metrics_dir: str | None = None

    @property
    def max_network_pixels(self) -> int:
        """The largest network input a request may need (413 above): four squares of `max_input_size`,
        so a panorama up to 4:1 runs at the largest input size and 16:1 at half of it, while a long thin
        image of a few bytes cannot become a network input of gigabytes."""
        return 4 * self.max_input_size**2

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("serve: models= needs at least one model")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"serve: models= names a model twice: {names}")
        positive = {"batch_size": self.batch_size, "max_batch": self.max_batch, "max_queue": self.max_queue,
                    "max_body_bytes": self.max_body_bytes, "max_pixels": self.max_pixels,
                    "max_input_size": self.max_input_size, "json_grid": self.json_grid, "workers": self.workers}
        for key, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"serve: {key}= must be at least 1, got {value}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"serve: max_wait_ms= must be 0 or more, got {self.max_wait_ms}")
        if not self.request_timeout_s > 0:
            raise ConfigError(f"serve: request_timeout_s= must be above 0, got {self.request_timeout_s}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port= must be in 0..65535, got {self.port}")
        if self.token is not None and not self.token.strip():
            raise ConfigError("serve: token= is empty; give a token or none")

    @property
    def default_model(self) -> str:
        return self.models[0].name

    def to_env(self) -> str:
        """The settings as JSON, for the workers' environment."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str | None = None) -> ServeConfig:
        """Read back what `to_env` wrote (default: from $DEPTH_ANYTHING_SERVE_CONFIG)."""
        text = os.environ.get(CONFIG_ENV) if text is None else text
        if not text:
            raise ConfigError(f"serve: ${CONFIG_ENV} is not set; start workers through `depth-anything serve`")
        values = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"serve: ${CONFIG_ENV} holds unknown keys {unknown}")
        values["models"] = tuple(ModelChoice(**m) for m in values.get("models", ()))
        return cls(**values)


__all__ = ["CONFIG_ENV", "DEFAULT_PORT", "FORMATS", "LOOPBACK", "TOKEN_ENV", "ModelChoice", "ServeConfig"]
