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

from .lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "build_model": "depth_anything.models",
    "ModelConfig": "depth_anything.models",
    "DepthAnything": "depth_anything.models",
    "load_model": "depth_anything.weights",
    "Predictor": "depth_anything.inference",
    "open_predictor": "depth_anything.loading",
    "PredictionResult": "depth_anything.inference",
    "TorchRuntime": "depth_anything.inference",
    "Tiling": "depth_anything.inference",
    "InputSpec": "depth_anything.transforms",
}

__all__ = ["__version__", *_LAZY]

__getattr__ = lazy_attributes(__name__, _LAZY)
