"""Model definitions: DINOv2 encoder, DPT head, the Depth Anything network, its size registry and
pure weight/config conversions. Nothing here reads files, talks to a hub or picks a device."""

from .config import MODEL_CONFIGS, ModelConfig, default_input_spec, model_config
from .depth_anything import DepthAnything, build_model

__all__ = ["MODEL_CONFIGS", "DepthAnything", "ModelConfig", "build_model", "default_input_spec", "model_config"]
