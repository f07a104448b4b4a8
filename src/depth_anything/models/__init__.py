"""Model definitions: DINOv2 encoder, DPT head, the Depth Anything network, its size registry and
pure weight/config conversions. Nothing here reads files, talks to a hub or picks a device.

The network classes are imported lazily: `models.config` (sizes, input specs) is read by the torch-free
model registry, and importing it must not import torch.
"""

from __future__ import annotations

from ..lazy import lazy_attributes
from .config import MODEL_CONFIGS, ModelConfig, default_input_spec, model_config

_LAZY = {"DepthAnything": ".depth_anything", "build_model": ".depth_anything"}

__all__ = ["MODEL_CONFIGS", "DepthAnything", "ModelConfig", "build_model", "default_input_spec", "model_config"]

__getattr__ = lazy_attributes(__name__, _LAZY)
