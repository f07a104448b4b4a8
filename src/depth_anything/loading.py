"""A ready `Predictor` from a model name or file and a backend: the one entry point that the command
line, the web demo, the server, video and evaluation share.

The default backend, "auto", runs the fastest runtime that gives PyTorch's result on the CPU in
float32: a built-in model's shipped ONNX graph on ONNX Runtime (no torch import: 1.5–2 s of start-up
saved), any other checkpoint compiled once to OpenVINO IR (or ONNX for ONNX Runtime) and cached by its
weights' digest (`export.compiled`). GPUs, fp16/bf16 and video models run on PyTorch. This module sits
above `export` (it may compile), so `inference` stays free of exporting.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ConfigError, ExportError
from .inference.predictor import Predictor
from .inference.runtimes import BACKENDS, EXPORTED_SUFFIXES, device_kind, open_runtime
from .runtime import accelerator_present, dtype_key
from .weights.resolver import ResolvedModel, resolve

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
AUTO = "auto"


def _resolved(model: str | os.PathLike | ResolvedModel | None) -> ResolvedModel:
    return model if isinstance(model, ResolvedModel) else resolve(model)


def auto_backend(model: str | os.PathLike | ResolvedModel | None, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None) -> str:
    """The backend "auto" picks, fastest first among those that give PyTorch's result:

    - an exported file: its own runtime (.onnx: onnxruntime, .xml: openvino);
    - in float32 on the CPU (`device` "cpu", or None on a machine where PyTorch would find no GPU):
      a built-in model's shipped graph on "onnxruntime"; any other image checkpoint on the fastest
      runtime it can be compiled for (`export.compiled`: "openvino", else "onnxruntime"), unless
      compiling is turned off (`DEPTH_ANYTHING_COMPILE=off`) or the exporter is not installed;
    - everything else (GPUs, fp16/bf16, video models): "torch".
    """
    resolved = _resolved(model)
    if resolved.exported_runtime is not None:
        return resolved.exported_runtime
    try:
        precision = dtype_key(dtype)
    except ValueError:  # float64 and other dtypes only torch runs
        return "torch"
    kind = device_kind(device)
    if precision != "fp32" or kind != "cpu":
        return "torch"
    if resolved.graph is not None:  # built-in models do not look for a GPU
        return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch"
    if resolved.builtin or (resolved.entry is not None and resolved.entry.video):
        return "torch"
    if device is None and accelerator_present():  # PyTorch would run it on the GPU
        return "torch"
    # imported here: light, but `predict` with the built-in model never needs it
    from .export.compiled import fastest_compiled_backend

    return fastest_compiled_backend() or "torch"


def open_predictor(
    model: str | os.PathLike | ResolvedModel | None = None,
    backend: str = AUTO,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    input_size: int | None = None,
    batch_size: int = 4,
    report: Callable[[str], None] | None = None,
    **options,
) -> Predictor:
    """`Predictor` for `model` (a name or file; None = the built-in default) on `backend`.

    "torch" loads weights with `load_model`. "onnxruntime" and "openvino" open an exported file (see
    `depth-anything export`), a built-in model's shipped graph, or a checkpoint compiled for them once
    and cached (`export.compiled`; `report` hears when that export happens and how long it took, by
    default the log's warning level); a file's stored input spec gives the preprocessing, and a static
    file refuses an `input_size` it cannot run. "auto" (the default) is `auto_backend`'s choice, the
    fastest runtime whose outputs equal PyTorch's (within 1e-4 of their range); when a compiled or
    shipped graph cannot be made or opened it warns and runs on torch.
    """
    if backend != AUTO and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join((AUTO, *BACKENDS))}")
    resolved = _resolved(model)
    if resolved.entry is not None and resolved.entry.video:  # a file is told apart only once loaded
        raise ConfigError(f"{resolved.request!r} is a video model (a temporal head over windows of frames): run it "
                          "on videos or frame folders (`depth-anything video`, `inference.video_windows`), or load "
                          "it with load_model")
    if backend == AUTO:
        backend = auto_backend(resolved, device, dtype)
        if backend != "torch" and resolved.exported_runtime is None:
            try:
                return _open_exported(backend, resolved, device, dtype, input_size, batch_size, report, **options)
            except Exception as exc:  # noqa: BLE001 - torch's exporter raises many kinds; torch still runs it
                what = "the built-in graph does not open" if resolved.graph is not None else "compiling failed"
                log.warning("%s on %s (%s); running on torch instead", what, backend, exc)
                backend = "torch"
    if backend == "torch":
        from .weights.load import load_model  # imports torch

        suffix = resolved.path.suffix.lower() if not resolved.named else ""
        if suffix in EXPORTED_SUFFIXES:
            runtimes = " or ".join(f"backend={name}" for name in EXPORTED_SUFFIXES[suffix].split(" or "))
            raise ExportError(f"{resolved.path} is an exported model; run it with {runtimes}")
        return Predictor(load_model(resolved, device=device, dtype=dtype), input_size=input_size,
                         batch_size=batch_size, **options)
    return _open_exported(backend, resolved, device, dtype, input_size, batch_size, report, **options)


def _open_exported(backend: str, resolved: ResolvedModel, device, dtype, input_size, batch_size: int,
                   report: Callable[[str], None] | None = None, **options) -> Predictor:
    """A Predictor over an exported file, a built-in model's shipped graph, or a compiled checkpoint."""
    graph = resolved.graph
    if graph is None and resolved.builtin:
        raise ConfigError(f"backend={backend!r} needs a model that is an exported file (depth-anything export); "
                          f"the built-in model {resolved.request!r} has no shipped graph in this install")
    if graph is not None and backend == "onnxruntime" and dtype is not None and dtype_key(dtype) != "fp32":
        raise ConfigError(f"the built-in model's graph runs in fp32 on onnxruntime; for dtype={dtype!r} use "
                          "backend='torch' (or 'openvino')")
    file = graph or resolved.path
    if graph is None and resolved.exported_runtime is None:  # a checkpoint: its compiled file
        from .export import compiled  # imported here: `predict` with the built-in model never needs it

        if resolved.entry is not None and resolved.entry.video:
            raise ConfigError(f"{resolved.request} is a video model; it runs on backend='torch'")
        if not compiled.compiling_allowed():
            runs = {"openvino": ".xml or .onnx", "onnxruntime": ".onnx"}.get(backend, "exported")
            raise ExportError(f"backend={backend} runs {runs} files; {resolved.path} is not an exported model, and "
                              f"compiling checkpoints is turned off ({compiled.COMPILE_ENV}=off): export it "
                              "(`depth_anything.export`) or use backend=torch")
        file = compiled.compiled_file(resolved, backend, report=report or (lambda text: log.warning("%s", text)))
    runtime = open_runtime(backend, file, device=device, dtype=dtype, input_size=input_size)
    return Predictor(runtime, input_size=input_size, batch_size=batch_size, **options)


__all__ = ["AUTO", "auto_backend", "open_predictor"]
