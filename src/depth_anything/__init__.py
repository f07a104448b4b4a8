"""Depth Anything V2: monocular depth, exact to the published model.

Public API (imported lazily so `import depth_anything` stays fast):

- `build_model(encoder, max_depth=None)`: the network with random weights, official key layout.
- `load_model(name_or_path="default", device=None, dtype=None)`: a model with weights from a name,
  file or cache; with no argument, the small built-in model.
- `Predictor`: batched inference over paths, arrays and PIL images of mixed sizes, over a runtime.
- `open_predictor(model=None, backend="auto")`: a ready Predictor from a name or file; the built-in
  model runs its shipped ONNX graph on ONNX Runtime without importing torch.
- `Tiling(tile_size=518, overlap=0.25)`: the Predictor's optional tiled high-resolution mode.
- `InputSpec`: how images are prepared for a set of weights (travels with them).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": ("depth_anything.models", "build_model"),
    "ModelConfig": ("depth_anything.models", "ModelConfig"),
    "DepthAnything": ("depth_anything.models", "DepthAnything"),
    "load_model": ("depth_anything.weights", "load_model"),
    "Predictor": ("depth_anything.inference", "Predictor"),
    "open_predictor": ("depth_anything.inference", "open_predictor"),
    "PredictionResult": ("depth_anything.inference", "PredictionResult"),
    "TorchRuntime": ("depth_anything.inference", "TorchRuntime"),
    "Tiling": ("depth_anything.inference", "Tiling"),
    "InputSpec": ("depth_anything.transforms", "InputSpec"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'depth_anything' has no attribute {name!r}")
