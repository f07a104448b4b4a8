"""A ready `Predictor` from a model name or file and a backend: the one entry point that the command
line, the web demo, video and evaluation share."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ExportError
from ..weights import DEFAULT_MODEL, load_model
from .predictor import Predictor
from .runtimes import BACKENDS, EXPORTED_SUFFIXES, open_runtime


def open_predictor(
    model: str | os.PathLike | None = None,
    backend: str = "torch",
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    input_size: int | None = None,
    batch_size: int = 4,
    **options,
) -> Predictor:
    """`Predictor` for `model` (a name or file; None = the built-in default) on `backend`.

    "torch" loads weights with `load_model`; "onnxruntime" and "openvino" open an exported file (see
    `depth-anything export`), whose stored input spec gives the preprocessing; a static file refuses an
    `input_size` it cannot run.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        suffix = Path(model).suffix.lower() if model is not None else ""
        if suffix in EXPORTED_SUFFIXES:
            raise ExportError(f"{model} is an exported model; run it with --backend {EXPORTED_SUFFIXES[suffix]}")
        return Predictor(load_model(model or DEFAULT_MODEL, device=device, dtype=dtype), input_size=input_size,
                         batch_size=batch_size, **options)
    if model is None:
        raise ValueError(f"--backend {backend} needs --model pointing to an exported file (depth-anything export)")
    runtime = open_runtime(backend, model, device=device, dtype=dtype, input_size=input_size)
    return Predictor(runtime, input_size=input_size, batch_size=batch_size, **options)


__all__ = ["open_predictor"]
