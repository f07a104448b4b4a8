"""The models a server keeps resident: opened once through `open_predictor` (the same entry point as
`predict`), looked up by name per request, and described for `GET /v1/models`.

A request may ask for another network input size (`input_size=`); it gets a `Predictor` over the same
runtime (no second copy of the weights), made once per size and kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExportError
from ..inference import Predictor
from ..loading import open_predictor
from ..weights.registry import REGISTRY
from ..weights.resolver import resolve
from .config import ModelChoice, ServeConfig
from .limits import RequestError

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """One resident model and its predictors per input size (the configured one first)."""

    choice: ModelChoice
    predictor: Predictor
    load_seconds: float
    batch_size: int
    _sizes: dict[int, Predictor] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.choice.name

    def predictor_for(self, input_size: int | None) -> Predictor:
        """The predictor at `input_size` (None: the configured size); 422 if the model cannot run it."""
        if input_size is None or input_size == self.predictor.input_size:
            return self.predictor
        spec = self.predictor.input_spec
        if input_size < spec.size_multiple:
            raise RequestError(422, "bad_input_size", f"input_size={input_size} is below the model's patch size "
                                                      f"{spec.size_multiple}")
        with self._lock:
            if input_size not in self._sizes:
                info = getattr(self.predictor.runtime, "info", None)  # exported files may have a static size
                if info is not None:
                    try:
                        info.check_input_size(input_size, getattr(self.predictor.runtime, "path", self.name))
                    except ExportError as exc:
                        raise RequestError(422, "bad_input_size", str(exc)) from None
                self._sizes[input_size] = Predictor(self.predictor.runtime, input_size=input_size,
                                                    batch_size=self.batch_size, keep_images=False, prefetch=False)
            return self._sizes[input_size]

    def describe(self) -> dict[str, Any]:
        """What /v1/models says about it: kind, input spec, runtime."""
        resolved_entry = None
        if self.choice.random_encoder is None:
            try:
                resolved_entry = resolve(self.choice.model).entry
            except Exception:  # noqa: BLE001 - a file that vanished since loading still has a description
                resolved_entry = None
        spec = self.predictor.input_spec
        return {
            "name": self.name,
            "model": self.choice.model or (f"random-weights:{self.choice.random_encoder}"
                                           if self.choice.random_encoder else None),
            "loaded": True,
            "kind": "metric" if spec.is_metric else "relative",
            "family": resolved_entry.family if resolved_entry is not None else None,
            "backend": self.predictor.runtime.name,
            "device": str(self.predictor.device) if self.predictor.device is not None else None,
            "dtype": str(self.predictor.dtype) if self.predictor.dtype is not None else None,
            "input_spec": spec.to_dict(),
            "load_seconds": round(self.load_seconds, 3),
        }


Opener = Callable[..., Predictor]


class ModelPool:
    """The configured models, loaded by `load()` (in the background, so /healthz answers meanwhile);
    `ready` once every one of them is loaded, `error` when one failed."""

    def __init__(self, config: ServeConfig, opener: Opener = open_predictor) -> None:
        self.config = config
        self._opener = opener
        self._models: dict[str, ServedModel] = {}
        self.ready = False
        self.error: str | None = None

    def load(self, warm_up: Callable[[ServedModel], None] | None = None) -> None:
        """Open every configured model (and `warm_up` each, before `ready`: requests then never meet a
        model's first, slow run); on failure `error` says which and why (the server stays unready)."""
        for choice in self.config.models:
            start = time.perf_counter()
            try:
                predictor = self._open(choice)
            except Exception as exc:  # noqa: BLE001 - reported by /readyz and the log, not a crash
                self.error = f"model {choice.name!r} could not be opened: {exc}"
                log.error("%s", self.error)
                return
            elapsed = time.perf_counter() - start
            self._models[choice.name] = ServedModel(choice, predictor, elapsed, self.config.batch_size)
            log.info("model %r ready (%s, %.1f s)", choice.name, predictor.runtime.name, elapsed)
        for served in self._models.values() if warm_up is not None else ():
            warm_up(served)
        self.ready = True

    def _open(self, choice: ModelChoice) -> Predictor:
        config = self.config
        if choice.random_encoder is not None:
            from ..models import build_model
            from ..runtime import resolve_device

            return Predictor(build_model(choice.random_encoder), resolve_device(config.device), config.dtype,
                             config.input_size, config.batch_size, keep_images=False, prefetch=False)
        return self._opener(choice.model, config.backend, config.device, config.dtype, config.input_size,
                            config.batch_size, keep_images=False, prefetch=False)

    @property
    def loaded(self) -> dict[str, ServedModel]:
        return dict(self._models)

    def has(self, name: str) -> bool:
        """Whether a model of that name is loaded."""
        return name in self._models

    def get(self, name: str | None) -> ServedModel:
        """The model a request names (None: the first configured); 422 naming the loaded ones otherwise."""
        name = self.config.default_model if name is None else name
        model = self._models.get(name)
        if model is None:
            hint = (f"; it is a known model: start the server with it among its models (models=[..., {name!r}])"
                    if name in REGISTRY else "")
            raise RequestError(422, "unknown_model", f"model {name!r} is not loaded here (loaded: "
                                                     f"{', '.join(self._models) or 'none yet'}){hint}")
        return model

    def describe(self) -> dict[str, Any]:
        """GET /v1/models: the loaded models, then every other registry model whose file is on this machine."""
        loaded = [model.describe() for model in self._models.values()]
        available = []
        for name, entry in REGISTRY.items():
            if name in self._models:
                continue
            try:
                present = resolve(name).available
            except Exception:  # noqa: BLE001 - an unreadable cache folder: listed as absent
                present = False
            if present:
                available.append({"name": name, "loaded": False, "kind": entry.kind, "family": entry.family,
                                  "size": entry.size, "licence": entry.licence, "input_spec": entry.input_spec.to_dict()})
        return {"default": self.config.default_model, "ready": self.ready, "loaded": loaded, "available": available}


__all__ = ["ModelPool", "ServedModel"]
