"""A ready `Predictor` from a model name or file and a backend: the one entry point that the command
line, the web demo, video and evaluation share.

The default backend, "auto", runs a built-in model's shipped ONNX graph on ONNX Runtime when that can
give the same result as PyTorch (CPU, float32, onnxruntime installed), so the common case never imports
torch (1.5–2 s of start-up); everything else runs on PyTorch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import TYPE_CHECKING

from ..errors import ConfigError, ExportError, MissingExtraError
from ..runtime import dtype_key
from ..weights.resolver import ResolvedModel, resolve
from .predictor import Predictor
from .runtimes import BACKENDS, EXPORTED_SUFFIXES, device_kind, open_runtime

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
AUTO = "auto"


def _resolved(model: str | os.PathLike | ResolvedModel | None) -> ResolvedModel:
    return model if isinstance(model, ResolvedModel) else resolve(model)


def auto_backend(model: str | os.PathLike | ResolvedModel | None, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None) -> str:
    """The backend "auto" picks: "onnxruntime" for a built-in model with a shipped graph on the CPU
    (`device` None or "cpu": built-in models do not look for a GPU) in float32 with onnxruntime
    installed; an exported file's own runtime (.onnx: onnxruntime, .xml: openvino); else "torch"."""
    resolved = _resolved(model)
    if resolved.exported_runtime is not None:
        return resolved.exported_runtime
    try:
        precision = dtype_key(dtype)
    except ValueError:  # float64 and other dtypes only torch runs
        return "torch"
    if resolved.graph is None or device_kind(device) != "cpu" or precision != "fp32":
        return "torch"
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch"


def open_predictor(
    model: str | os.PathLike | ResolvedModel | None = None,
    backend: str = AUTO,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    input_size: int | None = None,
    batch_size: int = 4,
    **options,
) -> Predictor:
    """`Predictor` for `model` (a name or file; None = the built-in default) on `backend`.

    "torch" loads weights with `load_model`; "onnxruntime" and "openvino" open an exported file (see
    `depth-anything export`) or a built-in model's shipped graph, whose stored input spec gives the
    preprocessing; a static file refuses an `input_size` it cannot run. "auto" (the default) is
    `auto_backend`'s choice: a built-in model on the CPU in float32 runs its graph on ONNX Runtime
    (outputs equal to PyTorch's within 1e-5 of their range, and no torch import), the rest on torch.
    """
    if backend != AUTO and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join((AUTO, *BACKENDS))}")
    resolved = _resolved(model)
    if backend == AUTO:
        backend = auto_backend(resolved, device, dtype)
        if backend == "onnxruntime" and resolved.graph is not None:
            try:
                return _open_exported(backend, resolved, device, dtype, input_size, batch_size, **options)
            except (MissingExtraError, ExportError) as exc:  # an onnxruntime that cannot run the graph
                log.warning("the built-in graph does not open on onnxruntime (%s); running on torch instead", exc)
                backend = "torch"
    if backend == "torch":
        from ..weights.load import load_model  # imports torch

        suffix = resolved.path.suffix.lower() if not resolved.named else ""
        if suffix in EXPORTED_SUFFIXES:
            runtimes = " or ".join(f"backend={name}" for name in EXPORTED_SUFFIXES[suffix].split(" or "))
            raise ExportError(f"{resolved.path} is an exported model; run it with {runtimes}")
        return Predictor(load_model(resolved, device=device, dtype=dtype), input_size=input_size,
                         batch_size=batch_size, **options)
    return _open_exported(backend, resolved, device, dtype, input_size, batch_size, **options)


def _open_exported(backend: str, resolved: ResolvedModel, device, dtype, input_size, batch_size: int,
                   **options) -> Predictor:
    """A Predictor over an exported file, or over a built-in model's shipped graph."""
    graph = resolved.graph
    if graph is None and resolved.builtin:
        raise ConfigError(f"backend={backend!r} needs a model that is an exported file (depth-anything export); "
                          f"the built-in model {resolved.request!r} has no shipped graph in this install")
    if graph is not None and backend == "onnxruntime" and dtype is not None and dtype_key(dtype) != "fp32":
        raise ConfigError(f"the built-in model's graph runs in fp32 on onnxruntime; for dtype={dtype!r} use "
                          "backend='torch' (or 'openvino')")
    runtime = open_runtime(backend, graph or resolved.path, device=device, dtype=dtype, input_size=input_size)
    return Predictor(runtime, input_size=input_size, batch_size=batch_size, **options)


__all__ = ["AUTO", "auto_backend", "open_predictor"]
