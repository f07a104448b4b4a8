"""The models shipped inside the package, by name, known without importing torch.

Each built-in model is a weights file (int8-per-row safetensors, for PyTorch) and the same weights as
an ONNX graph (`depth-anything export`'s format, int8 weights dequantised inside the graph), which ONNX
Runtime runs without importing torch: `depth-anything predict photo.jpg` then starts in under a second
(0.8 s measured), where importing torch alone takes 1.5–2 s. `export.builtin` writes the graphs from
the weights and records the weights' SHA-256 in each, so a test catches a graph left behind by
retrained weights.
"""

from __future__ import annotations

import os
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent / "_weights"
DEFAULT_MODEL = "default"
DEFAULT_METRIC_MODEL = "default-metric"
BUILTIN_WEIGHTS = {DEFAULT_MODEL: "default_vitc.safetensors", DEFAULT_METRIC_MODEL: "default_metric_indoor_vitc.safetensors"}
GRAPH_SUFFIX = ".onnx"


def builtin_name(model: str | os.PathLike | None) -> str | None:
    """The built-in model's name that `model` means (None means the default), or None for anything else,
    including an existing file or folder of that name (a path always wins, as in `weights.locate_weights`)."""
    if model is None:
        return DEFAULT_MODEL
    name = os.fspath(model)
    return name if name in BUILTIN_WEIGHTS and not Path(name).exists() else None


def builtin_file(filename: str) -> Path:
    """A file of the package's `_weights` folder (read at call time, so tests can point it elsewhere)."""
    return BUILTIN_DIR / filename


def builtin_weights_path(name: str) -> Path:
    """Where built-in model `name`'s weights file lives (it may be missing from a trimmed install)."""
    return builtin_file(BUILTIN_WEIGHTS[name])


def builtin_graph_path(name: str) -> Path:
    """Where built-in model `name`'s ONNX graph lives: beside its weights, same stem."""
    return builtin_weights_path(name).with_suffix(GRAPH_SUFFIX)


def shipped_graph(model: str | os.PathLike | None) -> Path | None:
    """The ONNX graph shipped for built-in model `model` (None = the default), if it is one and the file is there."""
    name = builtin_name(model)
    if name is None:
        return None
    path = builtin_graph_path(name)
    return path if path.is_file() else None


__all__ = [
    "BUILTIN_DIR", "BUILTIN_WEIGHTS", "DEFAULT_METRIC_MODEL", "DEFAULT_MODEL", "builtin_file", "builtin_graph_path", "builtin_name",
    "builtin_weights_path", "shipped_graph",
]
